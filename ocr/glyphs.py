"""What a crop's ink looks like: a figure or not, and its lines of text. Shared by the grid (which tells a
rule the print lost from two figures standing apart), the cell crops (which route a figure to the digit
reader) and the reader (which reads a failed block of text line by line)."""

from __future__ import annotations

import cv2
import numpy as np


def tight(ink: np.ndarray) -> np.ndarray:
    """`ink` cut to the box around its ink (which it must hold)."""
    ys, xs = np.nonzero(ink)
    return ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def digit_like(ink: np.ndarray) -> bool:
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


def row_runs(rows: np.ndarray, min_gap: int) -> list[tuple[int, int]]:
    """Runs of set rows, split where at least `min_gap` rows in a row are clear."""
    bands, start, gap = [], None, 0
    for i, on in enumerate(rows):
        if on:
            if start is None:
                start = i
            gap = 0
        elif start is not None:
            gap += 1
            if gap >= min_gap:
                bands.append((start, i - gap + 1))
                start, gap = None, 0
    if start is not None:
        bands.append((start, len(rows) - gap))
    return bands


def text_bands(ink: np.ndarray) -> list[tuple[int, int]]:
    """Row ranges holding text lines (gaps of at least 3 empty rows separate lines)."""
    bands = row_runs((ink > 0).any(axis=1), 3)
    tall = max((b - a for a, b in bands), default=0)
    return [(a, b) for a, b in bands if b - a >= 0.3 * tall]
