"""Orchestration: report → vector PDF → simulated scan → image-only PDF + ground-truth JSON.

Each document gets its own ``numpy.random.Generator`` seeded from (seed, tier, index), so document
``i`` is the same whatever ``count`` is, and equal arguments give byte-identical files.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from samples import GENERATOR_VERSION
from samples import deviations as D
from samples import layout as L
from samples import template as T
from samples.content import Report, make_report
from samples.layout import register_font
from samples.render import DPI, PAGE_PX, PageLayout, PlacedPart, RuleOp, draw_pdf, layout_document
from samples.scan import (
    TIERS,
    ScanParams,
    apply_seal,
    damage_rules,
    degrade,
    encode_jpeg,
    homography,
    make_seal,
    map_points,
    pack_pdf,
    page_params,
    press_seal,
    rasterize,
    require_poppler,
    skew_of,
)
from samples.variants import Variants, draw_variants

PX_PER_PT = DPI / 72
DIGITAL = "digital"  # born-digital: the vector PDF itself, text layer and all, never scanned
DEVIATIONS = "deviations"  # the typical scan with the variants and what users' scans show (samples.deviations)
TIER_CODES = {tier: i for i, tier in enumerate((*TIERS, DIGITAL, DEVIATIONS))}
FAMILIES: tuple[str, ...] = (*TIERS, DIGITAL, DEVIATIONS)
CLOSING_SEAL_PROB = {"clean": 0.3, "typical": 0.5, "hard": 0.6}


def doc_name(tier: str, seed: int, index: int) -> str:
    """File stem of one sample, e.g. typical-s2-003."""
    return f"{tier}-s{seed}-{index:03d}"


def _bbox(h: np.ndarray, rect: tuple[float, float, float, float], scale: float = PX_PER_PT) -> list[float]:
    """Axis-aligned box (scan pixels) around the 4 mapped corners of a rectangle given in points."""
    x0, y0, x1, y1 = (v * scale for v in rect)
    pts = map_points(h, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]))
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    return [round(float(lo[0]), 1), round(float(lo[1]), 1), round(float(hi[0]), 1), round(float(hi[1]), 1)]


def _table_truth(part: PlacedPart, page_no: int, h: np.ndarray, continued_from: int | None,
                 scale: float = PX_PER_PT) -> dict[str, Any]:
    n_rows = max(c.row + c.row_span for c in part.cells)
    n_cols = max(c.col + c.col_span for c in part.cells)
    cells = [
        {"row": c.row, "col": c.col, "row_span": c.row_span, "col_span": c.col_span,
         "bbox": _bbox(h, c.rect, scale), "text": "".join(c.lines), "kind": c.kind, "field": c.field}
        for c in part.cells
    ]
    return {"page": page_no, "template_table": part.key, "part": part.part, "continued_from": continued_from,
            "bbox": _bbox(h, part.rect, scale), "n_rows": n_rows, "n_cols": n_cols, "cells": cells}


def _stamp_page(img: np.ndarray, page: PageLayout, report: Report, params: ScanParams, tier: str,
                rng: np.random.Generator, dpi: int = DPI) -> int:
    """Press red seals over some table parts (and maybe the closing line); returns how many."""
    targets: list[tuple[float, float]] = []
    scale = dpi / 72
    for part in page.parts:
        if rng.random() < params.stamp_prob:
            x0, y0, x1, y1 = (v * scale for v in part.rect)
            targets.append((float(rng.uniform(x0 + 0.2 * (x1 - x0), x1 - 0.1 * (x1 - x0))),
                            float(rng.uniform(y0, y1))))
    if page.closing is not None and rng.random() < CLOSING_SEAL_PROB[tier]:
        x0, y0, x1, y1 = (v * scale for v in page.closing)
        targets.append((float(rng.uniform(x0 + 0.3 * (x1 - x0), x1 - 0.2 * (x1 - x0))), (y0 + y1) / 2))
    for centre in targets:
        text = report.agency.name + ("办公室" if rng.random() < 0.5 else "")
        diameter = int(rng.uniform(38, 44) / 25.4 * dpi)
        apply_seal(img, make_seal(rng, text, diameter), centre, rng)
    return len(targets)


def generate_document(seed: int, tier: str, index: int, name: str,
                      variants: bool = False) -> tuple[bytes, dict[str, Any]]:
    """One sample: the image-only PDF bytes and its truth dictionary (see ``samples.variants``).

    The deviations family always has the variants (``variants`` is ignored there).
    """
    if tier == DEVIATIONS:
        return _deviations_document(seed, index, name)
    rng = np.random.default_rng(np.random.SeedSequence([seed, TIER_CODES[tier], index]))
    report = make_report(rng, "clean" if tier == DIGITAL else tier)
    plan: Variants | None = None
    if variants:
        report, plan = draw_variants(report, seed, TIER_CODES[tier], index)
    style, pages = layout_document(report, rng, plan)
    vector = draw_pdf(style, pages)
    if tier == DIGITAL:
        identity = np.eye(3)
        page_info = [{"page": n, "width": PAGE_PX[0], "height": PAGE_PX[1], "rotation": 0, "skew": 0.0, "stamps": 0}
                     for n in range(1, len(pages) + 1)]
        tables = _tables(pages, lambda _n: identity)
        return vector, _truth(seed, tier, index, name, report, page_info, tables, plan)
    rasters = rasterize(vector, DPI)
    if len(rasters) != len(pages):
        raise RuntimeError(f"pdftoppm gave {len(rasters)} pages for {len(pages)} laid out")
    jpegs: list[bytes] = []
    page_info: list[dict[str, Any]] = []
    homographies: dict[int, np.ndarray] = {}
    for page_no, (img, page) in enumerate(zip(rasters, pages, strict=True), start=1):
        if img.shape[:2] != (PAGE_PX[1], PAGE_PX[0]):
            got = f"{img.shape[1]}×{img.shape[0]}"
            raise RuntimeError(f"page {page_no} rasterized to {got}, expected {PAGE_PX[0]}×{PAGE_PX[1]}")
        params = page_params(tier, rng)
        segments = [(r.x0 * PX_PER_PT, r.y0 * PX_PER_PT, r.x1 * PX_PER_PT, r.y1 * PX_PER_PT,
                     r.width * PX_PER_PT) for r in page.rules]
        damage_rules(img, segments, params, rng)
        stamps = _stamp_page(img, page, report, params, tier, rng)
        h = homography(params, PAGE_PX[0], PAGE_PX[1])
        jpegs.append(encode_jpeg(degrade(img, h, params, rng), params.jpeg_quality, DPI))
        page_info.append({"page": page_no, "width": PAGE_PX[0], "height": PAGE_PX[1], "rotation": 0,
                          "skew": round(skew_of(h, PAGE_PX[0], PAGE_PX[1]), 2), "stamps": stamps})
        homographies[page_no] = h
    return pack_pdf(jpegs), _truth(seed, tier, index, name, report, page_info, _tables(pages, homographies.get),
                                   plan)


def _tables(pages: list[PageLayout], homography_of: Any, scale: float = PX_PER_PT) -> list[dict[str, Any]]:
    """Truth for every table part, its geometry mapped through its page's homography."""
    tables: list[dict[str, Any]] = []
    last_part: dict[str, int] = {}
    for page_no, page in enumerate(pages, start=1):
        for part in page.parts:
            previous = last_part.get(part.key) if part.part > 0 else None
            last_part[part.key] = len(tables)
            tables.append(_table_truth(part, page_no, homography_of(page_no), previous, scale))
    return tables


