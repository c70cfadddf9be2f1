"""Lay a ``Report`` out on A4 pages and draw it as a vector PDF with reportlab.

Layout (``layout_document``) and drawing (``draw_pdf``) are separate so that the exact geometry of
every table part — the source of the ground truth — is known before anything is drawn.  All
coordinates here are PDF points with the origin at the top-left of the page.
"""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass, field

import numpy as np
from reportlab.pdfgen import canvas

from samples import layout as L
from samples import template as T
from samples.content import Report
from samples.variants import GAP_LEADINGS, SPLIT_ACTIVE, Variants

DPI = 300
PAGE_PX = (2480, 3508)
PAGE_W = PAGE_PX[0] * 72 / DPI  # 595.2 pt: A4 rounded so that 300 dpi gives exactly 2480 × 3508 px
PAGE_H = PAGE_PX[1] * 72 / DPI  # 841.92 pt

Rect = tuple[float, float, float, float]


@dataclass(frozen=True)
class DocStyle:
    """Per-document page and type settings (drawn once per document from the rng)."""

    margin_l: float
    margin_r: float
    margin_t: float
    margin_b: float
    body_size: float
    leading: float
    title_size: float
    heading_size: float
    bold_subheadings: bool
    numbered_first_page: bool
    keep_applications_together: bool
    table: L.TableStyle
    font: L.Font = L.UMING

    @property
    def text_w(self) -> float:
        return PAGE_W - self.margin_l - self.margin_r


def make_style(rng: np.random.Generator) -> DocStyle:
    """Draw margins, type sizes and table look for one document."""
    body = float(rng.choice([13.0, 14.0, 15.0, 16.0]))
    tsize = float(rng.choice([9.0, 9.5, 10.0, 10.5]))
    table = L.TableStyle(
        font_size=tsize,
        number_size=tsize + float(rng.choice([0.0, 0.5, 1.0])),
        pad_x=float(rng.uniform(2.0, 4.0)),
        pad_y=float(rng.uniform(2.0, 3.5)),
        leading=tsize * float(rng.uniform(1.2, 1.4)),
        min_row=tsize * float(rng.uniform(1.6, 2.1)),
        label_align="left" if rng.random() < 0.6 else "center",
        rule_width=float(rng.choice([0.5, 0.6, 0.75])),
        outer_width=float(rng.choice([0.75, 1.0, 1.5])),
    )
    return DocStyle(
        margin_l=float(rng.uniform(68, 84)),
        margin_r=float(rng.uniform(62, 80)),
        margin_t=float(rng.uniform(70, 100)),
        margin_b=float(rng.uniform(70, 90)),
        body_size=body,
        leading=body * float(rng.uniform(1.55, 1.8)),
        title_size=float(rng.choice([18.0, 20.0, 22.0])),
        heading_size=body + float(rng.choice([0.0, 1.0, 2.0])),
        bold_subheadings=bool(rng.random() < 0.5),
        numbered_first_page=bool(rng.random() < 0.7),
        keep_applications_together=bool(rng.random() < 0.25),
        table=table,
    )


# ---------------------------------------------------------------- page model


@dataclass(frozen=True)
class TextOp:
    """One line of text; ``baseline`` is measured from the page top."""

    x: float
    baseline: float
    text: str
    size: float
    char_space: float = 0.0
    bold: bool = False


@dataclass(frozen=True)
class RuleOp:
    """One ruled segment between two points (its centre line) of stroke ``width``."""

    x0: float
    y0: float
    x1: float
    y1: float
    width: float


@dataclass(frozen=True)
class PlacedPart:
    """One page part of a template table, with absolute cell rectangles."""

    key: str
    part: int
    rect: Rect
    cells: tuple[L.PartCell, ...]


@dataclass
class PageLayout:
    """Everything on one page."""

    texts: list[TextOp] = field(default_factory=list)
    rules: list[RuleOp] = field(default_factory=list)
    parts: list[PlacedPart] = field(default_factory=list)
    closing: Rect | None = None


# ---------------------------------------------------------------- tables


