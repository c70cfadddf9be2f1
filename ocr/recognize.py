"""Stage 5: read cleaned cell crops with Tesseract, one engine kept open per worker process.

Starting the tesseract binary per cell (pytesseract) costs ~250 ms; an engine kept open through
tesserocr reads a number in a few ms. Numbers are read with `eng`, one text line and a digit
whitelist; labels with `chi_sim` as a block. The confidence is the lowest word confidence, the
signal that best separates right from wrong readings. pytesseract stays as a fallback backend that
must read the same text.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal, Protocol

import cv2
import numpy as np
from PIL import Image

from ocr.config import Config
from ocr.errors import DependencyError
from ocr.glyphs import text_bands
from ocr.model import CellImage, Reading
from ocr.rasterize import sha256_of

# Tesseract's OpenMP threads spin against each other and against sibling workers: on small crops one
# thread is 5-8x faster (measured: a 40 ms label read drops to ~14 ms). Must be set before libtesseract
# loads, hence at import; a value the user exported wins.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

Mode = Literal["number", "label"]
DIGIT_WHITELIST = "0123456789.,-"
_DASH_CONFIDENCE = 0.95  # judged from shape alone: one solid bar, nothing else in the cell
# A '0' read by the digit reader in a crop whose only ink is a lone oval about the cell's middle
# (`CellImage.ring`): two independent readings of one glyph that agree. Tesseract alone is least sure of
# exactly this glyph in fonts it did not learn (0.6-0.8 for a clean WenQuanYi '0'). On the fitted-on tiers
# every such '0' was right (see docs/benchmarks.md); above `review_threshold_open`, so a '0' whose sums are
# left open by unreadable cells is not sent to review for want of a check.
_RING_CONFIDENCE = 0.96
_MAX_NUMBER_ASPECT = 6.0  # a one-line crop wider than this (in heights) is a label, not a figure
_BLOCK_FAILED = 0.3  # a label block read under this confidence is read again line by line (`_read_label`)
_LINE_PAD = 12  # px of paper above and below a line cut out of a block
_NUMBER = re.compile(r"^-?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$")
_CJK = r"[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]"
# chi_sim reads the full-width parentheses of （一）… as angle brackets, which these reports never print.
_LABEL_CONFUSIONS = str.maketrans({"〈": "（", "〉": "）"})
_CJK_GAP = re.compile(rf"(?<={_CJK})\s+|\s+(?={_CJK})")


def clean_text(text: str, mode: Mode) -> str:
    """Tesseract's text as printed: no spaces around CJK characters, none at all inside numbers."""
    text = text.strip()
    if mode == "number":
        return re.sub(r"\s+", "", text)
    text = _CJK_GAP.sub("", text).translate(_LABEL_CONFUSIONS)
    return re.sub(r"\s+", " ", text)


def is_number(text: str) -> bool:
    return bool(_NUMBER.match(text))


class Engine(Protocol):
    def read(self, image: np.ndarray, mode: Mode) -> Reading: ...

    def osd(self, gray: np.ndarray, scale: float = 1.0) -> tuple[int, float]: ...

    def label_score(self, image: np.ndarray) -> float: ...


def tessdata_dir() -> Path:
    """Where the system Tesseract keeps its traineddata (TESSDATA_PREFIX wins, as in Tesseract)."""
    env = os.environ.get("TESSDATA_PREFIX")
    if env:
        return Path(env)
    candidates = [Path("/usr/share/tesseract-ocr/5/tessdata"), Path("/usr/share/tesseract-ocr/4.00/tessdata"),
                   Path("/usr/share/tessdata"), Path("/usr/local/share/tessdata")]
    for c in candidates:
        if (c / "eng.traineddata").exists() or (c / "chi_sim.traineddata").exists():
            return c
    return candidates[0]


