"""Cell clean-ups for faded print: a cheap one for every cell, heavier ones only where a read failed.

The page's text binarisation (`ocr.cells.binarize_text`) asks ink to be 26 grey levels darker than its
surroundings: right for black print, where strokes are 150+ levels below the paper, but grey, faded
print on grey paper is only 50-90 levels below it, and its thin strokes (the top and bottom of a Song
'0') fall under the bar: a '0' binarises as '( )'. So each cell's own levels are measured on the grey
page, paper (the median of the pixels the binarisation left white) and ink (the median of those it
marked): a cell whose ink is faded is binarised again from its grey pixels, speckle filtered out (a
median as wide as a speck), the contrast stretched to full range and the bar set relative to its own
ink; components away from its text are dropped (`ocr.cells`). Black print is left exactly as it was.

Where a read still fails or the two readers disagree, `variants` offers heavier clean-ups, cheapest first:
speckle removed harder (a wider median filter on the grey crop, a larger speck size), the contrast cut
at the midpoint between paper and ink (Otsu), a roller's stripes levelled away, print darker than its close
surroundings (a black top-hat), and the crop read at another scale (`ocr.cells.cell_variants`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

# Ink fainter than this many grey levels below its cell's paper is faded print. Measured on our own
# samples (median grey of the strictly binarised ink, its strokes' antialiased edges included, against the
# rest): black print sits 84+ levels below on a typical page, 62+ on a hard one (median 97 and 80); faded
# grey print 37-46. Under the hard tier's least, so black print is binarised exactly as before.
FADED_CONTRAST = 55
_STRETCHED_BAR = 0.2  # ink is this share of its cell's contrast darker than the local mean
_MIN_CONTRAST = 24  # below this the "ink" is noise: no stretch would find a glyph in it


def levels(gray: np.ndarray, ink: np.ndarray) -> tuple[float, float]:
    """A cell crop's paper and ink grey levels, from the pixels a binarisation (`ink`, 255 = ink) marked."""
    on = (ink > 0).astype(np.uint8)
    n = cv2.countNonZero(on)
    if n == 0 or n == on.size:
        med = _median(gray, None)
        return med, med
    return _median(gray, 1 - on), _median(gray, on)


def darkest(gray: np.ndarray, ink: np.ndarray) -> float:
    """The grey level the darkest twentieth of the marked ink pixels reach."""
    on = (ink > 0).astype(np.uint8)
    if cv2.countNonZero(on) == 0:
        return _median(gray, None)
    cum = np.cumsum(cv2.calcHist([gray], [0], on, [256], [0, 256]).ravel())
    return float(np.searchsorted(cum, 0.05 * cum[-1]))


