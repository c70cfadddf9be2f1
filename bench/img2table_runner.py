"""Run img2table on PDFs/images and write one JSON per input in reportscan's record shape.

    bench/.venv-img2table/bin/python bench/img2table_runner.py FILE... --out DIR [--threads N]

Runs INSIDE bench/.venv-img2table (made by bench/setup-img2table): stdlib + img2table only, no
reportscan imports, so that samples/score.py and bench/realdata.py score both tools the same way.

Settings (issue 3): ``detect_rotation=True``, ``min_confidence=10`` (at img2table's default of 50 the
Chinese words vanish), ``borderless_tables=False``, implicit rows/columns off (img2table's defaults),
``TesseractOCR(lang="chi_sim", n_threads=<cores>)``; PDFs with ``pdf_text_extraction=False`` (the
inputs are image-only scans: there is no text layer to read, so Tesseract must read them).

Coordinates. img2table renders PDF pages at a fixed 200 dpi (``page.render(scale=200 / 72)`` in
img2table/document/pdf.py; not configurable) and, with ``detect_rotation``, deskews each page by
rotating it about its centre onto a larger canvas (``rotate_img_with_border``), then reports boxes in
that deskewed frame. reportscan's records (and the generator's truth) are in the frame of the page as
rasterized at 300 dpi *before* any deskew. So this runner records the deskew angle of every page (it
wraps img2table's own ``fix_rotation_image`` with the same steps, nothing changed), maps each box's
four corners back through the inverse rotation, takes their axis-aligned hull (the same convention the
generator uses for its truth boxes), and scales by 300/200 for PDFs (images keep their own pixels).

Cells. ``ExtractedTable.content`` maps row index -> list of ``TableCell(bbox, value)``; a merged cell is
the same cell (same bbox) repeated over every position it covers. Positions sharing a bbox become one
cell with ``row_span``/``col_span`` from the rows and columns they cover.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import traceback
import unicodedata
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pypdfium2
from img2table.document import PDF, Image
from img2table.document import rotation as i2t_rotation
from img2table.ocr import TesseractOCR

IMG2TABLE_PDF_DPI = 200  # fixed in img2table.document.pdf: page.render(scale=200 / 72)
TARGET_DPI = 300  # reportscan's frame for PDF pages
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}
NUMBER = re.compile(r"^[-+]?(\d+([.,]\d+)*|\d*\.\d+)%?$")

# ------------------------------------------------------------------ deskew bookkeeping
# One entry per image img2table deskewed, in the order it did so (pages are processed in order with
# max_workers=1): the forward 2x3 matrix original -> deskewed frame, or None when not rotated.
_ROTATIONS: list[np.ndarray | None] = []


def _recording_fix_rotation_image(img: np.ndarray) -> tuple[np.ndarray, bool]:
    """img2table's fix_rotation_image, step for step, also recording the rotation matrix it used."""
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    cc_centroids, ref_height, thresh = i2t_rotation.get_connected_components(img=gray)
    if len(cc_centroids) < 2:
        _ROTATIONS.append(None)
        return img, False
    angles = i2t_rotation.get_relevant_angles(centroids=cc_centroids, ref_height=ref_height)
    skew_angle = i2t_rotation.estimate_skew(angles=angles, thresh=thresh)
    if abs(skew_angle) >= 0.25:
        out = i2t_rotation.rotate_img_with_border(img=img, angle=skew_angle)
        # the same matrix rotate_img_with_border builds
        height, width = img.shape[:2]
        centre = (width // 2, height // 2)
        mat = cv2.getRotationMatrix2D(centre, skew_angle, 1.0)
        bound_w = int(height * abs(mat[0, 1]) + width * abs(mat[0, 0]))
        bound_h = int(height * abs(mat[0, 0]) + width * abs(mat[0, 1]))
        mat[0, 2] += bound_w / 2 - centre[0]
        mat[1, 2] += bound_h / 2 - centre[1]
        _ROTATIONS.append(mat)
        return out, True
    _ROTATIONS.append(None)
    return img, False


i2t_rotation.fix_rotation_image = _recording_fix_rotation_image  # PDF/Image import it lazily from here


def _norm(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def _clean(value: str | None) -> str:
    """Cell text without the literal "None" tokens img2table 2.0.0 inserts for words whose value it
    emptied (ocr/_types.py joins ``str(word["value"])``): a bug of the peer, not a reading."""
    if not value:
        return ""
    lines = [" ".join(t for t in line.split(" ") if t != "None") for line in value.split("\n")]
    return "\n".join(line.strip() for line in lines if line.strip())


def _to_frame(box: tuple[float, float, float, float], inv: np.ndarray | None, scale: float) -> list[float]:
    x0, y0, x1, y1 = box
    pts = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)
    if inv is not None:
        pts = pts @ inv[:, :2].T + inv[:, 2]
    lo, hi = pts.min(axis=0) * scale, pts.max(axis=0) * scale
    return [round(float(lo[0]), 1), round(float(lo[1]), 1), round(float(hi[0]), 1), round(float(hi[1]), 1)]


def table_record(table: Any, page: int, inv: np.ndarray | None, scale: float) -> dict:
    """One img2table ExtractedTable as a reportscan table entry (merged positions -> one spanned cell)."""
    groups: dict[tuple[int, int, int, int], dict] = {}
    n_rows = len(table.content)
    n_cols = 0
    for r, (_, row) in enumerate(sorted(table.content.items())):
        n_cols = max(n_cols, len(row))
        for c, cell in enumerate(row):
            b = cell.bbox
            key = (b.x1, b.y1, b.x2, b.y2)
            g = groups.setdefault(key, {"rows": set(), "cols": set(), "value": cell.value})
            g["rows"].add(r)
            g["cols"].add(c)
    cells = []
    for key, g in groups.items():
        r0, r1 = min(g["rows"]), max(g["rows"])
        c0, c1 = min(g["cols"]), max(g["cols"])
        text = _clean(g["value"])
        kind = "blank" if not text else ("number" if NUMBER.match(_norm(text)) else "label")
        cells.append({"row": r0, "col": c0, "row_span": r1 - r0 + 1, "col_span": c1 - c0 + 1,
                      "bbox": _to_frame(key, inv, scale), "text": text, "confidence": 0.0,
                      "needs_review": False, "flags": [], "kind": kind, "read_by": "img2table"})
    cells.sort(key=lambda c: (c["row"], c["col"]))
    b = table.bbox
    return {"page": page, "bbox": _to_frame((b.x1, b.y1, b.x2, b.y2), inv, scale), "template_table": None,
            "continued_from": None, "n_rows": n_rows, "n_cols": n_cols, "cells": cells}


def run_one(path: Path, ocr: TesseractOCR, min_confidence: int) -> dict:
    _ROTATIONS.clear()
    record: dict = {"schema_version": 1, "producer": {"img2table": _version()}, "source": path.name,
                    "pages": 0, "dpi": TARGET_DPI, "page_info": [], "tables": [], "error": None}
    if path.suffix.lower() == ".pdf":
        with pypdfium2.PdfDocument(str(path)) as pdf:
            n_pages = len(pdf)
        doc = PDF(src=str(path), detect_rotation=True, pdf_text_extraction=False)
        by_page = doc.extract_tables(ocr=ocr, implicit_rows=False, implicit_columns=False,
                                     borderless_tables=False, min_confidence=min_confidence)
        scale = TARGET_DPI / IMG2TABLE_PDF_DPI
    else:
        n_pages = 1
        doc = Image(src=str(path), detect_rotation=True)
        by_page = {0: doc.extract_tables(ocr=ocr, implicit_rows=False, implicit_columns=False,
                                         borderless_tables=False, min_confidence=min_confidence)}
        scale = 1.0
        record["dpi"] = None
    record["pages"] = n_pages
    rotations = list(_ROTATIONS) + [None] * max(0, n_pages - len(_ROTATIONS))
    for idx in range(n_pages):
        mat = rotations[idx]
        inv = cv2.invertAffineTransform(mat) if mat is not None else None
        angle = float(np.degrees(np.arctan2(-mat[0, 1], mat[0, 0]))) if mat is not None else 0.0
        record["page_info"].append({"page": idx + 1, "rotation": 0, "skew": round(angle, 2), "error": None})
        for table in by_page.get(idx, []):
            record["tables"].append(table_record(table, idx + 1, inv, scale))
    return record


def _version() -> str:
    from importlib.metadata import version
    return version("img2table")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="Tesseract threads (default: cores)")
    ap.add_argument("--min-confidence", type=int, default=10)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    ocr = TesseractOCR(lang="chi_sim", n_threads=args.threads)
    failed = 0
    pages = 0
    for path in args.inputs:
        t0 = time.perf_counter()
        try:
            record = run_one(path, ocr, args.min_confidence)
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the batch
            failed += 1
            record = {"source": path.name, "pages": 0, "tables": [], "error": f"{type(exc).__name__}: {exc}"}
            traceback.print_exc()
        record["seconds"] = round(time.perf_counter() - t0, 2)
        pages += record["pages"]
        out = args.out / (path.stem + ".json")
        tmp = out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
        tmp.replace(out)
    summary = {"documents": len(args.inputs), "pages": pages, "failed": failed,
               "seconds": round(time.perf_counter() - start, 2)}
    (args.out / "_summary.json").write_text(json.dumps(summary), encoding="utf-8")
    print(json.dumps(summary))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