def check_dependencies(cfg: Config) -> None:
    """Fail early, with what to install, when Tesseract, a language or poppler is missing."""
    apt = "apt-get install tesseract-ocr tesseract-ocr-chi-sim tesseract-ocr-osd poppler-utils"
    for tool, pkg in (("pdfinfo", "poppler-utils"), ("pdftoppm", "poppler-utils"), ("pdftotext", "poppler-utils"),
                      ("pdfimages", "poppler-utils")):
        if shutil.which(tool) is None:
            raise DependencyError(f"{tool} not found: install {pkg} ({apt})")
    if cfg.backend == "pytesseract" and shutil.which("tesseract") is None:
        raise DependencyError(f"tesseract not found: install tesseract-ocr ({apt})")
    if cfg.backend == "tesserocr":
        try:
            import tesserocr  # noqa: F401
        except ImportError as exc:
            raise DependencyError(f"tesserocr cannot be imported ({exc}): run scripts/setup") from exc
    tessdata = tessdata_dir()
    langs = {cfg.label_lang, cfg.number_lang} | ({"osd"} if cfg.detect_orientation else set())
    for lang in sorted(langs):
        if not (tessdata / f"{lang}.traineddata").exists():
            pkg = "tesseract-ocr-" + lang.replace("_", "-")
            raise DependencyError(f"Tesseract language '{lang}' not found in {tessdata}: install {pkg} ({apt})")


def traineddata_sha256(lang: str) -> str:
    return _file_sha256(tessdata_dir() / f"{lang}.traineddata")


@cache
def _file_sha256(path: Path) -> str:
    """Cached per path (a traineddata file is ~40 MB; TESSDATA_PREFIX may point elsewhere later)."""
    return sha256_of(path)


@cache
def tesseract_version() -> str:
    try:
        import tesserocr

        first = tesserocr.tesseract_version().split()[1]
    except (ImportError, IndexError):
        out = subprocess.run(["tesseract", "--version"], capture_output=True, text=True, check=False).stdout
        first = out.split()[1] if out.split() else "unknown"
    return first


# Tesseract 5 reads a line again inverted (white on black) when it reads badly: never useful on our
# black-on-white crops, and it costs numbers ~20% (measured: 3 of 467 sample crops read '' with it, '0'
# at 0.9 without, which the label reader confirmed).
_NO_INVERT = "-c tessedit_do_invert=0"

# ------------------------------------------------------------------ tesserocr (the default)


class TesserocrEngine:
    """Three tesserocr APIs (numbers, labels, orientation), created once and reused for every cell.

    The orientation API is opened on first use: label cells settle most half turns, and OSD's model
    costs a worker ~40 MB.
    """

    def __init__(self, cfg: Config) -> None:
        from tesserocr import OEM, PSM, PyTessBaseAPI

        self._path = path = str(tessdata_dir())
        self._number = PyTessBaseAPI(path=path, lang=cfg.number_lang, psm=PSM.SINGLE_LINE, oem=OEM.LSTM_ONLY)
        self._number.SetVariable("tessedit_char_whitelist", DIGIT_WHITELIST)
        self._label = PyTessBaseAPI(path=path, lang=cfg.label_lang, psm=PSM.SINGLE_BLOCK, oem=OEM.LSTM_ONLY)
        for api in (self._number, self._label):
            api.SetVariable("tessedit_do_invert", "0")
        self._want_osd = cfg.detect_orientation
        self._osd: object | None = None

    def read(self, image: np.ndarray, mode: Mode) -> Reading:
        api = self._number if mode == "number" else self._label
        _set_image(api, image)
        text = clean_text(api.GetUTF8Text(), mode)
        confs = [c for c in api.AllWordConfidences() if c >= 0]
        conf = min(confs) / 100.0 if confs and text else 0.0
        return Reading(text, conf, mode)

    def label_score(self, image: np.ndarray) -> float:
        _set_image(self._label, image)
        self._label.Recognize()
        return max(0, self._label.MeanTextConf()) / 100.0

    def osd(self, gray: np.ndarray, scale: float = 1.0) -> tuple[int, float]:
        if not self._want_osd:
            return 0, 0.0
        if self._osd is None:
            from tesserocr import PSM, PyTessBaseAPI

            self._osd = PyTessBaseAPI(path=self._path, lang="osd", psm=PSM.OSD_ONLY)
        api = self._osd
        _set_image(api, _osd_image(gray, scale))
        res = api.DetectOrientationScript()  # type: ignore[attr-defined]
        if not res:
            return 0, 0.0
        # orient_deg is how far the image was turned clockwise; undo it.
        return (360 - int(res["orient_deg"])) % 360, float(res["orient_conf"])


