"""The stages chained for one page: the unit of work a flow task runs.

A page task renders its own page from the file (so no image crosses process boundaries) and returns
a small PageResult. Nothing here knows about Prefect.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

import cv2
import numpy as np

from ocr.cells import binarize_text, cell_variants, crop_cell, crop_line, text_line_boxes
from ocr.config import Config
from ocr.confirm import read_again
from ocr.deskew import half_turn_by_reading, orient, osd_turn, to_original
from ocr.errors import PageError
from ocr.grid import binarize, detect_tables
from ocr.model import BBox, Cell, CellImage, DigitReading, Grid, PageImage, PageResult, Table
from ocr.orientation import text_rows
from ocr.rasterize import DocumentInfo, ink, probe, render_page
from ocr.recognize import CellReading, Engine, clean_text, engine_for, is_number, read_cell, reread_cell
from ocr.records import build_record, needs_review
from ocr.seals import find_seals, remove_seals
from ocr.snapshot import effective_dpi, encode, shrink
from ocr.textlayer import Word, page_words, text_in

# A page coarser than this is enlarged to 300 dpi before it is read (`_enlarge`): images of reports taken
# from the web come at 72-96 dpi (the real pages of ../shared/realdata: 96). A PDF's pages are rendered at
# `Config.dpi` by poppler, which enlarges a coarse scan inside it already; this is for image files.
_COARSE_DPI = 150.0
_A3_LONG_INCHES = 16.54
_TITLE_LINES = 2  # a report's title may wrap onto a second line
_CLOSING_LINES = 3  # agency and date close the report, on one line or two


def _bbox(points: np.ndarray, size: tuple[int, int]) -> BBox:
    w, h = size
    x0, y0 = np.floor(points.min(axis=0))
    x1, y1 = np.ceil(points.max(axis=0))
    return (int(max(0, x0)), int(max(0, y0)), int(min(w, x1)), int(min(h, y1)))


def read_text_layer(bbox: BBox, words: list[Word]) -> CellReading:
    """A cell read from the PDF's own text: exact, so as sure as a reading gets."""
    lines = [clean_text(line, "label") for line in text_in(bbox, words)]
    text = "".join(lines)  # a label wrapped over lines reads on without a break
    if not text:
        return CellReading("", 1.0, "blank", ["blank"])
    if len(lines) > 1 and any(is_number(line) for line in lines):
        # "12" over "34" is not 1234: figures on several lines of one cell need a person.
        return CellReading(" ".join(lines), 1.0, "label", ["readers_disagree"])
    if text == "-":
        return CellReading(text, 1.0, "number", ["dash"])
    return CellReading(text, 1.0, "number" if is_number(text) else "label", [])


T = TypeVar("T")
_TITLE_END = re.compile(r"报告|报表")  # a report's title ends with its kind
_DATED = re.compile(r"\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日")  # the closing line carries the date


def _read_edge_lines(boxes: Sequence[T], first: int, last: int, read: Callable[[T], str]) -> list[str]:
    """Read the title lines top down and the closing lines bottom up, stopping once each is complete
    (each line once). `boxes` are line boxes to OCR, or the text layer's lines themselves.

    A prose line costs ~0.25 s to OCR; most titles are one line and most closings end in their date.
    """
    top: list[str] = []
    for box in boxes[:first]:
        top.append(read(box))
        if _TITLE_END.search(top[-1]):
            break
    bottom: list[str] = []
    for box in reversed(boxes[max(first, len(boxes) - last, 0):] if last else []):
        bottom.insert(0, read(box))
        if _DATED.search(bottom[0]):
            break
    return top + bottom


