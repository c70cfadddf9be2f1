"""Small generated table images for the per-stage unit tests (truth comes from here, not the pipeline)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT = Path("/usr/share/fonts/truetype/arphic/uming.ttc")


@cache
def font(size: int) -> ImageFont.FreeTypeFont:
    if not FONT.exists():
        raise RuntimeError(f"{FONT} missing: install fonts-arphic-uming (scripts/setup does)")
    return ImageFont.truetype(str(FONT), size)


@dataclass
class SynthCell:
    row: int
    col: int
    row_span: int
    col_span: int
    text: str
    bbox: tuple[int, int, int, int] = (0, 0, 0, 0)


@dataclass
class SynthTable:
    col_widths: list[int]
    row_heights: list[int]
    cells: list[SynthCell]
    origin: tuple[int, int] = (100, 100)
    rule: int = 3
    open_top: bool = False
    open_sides: bool = False  # no outer left and right rules, as many reports print their tables
    gaps: list[tuple[int, int, int, int]] = field(default_factory=list)  # white boxes drawn over rules

    @property
    def n_rows(self) -> int:
        return len(self.row_heights)

    @property
    def n_cols(self) -> int:
        return len(self.col_widths)


def draw(tables: list[SynthTable], size: tuple[int, int] = (1600, 1200), text_px: int = 40) -> np.ndarray:
    """White RGB page with the tables ruled and filled; fills each cell's bbox in place."""
    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    for t in tables:
        ox, oy = t.origin
        xs = np.concatenate([[0], np.cumsum(t.col_widths)]) + ox
        ys = np.concatenate([[0], np.cumsum(t.row_heights)]) + oy
        covered: dict[tuple[int, int], SynthCell] = {}
        for c in t.cells:
            for r in range(c.row, c.row + c.row_span):
                for k in range(c.col, c.col + c.col_span):
                    covered[(r, k)] = c
        # horizontal rule segments between rows, skipped inside merged cells
        for r in range(t.n_rows + 1):
            if r == 0 and t.open_top:
                continue
            for k in range(t.n_cols):
                above, below = covered.get((r - 1, k)), covered.get((r, k))
                if above is not None and above is below:
                    continue
                d.rectangle([xs[k], ys[r] - t.rule // 2, xs[k + 1], ys[r] + t.rule // 2], fill="black")
        for k in range(t.n_cols + 1):
            if t.open_sides and k in (0, t.n_cols):
                continue
            for r in range(t.n_rows):
                left, right = covered.get((r, k - 1)), covered.get((r, k))
                if left is not None and left is right:
                    continue
                y0 = ys[r] if not (r == 0 and t.open_top) else ys[r] + 2
                d.rectangle([xs[k] - t.rule // 2, y0, xs[k] + t.rule // 2, ys[r + 1]], fill="black")
        for c in t.cells:
            x0, x1 = xs[c.col], xs[c.col + c.col_span]
            y0, y1 = ys[c.row], ys[c.row + c.row_span]
            c.bbox = (int(x0), int(y0), int(x1), int(y1))
            if c.text == "-":  # the font's hyphen is a 1-px hairline; printed dashes are bolder
                cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
                d.rectangle([cx - 12, cy - 2, cx + 12, cy + 2], fill="black")
            elif c.text:
                f = font(text_px)
                tw = d.textlength(c.text, font=f)
                d.text(((x0 + x1 - tw) / 2, (y0 + y1 - text_px) / 2), c.text, fill="black", font=f)
        for g in t.gaps:
            d.rectangle(g, fill="white")
    return np.asarray(img).copy()


def simple_table(origin: tuple[int, int] = (100, 100), open_top: bool = False, open_sides: bool = False
                 ) -> SynthTable:
    """4 x 4 with a header spanning two columns and a label spanning two rows."""
    cells = [
        SynthCell(0, 0, 2, 1, "项目"), SynthCell(0, 1, 1, 2, "申请人情况"), SynthCell(0, 3, 2, 1, "总计"),
        SynthCell(1, 1, 1, 1, "自然人"), SynthCell(1, 2, 1, 1, "法人"),
        SynthCell(2, 0, 1, 1, "本年新收"), SynthCell(2, 1, 1, 1, "12"), SynthCell(2, 2, 1, 1, "3"),
        SynthCell(2, 3, 1, 1, "15"),
        SynthCell(3, 0, 1, 1, "上年结转"), SynthCell(3, 1, 1, 1, "0"), SynthCell(3, 2, 1, 1, ""),
        SynthCell(3, 3, 1, 1, "-"),
    ]
    return SynthTable([320, 220, 220, 220], [90, 90, 90, 90], cells, origin=origin, open_top=open_top,
                      open_sides=open_sides)


def rotate(img: np.ndarray, degrees: float) -> np.ndarray:
    """Turn the content counter-clockwise by `degrees` (OpenCV's sign), white border."""
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=(255, 255, 255))


def add_stamp(img: np.ndarray, center: tuple[int, int], radius: int) -> np.ndarray:
    """A red seal ring multiplied over the page, crossing rules."""
    out = img.copy()
    overlay = np.full_like(out, 255)
    cv2.circle(overlay, center, radius, (215, 40, 40), thickness=max(6, radius // 12))
    cv2.circle(overlay, center, radius // 3, (215, 40, 40), thickness=-1)
    return (out.astype(np.uint16) * overlay // 255).astype(np.uint8)


def fade_rule(img: np.ndarray, box: tuple[int, int, int, int], grey: int, dash: int = 0, gap: int = 0
              ) -> np.ndarray:
    """Redraw the rule inside `box` (x0, y0, x1, y1) in light `grey`, cut into `dash`-long pieces `gap`
    apart along its length, as a worn printer leaves it."""
    out = img.copy()
    x0, y0, x1, y1 = box
    region = out[y0:y1, x0:x1]
    region[region.max(axis=2) < 128] = grey
    if dash and gap:
        horizontal = x1 - x0 > y1 - y0
        for start in range(dash, (x1 - x0) if horizontal else (y1 - y0), dash + gap):
            if horizontal:
                region[:, start:start + gap] = 255
            else:
                region[start:start + gap] = 255
    return out


def scanned(img: np.ndarray, sigma: float = 3.0, blur: float = 0.8, seed: int = 0) -> np.ndarray:
    """A light optical blur and sensor noise, as a scanner adds them."""
    out = cv2.GaussianBlur(img, (0, 0), blur).astype(np.float32)
    out += np.random.default_rng(seed).normal(0.0, sigma, out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def random_rects(rng: np.random.Generator, h: int, w: int, count: int, tall: tuple[int, int],
                 wide: tuple[int, int]) -> np.ndarray:
    """A binary h x w image (ink 255) of `count` rectangles, heights drawn from `tall`, widths from `wide`."""
    img = np.zeros((h, w), np.uint8)
    for _ in range(count):
        y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
        img[y:y + int(rng.integers(*tall)), x:x + int(rng.integers(*wide))] = 255
    return img


_WIDE_LABELS = ["本年新收政府信息公开申请数量", "上年结转政府信息公开申请数量", "予以公开", "部分公开",
                "不予公开", "属于国家秘密", "其他法律行政法规禁止公开", "危及三安全一稳定", "保护第三方合法权益",
                "属于三类内部事务信息", "属于四类过程性信息", "属于行政执法案卷", "无法提供",
                "本机关不掌握相关政府信息"]


def wide_table(origin: tuple[int, int] = (80, 80), rows: int = 12, cols: int = 7, row_h: int = 62,
               label_w: int = 640, col_w: int = 170) -> SynthTable:
    """A table shaped like the template's 三: a wide label column on the left, a header of two rows (one
    merged across the value columns), then many label rows of figures; a landscape table that a
    landscape page prints and a portrait scan turns by a quarter."""
    cells = [SynthCell(0, 0, 2, 1, "申请人情况"), SynthCell(0, 1, 1, cols - 2, "自然人与法人或其他组织"),
             SynthCell(0, cols - 1, 2, 1, "总计")]
    cells += [SynthCell(1, k, 1, 1, ["商业企业", "科研机构", "社会组织", "法律服务", "其他"][(k - 1) % 5])
              for k in range(1, cols - 1)]
    for r in range(2, rows):
        cells.append(SynthCell(r, 0, 1, 1, _WIDE_LABELS[(r - 2) % len(_WIDE_LABELS)]))
        cells += [SynthCell(r, k, 1, 1, str((7 * r + 3 * k) % 23)) for k in range(1, cols)]
    return SynthTable([label_w] + [col_w] * (cols - 1), [row_h] * rows, cells, origin=origin)


def photocopied(img: np.ndarray, seed: int = 0, paper: int = 205, speckle: float = 0.004,
                streaks: tuple[int, int] = (10, 3), dark: int = 3) -> np.ndarray:
    """A grey photocopy: grey paper with dark speckle, and drum streaks — long straight grey lines across
    the whole sheet, `streaks` (across, along) of them, the first `dark` as dark as the print; then the
    scanner's blur and noise."""
    rng = np.random.default_rng(seed)
    gray = img.max(axis=2) if img.ndim == 3 else img
    out = gray.astype(np.float32) * (paper / 255.0)  # white paper turns grey, the print stays dark
    h, w = out.shape
    across = rng.permutation(np.arange(sum(streaks)) < streaks[0])
    for i, horizontal in enumerate(across):
        level = 40.0 if i < dark else float(rng.uniform(90, 160))
        width = int(rng.integers(2, 8))
        if horizontal:
            y = int(rng.integers(0, h - width))
            out[y:y + width] = np.minimum(out[y:y + width], level)
        else:
            x = int(rng.integers(0, w - width))
            out[:, x:x + width] = np.minimum(out[:, x:x + width], level)
    spots = rng.random((h, w)) < speckle
    out[spots] = rng.uniform(0, 120, int(spots.sum()))
    out = cv2.GaussianBlur(out, (0, 0), 0.8) + rng.normal(0.0, 4.0, out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def faded(img: np.ndarray, seed: int = 0, paper: int = 195, ink: int = 125, speckle: float = 0.004
          ) -> np.ndarray:
    """Faded print on speckled grey paper: black ink printed grey (`ink`), white paper grey (`paper`), dark
    toner dots of a few px over it all, a copier's blur and noise; grey, a page a person still reads."""
    rng = np.random.default_rng(seed)
    gray = img.max(axis=2) if img.ndim == 3 else img
    out = paper - (255.0 - gray.astype(np.float32)) / 255.0 * (paper - ink)
    dots = cv2.dilate((rng.random(out.shape) < speckle).astype(np.uint8), np.ones((2, 2), np.uint8)) > 0
    out[dots] -= rng.uniform(30, 70, int(dots.sum()))
    out = cv2.GaussianBlur(out, (0, 0), 0.8) + rng.normal(0.0, 4.0, out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def grey_seal(img: np.ndarray, center: tuple[int, int], diameter: int, grey: int = 150,
              text: str = "某某县人民政府办公室", seed: int = 0) -> np.ndarray:
    """A red seal as a photocopier prints it: a ring with text along it and a star, in mid-grey ink,
    multiplied over the page (the print under it shows through, darker)."""
    from PIL import ImageFilter

    rng = np.random.default_rng(seed)
    size = diameter
    mask = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(mask)
    ring = max(4, int(size * 0.035))
    d.ellipse((ring // 2, ring // 2, size - ring // 2 - 1, size - ring // 2 - 1), outline=255, width=ring)
    c, star = size / 2, size * 0.17
    d.polygon([(c + (star if k % 2 == 0 else 0.38 * star) * np.cos(-np.pi / 2 + k * np.pi / 5),
                c + (star if k % 2 == 0 else 0.38 * star) * np.sin(-np.pi / 2 + k * np.pi / 5)) for k in range(10)],
              fill=255)
    px = int(size * 0.13)
    radius = c - ring - px * 0.62
    for i, ch in enumerate(text):
        theta = -110 + 220 * (i + 0.5) / len(text)
        glyph = Image.new("L", (2 * px, 2 * px), 0)
        ImageDraw.Draw(glyph).text((px, px), ch, fill=255, font=font(px), anchor="mm")
        glyph = glyph.filter(ImageFilter.MaxFilter(5)).rotate(-theta, resample=Image.Resampling.BICUBIC)
        t = np.radians(theta)
        at = (int(c + radius * np.sin(t) - px), int(c - radius * np.cos(t) - px))
        mask.paste(Image.new("L", glyph.size, 255), at, glyph)
    cover = np.asarray(mask, np.float32) / 255.0 * rng.uniform(0.7, 1.0, (size, size)).astype(np.float32)
    out = img.astype(np.float32)
    x0, y0 = center[0] - size // 2, center[1] - size // 2
    region = out[y0:y0 + size, x0:x0 + size]
    a = cover[:region.shape[0], :region.shape[1]]
    shade = 1.0 - a * (1.0 - grey / 255.0)
    region *= shade[..., None] if region.ndim == 3 else shade
    return np.clip(out, 0, 255).astype(np.uint8)
