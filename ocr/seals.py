"""Seals removed by their shape, for the ones colour cannot tell: a red seal photocopied or printed in grey.

`ocr.rasterize.ink` turns a red seal into paper by its chroma. A grey one keeps no chroma, and its ring,
star and arc text cross the rules and the figures of the last columns: the grid loses rules and the
cells under it read as noise. What still tells it apart is its shape and its ink: an official seal is a
ring 38-44 mm across, and a copy of red ink comes out mid-grey, lighter than the black print (a figure
printed under it stays as dark as black ink, or darker where both inks overlap). So a seal is found as a
ring of mid-grey ink of that size, and inside it the seal's ink layer is divided out.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_MM_PER_INCH = 25.4
_SEAL_MM = (34.0, 48.0)  # diameters searched: the 38-44 mm of official seals, with room for scale and copying
_DETECT_DPI = 50.0  # the ring is ~3 px thick here: enough for its shape, cheap to search
_SAMPLE = 2  # the grey page is read at every second pixel for the levels and the mid-grey mask
_RING_ANGLES = 120
_RING_COVER = 0.6  # share of the ring's angles that must hold mid-grey ink (seal ink is uneven, speckled)
_MIN_SEPARATION = 0.4  # the seal's ink must be this share of the ink-to-paper range lighter than black print


@dataclass(frozen=True)
class Seal:
    """A ring of mid-grey ink found on a page: where, and how grey its ink is."""

    cx: float
    cy: float
    radius: float  # of the ring's centre line, page pixels
    level: int  # the median grey of the ring's ink


def _levels(gray: np.ndarray) -> tuple[float, float]:
    """Paper and black-print levels of a page: its median, and the core of its darkest strokes."""
    sample = gray[::_SAMPLE * 2, ::_SAMPLE * 2]
    paper, black = np.percentile(sample, [50, 0.5])
    return float(paper), float(black)


def _mid_grey(gray: np.ndarray, paper: float, black: float, scale: float) -> np.ndarray:
    """Mask (at 1/_SAMPLE of the page) of ink clearly lighter than black print and clearly darker than paper,
    in solid patches: the thin grey halo around every black stroke opens away."""
    span = paper - black
    g = gray[::_SAMPLE, ::_SAMPLE]
    lo, hi = black + 0.35 * span, paper - 0.15 * span
    mask = cv2.inRange(g, int(np.ceil(lo)), int(np.floor(hi)))
    k = max(2, int(round(3 * scale / _SAMPLE)))
    return cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((k, k), np.uint8))


def find_seals(gray: np.ndarray, scale: float) -> list[Seal]:
    """Grey seals on an ink-channel page (`ocr.rasterize.ink`), by the ring of mid-grey ink around them.

    `scale` is the page's dpi / 300. A red seal has already turned to paper there and is not found again.
    """
    paper, black = _levels(gray)
    span = paper - black
    if span < 40:  # an empty or uniformly grey page: no print to tell a seal from
        return []
    mid = _mid_grey(gray, paper, black, scale)
    if cv2.countNonZero(mid) == 0:
        return []
    dpi = 300.0 * scale
    f = _DETECT_DPI / (dpi / _SAMPLE)
    small = cv2.resize(mid, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (5, 5), 1.0)
    px_per_mm = _DETECT_DPI / _MM_PER_INCH
    r_min, r_max = (int(d / 2 * px_per_mm) for d in _SEAL_MM)
    circles = cv2.HoughCircles(small, cv2.HOUGH_GRADIENT, dp=1, minDist=r_min, param1=60, param2=18,
                               minRadius=r_min, maxRadius=r_max)
    if circles is None:
        return []
    seals: list[Seal] = []
    to_mid = 1.0 / f  # `small` pixels to `mid` pixels
    for x, y, r in circles[0][:8]:
        cx, cy, rr = x * to_mid, y * to_mid, r * to_mid  # in `mid` pixels
        cover = _ring_cover(mid, cx, cy, rr, thickness=max(2.0, 0.04 * rr))
        if cover < _RING_COVER:
            continue
        level = _ring_level(gray, cx * _SAMPLE, cy * _SAMPLE, rr * _SAMPLE, mid, _SAMPLE)
        if level - black < _MIN_SEPARATION * span:
            continue  # the ring is as dark as the print: a drawn circle, not a copied seal
        seal = Seal(float(cx * _SAMPLE), float(cy * _SAMPLE), float(rr * _SAMPLE), int(level))
        if all(np.hypot(seal.cx - s.cx, seal.cy - s.cy) > s.radius for s in seals):
            seals.append(seal)
    return seals


def _ring_cover(mask: np.ndarray, cx: float, cy: float, r: float, thickness: float) -> float:
    """Share of angles around (cx, cy) at which the mask holds ink within `thickness` of radius r."""
    t = np.linspace(0, 2 * np.pi, _RING_ANGLES, endpoint=False)
    h, w = mask.shape
    hit = np.zeros(t.size, dtype=bool)
    inside = np.zeros(t.size, dtype=bool)
    for d in np.linspace(-thickness, thickness, 5):
        xs = np.rint(cx + (r + d) * np.cos(t)).astype(int)
        ys = np.rint(cy + (r + d) * np.sin(t)).astype(int)
        ok = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
        inside |= ok
        hit[ok] |= mask[ys[ok], xs[ok]] > 0
    # a seal pressed over the page's edge shows part of its ring: judge the part on the page
    return float(hit.sum() / max(1, inside.sum())) if inside.sum() >= 0.5 * t.size else 0.0


def _ring_level(gray: np.ndarray, cx: float, cy: float, r: float, mid: np.ndarray, step: int) -> float:
    """Median grey of the seal's ink on its ring (the mid-grey pixels within a few percent of radius r)."""
    h, w = mid.shape
    yy, xx = np.ogrid[:h, :w]
    y0, y1 = int(max(0, (cy - 1.1 * r) / step)), int(min(h, (cy + 1.1 * r) / step + 1))
    x0, x1 = int(max(0, (cx - 1.1 * r) / step)), int(min(w, (cx + 1.1 * r) / step + 1))
    d = np.hypot(xx[:, x0:x1] * step - cx, yy[y0:y1] * step - cy)
    ring = (np.abs(d - r) < 0.06 * r) & (mid[y0:y1, x0:x1] > 0)
    vals = gray[::step, ::step][y0:y1, x0:x1][ring]
    return float(np.median(vals)) if vals.size else 0.0


