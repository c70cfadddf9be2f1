"""Whether a page's text runs across it or down it (a quarter turn), by a vote of signals that fail differently.

A projection of all ink, rules and streaks included, is fooled by a photocopy's drum streaks: long straight
lines across the sheet outweigh the text rows of a turned table. So each signal looks only at what it can
trust, says which way it leans (+1: rows run across, the page is upright or upside down; -1: rows run down,
it is turned a quarter) and how much it has to go on (its weight, 0..1):

- text: long straight lines (rules, streaks) are taken out first; what remains is glyphs, merged with
  their neighbours across the gaps between glyphs (a quarter of a glyph) but not across those between
  lines. A row of glyphs then is one blob as thick as a glyph and several long, a column the same
  turned; blobs of any other thickness (streak remnants, speckle, merged paragraphs) do not vote.
- grid: the boxes ruled off by a table's rules (streaks, which cross the whole sheet, left out): a cell
  holds its text on one line, so it is wider than tall when the page is upright.
- OSD: Tesseract's orientation from glyph shapes (~0.1-0.3 s), asked only when the two cheap ones
  disagree or both say little.

Sizes are in glyph heights (`em`), measured on the page from its components, so the vote does not
depend on the dpi or the font size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

OsdFn = Callable[[np.ndarray, float], tuple[int, float]]
"""Given a grayscale page and its scale (dpi / 300), returns (clockwise degrees to rotate it upright, confidence)."""

_VOTE_PPI = 60.0  # the vote looks at the page this coarsely: a glyph is a 7-10 px blob, rows and cells still
# stand apart, and its components cost a quarter of those at the work size's ~120 ppi
_RULE_INCHES = 0.5  # a straight run of ink this long is a rule or a streak, never glyphs (3-4 of them)
_JOIN_INCHES = 0.05  # glyphs of a row are closer than this (a third of a 10-pt glyph); lines are further apart
_GLYPH_PART_INCHES = (0.06, 0.5)  # a glyph, or a part of one, is about this long (radicals of 7-pt print
# to whole 36-pt glyphs)
_GLYPH_PART_ASPECT = 4.0  # and no longer than this for its width (一 is a whole glyph of 4:1 in a Song face)
_GLYPH_INCHES = (0.05, 0.5)  # how thick a row of print may be (7-pt to 36-pt)
_ROW_THICKNESS_EM = (0.6, 1.6)  # a blob this thick, in the page's common row thickness, is one line of text
_ROW_ASPECT = 2.0  # and at least this long for its thickness: two glyphs or more
_TEXT_FULL = 30.0  # glyphs of rows (or columns) that give the text signal its full weight
_CELL_MIN_INCHES = 0.1  # a ruled box lower or narrower than a glyph holds no text: rules doubled, not a cell
_CELL_ASPECT = 1.25  # a cell this much wider than tall (or taller than wide) leans
_GRID_FULL = 12.0  # cells that give the grid signal its full weight
STREAK_REACH = 0.95  # a line over this share of the page's extent crosses the sheet: a streak
_OSD_FULL = 10.0  # OSD's confidence for its full weight (right answers on the samples: 11.7-19.8)
OSD_MIN_CONFIDENCE = 5.0  # OSD's own turn is taken only this sure: a wrong half turn ruins a page
_WEIGHTS = {"text": 1.0, "grid": 0.7, "osd": 1.5}
_SURE = 0.5  # the cheap signals decide alone when they agree and their weighted lean reaches this


@dataclass(frozen=True)
class Signal:
    """One signal's say: `lean` in [-1, 1] (+ rows run across, - rows run down), `weight` in [0, 1]."""

    name: str
    lean: float
    weight: float

    @property
    def vote(self) -> float:
        return _WEIGHTS[self.name] * self.lean * self.weight


@dataclass(frozen=True)
class QuarterTurn:
    """The decision: `rotation` the clockwise turn (0 or 90, or OSD's own 0/90/180/270 when it was asked and
    agrees), `score` the summed votes, `signals` what was asked, `osd` OSD's (turn, confidence) if it ran."""

    rotation: int
    score: float
    signals: tuple[Signal, ...]
    osd: tuple[int, float] | None = None


def _lean(across: float, down: float, full: float, name: str) -> Signal:
    total = across + down
    if total <= 0:
        return Signal(name, 0.0, 0.0)
    return Signal(name, (across - down) / total, min(1.0, total / full))


