"""Stage 2: turn a page upright (90/180/270) and remove its skew (up to about +-5 degrees).

Skew comes from the long straight things on a page: ruling lines where there are tables, text rows
where there are none. Quarter turns come from a vote (`ocr.orientation`): the direction of the text
rows, measured on glyphs with rules and streaks taken out, and the shape of the ruled cells, with
Tesseract's OSD asked only when those two disagree or say little. For 0 vs 180 the caller reads: on
a table page a few label cells are read both ways up (the label reader is ~90% sure of upright Chinese
and ~20% of upside-down; one or two crops, ~0.03-0.07 s for the page), elsewhere, or when the cells
cannot tell, Tesseract's OSD (~0.3 s a page) through the persistent engine decides.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from ocr.model import Orientation
from ocr.orientation import OSD_MIN_CONFIDENCE, STREAK_REACH, OsdFn, quarter_turn

_PX_PER_INCH = 300.0  # at scale 1.0
_WORK_WIDTH = 1000  # skew is measured on a copy this wide: cheap, and precise enough (0.05 deg)
_MAX_SKEW = 5.5
_STRIP = 8  # px: columns summed together for the text-row profile (see `_profile_skew`)
# Mean word confidence of chi_sim on label cells of the samples: upright 75-99 (median 93), the same
# crops turned upside down 0-53 (median 17). A page is called one way up only by a wide margin.
_HALF_TURN_MARGIN = 0.25
_HALF_TURN_CROPS = 3
_READS_WELL = 0.6  # no upside-down crop of the samples read above 0.53 (mean word confidence)
# One crop decides alone only when it reads as upright crops typically do and its turned copy as
# turned ones do: saves two of the four reads on most pages (~30 ms).
_SURE_MARGIN = 0.5
_READS_SURELY = 0.75
_WINDOW_ASPECT = 5.0  # read at most this many heights of a crop: four or five glyphs
_LABEL_ASPECT = 2.0  # a crop at least this wide (in heights, padding included): three glyphs or more


def _small_binary(gray: np.ndarray) -> tuple[np.ndarray, float]:
    f = _WORK_WIDTH / max(gray.shape[1], 1)
    small = cv2.resize(gray, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) if f < 1 else gray
    binary = cv2.adaptiveThreshold(small, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 25, 15)
    return binary, min(f, 1.0)


def estimate_skew(gray: np.ndarray, binary: np.ndarray | None = None) -> float:
    """Degrees the content is turned counter-clockwise; 0.0 on a page with nothing to measure.

    `binary` is `_small_binary(gray)` when the caller has it already.
    """
    if binary is None:
        binary, _ = _small_binary(gray)
    h, w = binary.shape
    # Hough's cost grows with the points it votes for: keep only long horizontal runs, which drops glyph
    # strokes (~17 px wide glyphs at this size). Thickening by 3 px first keeps a thin rule tilted by 6
    # degrees in runs of 25 px. Measured on the samples: 114 -> 68 ms a page, the same angles.
    thick = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (1, 3)))
    runs = cv2.morphologyEx(thick, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (25, 1)))
    # a coarse 0.25 deg vote is enough: the angle is measured from the segment end points
    lines = cv2.HoughLinesP(runs, 1, np.pi / 720, threshold=max(60, w // 8),
                            minLineLength=w // 5, maxLineGap=8)
    angles, weights = [], []
    if lines is not None:
        ys, xs = np.nonzero(runs)
        for x0, y0, x1, y1 in _off_streaks(lines[:, 0, :], w):
            dx, dy = float(x1 - x0), float(y1 - y0)
            if abs(np.degrees(np.arctan2(dy, dx))) > _MAX_SKEW or dx == 0:
                continue
            # Hough's segment is only as straight as its 0.25 deg bin: refit it on the pixels along it.
            slope = dy / dx
            lo, hi = min(x0, x1), max(x0, x1)
            near = (xs >= lo) & (xs <= hi) & (np.abs(ys - (y0 + slope * (xs - x0))) <= 2.0)
            if near.sum() >= 20:
                slope = float(np.polyfit(xs[near], ys[near], 1)[0])
            angles.append(np.degrees(np.arctan(slope)))
            weights.append(np.hypot(dx, dy))
    if len(angles) >= 3:
        return round(-_weighted_median(np.array(angles), np.array(weights)), 3)
    return round(-_profile_skew(binary), 3)


def _off_streaks(segments: np.ndarray, width: int) -> np.ndarray:
    """Hough's segments less those on lines that cross the whole sheet: drum streaks run at the copier's
    angle, not the print's, and a table's rules stop inside the margins. A streak may come in pieces
    (the threshold loses it beside dark ink), so segments on one line (within 3 px and 0.5 deg) are
    judged together by the span they cover."""
    if len(segments) == 0:
        return segments
    x0, y0, x1, y1 = (segments[:, i].astype(np.float64) for i in range(4))
    angle = np.degrees(np.arctan2(y1 - y0, x1 - x0))
    mid = y0 + np.tan(np.radians(angle)) * (width / 2.0 - x0)  # where each line crosses the page's middle
    lo, hi = np.minimum(x0, x1), np.maximum(x0, x1)
    streak = np.zeros(len(segments), bool)
    for i in range(len(segments)):
        same = (np.abs(mid - mid[i]) <= 3.0) & (np.abs(angle - angle[i]) <= 0.5)
        streak[i] = hi[same].max() - lo[same].min() >= STREAK_REACH * width
    return segments[~streak]


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, cum[-1] / 2.0)])


def _profile_skew(binary: np.ndarray) -> float:
    """Image-frame angle of the text rows, by maximising the sharpness of the row profile.

    The page is not rotated for each of the ~44 angles tried: its columns are summed in strips once,
    and each strip's row profile is shifted by the rise of the rows at the strip's centre (a shear,
    which at these angles lines the rows up as a rotation does). On the 75 bench pages: ~105 -> ~14 ms
    a page, every angle within 0.05 deg of the one rotating found, mean error to the truth 0.054 deg
    (rotating: 0.055).
    """
    h, w = binary.shape
    if w < 8 * _STRIP or h < 8 or cv2.countNonZero(binary) < 50:
        return 0.0  # too narrow for the strips to rise by a pixel: nothing to measure
    n = w // _STRIP
    edge = (w - n * _STRIP) // 2
    strips = (binary[:, edge:edge + n * _STRIP] > 0).reshape(h, n, _STRIP).sum(axis=2, dtype=np.int32)
    offsets = edge + _STRIP * (np.arange(n) + 0.5) - w / 2.0  # strip centres from the page's centre
    reach = int(np.ceil(np.sin(np.radians(_MAX_SKEW + 0.5)) * w / 2.0)) + 1
    columns = strips.T.copy()

    def score(angle: float) -> float:
        # Turning the page counter-clockwise by `angle` lifts a point right of the centre by sin(angle)·x.
        shifts = reach + np.rint(-np.sin(np.radians(angle)) * offsets).astype(np.intp)
        prof = np.zeros(h + 2 * reach, np.int64)
        for col, s in zip(columns, shifts, strict=True):
            prof[s:s + h] += col
        return float(np.sum(np.diff(prof[reach:reach + h]).astype(np.float64) ** 2))

    coarse = np.arange(-_MAX_SKEW, _MAX_SKEW + 0.01, 0.5)
    best = max(coarse, key=score)
    fine = np.arange(best - 0.5, best + 0.51, 0.05)
    best = max(fine, key=score)
    # Turning the image counter-clockwise by `best` straightened the rows, so they slope by `best` in the
    # image frame (y down), the convention Hough's angles use.
    return float(best)


def rotate_quarter(img: np.ndarray, rotation: int) -> np.ndarray:
    """Rotate clockwise by 0/90/180/270 degrees."""
    codes = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}
    return img if rotation % 360 == 0 else cv2.rotate(img, codes[rotation % 360])


def _quarter_matrix(rotation: int, w: int, h: int) -> np.ndarray:
    """3x3 map of pixel coordinates for a clockwise quarter rotation of a w x h image."""
    r = rotation % 360
    if r == 0:
        return np.eye(3)
    if r == 90:  # (x, y) -> (h - 1 - y, x)
        return np.array([[0, -1, h - 1], [1, 0, 0], [0, 0, 1]], dtype=np.float64)
    if r == 180:
        return np.array([[-1, 0, w - 1], [0, -1, h - 1], [0, 0, 1]], dtype=np.float64)
    return np.array([[0, 1, 0], [-1, 0, w - 1], [0, 0, 1]], dtype=np.float64)  # 270: (x, y) -> (y, w-1-x)


def osd_turn(upright: np.ndarray, osd: OsdFn, scale: float = 1.0) -> int:
    """Further clockwise quarter turns OSD asks for (0 when it is not sure enough)."""
    turn, conf = osd(upright, scale)
    return turn % 360 if conf >= OSD_MIN_CONFIDENCE else 0


def half_turn_by_reading(crops: list[np.ndarray], score: Callable[[np.ndarray], float]) -> int | None:
    """180 when text crops read far better upside down, 0 when far better as they are, None when the
    crops cannot tell (too few, too close, or neither way reads well): then ask OSD.

    `crops` are one-line, non-numeric crops (label cells, prose lines: the caller picks them); the
    widest are read both ways up, each only over its first few glyphs (a read costs its width): one
    first, which settles it alone only by a wide margin, then two, then a third. The winning way
    must also read well on its own: a degraded upright crop can read a little better upside down,
    never well. Digits are left out: 0, 1 and 8 read much the same either way up. At least two
    crops are needed, so a page with one stray label is left to OSD.
    """
    chosen = sorted((c for c in crops if c.shape[1] >= _LABEL_ASPECT * c.shape[0]), key=lambda c: -c.shape[1])
    windows = [c[:, : int(_WINDOW_ASPECT * c.shape[0])] for c in chosen[:_HALF_TURN_CROPS]]
    if len(windows) < 2:
        return None
    upright: list[float] = []
    flipped: list[float] = []
    for k in sorted({1, 2, len(windows)}):
        for c in windows[len(upright):k]:
            upright.append(score(c))
            flipped.append(score(cv2.rotate(c, cv2.ROTATE_180)))
        up, down = float(np.mean(upright)), float(np.mean(flipped))
        margin, well = (_SURE_MARGIN, _READS_SURELY) if k == 1 else (_HALF_TURN_MARGIN, _READS_WELL)
        if up - down >= margin and up >= well:
            return 0
        if down - up >= margin and down >= well:
            return 180
    return None


def orient(gray: np.ndarray, osd: OsdFn | None = None, scale: float = 1.0,
           rotation: int | None = None, osd_half_turn: bool = True) -> tuple[np.ndarray, Orientation]:
    """Return the upright, deskewed page and how it was obtained (a matrix back to the original).

    The quarter turn is voted on by the text direction and the grid's shape, with `osd` asked when they
    disagree or are weak (see `ocr.orientation`); with `osd_half_turn` OSD also decides the half turn
    (else an upside-down page stays so, for the caller to read). `rotation` imposes the clockwise turn
    instead of guessing it.
    """
    h, w = gray.shape[:2]
    small = None
    if rotation is None:
        small, f = _small_binary(gray)  # one copy for both questions while the page is unturned
        vote = quarter_turn(small, _PX_PER_INCH * scale * f, gray, osd, scale)
        rotation = vote.rotation
        if osd is not None and osd_half_turn and vote.osd is None:
            rotation = (rotation + osd_turn(rotate_quarter(gray, rotation), osd, scale)) % 360
    upright = rotate_quarter(gray, rotation)
    q = _quarter_matrix(rotation, w, h)
    skew = estimate_skew(upright, small if rotation == 0 else None)
    uh, uw = upright.shape[:2]
    if abs(skew) < 0.02:
        return upright, Orientation(rotation, 0.0, q)
    m = cv2.getRotationMatrix2D((uw / 2.0, uh / 2.0), -skew, 1.0)
    straight = cv2.warpAffine(upright, m, (uw, uh), flags=cv2.INTER_LINEAR, borderValue=255)
    full = np.vstack([m, [0.0, 0.0, 1.0]]) @ q
    return straight, Orientation(rotation, float(skew), full)


def to_original(points: np.ndarray, orientation: Orientation) -> np.ndarray:
    """Map N x 2 working-image points back to the rasterized page's pixels."""
    inv = orientation.inverse
    pts = np.hstack([points.astype(np.float64), np.ones((len(points), 1))])
    back = pts @ inv.T
    return back[:, :2] / back[:, 2:3]
