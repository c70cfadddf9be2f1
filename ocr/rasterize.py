"""Stage 1: turn an input file into pages, one at a time, refusing bad input before allocating.

PDFs go through poppler (pdfinfo to validate and size every page, pdftoppm to render
one page per call, so a 300-page PDF is never all in memory); images through Pillow. A scanned page
that is nothing but one JPEG laid over the whole page at the render dpi is that JPEG's pixels: it is
decoded directly (~0.03-0.05 s) instead of rendered (~0.3 s), which is what most scanners write.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

from ocr.config import Config
from ocr.errors import InputError, PageError
from ocr.model import PageImage
from ocr.programs import run_program

SUPPORTED_SUFFIXES = frozenset({".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff"})
_IMAGE_FORMATS = {"PNG", "JPEG", "TIFF", "MPO"}
_PAGE_SIZE = re.compile(r"^Page\s+(\d+)\s+size:\s+([\d.]+)\s+x\s+([\d.]+)\s+pts", re.M)
_PDFINFO_TIMEOUT = 120
_RENDER_TIMEOUT = 300  # s: a page poppler cannot render in five minutes is not going to render
_CHROMA_IS_PAPER = 60


@dataclass(frozen=True)
class DocumentInfo:
    """What probing learned about a file: enough to plan page tasks without rendering anything."""

    path: Path
    kind: Literal["pdf", "image"]
    sha256: str
    pages: int
    dpi: int | None  # the render dpi for PDFs; what the file declares for images (None if nothing)
    page_sizes: tuple[tuple[int, int], ...]  # pixels each page will have once rasterized


def find_inputs(paths: list[str], notes: list[str] | None = None) -> tuple[list[Path], list[str]]:
    """Files named, plus supported files found (recursively) in named folders; and a line per bad path.

    A folder's links to files are followed, but two kinds are never dropped without a word (a user who
    links scans into a folder must see what became of each): a dangling or looping link is a bad path (a
    failed input), and a link to a file already in the run is named as its duplicate in `notes` (read
    once, not a failure).
    """
    files: list[Path] = []
    errors: list[str] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = []
            for f in sorted(p.rglob("*")):
                if f.suffix.lower() not in SUPPORTED_SUFFIXES:
                    continue
                if f.is_file():
                    found.append(f)
                elif f.is_symlink() and not f.exists():  # exists() is False for a loop as for a dangling link
                    errors.append(f"{f}: dangling or looping link ({_link_target(f)}), not read")
            if not found and not any(e.startswith(f"{p}{os.sep}") for e in errors):
                errors.append(f"{p}: folder holds no .pdf .png .jpg .jpeg .tif .tiff file")
            files.extend(found)
        elif p.exists():
            files.append(p)
        else:
            errors.append(f"{p}: no such file or folder")
    first: dict[Path, Path] = {}
    unique = []
    for f in files:
        key = f.resolve()
        if key not in first:
            first[key] = f
            unique.append(f)
        elif notes is not None and f != first[key]:
            notes.append(f"{f}: duplicate of {first[key]} (the same file), read once")
    return unique, errors


def _link_target(link: Path) -> str:
    try:
        return f"-> {os.readlink(link)}"
    except OSError as exc:
        return f"unreadable link: {exc.strerror or exc}"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def probe(path: Path, cfg: Config) -> DocumentInfo:
    """Validate a file and size its pages; raises InputError with a one-line reason."""
    if not path.exists():
        raise InputError(path, "no such file")
    if not path.is_file():
        raise InputError(path, "not a regular file")
    try:
        if path.stat().st_size == 0:
            raise InputError(path, "empty file")
        with path.open("rb") as fh:
            head = fh.read(1024)
        if b"%PDF-" in head:
            return _probe_pdf(path, cfg)
        return _probe_image(path, cfg)
    except OSError as exc:  # unreadable (permissions, I/O error): this file fails, the batch goes on
        raise InputError(path, f"cannot be read ({exc.strerror or exc})") from exc


def _probe_pdf(path: Path, cfg: Config) -> DocumentInfo:
    try:
        proc = run_program(["pdfinfo", "-f", "1", "-l", "1000000", str(path)], timeout=_PDFINFO_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise InputError(path, "PDF could not be read: pdfinfo timed out") from exc
    err = proc.stderr.strip()
    if proc.returncode != 0:
        if "password" in err.lower():
            raise InputError(path, "PDF is encrypted with a user password")
        first = err.splitlines()[-1] if err else f"pdfinfo exit {proc.returncode}"
        raise InputError(path, f"not a readable PDF ({first})")
    m = re.search(r"^Pages:\s+(\d+)", proc.stdout, re.M)
    pages = int(m.group(1)) if m else 0
    if pages == 0:
        raise InputError(path, "PDF has no pages")
    scale = cfg.dpi / 72.0
    sizes = {int(n): (math.ceil(float(w) * scale), math.ceil(float(h) * scale))
             for n, w, h in _PAGE_SIZE.findall(proc.stdout)}
    if len(sizes) != pages:
        raise InputError(path, f"not a readable PDF (page sizes for {len(sizes)} of {pages} pages)")
    return DocumentInfo(path, "pdf", sha256_of(path), pages, cfg.dpi, tuple(sizes[i] for i in range(1, pages + 1)))


def _probe_image(path: Path, cfg: Config) -> DocumentInfo:
    limit = _pixel_limit(cfg)
    try:
        with Image.open(path) as im:
            if im.format not in _IMAGE_FORMATS:
                raise InputError(path, f"unsupported image format {im.format}")
            frames = getattr(im, "n_frames", 1)
            sizes = []
            for frame in ImageSequence.Iterator(im):
                w, h = frame.size
                if w * h > limit:
                    raise InputError(path, f"image is {w}x{h} px, over the {cfg.max_megapixels:g} megapixel limit")
                frame.load()  # decode once now: a truncated image is refused, not half-read later
                sizes.append((w, h))
            dpi = _declared_dpi(im)
    except InputError:
        raise
    except Image.DecompressionBombError as exc:
        raise InputError(path, f"image refused as a decompression bomb ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise InputError(path, "not a PDF or a supported image (PNG, JPEG, TIFF)") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputError(path, f"corrupt or truncated image ({exc})") from exc
    if frames == 0 or not sizes:
        raise InputError(path, "image has no frames")
    return DocumentInfo(path, "image", sha256_of(path), len(sizes), dpi, tuple(sizes))


def _declared_dpi(im: Image.Image) -> int | None:
    dpi = im.info.get("dpi")
    if not dpi:
        return None
    try:
        value = round(float(dpi[0]))
    except (TypeError, ValueError, IndexError):
        return None
    return value if value > 1 else None


def _pixel_limit(cfg: Config) -> int:
    return int(cfg.max_megapixels * 1_000_000)


def render_page(info: DocumentInfo, number: int, cfg: Config) -> PageImage:
    """Rasterize one page (from 1); raises PageError for a page that cannot be rendered."""
    w, h = info.page_sizes[number - 1]
    if w * h > _pixel_limit(cfg):
        raise PageError(
            f"page {number} would be {w}x{h} px at {cfg.dpi} dpi, over the {cfg.max_megapixels:g} megapixel limit")
    if info.kind == "pdf":
        return _render_pdf_page(info, number, cfg)
    return _render_image_page(info, number)


def _render_pdf_page(info: DocumentInfo, number: int, cfg: Config) -> PageImage:
    scan = _page_scan(info, number)
    if scan is not None:
        return PageImage(number, scan, cfg.dpi)
    return _poppler_render(info, number, cfg)


_SCAN_OPS = frozenset({"q", "Q", "cm", "Do"})
_SCAN_SPACES = frozenset({"/DeviceRGB", "/DeviceGray"})
_SIZE_SLACK = 1  # px: the page's size at the dpi, rounded either way (by poppler, by the scanner)


def _page_scan(info: DocumentInfo, number: int) -> np.ndarray | None:
    """The page's pixels straight from its one embedded JPEG, or None when the page is anything more.

    Taken only when rendering could not differ: the content stream draws exactly one 8-bit RGB or grey
    DCT image and nothing else, mapped onto the whole (unrotated, uncropped, unannotated) page with no
    flip, the JPEG itself at the render size to within a pixel; no masks, decode arrays or colour
    transforms, EXIF orientation ignored. Anything else, or anything unexpected while looking, goes
    to poppler.
    """
    import pikepdf

    try:
        with pikepdf.open(info.path) as pdf:
            page = pdf.pages[number - 1]
            raw = _lone_jpeg(page, info.page_sizes[number - 1])
    except Exception:  # noqa: BLE001 - pikepdf is only a shortcut here: poppler judges and reports
        return None
    if raw is None:
        return None
    w, h = info.page_sizes[number - 1]
    try:
        with Image.open(io.BytesIO(raw)) as head:  # the JPEG's own header, not the PDF's word for it
            mode, size = head.mode, head.size
    except Exception:  # noqa: BLE001 - unreadable, or a decompression bomb: poppler judges and reports
        return None
    if mode not in ("RGB", "L") or abs(size[0] - w) > _SIZE_SLACK or abs(size[1] - h) > _SIZE_SLACK:
        return None
    # EXIF orientation is a camera's note to viewers; a PDF draws the samples as stored (poppler too).
    # libjpeg writes RGB itself when asked (IMREAD_COLOR_RGB): no BGR copy to swap afterwards (~20 ms)
    flags = (cv2.IMREAD_COLOR_RGB if mode == "RGB" else cv2.IMREAD_GRAYSCALE) | cv2.IMREAD_IGNORE_ORIENTATION
    try:
        pixels = cv2.imdecode(np.frombuffer(raw, np.uint8), flags)
    except cv2.error:
        return None
    if pixels is None or (pixels.shape[1], pixels.shape[0]) != size:
        return None  # cut short or corrupt: poppler says what is wrong with it
    if mode == "L":
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB)
    return pixels


def _lone_jpeg(page: object, size: tuple[int, int]) -> bytes | None:
    import pikepdf

    assert isinstance(page, pikepdf.Page)
    if int(page.obj.get("/Rotate", 0)) % 360 or "/UserUnit" in page.obj or len(page.obj.get("/Annots", [])):
        return None  # turned, scaled, or with annotations (stamps, notes, form fields) drawn over the scan
    box = [Decimal(str(v)) for v in page.mediabox]
    if "/CropBox" in page.obj and [Decimal(str(v)) for v in page.cropbox] != box:
        return None
    ops = pikepdf.parse_content_stream(page)
    if {str(op.operator) for op in ops} - _SCAN_OPS or [str(op.operator) for op in ops].count("Do") != 1:
        return None
    ctm = np.eye(3)
    stack = []
    for op in ops:
        name = str(op.operator)
        if name == "q":
            stack.append(ctm)
        elif name == "Q":
            ctm = stack.pop() if stack else ctm
        elif name == "cm":
            a, b, c, d, e, f = (float(v) for v in op.operands)
            ctm = np.array([[a, b, 0], [c, d, 0], [e, f, 1]]) @ ctm
        else:
            image = page.Resources.XObject[op.operands[0]]
            draws = ctm
    want = np.array([[float(box[2] - box[0]), 0, 0], [0, float(box[3] - box[1]), 0],
                     [float(box[0]), float(box[1]), 1]])
    if not np.allclose(draws, want, atol=0.05):
        return None
    checks = (image.get("/Subtype") == "/Image", image.get("/Filter") == "/DCTDecode",
              str(image.get("/ColorSpace")) in _SCAN_SPACES, image.get("/BitsPerComponent") == 8,
              not any(k in image for k in ("/Decode", "/SMask", "/Mask", "/ImageMask", "/DecodeParms")),
              abs(int(image.get("/Width", 0)) - size[0]) <= _SIZE_SLACK,
              abs(int(image.get("/Height", 0)) - size[1]) <= _SIZE_SLACK)
    return image.read_raw_bytes() if all(checks) else None


def _poppler_render(info: DocumentInfo, number: int, cfg: Config) -> PageImage:
    """pdftoppm renders the page to a PPM file, read straight into one array.

    Taking PIL images from a pipe holds the page four times (the bytes, the decoded image, its RGB copy,
    the array): ~100 MB at 300 dpi, the largest part of a worker's peak. pdftoppm is started by
    `run_program` (posix_spawn), not pdf2image's forking Popen: see `ocr.programs`.
    """
    with tempfile.TemporaryDirectory(prefix="reportscan-page-") as tmp:
        out = Path(tmp) / "page"
        args = ["pdftoppm", "-r", str(cfg.dpi), "-f", str(number), "-l", str(number), "-singlefile",
                str(info.path), str(out)]
        proc = run_program(args, timeout=_RENDER_TIMEOUT, text=True)  # OSError, a time-out: transient, retried
        if proc.returncode < 0:  # killed (out of memory, an operator): transient, the flow's task retries it
            raise ChildProcessError(f"page {number}: pdftoppm was killed by signal {-proc.returncode}")
        ppm = out.with_suffix(".ppm")
        if proc.returncode != 0 or not ppm.exists():
            err = proc.stderr.strip().splitlines()
            why = err[-1] if err else f"pdftoppm exit {proc.returncode}, no image"
            raise PageError(f"page {number} could not be rendered ({why})")
        rgb = _read_ppm(ppm, number)
    if rgb.size == 0 or rgb.shape[0] < 8 or rgb.shape[1] < 8:
        raise PageError(f"page {number} rendered empty")
    return PageImage(number, rgb, cfg.dpi)


_PPM_HEADER = re.compile(rb"P6\s+(\d+)\s+(\d+)\s+(\d+)\s")


def _read_ppm(path: Path, number: int) -> np.ndarray:
    """An 8-bit binary PPM (what pdftoppm writes) as an H x W x 3 array, in one allocation."""
    with path.open("rb") as fh:
        head = fh.read(64)
    m = _PPM_HEADER.match(head)
    if not m or int(m.group(3)) != 255:
        raise PageError(f"page {number} could not be rendered (poppler wrote no 8-bit PPM)")
    w, h = int(m.group(1)), int(m.group(2))
    data = np.fromfile(path, dtype=np.uint8, offset=m.end())
    if data.size < w * h * 3:
        raise PageError(f"page {number} could not be rendered (poppler's image is cut short)")
    return data[: w * h * 3].reshape(h, w, 3)


def _render_image_page(info: DocumentInfo, number: int) -> PageImage:
    try:
        with Image.open(info.path) as im:
            im.seek(number - 1)
            im.load()
            rgb = np.asarray(_to_rgb(im))
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise PageError(f"page {number} could not be decoded ({exc})") from exc
    return PageImage(number, rgb, info.dpi)


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        base = Image.new("RGB", im.size, (255, 255, 255))
        base.paste(im.convert("RGBA"), mask=im.convert("RGBA").getchannel("A"))
        return base
    if im.mode in ("I;16", "I;16B", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        span = arr.max() - arr.min() or 1.0
        return Image.fromarray(((arr - arr.min()) * 255.0 / span).astype(np.uint8)).convert("RGB")
    return im.convert("RGB")


_INK_STRIP = 256


def ink(rgb: np.ndarray) -> np.ndarray:
    """Grayscale in which coloured marks (red stamps, blue pen) become paper and black ink stays dark.

    The max channel already lightens red; pixels with strong chroma are set to white outright, while
    black text printed under a stamp stays black (it has no chroma).
    """
    if rgb.ndim == 2:
        return rgb
    out = np.empty(rgb.shape[:2], np.uint8)
    for y in range(0, rgb.shape[0], _INK_STRIP):  # in strips: page-sized temporaries would double the peak
        r, g, b = cv2.split(np.ascontiguousarray(rgb[y:y + _INK_STRIP]))
        hi = cv2.max(cv2.max(r, g), b)
        chroma = cv2.subtract(hi, cv2.min(cv2.min(r, g), b))
        hi[chroma > _CHROMA_IS_PAPER] = 255
        out[y:y + _INK_STRIP] = hi
    return out
