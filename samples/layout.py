"""Text wrapping and table geometry (points, origin top-left of the table) independent of drawing.

Kept apart from ``render`` so the geometry that becomes ground truth is computed once, from the
template description and per-document style, and the drawing code only follows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from samples import template as T

FONT_PATH = Path("/usr/share/fonts/truetype/arphic/uming.ttc")
FONT = "UMing"

NO_LINE_START = set("，。、；：？！）》”’」』〕】…—.%,:;)")
NO_LINE_END = set("（《“‘「『〔【(")

CJK_CENTRE = 0.379
"""Height of the UMing em-box centre above the baseline, in em (ascent 0.879, descent 0.121)."""


@dataclass(frozen=True)
class Font:
    """A CJK font the generator prints with, and the Debian package that installs it."""

    name: str  # reportlab's name for it
    path: Path
    package: str
    centre: float | None = None  # em-box centre above the baseline, in em; None: from the font's metrics


UMING = Font(FONT, FONT_PATH, "fonts-arphic-uming", CJK_CENTRE)
"""The Song-style font of every tier."""
ZENHEI = Font("WenQuanYiZenHei", Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"), "fonts-wqy-zenhei")
"""A Hei (sans-serif) font, other glyphs and digits: the deviations family's second font."""


def register_font(font: Font = UMING) -> str:
    """Register ``font`` with reportlab (idempotent) and return its name; fail loudly if it is missing."""
    if font.name not in pdfmetrics.getRegisteredFontNames():
        if not font.path.exists():
            raise FileNotFoundError(f"CJK font not found: {font.path} (install {font.package})")
        pdfmetrics.registerFont(TTFont(font.name, str(font.path), subfontIndex=0))
    return font.name


def centre_of(font: Font) -> float:
    """Height of the font's em-box centre above the baseline, in em (where a line's middle sits)."""
    if font.centre is not None:
        return font.centre
    face = pdfmetrics.getFont(register_font(font)).face
    return (face.ascent + face.descent) / 2000  # reportlab's descent is negative, both in 1/1000 em


def text_width(text: str, size: float, font: Font = UMING) -> float:
    """Advance width of ``text`` in ``font`` (UMing unless told) at ``size`` points."""
    return pdfmetrics.stringWidth(text, font.name, size)


def wrap(text: str, width: float, size: float, first_width: float | None = None, font: Font = UMING) -> list[str]:
    """Greedy character wrap with simple 禁则 (no closing punctuation at a line start).

    ``first_width`` lets paragraphs indent their first line.  A line always holds at least one
    character, so a too-narrow cell still terminates.  A ``\\n`` is a break the typist forced (a label
    variant): each piece is wrapped on its own and the ``\\n`` itself is not printed.
    """
    if "\n" in text:
        head, _, tail = text.partition("\n")
        return wrap(head, width, size, first_width, font) + wrap(tail, width, size, font=font)
    lines: list[str] = []
    current = ""
    limit = first_width if first_width is not None else width
    for ch in text:
        if current and text_width(current + ch, size, font) > limit + 1e-6:
            if len(current) > 1 and (ch in NO_LINE_START or current[-1] in NO_LINE_END):
                ch, current = current[-1] + ch, current[:-1]
            lines.append(current)
            current = ch
            limit = width
        else:
            current += ch
    if current:
        lines.append(current)
    return lines


@dataclass(frozen=True)
class TableStyle:
    """Per-document look of the tables."""

    font_size: float
    number_size: float
    pad_x: float
    pad_y: float
    leading: float
    min_row: float
    label_align: str  # "left" | "center" for body row labels
    rule_width: float
    outer_width: float
    font: Font = UMING


@dataclass(frozen=True)
class CellLayout:
    """A template cell with its wrapped lines and font size."""

    spec: T.CellSpec
    text: str
    lines: tuple[str, ...]
    size: float
    align: str


@dataclass(frozen=True)
class TableGeometry:
    """Column widths, row heights and wrapped cells of a whole (unsplit) table."""

    spec: T.TableSpec
    col_x: tuple[float, ...]  # n_cols + 1 rule positions
    row_y: tuple[float, ...]  # n_rows + 1 rule positions
    cells: tuple[CellLayout, ...]
    style: TableStyle

    @property
    def width(self) -> float:
        return self.col_x[-1]

    def height(self, start: int = 0, end: int | None = None) -> float:
        """Height of rows [start, end)."""
        end = self.spec.n_rows if end is None else end
        return self.row_y[end] - self.row_y[start]


