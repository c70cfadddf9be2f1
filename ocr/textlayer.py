"""Born-digital PDFs: read cell text from the PDF's own text layer instead of OCR.

Many of these reports are exported straight from Word: their text is exact and free to read. A text
layer laid over a full-page scan is another matter (an earlier OCR pass, often wrong), so a page whose
text sits on a page-sized image is treated as a scan and read with Tesseract.
"""

from __future__ import annotations

import html
import re
import subprocess
from dataclasses import dataclass

from ocr.model import BBox
from ocr.programs import run_program
from ocr.rasterize import DocumentInfo

_WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>')
_IMAGE_ROW = re.compile(r"^\s*(\d+)\s+\d+\s+image\s+(\d+)\s+(\d+)\s+.*?\s(\d+)\s+(\d+)\s+\S+\s+\S+\s*$", re.M)
_UNMAPPED = re.compile("[\ufffd\ue000-\uf8ff]")  # a font without a ToUnicode map: no real text
_SCAN_COVER = 0.8  # an image covering this share of the page makes the page a scan
_TIMEOUT = 120


@dataclass(frozen=True)
class Word:
    text: str
    bbox: BBox  # pixels at the page's render dpi, origin top-left


def page_words(info: DocumentInfo, number: int) -> list[Word] | None:
    """The page's words in render pixels, or None when the page has no text layer worth trusting."""
    if info.kind != "pdf" or info.dpi is None or not _draws_text(info, number):
        return None
    try:
        out = run_program(["pdftotext", "-f", str(number), "-l", str(number), "-bbox-layout", str(info.path), "-"],
                          timeout=_TIMEOUT)
    except subprocess.TimeoutExpired:
        return None
    if out.returncode != 0:
        return None
    scale = info.dpi / 72.0
    words = [Word(html.unescape(t).strip(), (int(float(x0) * scale), int(float(y0) * scale),
                                             int(round(float(x1) * scale)), int(round(float(y1) * scale))))
             for x0, y0, x1, y1, t in _WORD.findall(out.stdout)]
    words = [w for w in words if w.text]
    if not words or _is_scanned(info, number) or any(_UNMAPPED.search(w.text) for w in words):
        return None  # no text, an OCR layer over a scan, or glyphs without Unicode: read the pixels
    return words


def _draws_text(info: DocumentInfo, number: int) -> bool:
    """Whether the page could draw text: a font in its resources or in those of a form it draws.

    Looked at in-process (pikepdf), so a scanned page, which has none, starts no pdftotext: every
    program a page worker starts is a moment with the worker twice in the run's RSS sum, posix_spawn
    or not (`ocr.programs`). Anything unexpected while looking says yes: pdftotext decides then.
    """
    import pikepdf

    def has_font(resources: object, depth: int) -> bool:
        if not isinstance(resources, pikepdf.Dictionary):
            return False
        if "/Font" in resources:
            return True
        xobjects = resources.get("/XObject")
        if depth > 8 or not isinstance(xobjects, pikepdf.Dictionary):
            return False
        forms = [x for _, x in xobjects.items() if isinstance(x, pikepdf.Stream) and x.get("/Subtype") == "/Form"]
        return any(has_font(x.get("/Resources"), depth + 1) for x in forms)

    try:
        with pikepdf.open(info.path) as pdf:
            node = pdf.pages[number - 1].obj
            for _ in range(64):  # resources may be inherited from the page tree above the page
                if has_font(node.get("/Resources"), 0):
                    return True
                node = node.get("/Parent")
                if not isinstance(node, pikepdf.Dictionary):
                    return False
            return True
    except Exception:  # noqa: BLE001 - a shortcut only: pdftotext judges the page
        return True


def _is_scanned(info: DocumentInfo, number: int) -> bool:
    """True when an image covers most of the page: any text there is an OCR layer, not the source."""
    try:
        out = run_program(["pdfimages", "-list", "-f", str(number), "-l", str(number), str(info.path)],
                          timeout=_TIMEOUT)
    except subprocess.TimeoutExpired:
        return True
    if out.returncode != 0:
        return True  # cannot tell: do not trust the text
    pw, ph = info.page_sizes[number - 1]
    covered = 0.0
    for _page, w, h, xppi, yppi in _IMAGE_ROW.findall(out.stdout):
        if int(xppi) > 0 and int(yppi) > 0:  # the image's size on the page, in render pixels
            covered += int(w) / int(xppi) * info.dpi * int(h) / int(yppi) * info.dpi
    return covered >= _SCAN_COVER * pw * ph  # a scan stored as strips or tiles adds up too


def text_in(box: BBox, words: list[Word]) -> list[str]:
    """Lines of the words whose centre lies in `box` (half-open, so a word belongs to one cell only),
    top to bottom, each left to right."""
    x0, y0, x1, y1 = box
    inside = [w for w in words
              if x0 <= (w.bbox[0] + w.bbox[2]) / 2 < x1 and y0 <= (w.bbox[1] + w.bbox[3]) / 2 < y1]
    if not inside:
        return []
    inside.sort(key=lambda w: (w.bbox[1], w.bbox[0]))
    lines: list[list[Word]] = []
    for w in inside:
        if lines and abs(w.bbox[1] - lines[-1][0].bbox[1]) <= 0.5 * (w.bbox[3] - w.bbox[1]):
            lines[-1].append(w)
        else:
            lines.append([w])
    parts = []
    for line in lines:
        line.sort(key=lambda w: w.bbox[0])
        parts.append(" ".join(w.text for w in line))
    return parts
