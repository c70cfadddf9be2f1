"""Scan simulation: rasterize the vector PDF, damage each page like a print-and-scan, repack as JPEGs.

Order per page (physical order): broken/faint rules (printing) → red seals (stamping, multiply) →
one homography for rotation + perspective (placing the sheet) → paper tint and uneven light →
blur → sensor noise → salt-and-pepper → JPEG.  Everything random comes from the caller's
``numpy.random.Generator`` so output is reproducible.
"""

from __future__ import annotations

import io
import math
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import img2pdf
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from samples.layout import FONT_PATH

TIERS: tuple[str, ...] = ("clean", "typical", "hard")

Box = tuple[float, float, float, float]
Segment = tuple[float, float, float, float, float]  # x0, y0, x1, y1, stroke width — pixels


@dataclass(frozen=True)
class ScanParams:
    """Degradation settings for one page."""

    angle: float  # degrees, positive = counter-clockwise on screen (cv2.getRotationMatrix2D)
    corner_jitter: tuple[tuple[float, float], ...]  # perspective: per-corner offsets in px
    blur_sigma: float
    noise_sigma: float
    salt_pepper: float  # fraction of pixels flipped to black/white
    jpeg_quality: int
    light: float  # depth of the uneven-light falloff (0 = flat)
    tint: tuple[float, float, float]  # paper colour as RGB multipliers
    broken_rules: int  # number of rule segments to damage
    gap_px: tuple[int, int]  # gap length range
    stamp_prob: float  # per table part


@dataclass(frozen=True)
class TierRanges:
    """Ranges each page's ``ScanParams`` are drawn from, per tier."""

    angle: tuple[float, float]
    perspective: float  # max corner offset, px
    blur: tuple[float, float]
    noise: tuple[float, float]
    salt_pepper: tuple[float, float]
    quality: tuple[int, int]  # inclusive
    light: tuple[float, float]
    broken_rules: tuple[int, int]  # inclusive
    gap_px: tuple[int, int]
    stamp_prob: float


TIER_RANGES: dict[str, TierRanges] = {
    "clean": TierRanges((0.0, 0.3), 0.0, (0.2, 0.45), (0.6, 1.1), (0.0, 0.0), (85, 90), (0.0, 0.03),
                        (0, 0), (0, 0), 0.1),
    "typical": TierRanges((0.3, 1.0), 8.0, (0.4, 0.9), (1.5, 3.0), (0.0, 0.0), (55, 80), (0.04, 0.12),
                          (2, 6), (3, 14), 0.3),
    "hard": TierRanges((0.8, 2.0), 24.0, (0.8, 1.4), (3.0, 5.0), (0.0005, 0.002), (30, 55), (0.12, 0.28),
                       (12, 29), (3, 45), 0.6),
}


def page_params(tier: str, rng: np.random.Generator) -> ScanParams:
    """Draw one page's degradations for a tier (clean | typical | hard)."""
    if tier not in TIER_RANGES:
        raise ValueError(f"tier must be one of {TIERS}, not {tier!r}")
    t = TIER_RANGES[tier]
    sign = 1.0 if rng.random() < 0.5 else -1.0
    jitter = tuple((float(x), float(y)) for x, y in rng.uniform(-t.perspective, t.perspective, (4, 2)))
    warm = float(rng.uniform(0.0, 0.03 if tier == "clean" else 0.06))
    return ScanParams(
        angle=sign * float(rng.uniform(*t.angle)),
        corner_jitter=jitter,
        blur_sigma=float(rng.uniform(*t.blur)),
        noise_sigma=float(rng.uniform(*t.noise)),
        salt_pepper=float(rng.uniform(*t.salt_pepper)),
        jpeg_quality=int(rng.integers(t.quality[0], t.quality[1] + 1)),
        light=float(rng.uniform(*t.light)),
        tint=(1.0 - warm * 0.3, 1.0 - warm * 0.5, 1.0 - warm),
        broken_rules=int(rng.integers(t.broken_rules[0], t.broken_rules[1] + 1)),
        gap_px=t.gap_px,
        stamp_prob=t.stamp_prob,
    )


# ---------------------------------------------------------------- rasterizing and packing


def require_poppler() -> None:
    """Fail with a clear message when poppler-utils is missing (the scan needs pdftoppm)."""
    missing = [t for t in ("pdftoppm", "pdftotext") if shutil.which(t) is None]
    if missing:
        raise RuntimeError(f"poppler-utils not found ({', '.join(missing)}); install poppler-utils")


def rasterize(pdf: bytes, dpi: int = 300) -> list[np.ndarray]:
    """Every page of ``pdf`` as an RGB uint8 array, via pdftoppm (as a real scan of the print would see)."""
    require_poppler()
    with tempfile.TemporaryDirectory(prefix="reportscan-samples-") as tmp:
        src = Path(tmp) / "vector.pdf"
        src.write_bytes(pdf)
        subprocess.run(["pdftoppm", "-r", str(dpi), str(src), str(Path(tmp) / "p")], check=True,
                       capture_output=True)
        pages = sorted(Path(tmp).glob("p-*.ppm"), key=lambda p: int(p.stem.split("-")[-1]))
        return [np.asarray(Image.open(p).convert("RGB")).copy() for p in pages]