TESSERACT_MAX_SIDE = 32767  # Tesseract refuses a wider or taller image ("Failed to recognize. No image set?")


def within_tesseract_limits(image: np.ndarray) -> np.ndarray:
    """The crop, shrunk to fit Tesseract's largest side when it exceeds it.

    A sliver of ink two pixels high across a cell, enlarged to text height, came out 66,904 px wide on a
    photocopied page and failed the whole page. What it holds is no reading anyway; shrunk, it is read
    (poorly, so reviewed) instead of raising."""
    h, w = image.shape[:2]
    if max(h, w) <= TESSERACT_MAX_SIDE:
        return image
    k = (TESSERACT_MAX_SIDE - 1) / max(h, w)
    return cv2.resize(image, (max(1, int(w * k)), max(1, int(h * k))), interpolation=cv2.INTER_AREA)


def _set_image(api: object, image: np.ndarray) -> None:
    """Hand a grey crop to Tesseract as raw bytes: SetImage(PIL) encodes and decodes a BMP per cell."""
    img = np.ascontiguousarray(within_tesseract_limits(image))
    h, w = img.shape[:2]
    api.SetImageBytes(img.tobytes(), w, h, 1 if img.ndim == 2 else img.shape[2], img.strides[0])  # type: ignore[attr-defined]


# ------------------------------------------------------------------ pytesseract (fallback)


class PytesseractEngine:
    """Runs the tesseract binary per call: slow (~250 ms), but needs no compiled binding."""

    def __init__(self, cfg: Config) -> None:
        import pytesseract

        self._pt = pytesseract
        self._cfg = cfg
        self._tessdata = str(tessdata_dir())

    def _data(self, image: np.ndarray, mode: Mode) -> dict[str, list]:
        if mode == "number":
            lang, config = self._cfg.number_lang, f"--psm 7 --oem 1 -c tessedit_char_whitelist={DIGIT_WHITELIST}"
        else:
            lang, config = self._cfg.label_lang, "--psm 6 --oem 1"
        config = f'--tessdata-dir "{self._tessdata}" {config} {_NO_INVERT}'
        return self._pt.image_to_data(Image.fromarray(within_tesseract_limits(image)), lang=lang, config=config,
                                      output_type=self._pt.Output.DICT)

    def read(self, image: np.ndarray, mode: Mode) -> Reading:
        data = self._data(image, mode)
        lines: dict[tuple[int, int, int], list[str]] = {}
        confs = []
        for i, word in enumerate(data["text"]):
            conf = float(data["conf"][i])
            if conf < 0 or not word.strip():
                continue
            lines.setdefault((data["block_num"][i], data["par_num"][i], data["line_num"][i]), []).append(word)
            confs.append(conf)
        text = clean_text("\n".join(" ".join(ws) for ws in lines.values()), mode)
        return Reading(text, min(confs) / 100.0 if confs and text else 0.0, mode)

    def label_score(self, image: np.ndarray) -> float:
        data = self._data(image, "label")
        confs = [float(c) for c, w in zip(data["conf"], data["text"], strict=True) if float(c) >= 0 and w.strip()]
        return sum(confs) / len(confs) / 100.0 if confs else 0.0

    def osd(self, gray: np.ndarray, scale: float = 1.0) -> tuple[int, float]:
        try:
            res = self._pt.image_to_osd(Image.fromarray(_osd_image(gray, scale)), output_type=self._pt.Output.DICT,
                                        config=f'--tessdata-dir "{self._tessdata}"')
        except self._pt.TesseractError:
            return 0, 0.0
        return int(res.get("rotate", 0)) % 360, float(res.get("orientation_conf", 0.0))


def _osd_image(gray: np.ndarray, scale: float) -> np.ndarray:
    """OSD reads glyph shapes best around 150 dpi: halve a 300 dpi page (faster too), enlarge a 96 dpi one
    (at its own size OSD turned an upright real page upside down, with confidence 3.3)."""
    import cv2

    f = float(np.clip(0.5 / max(scale, 1e-3), 0.25, 2.5))
    if abs(f - 1.0) < 0.05:
        return gray
    return cv2.resize(gray, None, fx=f, fy=f, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)


