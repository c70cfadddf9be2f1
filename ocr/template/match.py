"""A printed table against a template table: its blocks, its value columns, and which is which.

Matching never trusts positions alone, nor labels alone: a printed block is cut into header and body
rows, its value columns are found under the header (or between the body's rules when the header was
lost), and both rows and columns are paired with the template's by label likeness in order. Each
pairing is then checked against where the columns stand and how the rows line up (`geometry`): what
neither confirms is kept, with the doubt its fields carry to review.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from ocr.template.chain import Chain, PCell
from ocr.template.geometry import (
    Doubt,
    Positions,
    Span,
    geometry_agrees,
    grid_count,
    merge_side,
    misaligned,
    missing_explained,
    part_extents,
    positions,
    rule_edges,
    slivers,
    span_shares,
)
from ocr.template.labels import (
    ANCHOR,
    GAP_FLOOR,
    Merged,
    align_sequence,
    merged_likeness,
    normalize,
    similarity,
)
from ocr.template.spec import Block, Node, TemplateTable


@dataclass
class PrintedBlock:
    """A printed block: optional heading, header rows, body rows (rows of its chain)."""

    chain: Chain
    heading: str = ""
    header_rows: list[int] = field(default_factory=list)
    body_rows: list[int] = field(default_factory=list)
    # body row -> the rows under it that are its own cells split off by a stray line (`_split_tail`)
    tails: dict[int, list[int]] = field(default_factory=dict)


def printed_blocks(chain: Chain, table: TemplateTable) -> list[PrintedBlock]:
    """Cut a printed table into blocks: a heading, or a header after body rows, opens a new one."""
    headings = [h for b in table.blocks for h in b.heading]
    header_texts = [t for b in table.blocks for t in (b.stub, *(x for n in b.columns for x in (*n.texts, *n.groups)))
                    if t]
    row_texts = [t for b in table.blocks for n in b.rows for t in n.texts]
    firsts = [min(c.col for c in row if c.value_like()) for row in map(chain.starting, range(chain.n_rows))
              if any(c.value_like() for c in row)]
    value_start = _first_value_col(firsts) if firsts else chain.n_cols
    blocks: list[PrintedBlock] = [PrintedBlock(chain)]
    for r in range(chain.n_rows):
        starters = chain.starting(r)
        if not starters:
            continue
        if blocks[-1].body_rows and _split_tail(chain, r, blocks[-1].body_rows[-1], value_start):
            blocks[-1].tails.setdefault(blocks[-1].body_rows[-1], []).append(r)
            continue
        labels = [c for c in starters if c.cell.kind == "label" and not c.value_like()]
        full = len(labels) == len(starters) == 1 and starters[0].col == 0 and starters[0].end_col >= chain.n_cols
        text = normalize("".join(c.cell.text for c in labels))
        if full:
            kind = "heading"
        elif any(c.value_like() for c in starters):
            kind = "body"
        elif any(c.col >= value_start for c in labels) and not _garbled_body(labels, value_start, header_texts,
                                                                             headings, row_texts):
            kind = "header"  # words over the number columns
        else:
            head = max((similarity(normalize(c.cell.text), header_texts + headings) for c in labels), default=0.0)
            body = max((similarity(normalize(c.cell.text), row_texts) for c in labels), default=0.0)
            blank = any(c.cell.kind == "blank" for c in starters)
            kind = "body" if (body > head and body >= ANCHOR) or (blank and head < ANCHOR) else "header"
        cur = blocks[-1]
        if kind == "heading":
            if cur.heading or cur.header_rows or cur.body_rows:
                cur = PrintedBlock(chain)
                blocks.append(cur)
            cur.heading = text
        elif kind == "header":
            if cur.body_rows:
                cur = PrintedBlock(chain)
                blocks.append(cur)
            cur.header_rows.append(r)
        else:
            cur.body_rows.append(r)
    return [b for b in blocks if b.body_rows]


def _split_tail(chain: Chain, row: int, last: int, value_start: int) -> bool:
    """`row` is the lower part of body row `last`, split off by a stray line across some of its value cells
    (a seal's ring, a pen stroke): it starts no label of its own, the label beside it is `last`'s, and most
    of its value columns are still covered by `last`'s cells.

    Read as a row of its own, it was taken for a header row (a seal's ink over the numbers reads as words)
    and opened a new block: every row under it went unmapped (73 fields of a deviations report); or, had
    it held figures, it would have shifted every row under it by one.
    """
    if any(c.col < value_start for c in chain.starting(row)):
        return False
    label = [c for c in chain.covering(row) if c.col < value_start]
    if not label or label[-1].row != last:
        return False
    above = sum(min(c.end_col, chain.n_cols) - max(c.col, value_start) for c in chain.covering(row)
                if c.row == last and c.end_col > value_start)
    return 2 * above >= chain.n_cols - value_start


def _garbled_body(labels: Sequence[PCell], value_start: int, header_texts: list[str], headings: list[str],
                  row_texts: list[str]) -> bool:
    """A body row whose numbers were read as words ('179本', a lone 'O'): its own label reads as one of
    the template's rows, and nothing over the number columns reads as a column header."""
    left = [normalize(c.cell.text) for c in labels if c.col < value_start]
    over = [normalize(c.cell.text) for c in labels if c.col >= value_start]
    row = max((similarity(t, row_texts) for t in left), default=0.0)
    head = max((similarity(t, header_texts + headings) for t in left), default=0.0)
    return row >= ANCHOR and row > head and max((similarity(t, header_texts) for t in over), default=0.0) < ANCHOR


@dataclass
class Slot:
    """A printed value column: grid columns [start, end) under one header cell."""

    start: int
    end: int
    leaf: str  # normalised text of the lowest header cell over it
    path: str  # normalised texts of all header cells over it, top to bottom
    leaf_cell: PCell | None = None


@dataclass
class BlockMatch:
    block: PrintedBlock
    template: Block
    score: float
    value_start: int
    rows: list[tuple[int, int]]  # (chain row, template row index)
    slots: list[tuple[Slot, int]]  # (printed slot, template column index)
    merged_rows: set[int]  # chain rows that hold several template rows run together
    # How sure each row's placement is (chain row -> 0..1): its label's likeness, halved when the label was
    # unlike (placed by order alone, between the rows around it).
    row_confidence: dict[int, float] = field(default_factory=dict)
    column_doubts: dict[int, Doubt] = field(default_factory=dict)  # template column index -> why unconfirmed
    row_doubts: dict[int, list[Doubt]] = field(default_factory=dict)  # chain row -> why its placement is unsure
    block_doubts: list[Doubt] = field(default_factory=list)  # the grid disagrees with the template's

    def doubts(self, row: int, column: int) -> tuple[Doubt, ...]:
        """What casts doubt on the placement of the field at (chain row, template column)."""
        found = [*self.block_doubts, *self.row_doubts.get(row, ())]
        if column in self.column_doubts:
            found.append(self.column_doubts[column])
        return tuple(dict.fromkeys(found))


def _first_value_col(firsts: list[int]) -> int:
    """The column most rows' first number is in; on a tie the leftmost, since a number garbled into
    words (first number further right) is likelier than a row label read as a number."""
    return min(statistics.multimode(firsts))


def _value_start(pb: PrintedBlock, template: Block) -> int:
    """First grid column holding numbers: where most body rows' first number is, else right of the stub."""
    labelled = bool(template.rows[0].texts)  # rows have labels, so column 0 holds no number
    firsts = []
    for r in pb.body_rows:
        cols = [c.col for c in pb.chain.starting(r) if c.value_like() and (c.col > 0 or not labelled)]
        if cols:
            firsts.append(min(cols))
    header = [c for r in pb.header_rows for c in pb.chain.starting(r) if c.col == 0]
    stub = header[0].end_col if template.stub and header else None
    if firsts:
        # A header over the row labels that reads as the template's bounds them: the first number
        # column of every row may have been read as words or nothing.
        if stub is not None and similarity(normalize(header[0].cell.text), [template.stub]) >= ANCHOR:
            return min(stub, _first_value_col(firsts))
        return _first_value_col(firsts)
    if stub is not None:
        return stub
    labels = [c.end_col for r in pb.body_rows for c in pb.chain.starting(r) if c.cell.kind == "label"]
    return max(labels, default=0)


def _slots(pb: PrintedBlock, start: int) -> list[Slot]:
    chain = pb.chain
    header = [c for r in pb.header_rows for c in chain.starting(r) if c.end_col > start and c.col >= start]
    slots: list[Slot] = []
    if header:
        for col in range(start, chain.n_cols):
            over = sorted((c for c in header if c.col <= col < c.end_col), key=lambda c: c.row)
            lowest = over[-1] if over else None
            if slots and lowest is not None and slots[-1].leaf_cell is lowest:
                slots[-1].end = col + 1
                continue
            slots.append(Slot(col, col + 1, normalize(lowest.cell.text) if lowest else "",
                               "".join(normalize(c.cell.text) for c in over), lowest))
        return slots
    # No header (a table without one, or one lost, e.g. read as one cell): columns between the rules
    # the body rows have.
    cells = [c for r in pb.body_rows for c in chain.starting(r) if c.col >= start]
    if not cells:
        return slots
    ends = _body_rules(pb, min(c.col for c in cells), max(c.end_col for c in cells))
    return [Slot(a, b, "", "") for a, b in zip(ends, ends[1:], strict=False)]


def _body_rules(pb: PrintedBlock, start: int, end: int) -> list[int]:
    """The column rules from `start` to `end` (both included) that the body rows mostly have: a cell
    across a rule in some row is that rule lost there (several numbers run together), not a wider
    column, and a header cell across it is a rule lost in the header."""
    cells = [c for r in pb.body_rows for c in pb.chain.starting(r) if c.end_col > start and c.col < end]
    rules = [start]
    for b in range(start + 1, end):
        rows_at = {c.row for c in cells if c.col == b or c.end_col == b}
        rows_across = {c.row for c in cells if c.col < b < c.end_col}
        if rows_at and len(rows_at) >= len(rows_across):
            rules.append(b)
    return [*rules, end]


def _column_sim(slot: Slot, node: Node) -> float:
    leaf = similarity(slot.leaf, node.texts)
    if not node.groups:
        return leaf
    path = similarity(slot.path, ["".join((*node.groups, t)) for t in node.texts])
    return (leaf + path) / 2


def _label_cells(pb: PrintedBlock, row: int, start: int, thin: frozenset[int] = frozenset()) -> list[PCell]:
    """A body row's label cells, its own last: those left of the numbers, but for the blank slivers of
    `thin` grid columns (a rule printed twice is no label)."""
    cells = [c for c in pb.chain.covering(row) if c.col < start
             and not (c.cell.kind == "blank" and c.end_col == c.col + 1 and c.col in thin)]
    while len(cells) > 1 and cells[-1].cell.kind == "number" and cells[-1].row == row:
        # A number read by the digit reader left of where most rows' numbers start is the row's first value
        # standing in a part whose grid has a column more there (a rule the other part lost), not its label.
        cells.pop()
    return cells


def _row_label(pb: PrintedBlock, cells: Sequence[PCell]) -> tuple[str, str]:
    """(own label, labels of the groups around it) of a body row, from its `_label_cells`."""
    if not cells:
        return "", ""
    own = cells[-1]
    if sum(own.covers(r) for r in pb.body_rows) > 1:
        # A label beside several rows of numbers is theirs together: a group, or several labels read as
        # one cell when the rules between them were lost. No row's own label can be told from it.
        return "", "".join(normalize(c.cell.text) for c in cells)
    return normalize(own.cell.text), "".join(normalize(c.cell.text) for c in cells[:-1])


LABEL_UNREAD = 0.3  # a label read under this confidence is read again line by line (`ocr.recognize`)


def _garbled(cells: Sequence[PCell], sims: Sequence[float]) -> bool:
    """Is a row's own label no reading at all: read under `LABEL_UNREAD` and like no template row's label?
    Such a row is placed in order between its neighbours as an unread one is (one row between two read
    ones), not left out as a row the template does not know: a label read plainly and unlike them all (an
    extra row such as 政府集中采购) is read surely. On augraphy-heavy and deviations pages a row whose label
    was read '多' (0.06) and one read '性于[本所秘全' and more (0.0) had lost their seven values each."""
    own = cells[-1].cell if cells else None
    return own is not None and own.kind == "label" and own.confidence < LABEL_UNREAD and \
        max(sims, default=0.0) < GAP_FLOOR


def _row_sim(label: tuple[str, str], node: Node) -> float:
    own, groups = label
    if not node.texts:  # the unlabelled single row of a block
        return 100.0 if not own else 60.0
    score = similarity(own, node.texts)
    if node.groups and groups:
        score = 0.85 * score + 0.15 * similarity(groups, ["".join(node.groups)])
    return score


def _reconcile(pb: PrintedBlock, slots: list[Slot]) -> list[Slot]:
    """The value columns with every sliver merged into its neighbour (see `geometry.slivers`)."""
    out = list(slots)
    while thin := slivers(pb.chain, [Span(s.start, s.end) for s in out], pb.body_rows):
        i = thin[0]
        spans = [Span(s.start, s.end) for s in out]
        n = merge_side(pb.chain, spans, i)
        keep = out[n]
        out[n] = Slot(min(keep.start, out[i].start), max(keep.end, out[i].end), keep.leaf, keep.path, keep.leaf_cell)
        del out[i]
    return out


def _label_slivers(pb: PrintedBlock, start: int, slots: list[Slot]) -> frozenset[int]:
    """Grid columns left of the numbers too narrow to hold a character (see `geometry.slivers`)."""
    spans = [Span(c, c + 1) for c in range(start)]
    values = [Span(s.start, s.end) for s in slots]
    found = slivers(pb.chain, [*values, *spans], pb.body_rows)
    return frozenset(spans[i - len(values)].start for i in found if i >= len(values))


def _column_doubt(pb: PrintedBlock, slot: Slot, column: int, node: Node, header: float,
                  pos: Positions | None) -> Doubt | None:
    """Why a printed column's identity is unconfirmed, or None: its header must read as the template
    column's, and where it stands must not disagree (nothing tells when the grid has no geometry)."""
    name = node.own or node.short or node.key
    agrees = geometry_agrees(pb.chain, Span(slot.start, slot.end), column, pos)
    if header < ANCHOR:
        where = "，位置相符" if agrees else ("，位置也不符" if agrees is False else "")
        read = f"「{slot.leaf}」" if slot.leaf else "未识别"
        return "column_unconfirmed", f"列「{name}」的表头{read}，仅按列序对应{where}，请核对此列"
    if agrees is False:
        shares = span_shares(pb.chain, slot.start, slot.end)
        wide = pos.spanned(*shares) if pos is not None and shares is not None else 1
        why = f"此列跨越模板的 {wide} 列（可能丢失了列线），" if wide > 1 else "此列可能错位，"
        return "column_unconfirmed", f"列「{name}」的表头与其所在位置不符：{why}请核对"
    return None


def _row_confidence(sim: float) -> tuple[bool, float]:
    """(placed by its label, how sure the placement is): by order alone it is worth half its likeness."""
    by_label = sim >= ANCHOR
    return by_label, sim / 100 if by_label else 0.5 * sim / 100


def match_block(pb: PrintedBlock, template: Block) -> BlockMatch:
    start = _value_start(pb, template)
    slots = _reconcile(pb, _slots(pb, start))
    col_sims = [[_column_sim(s, n) for n in template.columns] for s in slots]
    col_merged = merged_likeness([s.leaf for s in slots], [s.path for s in slots], template.columns)
    col_pairs = align_sequence(col_sims, [not s.path for s in slots], col_merged) if slots else []
    thin = _label_slivers(pb, start, slots)
    label_cells = [_label_cells(pb, r, start, thin) for r in pb.body_rows]
    labels = [_row_label(pb, cells) for cells in label_cells]
    row_sims = [[_row_sim(lab, n) for n in template.rows] for lab in labels]
    row_merged = merged_likeness([lab[0] for lab in labels], [""] * len(labels), template.rows)
    unread = [not lab[0] or _garbled(cells, sims)
              for lab, cells, sims in zip(labels, label_cells, row_sims, strict=True)]
    row_pairs = align_sequence(row_sims, unread, row_merged)

    def total(pairs: list[tuple[int, int, int]], sims: list[list[float]], merged: Merged) -> float:
        return sum(sims[i][j] if k == 1 else k * merged[i, j, k] for i, j, k in pairs)

    parts: list[float] = []
    if template.heading and pb.heading:
        parts.append(similarity(pb.heading, template.heading))
    if any(s.path for s in slots):  # a block printed without its header is judged by its rows alone
        parts.append(total(col_pairs, col_sims, col_merged) / max(len(slots), len(template.columns)))
    parts.append(total(row_pairs, row_sims, row_merged) / max(len(labels), len(template.rows)))
    score = sum(parts) / len(parts)
    # A printed row or column that merged several of the template's (a lost rule) places them, but its
    # cells hold several numbers run together: those fields stay unmapped, for review.
    m = BlockMatch(pb, template, score, start, [(pb.body_rows[i], j) for i, j, k in row_pairs if k == 1], [],
                   {pb.body_rows[i] for i, _, k in row_pairs if k > 1})
    spans = [Span(s.start, s.end) for s in slots]
    pos = positions(pb.chain, spans, len(template.columns))
    headers: dict[int, float] = {}
    for i, j, k in col_pairs:
        header = col_sims[i][j] if k == 1 else col_merged.get((i, j, k), 0.0)
        for slot, col in _split_slot(pb, slots[i], j, k):
            m.slots.append((slot, col))
            headers[col] = header
    count = grid_count(pb.chain, spans, pos) if pos is not None else len(slots) + sum(k - 1 for *_, k in col_pairs)
    explained = None
    # Only a grid whose every printed value column was paired one to one can be explained by missing ones:
    # a printed column left unpaired may stand where a missing one should.
    one_to_one = sorted(i for i, _, k in col_pairs if k == 1) == list(range(len(slots)))
    if count != len(template.columns) and one_to_one:
        placed = [(Span(s.start, s.end), col) for s, col in m.slots]
        explained = missing_explained(pb.chain, placed, [(sp, col) for sp, col in placed
                                                         if headers[col] >= ANCHOR], len(template.columns))
        pos = explained or pos
    for slot, col in m.slots:
        doubt = _column_doubt(pb, slot, col, template.columns[col], headers[col], pos)
        if doubt is not None:
            m.column_doubts[col] = doubt
    if count != len(template.columns) and explained is None:
        m.block_doubts.append(("grid_mismatch", f"表格检出 {count} 个数值列，模板为 {len(template.columns)} 列，"
                                                f"列的对应可能错位，请核对"))
    else:
        _confirm_pinned(m, headers, pos)
    _place_rows(m, row_pairs, row_sims, labels, spans)
    return m


def _confirm_pinned(m: BlockMatch, headers: dict[int, float], pos: Positions | None) -> None:
    """Clear the doubt of a column whose header went unread but which nothing else leaves in doubt: the
    grid has the template's column count, the column stands where the template's column stands, and on
    each side the next column's header reads as its template neighbour's (or the block ends there). Its
    place is then pinned by two read headers and the geometry, not by order alone; two unread headers
    side by side pin neither."""
    if pos is None:
        return
    last = len(m.template.columns) - 1
    slot_of = {col: slot for slot, col in m.slots}

    def read(col: int) -> bool:
        return col in slot_of and headers.get(col, 0.0) >= ANCHOR and col not in m.column_doubts

    pinned = [col for col, slot in slot_of.items()
              if col in m.column_doubts and headers.get(col, 0.0) < ANCHOR and last > 0
              and geometry_agrees(m.block.chain, Span(slot.start, slot.end), col, pos) is True
              and (col == 0 or read(col - 1)) and (col == last or read(col + 1))]
    for col in pinned:
        del m.column_doubts[col]


def _place_rows(m: BlockMatch, row_pairs: list[tuple[int, int, int]], row_sims: list[list[float]],
                labels: list[tuple[str, str]], spans: list[Span]) -> None:
    """Each placed row's confidence, and the doubts on its placement: by order alone between rows as
    unsure, or cells that do not line up with the columns."""
    pb = m.block
    sure: set[int] = set()
    placed: dict[int, tuple[int, float]] = {}
    for i, j, k in row_pairs:
        if k != 1:
            continue
        by_label, conf = _row_confidence(row_sims[i][j])
        placed[i] = j, conf
        m.row_confidence[pb.body_rows[i]] = conf
        if by_label:
            sure.add(i)
    for i, (j, _) in placed.items():
        neighbours = [n for n in (i - 1, i + 1) if 0 <= n < len(labels)]
        if i not in sure and neighbours and not any(n in sure for n in neighbours):
            node = m.template.rows[j]
            read = f"「{labels[i][0]}」" if labels[i][0] else "未识别"
            why = f"行「{node.short or node.own}」的行名{read}，与上下行一样仅按行序对应，请核对此行"
            m.row_doubts.setdefault(pb.body_rows[i], []).append(("row_unconfirmed", why))
    extents = part_extents(pb.chain)
    edges = rule_edges(pb.chain, extents)
    for row, _ in m.rows:
        why = misaligned([c for c in pb.chain.starting(row) if c.col >= m.value_start], spans, edges, extents)
        if why is not None:
            m.row_doubts.setdefault(row, []).append(("row_misaligned", why))
        if row in pb.tails:
            m.row_doubts.setdefault(row, []).append(
                ("row_misaligned", "本行的数值格被一条线分成上下两格（印章、笔迹），数值可能不全，请核对"))


def _split_slot(pb: PrintedBlock, slot: Slot, first: int, k: int) -> list[tuple[Slot, int]]:
    """A printed column paired with template columns first..first+k-1. A header cell reading as k labels
    run together over k columns the body rows keep apart is a rule lost in the header only: each column
    takes its label in order. Otherwise its cells hold several numbers each, and none is mapped."""
    if k == 1:
        return [(slot, first)]
    rules = _body_rules(pb, slot.start, slot.end)
    if len(rules) != k + 1:
        return []
    return [(Slot(a, b, "", slot.path), first + t) for t, (a, b) in enumerate(zip(rules, rules[1:], strict=False))]
