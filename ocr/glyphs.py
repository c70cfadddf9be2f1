"""What a crop's ink looks like: a figure or not. Shared by the grid (which tells a rule the print lost
from two figures standing apart) and the cell crops (which route a figure to the digit reader)."""

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