def _median(gray: np.ndarray, mask: np.ndarray | None) -> float:
    """Median grey level of the masked pixels, from their histogram (a few µs where np.median on a
    boolean selection copies and sorts: ~0.3 ms a cell, a tenth of a second a page)."""
    hist = cv2.calcHist([gray], [0], mask, [256], [0, 256]).ravel()
    cum = np.cumsum(hist)
    n = int(cum[-1])
    # the level of the pixel of rank k (from 0) is the first level whose cumulative count exceeds k
    lo, hi = np.searchsorted(cum, [(n - 1) // 2 + 1, n // 2 + 1])
    return (int(lo) + int(hi)) / 2


def is_faded(paper: float, ink: float, dark: float | None = None) -> bool:
    """Whether a cell's print is faded: its ink little darker than its paper, and no black in it either.

    A dithered or halftoned cell (bad binarisation, a fax) draws its figures in dots of full black spaced
    with paper: the median of its marked pixels reads grey, yet its darkest pixels are black, and
    re-binarising it as faded print smears the dots (81 figures of a dithered page: 80 read as they
    were, 37 after). `dark` is `darkest`'s level."""
    if dark is not None and paper - dark >= 2 * FADED_CONTRAST:
        return False
    return _MIN_CONTRAST <= paper - ink < FADED_CONTRAST


def stretch(gray: np.ndarray, paper: float, ink: float) -> np.ndarray:
    """The crop with its ink level at 0 and its paper at 255."""
    span = max(1.0, paper - ink)
    return np.clip((gray.astype(np.float32) - ink) * (255.0 / span), 0, 255).astype(np.uint8)


def binarize_stretched(gray: np.ndarray, paper: float, ink: float, scale: float,
                       bar: float = _STRETCHED_BAR) -> np.ndarray:
    """Ink = 255: the page's text rule (a light blur, a local Gaussian mean less a bar) on the stretched
    crop, the bar being `bar` of the cell's own contrast: the page's 26 levels are 13% of black print's.
    A lower bar lets the blur's halo in and fills a faded '0' into a blob that reads as '9' or 'Q'."""
    s = stretch(gray, paper, ink)
    block = max(15, int(round(101 * scale)) | 1)
    blurred = cv2.GaussianBlur(s, (3, 3), 0)
    return cv2.adaptiveThreshold(blurred, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY_INV, block,
                                 round(bar * 255))


def despeckle(gray: np.ndarray, scale: float, width: float = 3.0) -> np.ndarray:
    """A median filter `width` px wide at 300 dpi: dots of toner and paper grain smaller than it go,
    strokes wider than half of it stay."""
    k = max(3, int(round(width * scale)) | 1)
    return cv2.medianBlur(gray, k)


def binarize_otsu(gray: np.ndarray, blur: bool = True) -> np.ndarray:
    """Ink = 255 below the level that best splits the crop's pixels in two: the midpoint of paper and ink.
    `blur` takes the pixel noise off first; a crop smoothed already (`denoise`) is split as it is (a blur
    there let the grain's smoothed blobs cross the level: 9 of 21 grainy '0's became blobs)."""
    blurred = cv2.GaussianBlur(gray, (3, 3), 0) if blur else gray
    return cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)[1]


Binarizer = Callable[[np.ndarray], np.ndarray]
_DOT_SIGMA = 1.5  # px at 300 dpi: a halftone's dots a few pixels apart join, strokes stay apart


@dataclass(frozen=True)
class Variant:
    """A heavier clean-up: `binarize` a grey crop; `speck` multiplies the smallest component kept; `twice`:
    its ink is read at the other size too, for no other clean-up may agree with it; `bands_are_print`: the
    rule mask's ink inside the cell is a stripe's, which this clean-up levelled away, so only the mask's
    ink along the cell's edges (its rules) is taken out."""

    name: str
    binarize: Binarizer
    speck: float = 3.0
    twice: bool = False
    bands_are_print: bool = False


def variants(gray: np.ndarray, paper: float, ink: float, scale: float) -> Iterator[Variant]:
    """Heavier clean-ups for a cell whose read failed, cheapest first."""
    yield Variant("speckle", lambda g: binarize_stretched(despeckle(g, scale, 5.0), paper, ink, scale))
    yield Variant("halftone", lambda g: binarize_otsu(join_dots(g, scale), blur=False))
    yield Variant("contrast", lambda g: binarize_otsu(despeckle(g, scale)))
    yield Variant("stripes", lambda g: binarize_otsu(flatten_stripes(g)), twice=True, bands_are_print=True)
    yield Variant("strokes", lambda g: binarize_strokes(g, scale))


_PAPER_PERCENTILE = 90  # of a row's (a column's) grey levels: paper, where print covers less than a tenth


def flatten_stripes(gray: np.ndarray) -> np.ndarray:
    """The crop with each row's, then each column's, paper level brought to white: a roller's or a drum's
    bands of grey running along the rows (or the columns) are taken out, print is kept. On a page striped by
    augraphy's dirty rollers the grid took the dark bands for streaks, whose ink the cells take out like a
    rule's, and the page's binarisation cut each figure into the pieces between them ('15' read 全用全); no
    other clean-up mended it, for any threshold across the crop falls inside a band's grey. Levelled row by
    row and split by Otsu, 32 of the 38 figures its review held read right (seed 7705, looked at for this).
    """
    g = gray.astype(np.float32)
    for axis in (1, 0):
        g += 255.0 - np.percentile(g, _PAPER_PERCENTILE, axis=axis, keepdims=True)
    return np.clip(g, 0, 255).astype(np.uint8)


_STROKE_REACH = 13  # px at 300 dpi: darker than the paper within this reach is a stroke; a blotch is wider


def binarize_strokes(gray: np.ndarray, scale: float) -> np.ndarray:
    """Ink = 255 where the crop is darker than its own surroundings a stroke's width or two away (a black
    top-hat): print stands out of a blotched or mottled background that binarises as ink itself, because
    the blotches are wider than strokes. Issue 13: on an augraphy-heavy page of dark blotches every clean-up
    above read a '0' as the blotches around it; the top-hat keeps the '0' alone."""
    k = max(3, int(round(_STROKE_REACH * scale)) | 1)
    smooth = cv2.GaussianBlur(gray, (0, 0), max(0.5, scale))
    hat = cv2.morphologyEx(smooth, cv2.MORPH_BLACKHAT, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    return cv2.threshold(hat, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)[1]


def join_dots(gray: np.ndarray, scale: float) -> np.ndarray:
    """The crop blurred over a halftone's dot pitch (`_DOT_SIGMA`): print a copier rendered as dots, each
    glyph a dotted outline, becomes strokes again. A dotted '0' is no closed oval and no figure Tesseract
    knows; blurred, 15 of 20 unreadable '0's of a dithered augraphy-heavy page became lone ovals (seed
    7645, looked at for this; sigma 3 px joined them to the cell's rules instead)."""
    return cv2.GaussianBlur(gray, (0, 0), _DOT_SIGMA * scale)


def paper_noise(gray: np.ndarray, ink: np.ndarray) -> float:
    """How grainy a crop's paper is: the standard deviation of the grey levels a binarisation (`ink`,
    255 = ink) left as paper; 0 when too little paper is left to tell, or when the crop is black and white
    already (a fax, a dithered page: its dots are print, not grain)."""
    paper = gray[ink == 0]
    if paper.size <= 50:
        return 0.0
    extremes = cv2.countNonZero(cv2.inRange(gray, 1, 254))  # pixels neither black nor white
    if extremes < 0.1 * gray.size:
        return 0.0
    return float(paper.std())


GRAIN_STRENGTH = 1.5  # non-local means' filter strength, in units of the paper's grain (see `denoise`)


def denoise(gray: np.ndarray, grain: float, scale: float) -> np.ndarray:
    """The crop with the paper's grain smoothed away and strokes kept (OpenCV's non-local means): a dense
    grainy paper binarises as a cloud of specks round a figure, and no speck filter tells the cloud from a
    broken stroke. The strength, 1.5 times the grain's own level, was chosen on pages of augraphy-heavy
    documents of seed 9800 (never the bench's seeds): our fitted-on tiers have no such grain to choose it
    on (their cells' paper: median 4.7 grey levels, against 11 and up to 44 there). Of 21 grainy '0's of
    one such page, 19 then read as '0' and none as another figure read surely (1.0: 9; 2.0: 5)."""
    window = max(7, int(round(15 * scale))) | 1
    return cv2.fastNlMeansDenoising(gray, None, max(10.0, GRAIN_STRENGTH * grain), 7, window)