def encode_jpeg(img: np.ndarray, quality: int, dpi: int = 300) -> bytes:
    """JPEG with the dpi recorded, so img2pdf sizes the page to A4 and pdftoppm -r 300 gives it back."""
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=quality, dpi=(dpi, dpi), optimize=True)
    return buf.getvalue()


def pack_pdf(jpegs: list[bytes]) -> bytes:
    """Image-only PDF, one JPEG per page, no dates (byte-reproducible)."""
    return img2pdf.convert(jpegs, nodate=True, engine=img2pdf.Engine.internal)


# ---------------------------------------------------------------- geometry


def homography(params: ScanParams, width: int, height: int) -> np.ndarray:
    """Rotation about the page centre and a small perspective as one 3×3 matrix (pixel centres)."""
    rot = cv2.getRotationMatrix2D((width / 2, height / 2), params.angle, 1.0)
    src = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float64)
    dst = src @ rot[:, :2].T + rot[:, 2]
    dst = dst + np.array(params.corner_jitter)
    return cv2.getPerspectiveTransform(src.astype(np.float32), dst.astype(np.float32)).astype(np.float64)


def map_points(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Map (n, 2) points given in pixel-edge coordinates (pdftoppm's) through ``h``.

    cv2 warps pixel centres, so shift by half a pixel in and out.
    """
    p = np.hstack([pts - 0.5, np.ones((len(pts), 1))]) @ h.T
    return p[:, :2] / p[:, 2:3] + 0.5


def skew_of(h: np.ndarray, width: int, height: int) -> float:
    """Angle of the mapped horizontal through the page centre, degrees, counter-clockwise positive."""
    centre = np.array([[width / 2 - 500, height / 2], [width / 2 + 500, height / 2]])
    (x0, y0), (x1, y1) = map_points(h, centre)
    return math.degrees(math.atan2(-(y1 - y0), x1 - x0))


# ---------------------------------------------------------------- damage


def damage_rules(img: np.ndarray, segments: list[Segment], params: ScanParams,
                 rng: np.random.Generator) -> None:
    """Break (white gaps) or fade stretches of a few ruled segments, in place, as a worn printer does."""
    if not params.broken_rules or not segments:
        return
    h, w = img.shape[:2]
    picks = rng.choice(len(segments), size=min(params.broken_rules, len(segments)), replace=False)
    for i in sorted(int(p) for p in picks):
        x0, y0, x1, y1, width = segments[i]
        horizontal = abs(y1 - y0) < abs(x1 - x0)
        length = abs(x1 - x0) if horizontal else abs(y1 - y0)
        half = width / 2 + 2
        faint = rng.random() < 0.4
        for _ in range(int(rng.integers(1, 4))):
            run = float(rng.uniform(40, 300)) if faint else float(rng.integers(params.gap_px[0], params.gap_px[1] + 1))
            run = min(run, length)
            start = float(rng.uniform(0, max(length - run, 0)))
            if horizontal:
                a = min(x0, x1) + start
                box = (int(a), int(y0 - half), int(math.ceil(a + run)), int(math.ceil(y0 + half)))
            else:
                a = min(y0, y1) + start
                box = (int(x0 - half), int(a), int(math.ceil(x0 + half)), int(math.ceil(a + run)))
            bx0, by0, bx1, by1 = max(box[0], 0), max(box[1], 0), min(box[2], w), min(box[3], h)
            if bx1 <= bx0 or by1 <= by0:
                continue
            region = img[by0:by1, bx0:bx1].astype(np.float32)
            keep = float(rng.uniform(0.25, 0.55)) if faint else 0.0  # share of ink left
            img[by0:by1, bx0:bx1] = (255 - (255 - region) * keep).astype(np.uint8)


def make_seal(rng: np.random.Generator, text: str, diameter: int) -> np.ndarray:
    """Ink coverage (0..1, float32, diameter²) of a round official seal: ring, star, arc text."""
    size = diameter
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    ring = max(4, int(size * 0.035))
    draw.ellipse((ring // 2, ring // 2, size - ring // 2 - 1, size - ring // 2 - 1), outline=255, width=ring)
    c = size / 2
    star_r = size * 0.17
    pts = []
    for k in range(10):
        r = star_r if k % 2 == 0 else star_r * 0.38
        a = -math.pi / 2 + k * math.pi / 5
        pts.append((c + r * math.cos(a), c + r * math.sin(a)))
    draw.polygon(pts, fill=255)
    font_px = int(size * 0.13)
    bold = 2 * max(1, size // 220) + 1
    font = ImageFont.truetype(str(FONT_PATH), font_px, index=0)
    chars = list(text)
    span = min(250.0, max(170.0, 21.0 * len(chars)))
    radius = c - ring - font_px * 0.62
    for i, ch in enumerate(chars):
        theta = -span / 2 + span * (i + 0.5) / len(chars)  # degrees clockwise from the top
        glyph = Image.new("L", (font_px * 2, font_px * 2), 0)
        ImageDraw.Draw(glyph).text((font_px, font_px), ch, fill=255, font=font, anchor="mm")
        glyph = glyph.filter(ImageFilter.MaxFilter(bold))  # seal engraving is heavier than UMing Light
        glyph = glyph.rotate(-theta, resample=Image.Resampling.BICUBIC)
        t = math.radians(theta)
        gx, gy = c + radius * math.sin(t), c - radius * math.cos(t)
        mask.paste(Image.new("L", glyph.size, 255), (int(gx - font_px), int(gy - font_px)), glyph)
    mask = mask.rotate(float(rng.uniform(-25, 25)), resample=Image.Resampling.BICUBIC)
    ink = np.asarray(mask, dtype=np.float32) / 255.0
    # Uneven ink: a smooth pressure field and speckled gaps.
    field = cv2.resize(rng.uniform(0.45, 1.0, (6, 6)).astype(np.float32), (size, size),
                       interpolation=cv2.INTER_CUBIC)
    speck = (rng.random((size, size)) > 0.08).astype(np.float32)
    speck = cv2.GaussianBlur(speck, (0, 0), 1.2)
    return np.clip(ink * field * speck, 0.0, 1.0)


def apply_seal(img: np.ndarray, ink: np.ndarray, centre: tuple[float, float],
               rng: np.random.Generator) -> None:
    """Multiply a red seal into ``img`` in place (semi-transparent: text and rules show through)."""
    colour = np.array([rng.uniform(200, 235), rng.uniform(20, 60), rng.uniform(30, 70)], dtype=np.float32)
    press_seal(img, ink, centre, colour, float(rng.uniform(0.65, 0.9)))


def press_seal(img: np.ndarray, ink: np.ndarray, centre: tuple[float, float], colour: np.ndarray,
               opacity: float) -> None:
    """Multiply a seal of any ink ``colour`` (RGB, float32) into ``img`` in place, clipped to the page."""
    size = ink.shape[0]
    h, w = img.shape[:2]
    x0, y0 = int(centre[0] - size / 2), int(centre[1] - size / 2)
    sx0, sy0 = max(0, -x0), max(0, -y0)
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x0 + size - sx0, w), min(y0 + size - sy0, h)
    a = ink[sy0:sy0 + y1 - y0, sx0:sx0 + x1 - x0, None] * opacity
    region = img[y0:y1, x0:x1].astype(np.float32)
    img[y0:y1, x0:x1] = (region * (1 - a * (1 - colour / 255.0))).astype(np.uint8)


def degrade(img: np.ndarray, h: np.ndarray, params: ScanParams, rng: np.random.Generator) -> np.ndarray:
    """Warp, light, blur and noise one page (after rules and seals were applied)."""
    height, width = img.shape[:2]
    out = cv2.warpPerspective(img, h, (width, height), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=(255, 255, 255))
    # Paper tint and uneven light as one smooth multiplicative field per channel.
    small = rng.uniform(1.0 - params.light, 1.0, (4, 3)).astype(np.float32)
    gy, gx = np.mgrid[0:45, 0:32].astype(np.float32)
    gdir = rng.uniform(-1, 1, 2).astype(np.float32)
    grad = 1.0 - params.light * 0.5 * (1 + (gx / 31 - 0.5) * gdir[0] + (gy / 44 - 0.5) * gdir[1]) / 2
    light = cv2.resize(small, (32, 45), interpolation=cv2.INTER_CUBIC) * grad
    light = cv2.resize(np.clip(light, 0.5, 1.0), (width, height), interpolation=cv2.INTER_LINEAR)
    f = out.astype(np.float32)
    f *= light[:, :, None] * np.array(params.tint, dtype=np.float32)
    if params.blur_sigma > 0:
        f = cv2.GaussianBlur(f, (0, 0), params.blur_sigma)
    noise = rng.standard_normal((height, width), dtype=np.float32)
    noise *= params.noise_sigma
    noise += 0.5  # rounding offset for the uint8 conversion below
    f += noise[:, :, None]
    if params.salt_pepper > 0:
        n = int(params.salt_pepper * height * width)
        ys = rng.integers(0, height, n)
        xs = rng.integers(0, width, n)
        vals = np.where(rng.random(n) < 0.5, 0.0, 255.0).astype(np.float32)
        f[ys, xs] = vals[:, None]
    np.clip(f, 0, 255, out=f)
    return f.astype(np.uint8)