def _truth(seed: int, tier: str, index: int, name: str, report: Any, page_info: list[dict[str, Any]],
           tables: list[dict[str, Any]], variants: Variants | None, dpi: int = DPI) -> dict[str, Any]:
    """The truth dictionary; ``variants`` and ``source_inconsistent`` only when variants were on."""
    unmapped: list[dict[str, Any]] = []
    if report.procurement is not None:
        table, row = next((i, c["row"]) for i, t in enumerate(tables) if t["template_table"] == T.ACTIVE_DISCLOSURE
                          for c in t["cells"] if c["text"] == T.PROCUREMENT_LABEL)
        unmapped.append({"label": T.PROCUREMENT_LABEL, "values": [report.procurement], "table": table,
                         "row": row})
    truth = {
        "generator": GENERATOR_VERSION, "seed": seed, "tier": tier, "index": index, "source": f"{name}.pdf",
        "dpi": dpi, "pages": len(page_info),
        "report": {"agency": report.agency.name, "year": report.year, "date": report.date.isoformat()},
        "page_info": page_info, "tables": tables, "fields": dict(report.fields), "unmapped": unmapped,
    }
    if variants is not None:
        truth["variants"] = variants.applied
        truth["source_inconsistent"] = list(variants.source_inconsistent)
    return truth


