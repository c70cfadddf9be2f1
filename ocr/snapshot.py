"""The page image an operator reviews: a small grey JPEG of a page that holds a table.

The review page cuts its cell crops from this image and shows the table view over it, so it has to keep
printed digits legible, cost little next to the page's OCR (~1-2 s), and stay small on disk for a store of
thousands of pages.

- **150 dpi.** The reports print their figures at 10.5-12 pt (五号 to 小四): at 150 dpi a digit is ~15-18 px
  tall with ~2 px strokes, as legible as fine fax (a person reads it at once; the crop is shown enlarged).
  Below ~100 dpi a 3 and an 8 of a faint scan start to merge. From 300 dpi it is an exact halving, which
  OpenCV's area resampling does in ~4 ms.
- **Grey from luminance, not the OCR's ink channel.** That channel turns coloured marks into paper; an
  operator must see the red seal over a cell or a figure corrected in blue pen, because that is often why
  the cell was flagged.
- **JPEG, quality 75.** Measured on sample A4 pages at 150 dpi: JPEG 75 encodes in ~4 ms to 150-200 KiB;
  WebP at quality 60-75 is ~half the size but takes ~200 ms a page (10-20% of a page's OCR), PNG ~100 ms
  and ~4x the size. Speed is what the batch is compared on, disk is cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ocr.model import PageSnapshot

SNAPSHOT_DPI = 150.0
JPEG_QUALITY = 75
_A4_SHORT_INCHES = 8.27


def effective_dpi(dpi: float | None, size: tuple[int, int]) -> float:
    """The page's dpi, or a guess from its size (most reports are A4) when the file declares none."""
    if dpi:
        return float(dpi)
    return min(size) / _A4_SHORT_INCHES


@dataclass(frozen=True)
class Shrunk:
    """The page already brought down to the snapshot's resolution, not yet encoded.

    Split from `encode` because the page stage must shrink the colour page before it keeps only the ink
    channel, but knows whether the page holds a table (and so whether to encode) only later.
    """

    image: np.ndarray  # uint8 grey, H x W
    scale: float  # image px = record px * scale


def shrink(rgb: np.ndarray, dpi: float | None) -> Shrunk:
    """Grey at `SNAPSHOT_DPI` (never enlarged: a page scanned coarser keeps its own pixels)."""
    h, w = rgb.shape[:2]
    scale = min(1.0, SNAPSHOT_DPI / effective_dpi(dpi, (w, h)))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    # Shrinking first touches a quarter of the pixels in the colour conversion; area resampling averages
    # the ink of a stroke instead of dropping every other line of it.
    small = rgb if scale == 1.0 else cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    if small.ndim == 3:
        small = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    return Shrunk(np.ascontiguousarray(small, dtype=np.uint8), scale)


def encode(shrunk: Shrunk) -> PageSnapshot:
    ok, buf = cv2.imencode(".jpg", shrunk.image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:  # only an empty image fails; `shrink` never makes one
        raise ValueError(f"page snapshot: JPEG encoding of a {shrunk.image.shape} image failed")
    h, w = shrunk.image.shape[:2]
    return PageSnapshot(data=buf.tobytes(), media_type="image/jpeg", width=w, height=h, scale=shrunk.scale)


def snapshot(rgb: np.ndarray, dpi: float | None) -> PageSnapshot:
    """The review image of a rasterized page (record pixels, before any rotation) at `dpi` (None: guessed)."""
    return encode(shrink(rgb, dpi))