def _col_widths(key: str, total: float, numbers: dict[tuple[int, int], str], ts: L.TableStyle,
                rng: np.random.Generator) -> list[float]:
    """Column widths for one table, varied per document so labels wrap differently."""
    fs, pad = ts.font_size, 2 * ts.pad_x
    widest = max((L.text_width(t, ts.number_size, ts.font) for t in numbers.values()), default=0.0)
    if key == T.ACTIVE_DISCLOSURE:
        first = total * float(rng.uniform(0.22, 0.34))
        rest = rng.uniform(0.85, 1.15, 3)
        return [first, *[float(w) for w in rest / rest.sum() * (total - first)]]
    if key == T.APPLICATIONS:
        # Number columns hold the widest number; the three label columns take what is left, but never
        # less than a few characters (the table grows into the margins instead, as real ones do).
        num = max(float(rng.uniform(1.8, 3.0)) * fs + pad, widest + pad + 2)
        c0 = float(rng.uniform(2.0, 4.2)) * fs + pad
        c1 = float(rng.uniform(3.0, 5.5)) * fs + pad
        c2 = max(total - c0 - c1 - 7 * num, 11 * fs + pad)
        return [c0, c1, c2, *[num] * 7]
    jitter = rng.uniform(0.92, 1.08, 15)
    widths = jitter / jitter.sum() * total
    return [max(float(w), widest + pad + 1) for w in widths]


def _table_numbers(spec: T.TableSpec, report: Report) -> dict[tuple[int, int], str]:
    out: dict[tuple[int, int], str] = {}
    for c in spec.cells:
        if c.kind == T.NUMBER:
            out[(c.row, c.col)] = report.fields[c.field] if c.field else (report.procurement or "0")
    return out


def build_tables(report: Report, style: DocStyle, rng: np.random.Generator,
                 variants: Variants | None = None) -> dict[str, L.TableGeometry]:
    """Geometry of the three tables of this report (unsplit), with the labels its variants print."""
    specs = (variants or Variants()).specs(report.procurement is not None)
    factors = {T.ACTIVE_DISCLOSURE: (0.9, 1.04), T.APPLICATIONS: (0.97, 1.1),
               T.REVIEW_LITIGATION: (0.96, 1.08)}
    out: dict[str, L.TableGeometry] = {}
    for spec in specs:
        numbers = _table_numbers(spec, report)
        total = style.text_w * float(rng.uniform(*factors[spec.key]))
        total = min(total, PAGE_W - 2 * 40)
        widths = _col_widths(spec.key, total, numbers, style.table, rng)
        out[spec.key] = L.layout_table(spec, widths, numbers, style.table)
    return out


def _draw_part(page: PageLayout, geom: L.TableGeometry, bounds: list[int], k: int, x: float,
               y: float) -> None:
    """Place part ``k`` of a table with its top-left at (x, y): rules, cell texts, geometry."""
    ts = geom.style
    rel = L.part_cells(geom, bounds, k)
    cells = tuple(
        L.PartCell(c.row, c.col, c.row_span, c.col_span,
                   (c.rect[0] + x, c.rect[1] + y, c.rect[2] + x, c.rect[3] + y),
                   c.lines, c.size, c.align, c.kind, c.field)
        for c in rel
    )
    height = geom.height(bounds[k], bounds[k + 1])
    rect = (x, y, x + geom.width, y + height)
    page.parts.append(PlacedPart(geom.spec.key, k, rect, cells))
    for x0, y0, x1, y1 in L.rule_segments(list(cells)):
        outer = (y0 == y1 and (abs(y0 - rect[1]) < 1e-6 or abs(y0 - rect[3]) < 1e-6)) or (
            x0 == x1 and (abs(x0 - rect[0]) < 1e-6 or abs(x0 - rect[2]) < 1e-6))
        page.rules.append(RuleOp(x0, y0, x1, y1, ts.outer_width if outer else ts.rule_width))
    for c in cells:
        x0, y0, x1, y1 = c.rect
        lead = ts.leading
        top = y0 + (y1 - y0 - len(c.lines) * lead) / 2
        for i, line in enumerate(c.lines):
            w = L.text_width(line, c.size, ts.font)
            tx = x0 + ts.pad_x if c.align == "left" else x0 + (x1 - x0 - w) / 2
            page.texts.append(TextOp(tx, top + (i + 0.5) * lead + L.centre_of(ts.font) * c.size, line, c.size))


# ---------------------------------------------------------------- flow