def truth_json(truth: dict[str, Any]) -> str:
    """The truth file's exact text (UTF-8, sorted keys, indent 1)."""
    return json.dumps(truth, ensure_ascii=False, sort_keys=True, indent=1) + "\n"


def generate_samples(out: Path, count: int, seed: int, tier: str, variants: bool = False) -> list[Path]:
    """Write ``count`` samples ``<tier>-s<seed>-<index>.pdf`` + ``.truth.json`` into ``out``.

    Returns the PDF paths.  Existing files of the same names are overwritten.  ``variants`` adds the
    deviations of real reports (``samples.variants``); without it every document is as it always was.
    """
    if tier not in TIER_CODES:
        raise ValueError(f"tier must be one of {FAMILIES}, not {tier!r}")
    return write_samples(out, count, tier, seed,
                         lambda index, name: generate_document(seed, tier, index, name, variants))


def write_samples(out: Path, count: int, family: str, seed: int,
                  make: Callable[[int, str], tuple[bytes, dict[str, Any]]]) -> list[Path]:
    """Write documents 0..count-1 that ``make(index, name)`` draws as ``<family>-s<seed>-<index>.pdf`` and
    ``.truth.json`` into ``out`` (overwriting files of the same names); the PDF paths."""
    if count < 0:
        raise ValueError("count must be >= 0")
    require_poppler()
    register_font()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for index in range(count):
        name = doc_name(family, seed, index)
        pdf, truth = make(index, name)
        path = out / f"{name}.pdf"
        path.write_bytes(pdf)
        (out / f"{name}.truth.json").write_text(truth_json(truth), encoding="utf-8")
        written.append(path)
    return written


# ---------------------------------------------------------------- the deviations family


def _frame_rule(r: RuleOp, parts: list[PlacedPart]) -> bool:
    """A rule on the outer frame of one of the page's table parts (``layout.rule_segments`` rounds to 0.001 pt)."""
    for part in parts:
        x0, y0, x1, y1 = part.rect
        if (r.y0 == r.y1 and min(abs(r.y0 - y0), abs(r.y0 - y1)) < 0.01) or (
                r.x0 == r.x1 and min(abs(r.x0 - x0), abs(r.x0 - x1)) < 0.01):
            return True
    return False


def _placed_cells(page: PageLayout, scale: float) -> list[D.PlacedCell]:
    """Every cell of the page's table parts with its rectangle in raster pixels and a reference the truth reads."""
    return [({"template_table": part.key, "part": part.part, "row": c.row, "col": c.col, "field": c.field},
             (c.rect[0] * scale, c.rect[1] * scale, c.rect[2] * scale, c.rect[3] * scale), c.kind)
            for part in page.parts for c in part.cells]


def _scaled(params: ScanParams, k: float) -> ScanParams:
    """A page's scan settings at another resolution: blur, perspective and rule gaps are lengths on paper."""
    if k == 1:
        return params
    return dataclasses.replace(params, blur_sigma=params.blur_sigma * k,
                               corner_jitter=tuple((x * k, y * k) for x, y in params.corner_jitter),
                               gap_px=(max(1, round(params.gap_px[0] * k)), max(1, round(params.gap_px[1] * k))))