_ENGINES = threading.local()  # a Tesseract API must not be used by two threads at once


def engine_for(cfg: Config) -> Engine:
    """This worker's engine for these settings: created on first use, then kept open (one per thread)."""
    key = cfg.model_dump_json(include={"backend", "label_lang", "number_lang", "detect_orientation"})
    cache: dict[str, Engine] = _ENGINES.__dict__.setdefault("engines", {})
    eng = cache.get(key)
    if eng is None:
        eng = TesserocrEngine(cfg) if cfg.backend == "tesserocr" else PytesseractEngine(cfg)
        cache[key] = eng
    return eng


@dataclass
class CellReading:
    text: str
    confidence: float
    kind: Literal["number", "label", "blank"]
    flags: list[str]
    digits: Reading | None = None  # the digit reader's figure, when the label reader's text was kept


def read_cell(crop: CellImage, engine: Engine) -> CellReading:
    """Route a crop to the digit or the label reader and say how sure the reading is. A figure on grainy
    paper comes with a second look (`CellImage.second`): a different figure there sends it to review."""
    reading = _read_cell(crop, engine)
    if crop.second is None or reading.kind != "number" or "dash" in reading.flags:
        return reading
    second = engine.read(crop.second, "number")
    if second.text == reading.text or not is_number(second.text):  # nothing read there is no other figure
        return reading
    return CellReading(reading.text, min(reading.confidence, second.confidence), "number",
                       [*reading.flags, "readers_disagree"])


def _read_cell(crop: CellImage, engine: Engine) -> CellReading:
    if crop.dash:
        return CellReading("-", _DASH_CONFIDENCE, "number", ["dash"])
    if crop.image is None:
        return CellReading("", 1.0, "blank", ["blank"])
    number = engine.read(crop.image, "number") if _may_be_number(crop) else None
    numeric = number is not None and (is_number(number.text) or number.text == "-")
    if number is not None and numeric and crop.ring:
        if number.text == "0":
            return _oval_zero(number)
        # The shape says '0', the digit reader another figure: one of them is wrong.
        return CellReading(number.text, number.confidence, "number", ["readers_disagree"])
    if number is not None and numeric and crop.numeric_shape:
        return CellReading(number.text, number.confidence, "number", ["dash"] if number.text == "-" else [])
    label = _read_label(crop, engine)
    if crop.ring and unicodedata.normalize("NFKC", label.text) == "0" and (number is None or not number.text):
        # The digit reader saw nothing in the oval (it does so on some augraphy pages), the label reader a
        # '0': again two readings of the glyph that agree.
        return _oval_zero(label)
    if number is not None and numeric and unicodedata.normalize("NFKC", label.text) == number.text:
        # Glyphs did not look like digits (touching, blurred), but both readers agree they are.
        return CellReading(number.text, min(number.confidence, label.confidence), "number", [])
    if number is not None and numeric and re.search(r"\d", label.text):
        # The digit reader saw a number, the label reader other digits: one of them is wrong.
        return CellReading(label.text, min(number.confidence, label.confidence), "label", ["readers_disagree"],
                           digits=number)
    flags = [] if label.text else ["unreadable"]
    # A lone 0 the label reader calls 全 or 区: where the template expects a number, the digit reader's
    # figure is the better guess (still reviewed unless the arithmetic confirms it).
    return CellReading(label.text, label.confidence, "label", flags, digits=number if numeric else None)


def _oval_zero(reading: Reading) -> CellReading:
    """A '0' a reader read in a lone oval (`CellImage.ring`): two readings that agree, at least
    `_RING_CONFIDENCE` sure."""
    return CellReading("0", max(reading.confidence, _RING_CONFIDENCE), "number", [])