def _label_align(spec: T.TableSpec, c: T.CellSpec, style: TableStyle) -> str:
    """Headers and tall spans are centred; row labels follow the document's style."""
    if spec.key == T.ACTIVE_DISCLOSURE:
        centred = c.col > 0 or c.col_span == 4 or c.text.replace("\n", "") == "信息内容"
    else:
        centred = c.row < spec.header_rows
    return "center" if centred or c.row_span > 2 else style.label_align


def layout_table(spec: T.TableSpec, col_widths: list[float], numbers: Mapping[tuple[int, int], str],
                 style: TableStyle) -> TableGeometry:
    """Wrap every label into its cell and grow rows until every cell's text fits.

    Single-row cells set their row's height; a spanning cell whose text needs more than its rows
    give spreads the excess evenly over them (narrow spans first, as a word processor would).
    """
    col_x = [0.0]
    for w in col_widths:
        col_x.append(col_x[-1] + w)
    cells: list[CellLayout] = []
    for c in spec.cells:
        inner = col_x[c.col + c.col_span] - col_x[c.col] - 2 * style.pad_x
        if c.kind == T.NUMBER:
            text = numbers[(c.row, c.col)]
            size = style.number_size
            while text_width(text, size, style.font) > inner and size > 5:
                size -= 0.5
            cells.append(CellLayout(c, text, (text,), size, "center"))
            continue
        lines = tuple(wrap(c.text, inner, style.font_size, font=style.font))
        cells.append(CellLayout(c, c.text, lines, style.font_size, _label_align(spec, c, style)))

    heights = [style.min_row] * spec.n_rows

    def need(cell: CellLayout) -> float:
        return len(cell.lines) * style.leading + 2 * style.pad_y

    for cell in cells:
        if cell.spec.row_span == 1:
            heights[cell.spec.row] = max(heights[cell.spec.row], need(cell))
    for cell in sorted((c for c in cells if c.spec.row_span > 1), key=lambda c: c.spec.row_span):
        rows = range(cell.spec.row, cell.spec.row + cell.spec.row_span)
        have = sum(heights[r] for r in rows)
        if need(cell) > have:
            extra = (need(cell) - have) / len(rows)
            for r in rows:
                heights[r] += extra
    row_y = [0.0]
    for h in heights:
        row_y.append(row_y[-1] + h)
    return TableGeometry(spec, tuple(col_x), tuple(row_y), tuple(cells), style)


@dataclass(frozen=True)
class PartCell:
    """A cell as printed in one page part; rect is (x0, y0, x1, y1) relative to the part's top-left."""

    row: int
    col: int
    row_span: int
    col_span: int
    rect: tuple[float, float, float, float]
    lines: tuple[str, ...]
    size: float
    align: str
    kind: str
    field: str | None


