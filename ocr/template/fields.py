"""The template's fields found in a record's tables: each field key to the cell read for it.

Every printed table is matched against every template table; the best-scoring placements win, one
printed block per template block. Rows the template does not know are kept, with their values, so an
operator sees what the report printed beyond the template.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ocr.model import Cell, FieldValue, MappedCell, Table, UnmappedRow, UnmappedValue
from ocr.template.chain import PCell, chain_tables, numeric_like
from ocr.template.labels import normalize, similarity
from ocr.template.match import BlockMatch, Slot, match_block, printed_blocks
from ocr.template.spec import Template, TemplateTable
from ocr.values import normalize as normalize_value

BLOCK_MIN = 45.0  # a printed block scoring under this against every template block is not the template's
HEADER_LABEL_MIN = 80.0  # a label cell this like a template label is a label, never a number


@dataclass
class Alignment:
    """Where a template's fields sit in a record's tables."""

    mapped: dict[str, MappedCell] = field(default_factory=dict)  # field key -> cell, in template order
    table_keys: dict[int, str] = field(default_factory=dict)  # record table index -> template table key
    unmapped: list[UnmappedRow] = field(default_factory=list)  # rows the template does not know
    # record table index -> the part it continues, for parts joined here that the page link missed
    continued: dict[int, int] = field(default_factory=dict)
    # field key -> how sure its row's placement is (0..1): the row label's likeness, halved by order alone
    row_confidence: dict[str, float] = field(default_factory=dict)


def align(tables: Sequence[Table], template: Template) -> Alignment:
    """Map the template's fields to cells of `tables` (page parts joined), keep rows it does not know."""
    chains = chain_tables(tables)
    matches: list[tuple[float, int, TemplateTable, BlockMatch]] = []
    for ci, chain in enumerate(chains):
        best: tuple[float, TemplateTable, list[BlockMatch]] | None = None
        for tt in template.tables:
            found = []
            for pb in printed_blocks(chain, tt):
                scored = sorted((match_block(pb, b) for b in tt.blocks), key=lambda m: -m.score)
                if scored and scored[0].score >= BLOCK_MIN:
                    found.append(scored[0])
            total = sum(m.score * len(m.block.body_rows) for m in found)
            if found and (best is None or total > best[0]):
                best = (total, tt, found)
        if best is not None:
            matches += [(m.score, ci, best[1], m) for m in best[2]]
    out = Alignment()
    taken: set[int] = set()  # template blocks already placed (by id)
    chosen: list[tuple[TemplateTable, BlockMatch]] = []
    for _, ci, tt, m in sorted(matches, key=lambda x: -x[0]):
        if id(m.template) in taken:
            continue
        taken.add(id(m.template))
        chosen.append((tt, m))
        for part in chains[ci].parts:
            out.table_keys[part] = tt.key
        for before, after in zip(chains[ci].parts, chains[ci].parts[1:], strict=False):
            if tables[after].continued_from is None and tables[after].page == tables[before].page + 1:
                out.continued[after] = before
    cells: dict[str, MappedCell] = {}
    for tt, m in chosen:
        cells.update(_cells(m, tt, template))
        out.row_confidence.update({m.template.fields[i][j]: m.row_confidence[row]
                                   for row, i in m.rows for j in range(len(m.template.columns))})
        out.unmapped += _unmapped_rows(m)
    out.table_keys = dict(sorted(out.table_keys.items()))
    out.mapped = {k: cells[k] for k in template.value_types if k in cells}
    out.row_confidence = {k: out.row_confidence[k] for k in template.value_types if k in out.row_confidence}
    out.unmapped.sort(key=lambda u: (u.table, u.row))
    return out


def _value_cells(m: BlockMatch, row: int, slot: Slot) -> list[PCell]:
    """Cells of a row inside one slot, its split-off tail's included; a cell reaching into the next slot
    holds several numbers."""
    return [c for r in (row, *m.block.tails.get(row, ())) for c in m.block.chain.starting(r)
            if slot.start <= c.col and c.end_col <= slot.end and c.col >= m.value_start]


def _is_label_cell(cell: Cell, labels: Sequence[str]) -> bool:
    """A header or row label that strayed into a value position: never a number."""
    if cell.kind != "label" or numeric_like(cell.text):
        return False
    text = normalize(cell.text)
    return not any(ch.isdigit() for ch in text) and similarity(text, labels) >= HEADER_LABEL_MIN


def _cells(m: BlockMatch, tt: TemplateTable, template: Template) -> dict[str, MappedCell]:
    out: dict[str, MappedCell] = {}
    labels = tt.label_texts()
    for row, i in m.rows:
        for slot, j in m.slots:
            cells = [c for c in _value_cells(m, row, slot) if not _is_label_cell(c.cell, labels)]
            if not cells:
                continue
            pick = next((c for c in cells if c.cell.kind != "blank"), cells[0])
            key = m.template.fields[i][j]
            out[key] = MappedCell(key=key, cell=pick.cell, page=pick.page, table=pick.table,
                                  value_type=template.value_types[key], label=template.labels[key],
                                  doubts=m.doubts(row, j))
    return out


def _plain_value(text: str) -> FieldValue:
    """The value of a cell in a row the template does not know, read as repair reads a field's."""
    value, _ = normalize_value(text, "integer")
    return value if value is not None else normalize_value(text, "decimal")[0]


def _unmapped_rows(m: BlockMatch) -> list[UnmappedRow]:
    out: list[UnmappedRow] = []
    mapped_rows = {row for row, _ in m.rows} | m.merged_rows
    chain = m.block.chain
    for row in m.block.body_rows:
        if row in mapped_rows:
            continue
        values = [c for c in chain.starting(row) if c.col >= m.value_start]
        labels = [c for c in chain.covering(row) if c.col < m.value_start and c.cell.text.strip()]
        own = [c for c in labels if c.row == row] or labels[-1:]
        if not values or (not own and all(c.cell.kind == "blank" for c in values)):
            continue
        first = min(values, key=lambda c: c.col)
        out.append(UnmappedRow(
            label=" ".join(c.cell.text.strip() for c in own), page=first.page, table=first.table,
            row=row - chain.offsets[first.table],
            values=[UnmappedValue(col=c.cell.col, text=c.cell.text, value=_plain_value(c.cell.text),
                                  confidence=c.cell.confidence) for c in values]))
    return out