def _read_label(crop: CellImage, engine: Engine) -> Reading:
    """A label cell read as one block, or line by line where the block read failed.

    Tesseract's block layout sometimes fails on a clean two-line label whose second line is one centred
    glyph: 3.补正后申请内容仍不明/确 read '下生病门生们下和' at 0.0 on an augraphy-light page, and its row of
    三 went unmapped. Each line alone reads at 0.8-0.9. Only a failed block (under `_BLOCK_FAILED`) of several
    lines is read again so, and the lines are kept only when every one reads surer than the block did.
    """
    assert crop.image is not None
    block = engine.read(crop.image, "label")
    if crop.lines < 2 or block.confidence >= _BLOCK_FAILED:
        return block
    lines = []
    for a, b in text_bands(255 - crop.image):
        line = crop.image[max(0, a - 2):b + 2]
        lines.append(engine.read(cv2.copyMakeBorder(line, _LINE_PAD, _LINE_PAD, 0, 0, cv2.BORDER_CONSTANT,
                                                    value=255), "label"))
    if len(lines) < 2 or any(not r.text for r in lines):
        return block
    confidence = min(r.confidence for r in lines)
    if confidence <= block.confidence:
        return block
    return Reading(clean_text("\n".join(r.text for r in lines), "label"), confidence, "label")


def reread_cell(first: CellReading, crop: CellImage, crops: Iterable[CellImage], engine: Engine,
                failed: Callable[[CellReading], bool]) -> CellReading:
    """`first`, the reading of `crop`, or a figure read in a more heavily cleaned crop of the same cell
    when that one is confirmed.

    For a cell whose reading `failed` (unreadable, the readers disagreeing, unsure) and that may hold a
    figure (one short line, in its first crop or in a clean-up's). Crops are tried in order (cheapest
    clean-up first) until one gives a number that does not fail and that another clean-up's reading
    agrees with. A clean-up that alone reads a
    sure figure is not trusted with it: a heavier filter can also make a wrong figure look clean, and an
    unreviewed wrong value is the one error that must not happen. Nor does reading the failed text again
    make it surer: the same ink through the same reader is no new evidence (on our samples a '0' half
    lost under a red seal read '9' at 0.78, and both clean-ups read the same '9' at 0.95), so the first
    reading stays, unsure as it was. A '0' read in a crop that is a lone oval (`_oval_read`) is confirmed
    by its shape, as a first reading is, even where the failed reading was '0' too: the shape is the
    new evidence. A halftone's dotted '0' became an oval only once its dots were joined, by one clean-up
    of the three. Labels are left as read: two clean-ups of a label agreed on a wrong
    text (a lost bracket or quote) as often as they mended one.
    """
    if _is_words(first):
        return first
    # A crop that is no figure by its shape may still be one cut up: a roller's stripes, which the grid took
    # for streaks, split each glyph into bands that count as lines. Only a clean-up that makes it one is read.
    shaped = _may_be_number(crop)
    seen: list[str] = []
    for alt in crops:
        if not shaped and not _may_be_number(alt):
            continue
        reading = read_cell(alt, engine)
        if reading.kind == "blank" or not reading.text or (reading.text == first.text and not _oval_read(alt, reading)):
            continue
        # a '0' the shape of its crop reads too (a lone oval, `CellImage.ring`) has its second reading
        if reading.kind == "number" and not failed(reading) and (reading.text in seen or _oval_read(alt, reading)):
            return reading
        seen.append(reading.text)
        if reading.digits is not None:
            seen.append(reading.digits.text)
    return first


def _oval_read(crop: CellImage, reading: CellReading) -> bool:
    """A '0' read in a crop whose only ink is a lone oval about its middle: two readings, the digit
    reader's and the shape's, of one glyph."""
    return crop.ring and reading.text == "0"


def _is_words(reading: CellReading) -> bool:
    """A label read as two Chinese characters or more, in which the digit reader saw no figure: a short
    label (其他, 总计), not a figure gone wrong; on a typical page half the cells re-read were these."""
    return reading.kind == "label" and reading.digits is None and len(re.findall(_CJK, reading.text)) >= 2


def _may_be_number(crop: CellImage) -> bool:
    """One line of text no wider than a figure, or glyphs shaped like digits: what the digit reader reads."""
    if crop.image is None or crop.lines != 1:
        return False
    h, w = crop.image.shape[:2]
    return crop.numeric_shape or w < _MAX_NUMBER_ASPECT * h