def remove_seals(gray: np.ndarray, seals: list[Seal], scale: float) -> np.ndarray:
    """A copy of the page with each seal's ink turned to paper; the print under and around it stays.

    A seal is pressed over the page: its ink multiplies what lies beneath, so dividing by the local
    background gives back the print under it, thin strokes included. The background is a median over
    a window 2.5 printed strokes wide (15 px at 300 dpi): a figure's strokes fill less than half of it
    and drop out, the seal's ring, star and bold engraved text more than half and stay, and the median,
    unlike a closing, does not follow the seal's speckled ink up to its lightest grain. Whatever of the
    seal is left comes out lighter than it was; no level tells it from the thin strokes of a figure (a
    copied hairline of a '0' is as light as a seal's ink), so none is guessed.
    """
    if not seals:
        return gray
    out = gray.copy()
    h, w = gray.shape
    window = max(5, int(round(15 * scale)) | 1)
    for s in seals:
        reach = s.radius * 1.08
        x0, x1 = int(max(0, s.cx - reach)), int(min(w, s.cx + reach + 1))
        y0, y1 = int(max(0, s.cy - reach)), int(min(h, s.cy + reach + 1))
        if x1 <= x0 or y1 <= y0:
            continue
        region = out[y0:y1, x0:x1]
        yy, xx = np.ogrid[y0:y1, x0:x1]
        d2 = (xx - s.cx) ** 2 + (yy - s.cy) ** 2
        disk = d2 <= reach ** 2
        background = cv2.medianBlur(region, window)
        paper = float(np.percentile(background[disk], 75))
        flat = np.clip(region.astype(np.float32) * paper / np.maximum(background, 1), 0, 255).astype(np.uint8)
        region[disk] = flat[disk]
    return out