def analyse_page(page: PageImage, cfg: Config, words: list[Word] | None = None,
                 edge_lines: tuple[int, int] = (0, 0)) -> PageResult:
    """Orient, find tables, read every cell of one rasterized page (from `words` when it has a text layer).

    `edge_lines` (first, last): how many prose lines outside the tables to read from the page's top and
    bottom — the title on the first page, the closing line (agency, date) on the last.

    Takes the page's colour image over: only its ink channel is kept, so the 26 MB of RGB of a 300 dpi
    page is freed before the heavy work (the caller must not use `page.rgb` afterwards). A page that holds
    a table keeps a small grey snapshot of itself for the review page (`ocr.snapshot`), in record pixels:
    shrunk from the colour page now (~4 ms), encoded only once a table is found.
    """
    start = time.perf_counter()
    w, h = page.size
    number, dpi = page.number, page.dpi
    small = shrink(page.rgb, dpi)
    gray = ink(page.rgb)
    page.rgb = gray  # drop the colour planes
    engine = engine_for(cfg)
    check_turn = cfg.detect_orientation and words is None
    gray, enlarged, fineness = _enlarge(gray, effective_dpi(dpi, (w, h)))
    scale = fineness * enlarged / 300.0
    want_lines = sum(edge_lines) > 0
    # Tables are found the same way upside down; whether a page needs a half turn is only asked when
    # there is something to read on it. OSD is asked for the quarter turn only when the text direction and
    # the grid's shape disagree or say little (`ocr.orientation`).
    upright, orientation = orient(gray, engine.osd if check_turn else None, scale, osd_half_turn=False)
    found = _find(upright, scale, want_lines, ocr=words is None)
    if check_turn and (found.grids or want_lines):
        turn = _half_turn(found, engine, upright, scale)
        if turn:
            upright, orientation = orient(gray, None, scale, rotation=(orientation.rotation + turn) % 360)
            found = _find(upright, scale, want_lines, ocr=words is None)
    del gray
    page.rgb = upright
    grids, text = found.grids, found.text
    tables = []
    for ti, grid in enumerate(grids):
        cells = []
        for ci, gc in enumerate(grid.cells):
            bbox = _bbox(to_original(gc.corners, orientation) / enlarged, (w, h))
            if words is not None:
                reading, source = read_text_layer(bbox, words), "text_layer"
            else:
                crop = found.crops[ti][ci]
                reading, source = read_cell(crop, engine), "tesseract"
                if needs_review(reading.kind, reading.confidence, reading.flags, cfg)[0]:
                    reading = reread_cell(reading, crop, cell_variants(found.gray, found.rules, gc, scale), engine,
                                          lambda r: needs_review(r.kind, r.confidence, r.flags, cfg)[0])
            raw_flags = [*reading.flags, "grid_uncertain"] if gc.uncertain else reading.flags
            review, flags = needs_review(reading.kind, reading.confidence, raw_flags, cfg)
            cells.append(Cell(
                row=gc.row, col=gc.col, row_span=gc.row_span, col_span=gc.col_span, bbox=bbox,
                text=reading.text, confidence=round(reading.confidence, 4), needs_review=review, flags=flags,
                kind=reading.kind, read_by="none" if reading.kind == "blank" else source,
                digits=(DigitReading(text=reading.digits.text, confidence=round(reading.digits.confidence, 4))
                        if reading.digits is not None else None),
            ))
        corners = np.array([[grid.bbox[0], grid.bbox[1]], [grid.bbox[2], grid.bbox[1]],
                            [grid.bbox[2], grid.bbox[3]], [grid.bbox[0], grid.bbox[3]]], dtype=np.float64)
        tables.append(Table(page=number, bbox=_bbox(to_original(corners, orientation) / enlarged, (w, h)),
                            n_rows=grid.n_rows, n_cols=grid.n_cols, cells=cells))
    lines: list[str] = []
    line_confidence: dict[str, float] = {}  # a text layer's lines are exact: none noted

    def read_line(box: BBox) -> str:
        reading = engine.read(crop_line(text, box), "label")
        line = clean_text(reading.text, "label")
        line_confidence[line] = min(line_confidence.get(line, 1.0), reading.confidence)
        return line

    if want_lines and words is not None:
        lines = _read_edge_lines(_prose_from_layer(words, [t.bbox for t in tables], (w, h)), *edge_lines, read=str)
    elif want_lines:
        lines = _read_edge_lines(found.line_boxes, *edge_lines, read=read_line)
    kept = [ln for ln in lines if ln]
    snap = encode(small) if tables else None
    return PageResult(number=number, width=w, height=h, rotation=orientation.rotation,
                      skew=round(orientation.skew, 3), tables=tables, lines=kept,
                      line_confidences=[round(line_confidence.get(ln, 1.0), 4) for ln in kept],
                      seconds=time.perf_counter() - start, snapshot=snap)


def _enlarge(gray: np.ndarray, dpi: float) -> tuple[np.ndarray, float, float]:
    """A page scanned coarser than `_COARSE_DPI`, brought to 300 dpi (bicubic) before anything is found or
    read on it; by how much (the page's boxes are divided by it again); and how fine the page was (dpi).

    At 96 dpi a line of text is ~12 px tall. Binarised at that size, its strokes fill the glyphs, and a
    cell crop enlarged afterwards to the reader's size reads as blocks: 到期日, 信用 and 否 read as nothing
    on a clean real page. Enlarged in grey first, the strokes stay apart when binarised.

    An image that declares a coarse dpi but has the pixels of a fine one (a phone's 72 dpi) is no coarse
    scan: no report page is larger than A3, so a page's pixels say at least how fine it is (and every
    pixel measure of the stages scales with that, not with what the file declares).
    """
    dpi = max(dpi, max(gray.shape) / _A3_LONG_INCHES)
    if dpi >= _COARSE_DPI:
        return gray, 1.0, dpi
    f = 300.0 / dpi
    return cv2.resize(gray, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC), f, dpi


