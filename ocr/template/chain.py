"""A record's tables as printed tables: page parts joined top to bottom onto one grid of columns.

A table cut by a page break is one table to the template; its parts may even differ in their column
count (a label spanning where the other part has a rule), so they are joined by where their column
rules stand, not by how many there are.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ocr.model import BBox, Cell, Table
from ocr.template.labels import squash

_NUMERIC = re.compile(r"[\d.,OoIl|SB]*\d[\d.,OoIl|SB]*|[-—–−一]")


def numeric_like(text: str) -> bool:
    """Text a number cell could hold, read by either reader (digits, separators, common confusions)."""
    squashed = squash(text)
    return bool(squashed) and _NUMERIC.fullmatch(squashed) is not None


@dataclass
class PCell:
    """A cell of a joined table: its row counted from the top of the first part, its columns on the
    chain's grid (a part printed with fewer rules is spread onto the grid of the others)."""

    cell: Cell
    table: int
    page: int
    row: int
    col: int
    end_col: int

    def covers(self, row: int) -> bool:
        return self.row <= row < self.row + self.cell.row_span

    def value_like(self) -> bool:
        return self.cell.kind == "number" or (self.cell.kind == "label" and numeric_like(self.cell.text))


Across = Callable[[BBox], tuple[float, float]]
"""A box's extent across a table's columns, left to right on the upright table."""


def across(cells: Sequence[Cell]) -> Across:
    """How a part's boxes run across its columns. Boxes are in the page's frame as scanned, so on a page
    turned 90 or 270 degrees the columns run down the scan and on one turned 180 right to left: the axis
    is the one along which the cells of a column agree, its direction the one the columns follow."""
    by_col: dict[int, list[BBox]] = {}
    for c in cells:
        if c.col_span == 1:
            by_col.setdefault(c.col, []).append(c.bbox)
    cols = sorted(by_col)

    def spread(axis: int) -> float:
        return sum(statistics.pstdev([b[axis] for b in boxes]) for boxes in by_col.values() if len(boxes) > 1)

    axis = 0 if len(cols) < 2 or spread(0) <= spread(1) else 1
    first, last = (statistics.median(b[axis] for b in by_col[c]) for c in (cols[0], cols[-1])) if cols else (0, 1)
    if last >= first:
        return lambda b: (b[axis], b[axis + 2])
    return lambda b: (-b[axis + 2], -b[axis])


def _rule_positions(table: Table) -> list[float] | None:
    """Where a table's column rules run, left to right (n_cols + 1 of them), as shares of the span
    from its first rule to its last (a table's box can reach past its rules); None when its cells
    carry no usable geometry."""
    edges: dict[int, list[float]] = {}
    extent = across(table.cells)
    for c in table.cells:
        lo, hi = extent(c.bbox)
        edges.setdefault(c.col, []).append(lo)
        edges.setdefault(c.col + c.col_span, []).append(hi)
    if set(edges) != set(range(table.n_cols + 1)):
        return None
    xs = [statistics.median(edges[b]) for b in range(table.n_cols + 1)]
    if not all(a < b for a, b in zip(xs, xs[1:], strict=False)):
        return None
    return [(x - xs[0]) / (xs[-1] - xs[0]) for x in xs]


SNAP_SHARE = 0.4  # a rule of one part stands on another's when nearer than this share of the columns beside it


def _snap(coarse: list[float], fine: list[float]) -> list[int] | None:
    """The fine rule each coarse one stands on, or None when one stands on none.

    Page parts of one table differ in their column count when a label spans where the other part has
    a rule (三 cut after （一）予以公开 has no rule inside its label columns): the rules that are
    printed still stand where the other part's do."""
    out: list[int] = []
    for x in coarse:
        j = min(range(len(fine)), key=lambda k: abs(fine[k] - x))
        near = min(fine[k + 1] - fine[k] for k in (j - 1, j) if 0 <= k < len(fine) - 1)
        if abs(fine[j] - x) > SNAP_SHARE * near or (out and j <= out[-1]):
            return None
        out.append(j)
    return out if out[0] == 0 and out[-1] == len(fine) - 1 else None


@dataclass
class Chain:
    """A printed table: its page parts joined top to bottom."""

    parts: list[int] = field(default_factory=list)
    n_cols: int = 0
    n_rows: int = 0
    cells: list[PCell] = field(default_factory=list)
    offsets: dict[int, int] = field(default_factory=dict)  # part -> its first row in the chain
    rules: list[float] | None = None  # the grid's column rules, as shares of the width

    def fit(self, table: Table) -> tuple[list[int], list[int], list[float] | None] | None:
        """How `table` joins the chain's grid: (its rule -> joint rule, chain rule -> joint rule, joint
        rules), or None when its columns cannot be placed on the chain's."""
        same = list(range(self.n_cols + 1))
        if not self.parts or table.n_cols == self.n_cols:
            return list(range(table.n_cols + 1)), same, self.rules if self.parts else _rule_positions(table)
        rules = _rule_positions(table)
        if rules is None or self.rules is None:
            return None
        if len(rules) < len(self.rules):
            cols = _snap(rules, self.rules)
            return None if cols is None else (cols, same, self.rules)
        grid = _snap(self.rules, rules)
        return None if grid is None else (list(range(table.n_cols + 1)), grid, rules)

    def add(self, index: int, table: Table) -> None:
        fitted = self.fit(table)
        if fitted is None:  # linked by `continued_from` but not placeable: columns as numbered
            n = max(self.n_cols, table.n_cols)
            fitted = list(range(n + 1)), list(range(n + 1)), None
        cols, grid, self.rules = fitted
        for c in self.cells:
            c.col, c.end_col = grid[c.col], grid[c.end_col]
        self.parts.append(index)
        self.offsets[index] = self.n_rows
        self.cells += [PCell(c, index, table.page, self.n_rows + c.row, cols[c.col], cols[c.col + c.col_span])
                       for c in table.cells]
        self.n_rows += table.n_rows
        self.n_cols = max(self.n_cols, grid[self.n_cols], cols[table.n_cols])

    def starting(self, row: int) -> list[PCell]:
        return sorted((c for c in self.cells if c.row == row), key=lambda c: c.col)

    def covering(self, row: int) -> list[PCell]:
        return sorted((c for c in self.cells if c.covers(row)), key=lambda c: c.col)


def _starts_with_values(table: Table) -> bool:
    first = [c for c in table.cells if c.row == 0]
    return any(c.kind == "number" or (c.kind == "label" and numeric_like(c.text)) for c in first)


def chain_tables(tables: Sequence[Table]) -> list[Chain]:
    """Join page parts by `continued_from`; a headerless part right at the top of the next page whose
    columns fit the previous page's last table is joined too (the link is a geometric guess that can
    miss, e.g. when a label spanning two columns leaves one part a rule short)."""
    chains: list[Chain] = []
    chain_of: dict[int, Chain] = {}
    for i, t in enumerate(tables):
        prev = t.continued_from
        if prev is None and i > 0 and tables[i - 1].page == t.page - 1 and _starts_with_values(t) \
                and not any(u.page == t.page for u in tables[:i]) and chain_of[i - 1].fit(t) is not None:
            prev = i - 1
        if prev is not None and 0 <= prev < i and prev in chain_of:
            chain = chain_of[prev]
        else:
            chain = Chain()
            chains.append(chain)
        chain.add(i, t)
        chain_of[i] = chain
    return chains