def _seals_over_numbers(img: np.ndarray, cells: list[D.PlacedCell], corner: bool, report: Report, dpi: int,
                        rng: np.random.Generator, to_scan: D.ToScan) -> list[dict[str, Any]]:
    """Grey or red seals centred on number cells (the 总计 corner on its page); what the truth lists."""
    pressed: list[dict[str, Any]] = []
    for ref, (x0, y0, x1, y1), _kind in D.seal_targets(cells, rng, corner):
        colour_name, colour, opacity = D.seal_ink(rng)
        diameter = int(rng.uniform(38, 44) / 25.4 * dpi)
        text = report.agency.name + ("办公室" if rng.random() < 0.5 else "")
        centre = ((x0 + x1) / 2 + float(rng.uniform(-0.15, 0.15)) * (x1 - x0),
                  (y0 + y1) / 2 + float(rng.uniform(-0.15, 0.15)) * (y1 - y0))
        press_seal(img, make_seal(rng, text, diameter), centre, colour, opacity)
        (cx, cy), = to_scan(np.array([centre]))
        pressed.append({**ref, "colour": colour_name, "diameter_px": diameter,
                        "centre": [round(float(cx), 1), round(float(cy), 1)]})
    return pressed


def _deviations_document(seed: int, index: int, name: str) -> tuple[bytes, dict[str, Any]]:
    """A deviations-family document: the typical tier's report and scan (its own stream draws what a typical
    document draws), the variants, and the deviations ``samples.deviations`` draws from streams of its own."""
    code = TIER_CODES[DEVIATIONS]
    rng = np.random.default_rng(np.random.SeedSequence([seed, code, index]))
    report, variants = draw_variants(make_report(rng, "typical"), seed, code, index)
    plan = D.draw_plan(seed, code, index)
    font = L.ZENHEI if D.SECOND_FONT in plan.names else L.UMING
    style, pages = layout_document(report, rng, variants, plan.split_fraction, font)
    dpi = plan.dpi
    scale, k = dpi / 72, dpi / DPI
    rasters = rasterize(draw_pdf(style, pages), dpi)
    if len(rasters) != len(pages) or len({r.shape for r in rasters}) != 1:
        raise RuntimeError(f"pdftoppm gave {len(rasters)} pages of sizes {sorted({r.shape for r in rasters})} "
                           f"for {len(pages)} laid out")
    table_pages = [n for n, page in enumerate(pages, start=1) if page.parts]
    turned = table_pages[min(int(plan.turn_choice * len(table_pages)), len(table_pages) - 1)] \
        if D.TURNED_PAGE in plan.names else None
    corner_page = next(n for n, page in enumerate(pages, start=1) for part in page.parts for c in part.cells
                       if c.field == "applications.total.total")
    jpegs: list[bytes] = []
    page_info: list[dict[str, Any]] = []
    homographies: dict[int, np.ndarray] = {}
    for page_no, (img, page) in enumerate(zip(rasters, pages, strict=True), start=1):
        params = _scaled(page_params("typical", rng), k)
        prng = D.page_rng(seed, code, index, page_no)
        height, width = img.shape[:2]
        rotation = plan.turn_rotation if page_no == turned else 0
        quarter = D.quarter_map(rotation, width, height) if rotation else np.eye(3)
        sw, sh = (height, width) if rotation else (width, height)
        h_scan = homography(params, sw, sh)
        h = h_scan @ quarter

        def to_scan(pts: np.ndarray, h: np.ndarray = h) -> np.ndarray:
            return map_points(h, pts)

        segments = [(r.x0 * scale, r.y0 * scale, r.x1 * scale, r.y1 * scale, r.width * scale) for r in page.rules]
        cells = _placed_cells(page, scale)
        done: dict[str, Any] = {}
        if D.TEXT_TOUCHING_RULES in plan.names and cells:
            done[D.TEXT_TOUCHING_RULES] = D.touch_rules(img, cells, prng, k)
        if D.DOUBLED_RULES in plan.names and segments:
            done[D.DOUBLED_RULES] = D.double_rules(img, segments, prng, k)
        if D.THICK_RULES in plan.names and segments:
            outer = [_frame_rule(r, page.parts) for r in page.rules]
            done[D.THICK_RULES] = D.thicken_rules(img, segments, outer, prng, k)
        if D.BROKEN_FAINT_RULES in plan.names and segments:
            done[D.BROKEN_FAINT_RULES] = D.break_rules(img, segments, prng, k)
        damage_rules(img, segments, params, rng)
        if D.FADED_PRINT in plan.names:
            done[D.FADED_PRINT] = D.fade_print(img, prng)
        stamps = _stamp_page(img, page, report, params, "typical", rng, dpi)
        if D.SEALS_OVER_NUMBERS in plan.names and any(kind == T.NUMBER for _r, _b, kind in cells):
            done[D.SEALS_OVER_NUMBERS] = _seals_over_numbers(img, cells, page_no == corner_page, report, dpi, prng,
                                                             to_scan)
            stamps += len(done[D.SEALS_OVER_NUMBERS])
        if D.PEN_MARKS in plan.names and cells:
            done[D.PEN_MARKS] = D.pen_marks(img, cells, prng, k)
        if D.PHOTOCOPY in plan.names:
            done[D.PHOTOCOPY] = D.photocopy(img, prng, k, to_scan)
        if rotation:
            img = D.turn(img, rotation)
            done[D.TURNED_PAGE] = {"rotation": rotation}
        jpegs.append(encode_jpeg(degrade(img, h_scan, params, rng), params.jpeg_quality, dpi))
        page_info.append({"page": page_no, "width": sw, "height": sh, "rotation": rotation,
                          "skew": round(skew_of(h_scan, sw, sh), 2), "stamps": stamps,
                          "deviations": {n: v for n, v in done.items() if v}})
        homographies[page_no] = h
    tables = _tables(pages, homographies.get, scale)
    _index_cell_refs(page_info, tables)
    truth = _truth(seed, DEVIATIONS, index, name, report, page_info, tables, variants, dpi)
    truth["deviations"] = _deviations_truth(plan, page_info, tables)
    return pack_pdf(jpegs), truth


