"""The stages chained for one page: the unit of work a flow task runs.

A page task renders its own page from the file (so no image crosses process boundaries) and returns
a small PageResult. Nothing here knows about Prefect.
"""

from __future__ import annotations

import time

import numpy as np

from ocr.cells import binarize_text, crop_cell
from ocr.config import Config
from ocr.deskew import orient, to_original
from ocr.errors import PageError
from ocr.grid import binarize, detect_tables
from ocr.model import BBox, Cell, PageImage, PageResult, Table
from ocr.rasterize import DocumentInfo, ink, probe, render_page
from ocr.recognize import CellReading, clean_text, engine_for, is_number, read_cell
from ocr.records import build_record, needs_review
from ocr.textlayer import Word, page_words, text_in

_A4_SHORT_INCHES = 8.27


def effective_dpi(dpi: int | None, size: tuple[int, int]) -> float:
    """The page's dpi, or a guess from its size (most reports are A4) when the file declares none."""
    if dpi:
        return float(dpi)
    return min(size) / _A4_SHORT_INCHES


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


def analyse_page(page: PageImage, cfg: Config, words: list[Word] | None = None) -> PageResult:
    """Orient, find tables, read every cell of one rasterized page (from `words` when it has a text layer).

    Takes the page's colour image over: only its ink channel is kept, so the 26 MB of RGB of a 300 dpi
    page is freed before the heavy work (the caller must not use `page.rgb` afterwards).
    """
    start = time.perf_counter()
    w, h = page.size
    number, dpi = page.number, page.dpi
    gray = ink(page.rgb)
    page.rgb = gray  # drop the colour planes
    engine = engine_for(cfg)
    osd = engine.osd if cfg.detect_orientation and words is None else None
    scale = effective_dpi(dpi, (w, h)) / 300.0
    upright, orientation = orient(gray, osd, scale)
    del gray
    page.rgb = upright
    binary = binarize(upright, scale)
    grids, rules = detect_tables(binary, scale, gray=upright)
    text = binarize_text(upright, scale) if grids and words is None else None
    tables = []
    for grid in grids:
        cells = []
        for gc in grid.cells:
            bbox = _bbox(to_original(gc.corners, orientation), (w, h))
            if words is not None:
                reading, source = read_text_layer(bbox, words), "text_layer"
            else:
                reading, source = read_cell(crop_cell(text, rules, gc, scale, binary), engine), "tesseract"
            raw_flags = [*reading.flags, "grid_uncertain"] if gc.uncertain else reading.flags
            review, flags = needs_review(reading.kind, reading.confidence, raw_flags, cfg)
            cells.append(Cell(
                row=gc.row, col=gc.col, row_span=gc.row_span, col_span=gc.col_span, bbox=bbox,
                text=reading.text, confidence=round(reading.confidence, 4), needs_review=review, flags=flags,
                kind=reading.kind, read_by="none" if reading.kind == "blank" else source,
            ))
        corners = np.array([[grid.bbox[0], grid.bbox[1]], [grid.bbox[2], grid.bbox[1]],
                            [grid.bbox[2], grid.bbox[3]], [grid.bbox[0], grid.bbox[3]]], dtype=np.float64)
        tables.append(Table(page=number, bbox=_bbox(to_original(corners, orientation), (w, h)),
                            n_rows=grid.n_rows, n_cols=grid.n_cols, cells=cells))
    return PageResult(number=number, width=w, height=h, rotation=orientation.rotation,
                      skew=round(orientation.skew, 3), tables=tables, seconds=time.perf_counter() - start)


def process_page(info: DocumentInfo, number: int, cfg: Config) -> PageResult:
    """Render and analyse one page; a bad page becomes a PageResult with its error, not an exception."""
    w, h = info.page_sizes[number - 1]
    try:
        page = render_page(info, number, cfg)
    except PageError as exc:
        return PageResult(number=number, width=w, height=h, error=str(exc))
    return analyse_page(page, cfg, page_words(info, number))


def process_document(path: str, cfg: Config) -> tuple[DocumentInfo, list[PageResult]]:
    """Sequential reference path (no Prefect): used by tests and benchmarks of the stages themselves."""
    from pathlib import Path

    info = probe(Path(path), cfg)
    return info, [process_page(info, n, cfg) for n in range(1, info.pages + 1)]


__all__ = ["analyse_page", "build_record", "process_document", "process_page"]