def split_cell_lines(cell: CellLayout, geom: TableGeometry, cuts: list[int]) -> list[tuple[str, ...]]:
    """Distribute a spanning cell's lines over the parts a page break cuts it into.

    The text is laid out as if the table were continuous (vertically centred in the whole span);
    each line goes to the part holding its centre, then overflow moves to the neighbouring part so
    every part's lines fit inside it — as a word processor prints a merged cell across a page break.
    """
    s = cell.spec
    top = geom.row_y[s.row]
    bounds = [top] + [geom.row_y[c] for c in cuts] + [geom.row_y[s.row + s.row_span]]
    lead = geom.style.leading
    block_top = top + (bounds[-1] - top - len(cell.lines) * lead) / 2
    parts: list[list[str]] = [[] for _ in range(len(bounds) - 1)]
    for i, line in enumerate(cell.lines):
        centre = block_top + (i + 0.5) * lead
        k = max(j for j in range(len(parts)) if bounds[j] <= centre or j == 0)
        parts[k].append(line)
    capacity = [max(0, int((bounds[j + 1] - bounds[j] - 2 * geom.style.pad_y + 1e-6) // lead))
                for j in range(len(parts))]
    for j in range(len(parts) - 1):  # push overflow forward, keeping reading order
        while len(parts[j]) > capacity[j]:
            parts[j + 1].insert(0, parts[j].pop())
    for j in range(len(parts) - 1, 0, -1):  # and back from the last part
        while len(parts[j]) > capacity[j]:
            parts[j - 1].append(parts[j].pop(0))
    return [tuple(p) for p in parts]


def part_cells(geom: TableGeometry, bounds: list[int], k: int) -> list[PartCell]:
    """The cells of part ``k`` (rows bounds[k]..bounds[k+1]); spanning cells cut by a break are clipped.

    ``bounds`` are the row indices where parts start, plus n_rows at the end.
    """
    start, end = bounds[k], bounds[k + 1]
    out: list[PartCell] = []
    y0 = geom.row_y[start]
    for cell in geom.cells:
        s = cell.spec
        r0, r1 = max(s.row, start), min(s.row + s.row_span, end)
        if r0 >= r1:
            continue
        lines = cell.lines
        cuts = [b for b in bounds if s.row < b < s.row + s.row_span]
        if cuts:
            lines = split_cell_lines(cell, geom, cuts)[sum(1 for b in cuts if b <= r0)]
        kind = s.kind if lines else T.BLANK
        rect = (geom.col_x[s.col], geom.row_y[r0] - y0, geom.col_x[s.col + s.col_span], geom.row_y[r1] - y0)
        out.append(PartCell(r0 - start, s.col, r1 - r0, s.col_span, rect, lines, cell.size, cell.align,
                            kind, s.field))
    out.sort(key=lambda c: (c.row, c.col))
    return out


def rule_segments(cells: list[PartCell]) -> list[tuple[float, float, float, float]]:
    """Maximal horizontal and vertical rule segments (x0, y0, x1, y1) covering every cell edge once."""
    horiz: dict[float, list[tuple[float, float]]] = {}
    vert: dict[float, list[tuple[float, float]]] = {}
    for c in cells:
        x0, y0, x1, y1 = c.rect
        horiz.setdefault(round(y0, 3), []).append((x0, x1))
        horiz.setdefault(round(y1, 3), []).append((x0, x1))
        vert.setdefault(round(x0, 3), []).append((y0, y1))
        vert.setdefault(round(x1, 3), []).append((y0, y1))

    def merged(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
        out: list[list[float]] = []
        for a, b in sorted(spans):
            if out and a <= out[-1][1] + 1e-6:
                out[-1][1] = max(out[-1][1], b)
            else:
                out.append([a, b])
        return [(a, b) for a, b in out]

    segs: list[tuple[float, float, float, float]] = []
    for y in sorted(horiz):
        segs += [(a, y, b, y) for a, b in merged(horiz[y])]
    for x in sorted(vert):
        segs += [(x, a, x, b) for a, b in merged(vert[x])]
    return segs


def choose_split(geom: TableGeometry, first_avail: float, page_avail: float,
                 min_body_rows: int = 2) -> list[tuple[int, int]] | None:
    """Row ranges of the parts when the table starts with ``first_avail`` points left on the page.

    None when not even the header plus ``min_body_rows`` rows fit (the caller starts a new page).
    Rows are never cut; header rows stay only in the first part (not repeated).
    """
    n = geom.spec.n_rows
    first_min = geom.spec.header_rows + min_body_rows
    if geom.height(0, first_min) > first_avail:
        return None
    parts: list[tuple[int, int]] = []
    start, avail = 0, first_avail
    while start < n:
        end = start + 1
        while end < n and geom.height(start, end + 1) <= avail:
            end += 1
        parts.append((start, end))
        start, avail = end, page_avail
    return parts



def split_rows_at(geom: TableGeometry, at: int, page_avail: float) -> list[tuple[int, int]]:
    """Row ranges of the parts when the first part ends before row ``at`` whatever room the page has left.

    A page break printed where the typist put it (or a page-sized header), not where the page ran out:
    the rest flows over as many pages as it needs, rows never cut, headers not repeated.
    """
    n = geom.spec.n_rows
    if not 0 < at < n:
        raise ValueError(f"split row {at} outside 1..{n - 1}")
    parts = [(0, at)]
    start = at
    while start < n:
        end = start + 1
        while end < n and geom.height(start, end + 1) <= page_avail:
            end += 1
        parts.append((start, end))
        start = end
    return parts


def split_rows_allowed(geom: TableGeometry, page_avail: float) -> list[int]:
    """Rows a forced break may come before: at least one body row on the first page, which must fit a page."""
    first = geom.spec.header_rows + 1
    return [r for r in range(first, geom.spec.n_rows) if geom.height(0, r) <= page_avail]