class _Flow:
    """Top-to-bottom placement of blocks onto pages (a tiny word processor)."""

    def __init__(self, style: DocStyle) -> None:
        self.style = style
        self.pages: list[PageLayout] = [PageLayout()]
        self.y = style.margin_t

    @property
    def bottom(self) -> float:
        return PAGE_H - self.style.margin_b

    @property
    def page(self) -> PageLayout:
        return self.pages[-1]

    def room(self) -> float:
        return self.bottom - self.y

    def new_page(self) -> None:
        self.pages.append(PageLayout())
        self.y = self.style.margin_t

    def line(self, text: str, size: float, x: float, lead: float, char_space: float = 0.0,
             bold: bool = False) -> None:
        if self.room() < lead:
            self.new_page()
        baseline = self.y + lead / 2 + L.centre_of(self.style.font) * size
        self.page.texts.append(TextOp(x, baseline, text, size, char_space, bold))
        self.y += lead

    def paragraph(self, text: str, size: float, indent: float, justify: bool = True,
                  bold: bool = False) -> None:
        s = self.style
        lines = L.wrap(text, s.text_w, size, first_width=s.text_w - indent, font=s.font)
        for i, line in enumerate(lines):
            x = s.margin_l + (indent if i == 0 else 0)
            width = s.text_w - (indent if i == 0 else 0)
            cs = 0.0
            if justify and i < len(lines) - 1 and len(line) > 1:
                cs = (width - L.text_width(line, size, s.font)) / (len(line) - 1)
            self.line(line, size, x, s.leading, cs, bold)


def layout_document(report: Report, rng: np.random.Generator, variants: Variants | None = None,
                    split_applications: float | None = None,
                    font: L.Font = L.UMING) -> tuple[DocStyle, list[PageLayout]]:
    """Flow the report's blocks onto pages; tables 二 and 四 never split, 三 splits where the page ends.

    With the variant ``split_active``, 二 is printed as four small tables (one per 第二十条 block) kept
    together on one page.  ``split_applications`` (in [0, 1), the deviations family) breaks 三 before
    the body row that fraction of the way through the rows a break can come before
    (``layout.split_rows_allowed``), whatever room the page has: a page break the typist forced.
    ``font`` prints the whole document in another font (the deviations family's second font).
    """
    L.register_font(font)
    style = make_style(rng)
    if font != style.font:
        style = dataclasses.replace(style, font=font, table=dataclasses.replace(style.table, font=font))
    tables = build_tables(report, style, rng, variants)
    forced_at: int | None = None
    if split_applications is not None:
        allowed = L.split_rows_allowed(tables[T.APPLICATIONS], PAGE_H - style.margin_b - style.margin_t)
        forced_at = allowed[min(int(split_applications * len(allowed)), len(allowed) - 1)]
    split_active = variants is not None and SPLIT_ACTIVE in variants.names
    active_gap = style.table.leading * GAP_LEADINGS
    flow = _Flow(style)
    s = style
    blocks = report.blocks
    for i, block in enumerate(blocks):
        if block.kind == "title":
            size = s.title_size
            lines = [block.text]
            if L.text_width(block.text, size, s.font) > s.text_w:
                name = report.agency.name
                lines = [name, block.text[len(name):]]
            for line in lines:
                w = L.text_width(line, size, s.font)
                flow.line(line, size, s.margin_l + (s.text_w - w) / 2, size * 1.6, bold=True)
            flow.y += s.leading * 0.6
        elif block.kind in ("heading", "subheading"):
            size = s.heading_size if block.kind == "heading" else s.body_size
            nxt = blocks[i + 1] if i + 1 < len(blocks) else None
            need = s.leading * 3
            if nxt is not None and nxt.kind == "table":
                geom = tables[nxt.text]
                if nxt.text == T.APPLICATIONS and forced_at is not None:
                    need = geom.height(0, forced_at) + s.leading * 1.5
                elif nxt.text == T.APPLICATIONS:
                    whole = geom.height() + s.leading * 1.5
                    fits_whole_page = whole <= flow.bottom - s.margin_t
                    if s.keep_applications_together and fits_whole_page:
                        need = whole
                    else:
                        need = geom.height(0, geom.spec.header_rows + 2) + s.leading * 1.5
                else:
                    need = geom.height() + s.leading * 1.5
                    if split_active and nxt.text == T.ACTIVE_DISCLOSURE:
                        need += active_gap * (len(T.ACTIVE_BLOCK_STARTS) - 1)
            if flow.room() < need:
                flow.new_page()
            flow.paragraph(block.text, size, 2 * s.body_size, justify=False,
                           bold=block.kind == "heading" or s.bold_subheadings)
        elif block.kind == "para":
            flow.paragraph(block.text, s.body_size, 2 * s.body_size)
        elif block.kind == "table":
            geom = tables[block.text]
            flow.y += s.leading * 0.2
            x = s.margin_l + (s.text_w - geom.width) / 2
            if block.text == T.APPLICATIONS and forced_at is not None:
                if geom.height(0, forced_at) > flow.room():
                    flow.new_page()
                parts = L.split_rows_at(geom, forced_at, flow.bottom - s.margin_t)
            elif block.text == T.APPLICATIONS:
                parts = L.choose_split(geom, flow.room(), flow.bottom - s.margin_t)
                if parts is None:
                    flow.new_page()
                    parts = L.choose_split(geom, flow.room(), flow.bottom - s.margin_t)
                if parts is None:
                    raise RuntimeError("table 三 header does not fit on an empty page")
            elif split_active and block.text == T.ACTIVE_DISCLOSURE:
                starts = T.ACTIVE_BLOCK_STARTS
                parts = list(zip(starts, [*starts[1:], geom.spec.n_rows], strict=True))
            else:
                parts = [(0, geom.spec.n_rows)]
            bounds = [a for a, _ in parts] + [parts[-1][1]]
            for k, (a, b) in enumerate(parts):
                if k and block.text == T.ACTIVE_DISCLOSURE:
                    flow.y += active_gap  # the small tables of a split 二 follow each other on the page
                elif k:
                    flow.new_page()
                _draw_part(flow.page, geom, bounds, k, x, flow.y)
                flow.y += geom.height(a, b)
            flow.y += s.leading * 0.5
        elif block.kind == "closing":
            size = s.body_size
            flow.y += s.leading * float(rng.uniform(1.0, 2.5))
            if flow.room() < s.leading:
                flow.new_page()
            w = L.text_width(block.text, size, s.font)
            x = PAGE_W - s.margin_r - w - float(rng.uniform(0, 2)) * size
            top = flow.y
            flow.line(block.text, size, x, s.leading)
            flow.page.closing = (x, top, x + w, top + s.leading)
        else:  # pragma: no cover - content and render are written together
            raise ValueError(f"unknown block kind {block.kind!r}")
    return style, flow.pages