def _index_cell_refs(page_info: list[dict[str, Any]], tables: list[dict[str, Any]]) -> None:
    """Give every cell a deviation names (touched, sealed, marked) its index into ``tables`` as ``table``."""
    where = {(t["page"], t["template_table"], t["part"]): i for i, t in enumerate(tables)}
    for info in page_info:
        for entries in info["deviations"].values():
            for entry in entries if isinstance(entries, list) else ():
                entry["table"] = where[(info["page"], entry["template_table"], entry["part"])]


def _deviations_truth(plan: D.Plan, page_info: list[dict[str, Any]], tables: list[dict[str, Any]]) -> dict[str, Any]:
    """Each deviation the document shows, by name: the pages it is on, or what it did to the whole document."""
    out: dict[str, Any] = {}
    for name in plan.applied:
        if name == D.DPI_200:
            out[name] = {"dpi": plan.dpi}
        elif name == D.SECOND_FONT:
            out[name] = {"font": L.ZENHEI.name, "package": L.ZENHEI.package}
        elif name == D.SPLIT_APPLICATIONS:
            parts = [t for t in tables if t["template_table"] == T.APPLICATIONS]
            out[name] = {"at_row": parts[0]["n_rows"], "pages": [t["page"] for t in parts]}
        else:
            on = [p["page"] for p in page_info if name in p["deviations"]]
            if on:
                out[name] = {"pages": on}
    return out


def print_written(generate: Callable[[], list[Path]]) -> int:
    """A command line's run: generate, print each PDF written, then the count and time on stderr."""
    start = time.perf_counter()
    paths = generate()
    for p in paths:
        print(p)
    print(f"{len(paths)} document(s) in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0
