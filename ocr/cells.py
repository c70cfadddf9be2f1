"""Stage 4: cut each cell out of the page and clean it for OCR.

Rule remnants at a crop's edges halve Tesseract's accuracy, so the detected rule mask is removed
before anything else; then specks go, the crop is cut tight around its ink, padded, and small text
is upscaled. A crop with no ink left is a blank cell, which is not the same as an unreadable one.
"""

from __future__ import annotations

import cv2
import numpy as np

from ocr.model import CellImage, GridCell

_PAD = 12
_TARGET_LINE_HEIGHT = 40  # px; Tesseract reads CJK best around this glyph height
_MIN_LINE_HEIGHT = 26


def crop_cell(binary: np.ndarray, rules: np.ndarray, cell: GridCell, scale: float) -> CellImage:
    """Cleaned crop of one cell from the binarised upright page (ink = 255) and its rule mask."""
    c = cell.corners
    inset = max(1, int(round(3 * scale)))
    x0 = int(np.ceil(max(c[0, 0], c[3, 0]))) + inset
    x1 = int(np.floor(min(c[1, 0], c[2, 0]))) - inset
    y0 = int(np.ceil(max(c[0, 1], c[1, 1]))) + inset
    y1 = int(np.floor(min(c[2, 1], c[3, 1]))) - inset
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, binary.shape[1]), min(y1, binary.shape[0])
    if x1 - x0 < 3 or y1 - y0 < 3:
        return CellImage(None, 0, False)
    ink = binary[y0:y1, x0:x1].copy()
    grow = max(1, int(round(2 * scale)))
    rule = cv2.dilate(rules[y0:y1, x0:x1], np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
    ink[rule > 0] = 0
    ink = _drop_specks(ink, max(3, int(6 * scale * scale)))
    if cv2.countNonZero(ink) < max(8, int(16 * scale * scale)):
        return CellImage(None, 0, False)
    ys, xs = np.nonzero(ink)
    ink = ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    bands = _text_bands(ink)
    line_h = float(np.median([b - a for a, b in bands])) if bands else float(ink.shape[0])
    numeric = len(bands) == 1 and _digit_like(ink)
    if _is_dash(ink):
        return CellImage(None, 1, True, dash=True)
    if line_h < _MIN_LINE_HEIGHT:
        f = _TARGET_LINE_HEIGHT / max(line_h, 1.0)
        ink = cv2.resize(ink, None, fx=f, fy=f, interpolation=cv2.INTER_LINEAR)
        ink = np.where(ink > 127, 255, 0).astype(np.uint8)
    out = cv2.copyMakeBorder(255 - ink, _PAD, _PAD, _PAD, _PAD, cv2.BORDER_CONSTANT, value=255)
    return CellImage(out, max(1, len(bands)), numeric)


def _drop_specks(ink: np.ndarray, min_area: int) -> np.ndarray:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    small = np.zeros(n, dtype=bool)
    small[1:] = stats[1:, cv2.CC_STAT_AREA] < min_area
    if small.any():
        ink = ink.copy()
        ink[small[labels]] = 0
    return ink


def _text_bands(ink: np.ndarray) -> list[tuple[int, int]]:
    """Row ranges holding text lines (gaps of at least 3 empty rows separate lines)."""
    rows = (ink > 0).any(axis=1)
    bands, start, gap = [], None, 0
    for i, on in enumerate(rows):
        if on:
            if start is None:
                start = i
            gap = 0
        elif start is not None:
            gap += 1
            if gap >= 3:
                bands.append((start, i - gap + 1))
                start, gap = None, 0
    if start is not None:
        bands.append((start, len(rows) - gap))
    tall = max((b - a for a, b in bands), default=0)
    return [(a, b) for a, b in bands if b - a >= 0.3 * tall]


def _is_dash(ink: np.ndarray) -> bool:
    """One solid bar, much wider than tall, no taller than a stroke or two (cut tight already)."""
    h, w = ink.shape
    n = cv2.connectedComponents(ink, connectivity=8)[0]
    return n == 2 and w >= 3 * h and h <= 12 and cv2.countNonZero(ink) >= 0.6 * h * w


def _digit_like(ink: np.ndarray) -> bool:
    """Digits are narrow glyphs of full height; CJK glyphs have wide or short parts."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    h = ink.shape[0]
    if n <= 1:
        return False
    if h < 4:
        return False
    for _x, _y, w, hh, _area in stats[1:]:
        if hh >= 0.55 * h and w <= 0.85 * h:
            continue  # digit body
        if hh <= 0.35 * h and w <= 0.35 * h:
            continue  # '.' or ','
        return False
    return True