# ---------------------------------------------------------------- drawing


def draw_pdf(style: DocStyle, pages: list[PageLayout]) -> bytes:
    """Draw the laid-out pages as a deterministic vector PDF (reportlab invariant mode)."""
    font = L.register_font(style.font)
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=(PAGE_W, PAGE_H), invariant=1, pageCompression=1)
    c.setTitle("")
    c.setAuthor("")
    c.setCreator("reportscan samples")
    c.setProducer("reportscan samples")
    for n, page in enumerate(pages, start=1):
        c.setLineCap(2)
        c.setStrokeColorRGB(0, 0, 0)
        for r in page.rules:
            c.setLineWidth(r.width)
            c.line(r.x0, PAGE_H - r.y0, r.x1, PAGE_H - r.y1)
        texts = list(page.texts)
        if n > 1 or style.numbered_first_page:
            label = f"— {n} —"
            size = style.body_size
            w = L.text_width(label, size, style.font)
            texts.append(TextOp((PAGE_W - w) / 2, PAGE_H - style.margin_b / 2, label, size))
        c.setFillColorRGB(0, 0, 0)
        for t in texts:
            # Fake bold = fill + thin stroke.  Tr is graphics state, so keep it inside q/Q.
            c.saveState()
            obj = c.beginText()
            obj.setFont(font, t.size)
            obj.setCharSpace(t.char_space)
            if t.bold:
                obj.setTextRenderMode(2)
                c.setLineWidth(t.size * 0.035)
            obj.setTextOrigin(t.x, PAGE_H - t.baseline)
            obj.textOut(t.text)
            c.drawText(obj)
            c.restoreState()
        c.showPage()
    c.save()
    return buf.getvalue()