def coarse(binary: np.ndarray, px_per_inch: float) -> tuple[np.ndarray, float]:
    """The binary page (ink 255) shrunk by a whole factor to no less than `_VOTE_PPI`, and its pixels per
    inch: glyphs fill into blobs, a lone speck of dust fades below the threshold. (A whole factor takes
    OpenCV's fast path: 0.1 ms where 0.41 took 8.)"""
    k = int(px_per_inch // _VOTE_PPI)
    if k < 2:
        return binary, px_per_inch
    small = cv2.resize(binary, None, fx=1.0 / k, fy=1.0 / k, interpolation=cv2.INTER_AREA)
    return cv2.threshold(small, 96, 255, cv2.THRESH_BINARY)[1], px_per_inch / k


def line_masks(binary: np.ndarray, px_per_inch: float) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal and vertical long straight runs of ink: rules and streaks."""
    n = max(9, int(round(_RULE_INCHES * px_per_inch)))
    hmask = cv2.morphologyEx(binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (n, 1)))
    vmask = cv2.morphologyEx(binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, n)))
    return hmask, vmask


def _glyph_like(ink: np.ndarray, px_per_inch: float) -> np.ndarray:
    """The components of `ink` sized and shaped like glyphs or their parts: not the thin pieces a streak
    broken at its crossings leaves (shorter than a rule, so the line masks kept them), nor dust."""
    n, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(ink, 8, cv2.CV_32S, cv2.CCL_GRANA)
    w, h = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
    side, thin = np.maximum(w, h), np.minimum(w, h)
    keep = (side >= _GLYPH_PART_INCHES[0] * px_per_inch) & (side <= _GLYPH_PART_INCHES[1] * px_per_inch)
    keep &= side <= _GLYPH_PART_ASPECT * thin
    keep[0] = False
    return np.where(keep, 255, 0).astype(np.uint8)[labels]


def _rows(glyphs: np.ndarray, px_per_inch: float) -> tuple[np.ndarray, float] | None:
    """The blobs that are lines of text (x, y, w, h each; rows or columns) and the page's glyph height.

    Glyph-like components joined across the gaps of a row make a blob as thick as the print and several
    glyphs long; the page's own row thickness (the median over elongated blobs) sets which blobs are rows,
    so merged paragraphs or clumps (thicker, or not elongated) do not count. None: no text to speak of.
    """
    k = max(3, int(round(_JOIN_INCHES * px_per_inch)))  # 3: a closing of 2 bridges gaps of 1 px only
    blobs = cv2.morphologyEx(_glyph_like(glyphs, px_per_inch), cv2.MORPH_CLOSE,
                             cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    _, _, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(blobs, 8, cv2.CV_32S, cv2.CCL_GRANA)
    boxes = stats[1:, :4].astype(np.int64)
    w, h = boxes[:, 2], boxes[:, 3]
    thick, long = np.minimum(w, h), np.maximum(w, h)
    lo, hi = _GLYPH_INCHES[0] * px_per_inch, _GLYPH_INCHES[1] * px_per_inch
    elongated = (long >= _ROW_ASPECT * thick) & (thick >= max(lo, 2.0)) & (thick <= hi)
    if np.count_nonzero(elongated) < 3:
        return None
    em = float(np.median(thick[elongated]))
    return boxes[elongated & (thick >= _ROW_THICKNESS_EM[0] * em) & (thick <= _ROW_THICKNESS_EM[1] * em)], em


def text_signal(glyphs: np.ndarray, px_per_inch: float) -> Signal:
    """Rows against columns of glyphs, in glyphs: `glyphs` is the binary page with its long lines taken out."""
    found = _rows(glyphs, px_per_inch)
    if found is None:
        return Signal("text", 0.0, 0.0)
    rows, em = found
    w, h = rows[:, 2], rows[:, 3]
    return _lean(float(w[w > h].sum() / em), float(h[h > w].sum() / em), _TEXT_FULL, "text")


def text_rows(ink: np.ndarray, px_per_inch: float) -> tuple[list[tuple[int, int, int, int]], np.ndarray]:
    """The lines of glyphs running across an upright page's binary `ink` (255), as (x0, y0, x1, y1) boxes at
    its size, and `ink` with its long straight lines (rules, streaks) taken out, to crop them from.

    When streaks cut a table's label cells into pieces too small to read, these rows are found without the
    grid, and read well enough to tell which way up the page is.
    """
    small, ppi = coarse(ink, px_per_inch)
    hmask, vmask = line_masks(small, ppi)
    lines = cv2.dilate(hmask | vmask, np.ones((3, 3), np.uint8))
    clean = cv2.subtract(ink, cv2.resize(lines, (ink.shape[1], ink.shape[0]), interpolation=cv2.INTER_NEAREST))
    found = _rows(cv2.subtract(small, hmask | vmask), ppi)
    if found is None:
        return [], clean
    rows, _ = found
    r = px_per_inch / ppi
    pad = max(1, int(round(_JOIN_INCHES * px_per_inch / 2)))
    ih, iw = ink.shape[:2]
    boxes = [(max(0, int(x * r) - pad), max(0, int(y * r) - pad), min(iw, int((x + w) * r) + pad),
              min(ih, int((y + h) * r) + pad)) for x, y, w, h in rows if w > h]
    return boxes, clean


def _boxes(contours: tuple[np.ndarray, ...]) -> np.ndarray:
    return np.array([cv2.boundingRect(c) for c in contours], dtype=np.int64).reshape(-1, 4)


def _without_streaks(mask: np.ndarray, horizontal: bool) -> np.ndarray:
    """The mask without the lines that run over nearly the whole page: drum streaks cross the sheet, a table's
    rules stop at its border, inside the margins. (Contours, not labelled components: a sparse mask's
    outlines cost a fraction of labelling all its pixels.)"""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return mask
    extent = _boxes(contours)[:, 2 if horizontal else 3]
    streaks = [contours[i] for i in np.flatnonzero(extent >= STREAK_REACH * mask.shape[1 if horizontal else 0])]
    return cv2.drawContours(mask.copy(), streaks, -1, 0, thickness=cv2.FILLED) if streaks else mask


def grid_signal(hmask: np.ndarray, vmask: np.ndarray, px_per_inch: float) -> Signal:
    """Wide cells against tall ones, among the boxes the page's rules close off (the holes in their mask)."""
    rules = _without_streaks(hmask, True) | _without_streaks(vmask, False)
    rules = cv2.dilate(rules, np.ones((3, 3), np.uint8))  # close the joints a pixel's gap left open
    contours, hierarchy = cv2.findContours(rules, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return Signal("grid", 0.0, 0.0)
    holes = _boxes([c for c, link in zip(contours, hierarchy[0], strict=True) if link[3] >= 0])
    w, h = holes[:, 2], holes[:, 3]
    ph, pw = rules.shape
    cell = (np.minimum(w, h) >= _CELL_MIN_INCHES * px_per_inch) & (w * h <= 0.25 * ph * pw)
    wide = int(np.count_nonzero(cell & (w >= _CELL_ASPECT * h)))
    tall = int(np.count_nonzero(cell & (h >= _CELL_ASPECT * w)))
    return _lean(wide, tall, _GRID_FULL, "grid")


def osd_signal(turn: int, confidence: float) -> Signal:
    """OSD's answer as a lean: a turn of 0 or 180 keeps rows across, 90 or 270 puts them down."""
    return Signal("osd", 1.0 if turn % 180 == 0 else -1.0, float(np.clip(confidence / _OSD_FULL, 0.0, 1.0)))


def cheap_signals(binary: np.ndarray, px_per_inch: float) -> tuple[Signal, Signal]:
    """The text and grid signals of a binarised page (ink 255) at `px_per_inch`."""
    small, ppi = coarse(binary, px_per_inch)
    hmask, vmask = line_masks(small, ppi)
    return text_signal(cv2.subtract(small, hmask | vmask), ppi), grid_signal(hmask, vmask, ppi)


def quarter_turn(binary: np.ndarray, px_per_inch: float, gray: np.ndarray | None = None,
                 osd: OsdFn | None = None, scale: float = 1.0) -> QuarterTurn:
    """Decide whether the page (`binary`, and `gray` the same page at full size for OSD) is turned a
    quarter. The cheap signals decide alone when they do not disagree and their votes reach `_SURE`;
    otherwise OSD, if given, is asked and votes with the largest weight, so a confident OSD outvotes them."""
    text, grid = cheap_signals(binary, px_per_inch)
    signals: tuple[Signal, ...] = (text, grid)
    score = text.vote + grid.vote
    disagree = text.vote * grid.vote < 0 and min(abs(text.vote), abs(grid.vote)) >= 0.1
    answer = None
    if (disagree or abs(score) < _SURE) and osd is not None and gray is not None:
        answer = osd(gray, scale)
        signals = (*signals, osd_signal(*answer))
        score += signals[-1].vote
    rotation = 0 if score >= 0 else 90
    if answer is not None and answer[1] >= OSD_MIN_CONFIDENCE and (answer[0] % 180 == 0) == (rotation == 0):
        rotation = answer[0] % 360  # OSD tells 90 from 270 (and 0 from 180) too, and it agrees with the vote
    return QuarterTurn(rotation, score, signals, answer)
