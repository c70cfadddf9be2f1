"""Stage 4: cut each cell out of the page and clean it for OCR.

Rule remnants at a crop's edges halve Tesseract's accuracy, so the detected rule mask is removed
before anything else; then specks go, the crop is cut tight around its ink, padded, and small text
is upscaled. A crop with no ink left is a blank cell, which is not the same as an unreadable one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import cv2
import numpy as np

from ocr.cleanup import (
    binarize_otsu,
    binarize_stretched,
    darkest,
    denoise,
    despeckle,
    flatten_stripes,
    is_faded,
    levels,
    paper_noise,
    variants,
)
from ocr.glyphs import digit_like, row_runs, text_bands, tight
from ocr.model import BBox, CellImage, GridCell

_PAD = 12
_TARGET_LINE_HEIGHT = 40  # px; Tesseract reads CJK best around this glyph height
_MIN_LINE_HEIGHT = 26
_ALT_LINE_HEIGHT = 64  # the other size a failed read is tried at: Tesseract's errors change with it
_MIN_INK_CONTRAST = 24  # grey levels between paper and ink under which no clean-up finds print
_TEXT_CONTRAST = 26  # grey levels below the local mean that make a pixel ink
_MEAN_SHRINK = 4  # the local mean of the text threshold is taken at 1/4 of the size
# Paper grain (std of the paper's grey levels in a cell) above which a cell that does not crop as a figure is
# binarised again from its smoothed grey: the hard tier's 90th percentile (median 4.7, 99th 20.6).
GRAINY_PAPER = 12.0
_LITTER_REACH = 0.15  # share of a glyph's height within which a speck belongs to the stroke it touches
# How far off the cell's middle (in glyph widths) a lone oval may sit and still be a figure of its own; a
# '0' that lost its '1' sits about half a width off. How convex its outline must be ('6', '9' are not).
_RING_OFF_MIDDLE = 0.35
_RING_MIN_HEIGHT = 12  # px at 300 dpi (1 mm): a smaller oval is a speck or a degree sign, not a figure
_RING_SOLIDITY = 0.9
# A grey blot is a smudge, not print, when it is at least this share of the largest part's area and never
# gets this share of the way from the paper's grey down to the crop's darkest ink (augraphy-heavy blots
# reached 0.5 of it beside '0's printed black; print's own parts reach it at their core).
_SMUDGE_SIZE = 0.25
_SMUDGE_DEPTH = 2 / 3
_FIGURE_ASPECT = 6.0  # one line no wider than this many heights may be a figure (as `ocr.recognize` routes it)


def binarize_text(gray: np.ndarray, scale: float) -> np.ndarray:
    """Ink = 255, tuned for glyphs rather than rules: a light blur and a high local contrast bar.

    Rules need a sensitive threshold (faint rules must survive); text needs a strict one (JPEG ringing,
    salt noise and uneven light must not). On hard generated scans this took numeric cells read right
    from 75% to 97% and labels from 50% to 78% (bench/calibrate_review.py measures the effect).

    The threshold is OpenCV's adaptive Gaussian one (block 101 px at 300 dpi, C 26), with the local
    mean, a blur of sigma ~15 px, taken at a quarter of the size and enlarged: 150 ms -> 40 ms a page,
    and ~0.1% of the ink pixels of a sample page come out otherwise.
    """
    block = max(15, int(round(101 * scale)) | 1)
    blurred = cv2.GaussianBlur(gray, (3, 3), 0)
    sigma = 0.3 * ((block - 1) * 0.5 - 1) + 0.8  # what OpenCV derives from the block size
    if sigma < 2 * _MEAN_SHRINK:  # a small page (low dpi): the exact blur is cheap there
        return cv2.adaptiveThreshold(blurred, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY_INV, block,
                                     _TEXT_CONTRAST)
    h, w = blurred.shape
    small = cv2.resize(blurred, (max(1, w // _MEAN_SHRINK), max(1, h // _MEAN_SHRINK)),
                       interpolation=cv2.INTER_AREA).astype(np.float32)
    s = sigma / _MEAN_SHRINK
    k = int(2 * np.ceil(3 * s) + 1)
    mean = cv2.GaussianBlur(small, (k, k), s, borderType=cv2.BORDER_REPLICATE)
    mean = cv2.resize(np.rint(mean).astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)
    thr = mean.astype(np.int16) - _TEXT_CONTRAST
    return cv2.compare(blurred.astype(np.int16), thr, cv2.CMP_LE)


def crop_cell(binary: np.ndarray, rules: np.ndarray, cell: GridCell, scale: float,
              faint: np.ndarray | None = None, gray: np.ndarray | None = None) -> CellImage:
    """Cleaned crop of one cell from the text-binarised upright page (`binarize_text`) and its rule mask.

    `faint` is a more sensitive binarisation of the same page (the grid's): a cell that looks empty in
    the strict one but holds ink in it is faint print, not a blank, and is read from that ink instead.
    Calling a faint '0' blank would be a wrong value with full confidence. `gray` is the page itself:
    a cell whose ink is faded (`ocr.cleanup.is_faded`) is binarised again against its own levels, one on
    grainy paper from its smoothed grey where that makes it a figure (`_figure_in_grain`).
    """
    box = _box(cell, scale, binary.shape)
    if box is None:
        return CellImage(None, 0, False)
    x0, y0, x1, y1 = box
    rule = _rule_mask(rules, box, scale)
    enough = _enough(scale)
    ink = _clean(binary[y0:y1, x0:x1], rule, scale)
    if cv2.countNonZero(ink) < enough and faint is not None:
        ink = _clean(faint[y0:y1, x0:x1], rule, scale)
    if cv2.countNonZero(ink) < enough:
        return CellImage(None, 0, False)
    smoothed: np.ndarray | None = None  # the figure read from the smoothed grey, for a cell on grainy paper
    if gray is not None:
        g = gray[y0:y1, x0:x1]
        paper, level = levels(g, ink)
        if is_faded(paper, level, darkest(g, ink)):
            redone = _drop_strays(_clean(binarize_stretched(despeckle(g, scale), paper, level, scale), rule, scale))
            if cv2.countNonZero(redone) >= enough:
                ink = redone
        elif (x1 - x0) < _FIGURE_ASPECT * (y1 - y0) and (grain := paper_noise(g, ink)) > GRAINY_PAPER:
            smoothed = _figure_in_grain(g, rule, grain, scale, enough)
    cleaned = _figure_alone(_drop_litter(ink))
    if gray is not None and (unsmudged := _drop_smudges(cleaned, gray[y0:y1, x0:x1])) is not cleaned \
            and _lone_ring(unsmudged, scale):
        cleaned = unsmudged  # only a '0' left alone in the middle: a faded print's lighter digit is no blot
    if smoothed is None:
        return _finish(cleaned, scale)
    if not _is_figure(cleaned):
        return _finish(smoothed, scale)
    crop = _finish(cleaned, scale)
    return replace(crop, second=_finish(smoothed, scale).image) if crop.image is not None else crop


def _drop_litter(ink: np.ndarray, near: float = _LITTER_REACH) -> np.ndarray:
    """`ink` without the specks that lie off its text: a photocopy's toner dust beside and between a
    label's lines, which Tesseract reads as strings of punctuation and stray characters.

    A speck (a component smaller than a quarter glyph squared) stays when it touches a larger component
    (within `near` of a glyph's height: the dots of 冫, a stroke broken off) or sits on a line of text
    between its first and last printed component (or just after it): '、', '.', '，' and quotes. Glyph
    bodies are the components at least half as tall as the tallest. On hard-tier pages (the family the
    pipeline is fitted on) labels read exactly went from 76% to 82%, figures unchanged.
    """
    parts = _Parts.of(ink)
    if parts is None:
        return ink
    x, y, w, h, body, glyph, small = parts.x, parts.y, parts.w, parts.h, parts.body, parts.glyph, parts.small
    if small.all() or not small.any():  # nothing but specks is no text to be off: the cell says what it is
        return ink
    touched = parts.near(~small, max(1, int(near * glyph)))
    cx, cy = x + w / 2, y + h / 2
    inline = np.zeros(len(x), dtype=bool)
    for k in np.flatnonzero(small):
        same = body & (y <= cy[k]) & (cy[k] <= y + h)  # bodies whose height spans this one's centre
        if not same.any():
            continue
        b0, b1 = y[same].min(), (y + h)[same].max()
        line = ~small & (b0 <= cy) & (cy <= b1)  # what is printed on that line ('一' is no body, yet prints)
        if line.any() and x[line].min() <= cx[k] <= (x + w)[line].max() + 0.5 * glyph:
            inline[k] = True
    return parts.keep(~small | touched | inline, ink)


def _drop_smudges(ink: np.ndarray, gray: np.ndarray) -> np.ndarray:
    """`ink` without the smudges on it: grey blots of dirt or toner (augraphy's ink blobs) as large as a
    glyph that never get as dark as print does, which the label reader reads as '“', '<' or '灵' beside
    a '0' (issue 13: augraphy-heavy). A part is a smudge when it is at least `_SMUDGE_SIZE` of the largest
    part's area (a decimal point or a broken stroke is far smaller, and stays) and its darkest pixel
    stays above `_SMUDGE_DEPTH` of the way from the paper down to the darkest ink of the crop.

    Faded print is uneven: one digit of a faded '12' may be such a part. So a crop without its smudges is
    used only where what is left is a lone '0' in the cell's middle (`_lone_ring`), most figures of these
    reports, and the one a dropped digit could not leave (a '10' whose '1' went leaves its '0' off the
    middle)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    if n <= 2:
        return ink
    areas = stats[1:, cv2.CC_STAT_AREA]
    large = np.flatnonzero(areas >= _SMUDGE_SIZE * areas.max())  # only these can be smudges: judged alone
    paper, _ = levels(gray, ink)
    line = paper - _SMUDGE_DEPTH * (paper - cv2.minMaxLoc(gray, (ink > 0).astype(np.uint8))[0])
    smudge = [i for i in large if cv2.minMaxLoc(gray, (labels == i + 1).astype(np.uint8))[0] > line]
    if not smudge:
        return ink
    return np.where(np.isin(labels, 1 + np.array(smudge)), 0, ink).astype(ink.dtype)


def _figure_in_grain(gray: np.ndarray, rule: np.ndarray, grain: float, scale: float, enough: int) -> np.ndarray | None:
    """A cell on grainy paper (toner dust, a coarse photocopy) binarised again from its grey smoothed
    (`ocr.cleanup.denoise`), when that crops as a figure; else None.

    The grain binarises as a cloud of specks round a '0', which the label reader reads as '你' or '小人',
    or which joins the '0' into a '6' read at 0.95 (a figure-shaped crop is no proof it is the figure).
    A cell that does not crop as a figure is read from this instead; one that does is read from both, and
    the two must agree (`CellImage.second`): on grey paper with doubled or thick rules the smoothed crop
    read clear '0's at 0.4 where the page's own binarisation read them at 0.94. A label is never cleaned
    so (Otsu on a label loses its thin strokes).
    """
    redone = _figure_alone(_drop_litter(_clean(binarize_otsu(denoise(gray, grain, scale), blur=False), rule, scale,
                                               3.0)))
    return redone if cv2.countNonZero(redone) >= enough and _is_figure(redone) else None


def _is_figure(ink: np.ndarray) -> bool:
    """One short line of digit-shaped glyphs: what the digit reader reads."""
    if not ink.any():
        return False
    cut = tight(ink)
    return _one_short_line(cut) and digit_like(cut)


def _one_short_line(cut: np.ndarray) -> bool:
    """A crop cut tight (`tight`) that holds one line no wider than a figure."""
    return len(text_bands(cut)) == 1 and cut.shape[1] < _FIGURE_ASPECT * cut.shape[0]


def _figure_alone(ink: np.ndarray) -> np.ndarray:
    """A cell that holds one short line (a figure) without the specks and rule remnants around it.

    Photocopy speckle and the ends of rules the mask missed sit at a figure's cell edges; kept, they widen
    the crop and Tesseract reads a lone '0' at 0.5-0.6 instead of 0.8, or as '| 0'. Only a crop that is
    one short line once they are gone is cleaned so: in a label, the same rule would take '一' and the
    middle stroke of '二' for strays (measured on hard-tier pages: labels read exactly lost 4 of 319 when
    every cell was cleaned so, and gained 7 when only figures are).
    """
    figure = _drop_strays(ink)
    return figure if figure is not ink and _one_short_line(tight(figure)) else ink


def cell_variants(gray: np.ndarray, rules: np.ndarray, cell: GridCell, scale: float) -> Iterator[CellImage]:
    """The cell cleaned more heavily, cheapest first (`ocr.cleanup.variants`), then read at another size:
    for a cell whose reading failed. Yields nothing for a cell with no print to clean: its ink no darker
    than its paper, as it stands or, for the clean-up that levels stripes away, once levelled (on a striped
    page the bands are most of a cell's dark pixels, and split from the paper they hide the print)."""
    box = _box(cell, scale, gray.shape)
    if box is None:
        return
    x0, y0, x1, y1 = box
    rule = _rule_mask(rules, box, scale)
    g = gray[y0:y1, x0:x1]
    enough = _enough(scale)
    printed = _print_levels(g, rule, scale)
    levelled: bool | None = None  # asked only when it matters: most reads are settled before that clean-up

    def print_once_levelled() -> bool:
        nonlocal levelled
        if levelled is None:
            levelled = _print_levels(flatten_stripes(g), _edges_of(rule, scale), scale) is not None
        return levelled

    if printed is None and not print_once_levelled():
        return  # noise or a smudge, not print: no clean-up makes it a glyph
    paper, level = printed or (255.0, 0.0)
    last: np.ndarray | None = None  # the last clean-up's ink that is read at one size only
    for v in variants(g, paper, level, scale):
        if not (print_once_levelled() if v.bands_are_print else printed is not None):
            continue
        ink = _drop_strays(_clean(v.binarize(g), _edges_of(rule, scale) if v.bands_are_print else rule, scale,
                                  v.speck))
        if cv2.countNonZero(ink) < enough:
            continue
        if v.twice:  # the other size first: a sure reading at ours then has the agreement it needs
            yield _finish(ink, scale, target=_ALT_LINE_HEIGHT)
        yield _finish(ink, scale)
        if not v.twice:
            last = ink
    if last is not None:
        yield _finish(last, scale, target=_ALT_LINE_HEIGHT)


def _print_levels(g: np.ndarray, rule: np.ndarray, scale: float) -> tuple[float, float] | None:
    """The crop's paper and ink grey levels, split by Otsu, or None when that ink is too little or too
    close to the paper to be print."""
    first = _drop_strays(_clean(binarize_otsu(g), rule, scale))
    if cv2.countNonZero(first) < _enough(scale):
        return None
    paper, level = levels(g, first)
    return (paper, level) if paper - level >= _MIN_INK_CONTRAST else None


def _box(cell: GridCell, scale: float, shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
    """The cell's inner box on the page, inset from its rules; None when nothing is left inside."""
    c = cell.corners
    inset = max(1, int(round(3 * scale)))
    x0 = int(np.ceil(max(c[0, 0], c[3, 0]))) + inset
    x1 = int(np.floor(min(c[1, 0], c[2, 0]))) - inset
    y0 = int(np.ceil(max(c[0, 1], c[1, 1]))) + inset
    y1 = int(np.floor(min(c[2, 1], c[3, 1]))) - inset
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, shape[1]), min(y1, shape[0])
    if x1 - x0 < 3 or y1 - y0 < 3:
        return None
    return x0, y0, x1, y1


def _rule_mask(rules: np.ndarray, box: tuple[int, int, int, int], scale: float) -> np.ndarray:
    x0, y0, x1, y1 = box
    grow = max(1, int(round(2 * scale)))
    return cv2.dilate(rules[y0:y1, x0:x1], np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))


_EDGE_BAND = 8  # px at 300 dpi: a cell's rules, skewed or thick, reach no deeper into its inner box


def _edges_of(rule: np.ndarray, scale: float) -> np.ndarray:
    """The rule mask of a cell's inner box along its edges only: what crosses its middle is no rule."""
    band = max(2, int(round(_EDGE_BAND * scale)))
    out = rule.copy()
    out[band:-band, band:-band] = 0
    return out


def _enough(scale: float) -> int:
    """Fewer ink pixels than this is no print (a blank cell)."""
    return max(8, int(16 * scale * scale))


def _finish(ink: np.ndarray, scale: float, target: int = _TARGET_LINE_HEIGHT) -> CellImage:
    """Cut tight, tell dashes, count lines, upscale small text to `target` px a line, pad: ready to read."""
    ring = _lone_ring(ink, scale)
    ink = tight(ink)
    bands = text_bands(ink)
    line_h = float(np.median([b - a for a, b in bands])) if bands else float(ink.shape[0])
    numeric = len(bands) == 1 and digit_like(ink)
    if _is_dash(ink, scale):
        return CellImage(None, 1, True, dash=True)
    if line_h < _MIN_LINE_HEIGHT or target != _TARGET_LINE_HEIGHT:
        f = target / max(line_h, 1.0)
        ink = cv2.resize(ink, None, fx=f, fy=f, interpolation=cv2.INTER_LINEAR)
        ink = np.where(ink > 127, 255, 0).astype(np.uint8)
    out = cv2.copyMakeBorder(255 - ink, _PAD, _PAD, _PAD, _PAD, cv2.BORDER_CONSTANT, value=255)
    return CellImage(out, max(1, len(bands)), numeric, ring=ring)


def _lone_ring(ink: np.ndarray, scale: float) -> bool:
    """The cell's only ink is one closed oval with a clean counter, about the middle of the cell: a '0'.

    Most figures in these reports are zeros, and Tesseract is least sure of them in fonts unlike the ones
    it learned (a WenQuanYi '0' reads at 0.6-0.8 where a Noto one reads at 0.93): the oval is a second,
    independent reading of the same glyph. What else could be an oval: '6' and '9' have their counter off
    the middle, '8' two counters, '4' a small one; a figure inside a pen circle leaves ink in the counter.
    A lost digit beside the '0' ('10' whose faint '1' vanished) leaves it off the cell's middle, so an
    oval off the middle says nothing.
    """
    n, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    if n != 2:
        return False
    x, y, w, h, _area = stats[1]
    if not (1.0 <= h / max(w, 1) <= 2.6) or h < _RING_MIN_HEIGHT * scale:
        return False
    if abs(x + w / 2 - ink.shape[1] / 2) > _RING_OFF_MIDDLE * w:
        return False
    glyph = ink[y:y + h, x:x + w]
    contours, hierarchy = cv2.findContours(glyph, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    outer = [c for c, hi in zip(contours, hierarchy[0], strict=True) if hi[3] < 0]
    holes = [c for c, hi in zip(contours, hierarchy[0], strict=True)
             if hi[3] >= 0 and cv2.contourArea(c) >= 0.02 * w * h]
    if len(outer) != 1 or len(holes) != 1:
        return False
    hull = cv2.contourArea(cv2.convexHull(outer[0]))
    if hull <= 0 or cv2.contourArea(outer[0]) < _RING_SOLIDITY * hull:
        return False
    hx, hy, hw, hh = cv2.boundingRect(holes[0])
    mid_x, mid_y = hx + hw / 2, hy + hh / 2
    return bool(hh >= 0.5 * h and hw >= 0.3 * w and abs(mid_y - h / 2) <= 0.12 * h
                and abs(mid_x - w / 2) <= 0.15 * w)


def text_line_boxes(binary: np.ndarray, exclude: list[BBox], scale: float) -> list[BBox]:
    """Boxes of the prose lines on an upright page outside the tables, top to bottom.

    The title and the closing line (agency, date) are prose: the record's identity comes from them.
    """
    ink = binary.copy()
    for x0, y0, x1, y1 in exclude:
        ink[max(0, y0):y1, max(0, x0):x1] = 0
    ink = _drop_specks(ink, max(3, int(12 * scale * scale)))
    margin = max(1, int(round(3 * scale)))
    # A row belongs to a line when it holds more than scattered noise: scan specks would bridge the
    # gaps between lines and merge a paragraph into one band.
    rows = np.count_nonzero(ink, axis=1) >= max(3, int(10 * scale))
    boxes = []
    for a, b in row_runs(rows, max(2, int(round(6 * scale)))):
        if b - a < 12 * scale:  # thinner than any printed glyph: noise, a stray rule
            continue
        cols = np.flatnonzero(ink[a:b].any(axis=0))
        boxes.append((max(0, int(cols[0]) - margin), max(0, a - margin),
                      min(ink.shape[1], int(cols[-1]) + 1 + margin), min(ink.shape[0], b + margin)))
    return boxes


def crop_line(binary: np.ndarray, box: BBox) -> np.ndarray:
    """A prose line ready for the label reader: black on white, upscaled like a cell, padded."""
    x0, y0, x1, y1 = box
    ink = binary[y0:y1, x0:x1]
    if ink.shape[0] < _MIN_LINE_HEIGHT:
        f = _TARGET_LINE_HEIGHT / max(ink.shape[0], 1)
        ink = np.where(cv2.resize(ink, None, fx=f, fy=f, interpolation=cv2.INTER_LINEAR) > 127, 255, 0)
    return cv2.copyMakeBorder(255 - ink.astype(np.uint8), _PAD, _PAD, _PAD, _PAD, cv2.BORDER_CONSTANT, value=255)


def _clean(ink: np.ndarray, rule: np.ndarray, scale: float, speck: float = 1.0) -> np.ndarray:
    """Remove the rules, specks and rule ghosts from a cell's binary crop (one labelling for both);
    `speck` scales the size under which a component is a speck."""
    ink = ink.copy()
    ink[rule > 0] = 0
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    drop = np.zeros(n, dtype=bool)
    drop[1:] = stats[1:, cv2.CC_STAT_AREA] < max(3, int(6 * speck * scale * scale))
    drop |= _bars(stats, ink.shape, scale)
    if drop.any():
        ink[drop[labels]] = 0
    return ink


def _drop_strays(ink: np.ndarray) -> np.ndarray:
    """`ink` without the components away from its text: the speckle of grey paper, once faded print is
    binarised as sensitively as it needs.

    Glyph bodies are the components at least half as tall as the tallest. A speck-sized component
    stays only inside the box the bodies span (a decimal point, a comma, the dot of a glyph), a larger
    one only within a quarter of a glyph's height of a body (a stroke broken off).
    """
    parts = _Parts.of(ink)
    if parts is None:
        return ink
    x, y, w, h, body, glyph = parts.x, parts.y, parts.w, parts.h, parts.body, parts.glyph
    touched = parts.near(body, max(1, int(0.25 * glyph)))
    bx0, by0 = x[body].min(), y[body].min()
    bx1, by1 = (x + w)[body].max(), (y + h)[body].max()
    cx, cy = x + w / 2, y + h / 2
    inside = (cx > bx0) & (cx < bx1) & (cy > by0) & (cy < by1)
    return parts.keep(body | np.where(parts.small, inside, touched), ink)


@dataclass(frozen=True)
class _Parts:
    """A crop's ink components, as the speck filters judge them: glyph bodies are the components at least
    half as tall as the tallest, `glyph` their median height, specks (`small`) smaller than a quarter glyph
    squared. Arrays are per component, the background left out."""

    labels: np.ndarray
    x: np.ndarray
    y: np.ndarray
    w: np.ndarray
    h: np.ndarray
    body: np.ndarray
    glyph: float
    small: np.ndarray

    @staticmethod
    def of(ink: np.ndarray) -> _Parts | None:
        """None for a crop of one component or none: nothing to tell apart."""
        n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
        if n <= 2:
            return None
        x, y, w, h, area = (stats[1:, i] for i in (cv2.CC_STAT_LEFT, cv2.CC_STAT_TOP, cv2.CC_STAT_WIDTH,
                                                    cv2.CC_STAT_HEIGHT, cv2.CC_STAT_AREA))
        body = h >= 0.5 * h.max()
        glyph = float(np.median(h[body]))
        return _Parts(labels, x, y, w, h, body, glyph, area < (0.25 * glyph) ** 2)

    def near(self, seeds: np.ndarray, reach: int) -> np.ndarray:
        """Which components touch the `seeds` components grown by `reach` px (the seeds themselves too)."""
        grown = cv2.dilate(np.isin(self.labels, np.flatnonzero(seeds) + 1).astype(np.uint8),
                           np.ones((2 * reach + 1, 2 * reach + 1), np.uint8))
        touched = np.zeros(len(self.x) + 1, dtype=bool)
        touched[np.unique(self.labels[(grown > 0) & (self.labels > 0)])] = True
        return touched[1:]

    def keep(self, kept: np.ndarray, ink: np.ndarray) -> np.ndarray:
        """`ink` with only the `kept` components (itself when all are)."""
        if kept.all():
            return ink
        return np.where(np.r_[False, kept][self.labels], ink, 0).astype(np.uint8)


_BAND_GAP = 8  # empty rows that end a band of `_drop_specks` (fewer would only mean more, smaller calls)


def _drop_specks(ink: np.ndarray, min_area: int) -> np.ndarray:
    """`ink` without its components smaller than `min_area` px.

    Labelled band by band: no component crosses an empty row, and on a page whose tables were blanked
    out only the title and closing rows are left to label (a whole page took ~60 ms).
    """
    rows = np.flatnonzero(ink.any(axis=1))
    if rows.size == 0:
        return ink
    cut = np.flatnonzero(np.diff(rows) > _BAND_GAP)
    out = ink
    for a, b in zip(rows[np.r_[0, cut + 1]], rows[np.r_[cut, rows.size - 1]] + 1, strict=True):
        cols = np.flatnonzero(ink[a:b].any(axis=0))
        c0, c1 = int(cols[0]), int(cols[-1]) + 1
        n, labels, stats, _ = cv2.connectedComponentsWithStats(ink[a:b, c0:c1], connectivity=8)
        small = np.zeros(n, dtype=bool)
        small[1:] = stats[1:, cv2.CC_STAT_AREA] < min_area
        if small.any():
            if out is ink:
                out = ink.copy()
            out[a:b, c0:c1][small[labels]] = 0
    return out


def _bars(stats: np.ndarray, shape: tuple[int, ...], scale: float) -> np.ndarray:
    """Which components are rule remnants the mask missed: thin bars along the crop's edge, and
    hairlines anywhere.

    Read as '|' they turn '0' into '| 0' with high confidence. Printed strokes are at least 3 px wide at
    300 dpi, so a 1-2 px line is a rule ghost or a scratch (not applied below ~180 dpi, where glyph
    strokes are that thin too).
    """
    h, w = shape[:2]
    hair = int(round(2 * scale)) if scale >= 0.6 else 0
    x, y, cw, ch = (stats[:, i] for i in (cv2.CC_STAT_LEFT, cv2.CC_STAT_TOP, cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT))
    near_side = (x <= 2) | (x + cw >= w - 2)
    near_end = (y <= 2) | (y + ch >= h - 2)
    side_bar = near_side & (ch >= 0.5 * h) & (cw <= np.maximum(3, 0.2 * ch))
    end_bar = near_end & (cw >= 0.5 * w) & (ch <= np.maximum(3, 0.2 * cw))
    hairline = (np.minimum(cw, ch) <= hair) & (np.maximum(cw, ch) >= 8 * hair)
    out = side_bar | end_bar | hairline
    out[0] = False  # the background
    return out


def _is_dash(ink: np.ndarray, scale: float) -> bool:
    """One solid bar, much wider than tall, no taller than a stroke or two (cut tight already)."""
    h, w = ink.shape
    n = cv2.connectedComponents(ink, connectivity=8)[0]
    return n == 2 and w >= 3 * h and h <= max(4, 12 * scale) and cv2.countNonZero(ink) >= 0.6 * h * w