@dataclass
class _Found:
    """What the page's upright image gave: its tables, text binarisation and cell crops."""

    grids: list[Grid]
    scale: float
    text: np.ndarray | None  # the text binarisation, when something on the page is to be OCR'd
    crops: list[list[CellImage]]  # per table, per cell; empty when the cells come from a text layer
    gray: np.ndarray  # the upright page with grey seals divided out: what heavier cell clean-ups start from
    rules: np.ndarray  # the tables' rule mask

    @cached_property
    def line_boxes(self) -> list[BBox]:
        """The prose lines outside the tables, found once: the half-turn check and the title share them."""
        assert self.text is not None
        return text_line_boxes(self.text, [g.bbox for g in self.grids], self.scale)


def _find(upright: np.ndarray, scale: float, lines: bool, ocr: bool) -> _Found:
    upright = remove_seals(upright, find_seals(upright, scale), scale)
    binary = binarize(upright, scale)
    grids, rules = detect_tables(binary, scale, gray=upright)
    text = binarize_text(upright, scale) if ocr and (grids or lines) else None
    crops = ([[crop_cell(text, rules, gc, scale, binary, upright) for gc in g.cells] for g in grids]
             if text is not None else [])
    return _Found(grids, scale, text, crops, upright, rules)


def _half_turn(found: _Found, engine: Engine, upright: np.ndarray, scale: float) -> int:
    """Clockwise degrees (0 or 180) the upright-looking page still needs: from its label cells (or, on
    a page without them, its prose lines) read both ways up when they can tell, else from OSD (about
    three times the time, and it holds the GIL)."""
    crops = [c.image for cells in found.crops for c in cells
             if c.image is not None and c.lines == 1 and not c.numeric_shape]
    if len(crops) < 2 and found.text is not None:
        widest = sorted(found.line_boxes, key=lambda b: b[0] - b[2])[:3]
        crops = [crop_line(found.text, b) for b in widest]
    turn = half_turn_by_reading(crops, engine.label_score) if crops else None
    if turn is None and found.grids and found.text is not None:
        # streaks the grid took for rules can cut the label cells into unreadable pieces: read the page's
        # rows of glyphs instead, found without the grid and with the long lines taken out
        rows, clean = text_rows(found.text, 300.0 * scale)
        widest = sorted(rows, key=lambda b: b[0] - b[2])[:3]
        turn = half_turn_by_reading([crop_line(clean, b) for b in widest], engine.label_score)
    return osd_turn(upright, engine.osd, scale) if turn is None else turn


def _prose_from_layer(words: list[Word], tables: list[BBox], size: tuple[int, int]) -> list[str]:
    def in_table(word: Word) -> bool:
        cx, cy = (word.bbox[0] + word.bbox[2]) / 2, (word.bbox[1] + word.bbox[3]) / 2
        return any(x0 <= cx < x1 and y0 <= cy < y1 for x0, y0, x1, y1 in tables)

    return [clean_text(line, "label") for line in text_in((0, 0, *size), [w for w in words if not in_table(w)])]


def process_page(info: DocumentInfo, number: int, cfg: Config) -> PageResult:
    """Render and analyse one page; a bad page becomes a PageResult with its error, not an exception."""
    w, h = info.page_sizes[number - 1]
    try:
        page = render_page(info, number, cfg)
    except PageError as exc:
        return PageResult(number=number, width=w, height=h, error=str(exc))
    edge = (_TITLE_LINES if number == 1 else 0, _CLOSING_LINES if number == info.pages else 0)
    return analyse_page(page, cfg, page_words(info, number), edge)


def second_readings(info: DocumentInfo, number: int, boxes: Mapping[str, BBox], rotation: int,
                    cfg: Config) -> dict[str, str]:
    """The label reader's second reading of these fields' boxes on one page (`ocr.confirm`): the page is
    rendered again rather than kept from its first pass, since only a few of a document's cells need it."""
    page = render_page(info, number, cfg)
    gray = ink(page.rgb)
    scale = effective_dpi(page.dpi, page.size) / 300.0
    return read_again(gray, boxes, rotation, scale, engine_for(cfg))


def process_document(path: str, cfg: Config) -> tuple[DocumentInfo, list[PageResult]]:
    """Sequential reference path (no Prefect): used by tests and benchmarks of the stages themselves."""
    from pathlib import Path

    info = probe(Path(path), cfg)
    return info, [process_page(info, n, cfg) for n in range(1, info.pages + 1)]


__all__ = ["analyse_page", "build_record", "process_document", "process_page"]
