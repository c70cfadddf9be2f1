"""Where a printed table's columns and rows stand, checked against the template's structure.

Header text says which column is which, but a header read badly, or a grid with one rule too many (a
rule printed twice a few pixels apart makes a sliver column) or one too few (a lost rule merges two
columns), shifts every later column by one while the row sums still hold. So a column's identity is
confirmed twice, by its header and by its position, and a grid that disagrees with the template is
reconciled with it (a sliver without ink merged into its neighbour) or flagged, never mapped by position.

Positions are shares of the chain's width (`Chain.rules`): independent of dpi and of page parts scanned
at slightly different sizes. The template's value columns of one block are printed equally wide (the
2021 form gives every count the same width); the tolerances below leave room for forms that vary them.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from ocr.model import Cell
from ocr.template.chain import Across, Chain, PCell, across

SLIVER_SHARE = 0.3  # a column narrower than this share of the block's typical value column holds no digit
CENTRE_TOLERANCE = 0.5  # a column's centre lies within its expected column: off by less than half a width
WIDTH_RANGE = (0.5, 1.6)  # a single column's width against the expected one; outside, it is split or merged
SHIFT_SHARE = 0.3  # a cell edge further than this share of its column's width from its neighbours' is off

Doubt = tuple[str, str]
"""(flag, reason for an operator) cast on a field's placement."""


@dataclass
class Span:
    """Grid columns [start, end) of a printed value column."""

    start: int
    end: int


def span_shares(chain: Chain, start: int, end: int) -> tuple[float, float] | None:
    """Left and right of grid columns [start, end) as shares of the table's width; None without geometry."""
    rules = chain.rules
    if rules is None or len(rules) != chain.n_cols + 1 or not 0 <= start < end <= chain.n_cols:
        return None
    return rules[start], rules[end]


def inked(chain: Chain, rows: Sequence[int], start: int, end: int) -> bool:
    """Whether any cell of `rows` lying inside grid columns [start, end) holds ink."""
    wanted = set(rows)
    return any(c.cell.kind != "blank" for c in chain.cells
               if c.row in wanted and start <= c.col and c.end_col <= end)


def slivers(chain: Chain, spans: Sequence[Span], body_rows: Sequence[int]) -> list[int]:
    """Indexes of the spans too narrow to hold a digit and without ink in any body row: the gap between
    a rule printed twice, or the two edges of a thick rule binarised apart, not a column."""
    widths = [s[1] - s[0] if (s := span_shares(chain, p.start, p.end)) else None for p in spans]
    known = [w for w in widths if w is not None]
    if len(known) < 2:
        return []
    typical = statistics.median(known)
    return [i for i, (p, w) in enumerate(zip(spans, widths, strict=True))
            if w is not None and w < SLIVER_SHARE * typical and not inked(chain, body_rows, p.start, p.end)]


def merge_side(chain: Chain, spans: Sequence[Span], i: int) -> int:
    """The neighbour a sliver belongs to: the side whose cells already reach across into it (a part of
    the table without the doubled rule), else the left one (any side keeps every cell whole)."""
    if i == 0:
        return 1
    if i == len(spans) - 1:
        return i - 1
    s = spans[i]
    left = sum(1 for c in chain.cells if c.col < s.start < c.end_col)
    right = sum(1 for c in chain.cells if c.col < s.end < c.end_col)
    return i + 1 if right > left else i - 1


@dataclass
class Positions:
    """The value area of a block and the template's columns laid over it in equal shares."""

    left: float
    width: float  # of one template column
    count: int

    def column_of(self, lo: float, hi: float) -> float:
        """Where a printed column stands, in template columns from the left (0.5 is the first's centre)."""
        return ((lo + hi) / 2 - self.left) / self.width

    def spanned(self, lo: float, hi: float) -> int:
        """How many template columns a printed column's width covers (at least one)."""
        return max(1, round((hi - lo) / self.width))


def positions(chain: Chain, spans: Sequence[Span], count: int) -> Positions | None:
    """The template's `count` value columns over the area the printed ones cover; None without geometry."""
    if not spans or count < 1:
        return None
    first, last = span_shares(chain, spans[0].start, spans[0].end), span_shares(chain, spans[-1].start, spans[-1].end)
    if first is None or last is None or last[1] <= first[0]:
        return None
    return Positions(first[0], (last[1] - first[0]) / count, count)


ANCHORS_MIN = 3  # columns whose header reads as the template's, needed to lay the template's grid by them


def anchored_positions(chain: Chain, read: Sequence[tuple[Span, int]], count: int) -> Positions | None:
    """The template's columns laid by the columns whose header was read, not spread over the printed area.

    `positions` spreads the template's columns over what was printed, which is right only when every
    template column was printed: a grid a column short (the rule between the row labels and the first
    number column lost, so that column's numbers were read inside the labels) spreads them wrong and
    every column seems off. Here one column is as wide as the read columns' median width and the grid
    starts where the read columns say; None when fewer than `ANCHORS_MIN` were read or any is not one
    column wide."""
    found: list[tuple[float, float, int]] = []
    for span, column in read:
        shares = span_shares(chain, span.start, span.end)
        if shares is None:
            return None
        found.append((*shares, column))
    if len(found) < ANCHORS_MIN:
        return None
    width = statistics.median(hi - lo for lo, hi, _ in found)
    if width <= 0 or any(not WIDTH_RANGE[0] <= (hi - lo) / width <= WIDTH_RANGE[1] for lo, hi, _ in found):
        return None
    left = statistics.median(lo - column * width for lo, _, column in found)
    return Positions(left, width, count)


def missing_explained(chain: Chain, placed: Sequence[tuple[Span, int]], read: Sequence[tuple[Span, int]],
                      count: int) -> Positions | None:
    """The template's grid, when a printed grid with fewer value columns than the template's `count` is
    explained by the missing ones alone: every printed column stands, one column wide, where the column
    it was paired with stands on the grid its read headers lay (`anchored_positions`), so none stands
    where a missing one would and none covers two (a rule lost between two numbers). Nothing moves: the
    missing columns' fields find no cell (and go to review), the others keep the cells under their
    headers. None when not so explained."""
    if not placed or len({c for _, c in placed}) >= count:
        return None
    pos = anchored_positions(chain, read, count)
    if pos is None:
        return None
    if any(geometry_agrees(chain, span, column, pos) is not True for span, column in placed):
        return None
    return pos


def geometry_agrees(chain: Chain, span: Span, column: int, pos: Positions | None) -> bool | None:
    """Whether a printed column stands where template column `column` is; None when nothing tells."""
    shares = span_shares(chain, span.start, span.end)
    if pos is None or shares is None:
        return None
    lo, hi = shares
    ratio = (hi - lo) / pos.width
    return abs(pos.column_of(lo, hi) - (column + 0.5)) < CENTRE_TOLERANCE and WIDTH_RANGE[0] <= ratio <= WIDTH_RANGE[1]


def grid_count(chain: Chain, spans: Sequence[Span], pos: Positions | None) -> int:
    """How many template columns the printed ones stand for: one each, or as many as a merged one spans."""
    total = 0
    for s in spans:
        shares = span_shares(chain, s.start, s.end)
        total += pos.spanned(*shares) if pos is not None and shares is not None else 1
    return total


NEIGHBOURS = 2  # rows either side whose rules a row's are compared with


@dataclass
class Edges:
    """Where each part's column rules stand as its rows draw them, in the part's pixels across its columns."""

    at: dict[tuple[int, int], list[tuple[int, float]]]  # (part, rule) -> (row of the part, position), by row
    width: dict[tuple[int, int], float]  # (part, rule) -> median width of the wider column beside it

    def near(self, part: int, rule: int, row: int) -> float | None:
        """The rule's position as the rows around `row` draw it (not `row` itself): a slow drift down the
        page (skew, a curved sheet) moves neighbours alike, a shifted row stands off them."""
        around = [x for r, x in self.at.get((part, rule), ()) if r != row and abs(r - row) <= NEIGHBOURS]
        return statistics.median(around) if around else None


def part_extents(chain: Chain) -> dict[int, Across]:
    """Each part's way across its columns (see `chain.across`): a turned page's columns run down the scan."""
    cells: dict[int, list[Cell]] = {}
    for c in chain.cells:
        cells.setdefault(c.table, []).append(c.cell)
    return {part: across(found) for part, found in cells.items()}


def rule_edges(chain: Chain, extents: dict[int, Across]) -> Edges:
    """Where each part's column rules stand as its rows draw them."""
    at: dict[tuple[int, int], list[tuple[int, float]]] = {}
    widths: dict[tuple[int, int], list[float]] = {}
    for c in chain.cells:
        cell = c.cell
        lo, hi = extents[c.table](cell.bbox)
        for row in range(cell.row, cell.row + cell.row_span):
            at.setdefault((c.table, cell.col), []).append((row, lo))
            at.setdefault((c.table, cell.col + cell.col_span), []).append((row, hi))
        if cell.col_span == 1:
            widths.setdefault((c.table, cell.col), []).append(hi - lo)
    width: dict[tuple[int, int], float] = {}
    for part, col in at:
        beside = [statistics.median(w) for w in (widths.get((part, col)), widths.get((part, col - 1))) if w]
        if beside:
            width[part, col] = max(beside)
    return Edges(at, width)


def misaligned(cells: Sequence[PCell], spans: Sequence[Span], edges: Edges, extents: dict[int, Across]) -> str | None:
    """Why a body row's value cells do not line up with the column grid, or None when they do: a cell
    across two columns (a rule lost in this row: numbers run together), or a cell whose edges stand off
    its column's rules as the other rows draw them (a row shifted against its neighbours)."""
    for c in cells:
        if c.cell.kind != "blank" and not any(s.start <= c.col and c.end_col <= s.end for s in spans):
            return f"本行「{c.cell.text.strip()}」跨越两列的位置，本行数值可能错位"
    bounds = {b for s in spans for b in (s.start, s.end)}  # a sliver merged into a column is no boundary
    for c in (c for c in cells if c.cell.kind != "blank"):  # a blank cell has nothing to misplace
        cell = c.cell
        lo, hi = extents[c.table](cell.bbox)
        for at, rule, x in ((c.col, cell.col, lo), (c.end_col, cell.col + cell.col_span, hi)):
            ref, width = edges.near(c.table, rule, cell.row), edges.width.get((c.table, rule))
            if at in bounds and ref is not None and width is not None and abs(x - ref) > SHIFT_SHARE * width:
                return "本行单元格与上下行的列线不对齐，本行数值可能错位"
    return None
