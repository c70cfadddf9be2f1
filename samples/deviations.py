"""The deviations family: what users' scans show and the clean/typical/hard tiers never draw (issue 13).

A family of its own (``python -m samples --tier deviations``): each document is a typical-tier scan of a
report with the content variants (``samples.variants``), plus a random subset of these:

- ``turned_page``: one table page fed into the scanner sideways: a landscape image whose content is
  turned a quarter either way; the page's truth ``rotation`` is the clockwise quarter turn that makes it
  upright (90 or 270) and its boxes are in the pixels of the turned scan.
- ``dpi_200``: the whole document scanned at 200 dpi (truth ``dpi`` 200, boxes in 200-dpi pixels, the
  JPEGs declare 200 dpi).
- ``doubled_rules``: the rules printed (or copied) twice, a ghost 2–8 px (at 300 dpi) beside each.
- ``thick_rules``: thick rules with a lighter core that binarise into two thin ones.
- ``broken_faint_rules``: many more broken stretches than the typical tier, and whole rules faded.
- ``text_touching_rules``: numbers and labels nudged inside their cell until a stroke touches a rule.
- ``faded_print``: toner running out: text and rules printed at grey ~110–170 instead of black.
- ``photocopy``: a grey photocopy: grey paper, toner speckle and drum streaks (long straight grey
  lines, across the page or part of it, a little off the table's axis).
- ``seals_over_numbers``: more seals, grey as well as red, centred on number cells: the last columns
  of 三 and 四 and always the 总计 corner of 三.
- ``pen_marks``: ballpoint ticks and circles, blue or black, over some cells.
- ``split_applications``: table 三 broken over two pages before any body row, not where the page ran out.
- ``second_font``: the whole document printed in a Hei (sans-serif) font, WenQuanYi Zen Hei
  (``fonts-wqy-zenhei``), instead of the Song-style UMing of every tier: other glyphs, other digits.

Everything is drawn from RNG streams of their own, tagged ``STREAM``, so the other tiers never see a
draw of them.  Which documents get a deviation is drawn per block of ``BLOCK`` consecutive indices, each
deviation on ``SLOTS`` of its documents (as ``samples.variants`` does), so any 10 consecutive documents
from index 0 hold every deviation at least 4 times.  The effects here are plain functions over one
page's RGB raster (in place, as ``samples.scan``'s are) and return what they did for the truth.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

STREAM = 0x64657669  # "devi": tags the deviations' seed sequences apart from the document's and the variants'
BLOCK = 5
SLOTS = 2
"""Each deviation falls on SLOTS documents of every BLOCK consecutive indices (a probability of 2/5)."""

TURNED_PAGE = "turned_page"
DPI_200 = "dpi_200"
DOUBLED_RULES = "doubled_rules"
THICK_RULES = "thick_rules"
BROKEN_FAINT_RULES = "broken_faint_rules"
TEXT_TOUCHING_RULES = "text_touching_rules"
FADED_PRINT = "faded_print"
PHOTOCOPY = "photocopy"
SEALS_OVER_NUMBERS = "seals_over_numbers"
PEN_MARKS = "pen_marks"
SPLIT_APPLICATIONS = "split_applications"
SECOND_FONT = "second_font"
NAMES: tuple[str, ...] = (TURNED_PAGE, DPI_200, DOUBLED_RULES, THICK_RULES, BROKEN_FAINT_RULES, TEXT_TOUCHING_RULES,
                          FADED_PRINT, PHOTOCOPY, SEALS_OVER_NUMBERS, PEN_MARKS, SPLIT_APPLICATIONS, SECOND_FONT)
"""In the order the truth lists them; a new one goes at the end, so the others keep their documents."""
PAGE_NAMES: tuple[str, ...] = (TURNED_PAGE, DOUBLED_RULES, THICK_RULES, BROKEN_FAINT_RULES, TEXT_TOUCHING_RULES,
                               FADED_PRINT, PHOTOCOPY, SEALS_OVER_NUMBERS, PEN_MARKS)
"""Deviations listed per page in ``page_info[].deviations`` (the others are the document's)."""

LOW_DPI = 200

Segment = tuple[float, float, float, float, float]  # x0, y0, x1, y1, stroke width: pixels of the raster
CellRef = dict[str, Any]  # {"template_table", "part", "row", "col"}: a cell of the truth, by its table part
PlacedCell = tuple[CellRef, tuple[float, float, float, float], str]  # ref, rect (raster px), kind
ToScan = Callable[[np.ndarray], np.ndarray]  # (n, 2) sheet pixels -> the scan's pixels


@dataclass(frozen=True)
class Plan:
    """The document-level draws of one document's deviations (per-page ones come from ``page_rng``)."""

    names: frozenset[str]
    dpi: int
    split_fraction: float | None  # where 三 breaks, as a fraction of the rows a break may come before
    turn_choice: float  # which of the table pages is turned, as a fraction of them
    turn_rotation: int  # the clockwise quarter turn that makes the turned page upright: 90 or 270

    @property
    def applied(self) -> list[str]:
        return [n for n in NAMES if n in self.names]


def chosen(seed: int, tier_code: int, index: int) -> set[str]:
    """The deviations document ``index`` gets: each takes SLOTS of the BLOCK slots of the index's block."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, tier_code, index // BLOCK, STREAM, BLOCK]))
    slots = [rng.choice(BLOCK, SLOTS, replace=False) for _ in NAMES]
    return {name for name, s in zip(NAMES, slots, strict=True) if index % BLOCK in s}


def draw_plan(seed: int, tier_code: int, index: int) -> Plan:
    """This document's deviations and their document-level settings."""
    names = chosen(seed, tier_code, index)
    rng = np.random.default_rng(np.random.SeedSequence([seed, tier_code, index, STREAM]))
    split, choice, turn = float(rng.random()), float(rng.random()), 90 if rng.random() < 0.5 else 270
    return Plan(frozenset(names), LOW_DPI if DPI_200 in names else 300,
                split if SPLIT_APPLICATIONS in names else None, choice, turn)


def page_rng(seed: int, tier_code: int, index: int, page_no: int) -> np.random.Generator:
    """One page's deviation stream: its draws do not depend on what earlier pages drew."""
    return np.random.default_rng(np.random.SeedSequence([seed, tier_code, index, STREAM, page_no]))


def _smooth(rng: np.random.Generator, shape: tuple[int, int], lo: float, hi: float, grid: int = 6) -> np.ndarray:
    """A smooth random field in [lo, hi] (float32, ``shape``): ink or paper that varies across the sheet."""
    small = rng.uniform(lo, hi, (grid, grid)).astype(np.float32)
    return cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC).clip(min(lo, hi), max(lo, hi))


def _is_horizontal(seg: Segment) -> bool:
    return abs(seg[3] - seg[1]) < abs(seg[2] - seg[0])


def _band(seg: Segment, half: float, shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
    """Pixel box (x0, y0, x1, y1) of the band ``half`` px either side of a rule's centre line, clipped."""
    x0, y0, x1, y1, _w = seg
    if _is_horizontal(seg):
        box = (min(x0, x1) - half, y0 - half, max(x0, x1) + half, y0 + half)
    else:
        box = (x0 - half, min(y0, y1) - half, x0 + half, max(y0, y1) + half)
    bx0, by0 = max(int(math.floor(box[0])), 0), max(int(math.floor(box[1])), 0)
    bx1, by1 = min(int(math.ceil(box[2])), shape[1]), min(int(math.ceil(box[3])), shape[0])
    return (bx0, by0, bx1, by1) if bx1 > bx0 and by1 > by0 else None


# ---------------------------------------------------------------- printing


def touch_rules(img: np.ndarray, cells: list[PlacedCell], rng: np.random.Generator,
                k: float) -> list[dict[str, Any]]:
    """Move the print of some cells inside their ruled box until a stroke touches one of its rules.

    Numbers mostly (10–25 % of them), a few labels (3–8 %); down onto the rule below most often, else
    up, left or right (sideways only where that is a nudge, ≤ 40 px at 300 dpi).  The rule is found in
    the pixels (the first row or column ahead of the print that is dark across it), so thick, doubled
    and grey rules are met where they are printed; the print reaches 0–2 px (at 300 dpi) into it, and
    never past the rule's centre line, so it stays inside the truth box.
    """
    p_number, p_label = float(rng.uniform(0.10, 0.25)), float(rng.uniform(0.03, 0.08))
    moved: list[dict[str, Any]] = []
    dark = _darkest(img) < 160
    for ref, (x0, y0, x1, y1), kind in cells:
        if rng.random() >= (p_number if kind == "number" else p_label if kind == "label" else 0.0):
            continue
        side = str(rng.choice(["down", "up", "left", "right"], p=[0.45, 0.15, 0.2, 0.2]))
        into = float(rng.uniform(0.0, 2.0)) * k
        inset = 4 * k  # well inside the rules: the print, not the rules, decides where the text is
        ix0, iy0, ix1, iy1 = (int(round(v)) for v in (x0 + inset, y0 + inset, x1 - inset, y1 - inset))
        if ix1 - ix0 < 4 or iy1 - iy0 < 4:
            continue
        ink = np.nonzero(img[iy0:iy1, ix0:ix1].min(axis=2) < 200)
        if not len(ink[0]):
            continue
        ty0, ty1 = int(ink[0].min()) + iy0, int(ink[0].max()) + 1 + iy0
        tx0, tx1 = int(ink[1].min()) + ix0, int(ink[1].max()) + 1 + ix0
        shift = _gap_to_rule(dark, (tx0, ty0, tx1, ty1), (x0, y0, x1, y1), side)
        if side in ("left", "right") and (shift is None or abs(shift) > 40 * k):
            side = "down"
            shift = _gap_to_rule(dark, (tx0, ty0, tx1, ty1), (x0, y0, x1, y1), side)
        if shift is None:
            continue
        step = int(round(shift + math.copysign(into, shift)))
        limit = {"down": y1 - ty1, "up": y0 - ty0, "left": x0 - tx0, "right": x1 - tx1}[side]
        step = int(min(step, math.floor(limit))) if step > 0 else int(max(step, math.ceil(limit)))
        if step == 0:
            continue
        dx, dy = (step, 0) if side in ("left", "right") else (0, step)
        content = img[ty0:ty1, tx0:tx1].copy()
        img[ty0:ty1, tx0:tx1] = 255
        dest = img[ty0 + dy:ty1 + dy, tx0 + dx:tx1 + dx]
        np.minimum(dest, content, out=dest)
        dark[ty0:ty1, tx0:tx1] = False
        dark[ty0 + dy:ty1 + dy, tx0 + dx:tx1 + dx] |= content.min(axis=2) < 160
        moved.append({**ref, "side": side, "shift_px": [dx, dy]})
    return moved


def _gap_to_rule(dark: np.ndarray, ink: tuple[int, int, int, int], rect: tuple[float, float, float, float],
                 side: str) -> float | None:
    """Signed distance from the print's edge to the first rule pixels ahead of it (None: no rule there)."""
    tx0, ty0, tx1, ty1 = ink
    x0, y0, x1, y1 = rect
    reach = 12
    if side in ("down", "up"):
        lo, hi = (ty1, min(int(y1) + reach, dark.shape[0])) if side == "down" else (max(int(y0) - reach, 0), ty0)
        cover = dark[lo:hi, tx0:tx1].mean(axis=1) if hi > lo else np.zeros(0)
    else:
        lo, hi = (tx1, min(int(x1) + reach, dark.shape[1])) if side == "right" else (max(int(x0) - reach, 0), tx0)
        cover = dark[ty0:ty1, lo:hi].mean(axis=0) if hi > lo else np.zeros(0)
    hits = np.nonzero(cover > 0.6)[0]
    if not len(hits):
        return None
    if side in ("down", "right"):
        return float(hits[0])
    return -float(len(cover) - hits[-1] - 1)


def double_rules(img: np.ndarray, segments: list[Segment], rng: np.random.Generator, k: float) -> dict[str, Any]:
    """Print a ghost of most rules 2–8 px (at 300 dpi) beside them, as a second pass or a copy slipping.

    One offset per page (vertical rules move by dx, horizontal ones by dy, each 2–8 px either way);
    40–100 % of the rules get a ghost, at 55–100 % of their darkness.
    """
    dx, dy = (int(round(float(rng.uniform(2, 8)) * k)) * (1 if rng.random() < 0.5 else -1) for _ in range(2))
    share, strength = float(rng.uniform(0.4, 1.0)), float(rng.uniform(0.55, 1.0))
    picked = [s for s in segments if rng.random() < share]
    for seg in picked:
        box = _band(seg, seg[4] / 2 + 1.0, img.shape)
        if box is None:
            continue
        bx0, by0, bx1, by1 = box
        sx, sy = (0, dy) if _is_horizontal(seg) else (dx, 0)
        tx0, ty0 = max(bx0 + sx, 0), max(by0 + sy, 0)
        tx1, ty1 = min(bx1 + sx, img.shape[1]), min(by1 + sy, img.shape[0])
        if tx1 <= tx0 or ty1 <= ty0:
            continue
        band = img[ty0 - sy:ty1 - sy, tx0 - sx:tx1 - sx].astype(np.float32)
        ghost = (255 - (255 - band) * strength).astype(np.uint8)
        dest = img[ty0:ty1, tx0:tx1]
        np.minimum(dest, ghost, out=dest)
    return {"offset_px": [dx, dy], "rules": len(picked), "strength": round(strength, 2)}


def thicken_rules(img: np.ndarray, segments: list[Segment], outer: list[bool], rng: np.random.Generator,
                  k: float) -> dict[str, Any]:
    """Turn the outer frame (and 0–30 % of the inner rules) into thick rules with a lighter core.

    6–11 px wide at 300 dpi: two dark edges of a quarter of that each around a core of grey 150–205,
    which a global threshold reads as paper, so the rule binarises into two thin ones.
    """
    width = float(rng.uniform(6, 11)) * k
    edge = max(1.5 * k, width * float(rng.uniform(0.22, 0.32)))
    core, dark = float(rng.uniform(150, 205)), float(rng.uniform(15, 50))
    inner_share = float(rng.uniform(0.0, 0.3))
    count = 0
    for seg, is_outer in zip(segments, outer, strict=True):
        if not is_outer and rng.random() >= inner_share:
            continue
        count += 1
        horizontal = _is_horizontal(seg)
        box = _band(seg, width / 2, img.shape)
        if box is None:
            continue
        bx0, by0, bx1, by1 = box
        centre = seg[1] if horizontal else seg[0]
        lo, hi = (by0, by1) if horizontal else (bx0, bx1)
        across = np.arange(lo, hi, dtype=np.float32) + 0.5 - centre  # signed distance of each pixel row/column
        in_edge = np.abs(across) > width / 2 - edge
        region = img[by0:by1, bx0:bx1]
        edge_rows = in_edge[:, None, None] if horizontal else in_edge[None, :, None]
        region[...] = np.where(edge_rows, np.minimum(region, np.uint8(dark)), np.uint8(core))
    return {"width_px": round(width, 1), "core": round(core), "rules": count}


def break_rules(img: np.ndarray, segments: list[Segment], rng: np.random.Generator, k: float) -> dict[str, Any]:
    """Far more broken stretches than typical (15–40 rules, gaps 3–40 px at 300 dpi) and whole rules faded.

    10–30 % of the rules keep only 20–45 % of their ink over their whole length.
    """
    if not segments:
        return {"broken": 0, "faint": 0}
    broken = min(int(rng.integers(15, 41)), len(segments))
    for i in rng.choice(len(segments), size=broken, replace=False):
        seg = segments[int(i)]
        horizontal = _is_horizontal(seg)
        length = abs(seg[2] - seg[0]) if horizontal else abs(seg[3] - seg[1])
        for _ in range(int(rng.integers(1, 4))):
            run = min(float(rng.uniform(3, 40)) * k, length)
            start = float(rng.uniform(0, max(length - run, 0)))
            x0, y0, _x1, _y1, w = seg
            a = (min(seg[0], seg[2]) if horizontal else min(seg[1], seg[3])) + start
            piece: Segment = (a, y0, a + run, y0, w) if horizontal else (x0, a, x0, a + run, w)
            box = _band(piece, w / 2 + 2, img.shape)
            if box is not None:
                img[box[1]:box[3], box[0]:box[2]] = 255
    share = float(rng.uniform(0.1, 0.3))
    faint = 0
    for seg in segments:
        if rng.random() >= share:
            continue
        faint += 1
        keep = float(rng.uniform(0.2, 0.45))
        box = _band(seg, seg[4] / 2 + 1.5, img.shape)
        if box is not None:
            region = img[box[1]:box[3], box[0]:box[2]].astype(np.float32)
            img[box[1]:box[3], box[0]:box[2]] = (255 - (255 - region) * keep).astype(np.uint8)
    return {"broken": broken, "faint": faint}


def fade_print(img: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
    """Toner running out: black prints as grey 110–170 (varying ±15 across the sheet), paper stays white."""
    darkest = float(rng.uniform(110, 170))
    keep = (255 - _smooth(rng, img.shape[:2], darkest - 15, darkest + 15)) / 255  # share of the ink left
    for c in range(img.shape[2]):
        ink = 255 - img[:, :, c].astype(np.float32)
        img[:, :, c] = 255.5 - ink * keep
    return {"ink": round(darkest)}


def _darkest(img: np.ndarray) -> np.ndarray:
    """The darkest channel of each pixel (numpy's min over a 3-wide last axis is ~20x slower)."""
    return np.minimum(np.minimum(img[:, :, 0], img[:, :, 1]), img[:, :, 2])


# ---------------------------------------------------------------- after printing: seals, pens, copies


def seal_targets(cells: list[PlacedCell], rng: np.random.Generator, corner: bool) -> list[PlacedCell]:
    """Number cells to centre grey or red seals on: the 总计 corner when ``corner``, else one of the last
    columns of 三 or 四 (or any number of 二), and a second seal on 30 % of pages."""
    numbers = [c for c in cells if c[2] == "number"]
    if not numbers:
        return []
    last = [c for c in numbers if (c[0]["template_table"], c[0]["col"]) in
            {("applications", 8), ("applications", 9)} or (c[0]["template_table"] == "review_litigation"
                                                           and c[0]["col"] >= 10)]
    pool = last or numbers
    picks: list[PlacedCell] = []
    if corner:
        picks.append(next(c for c in numbers if c[0].get("field") == "applications.total.total"))
    else:
        picks.append(pool[int(rng.integers(len(pool)))])
    if rng.random() < 0.3:
        picks.append(numbers[int(rng.integers(len(numbers)))])
    return picks


def seal_ink(rng: np.random.Generator) -> tuple[str, np.ndarray, float]:
    """A seal's ink: grey (photocopied or printed, 60–150, half of them) or red; and its opacity."""
    if rng.random() < 0.5:
        level = float(rng.uniform(60, 150))
        tint = rng.uniform(-8, 8, 3)
        return "grey", np.clip(level + tint, 0, 255).astype(np.float32), float(rng.uniform(0.6, 0.9))
    red = np.array([rng.uniform(200, 235), rng.uniform(20, 60), rng.uniform(30, 70)], dtype=np.float32)
    return "red", red, float(rng.uniform(0.6, 0.9))


def _stroke(img: np.ndarray, pts: np.ndarray, colour: np.ndarray, thickness: int, pressure: float) -> None:
    """Draw an anti-aliased ballpoint polyline (multiplied into ``img`` in place) on a crop around it."""
    h, w = img.shape[:2]
    pad = thickness + 3
    x0, y0 = max(int(pts[:, 0].min()) - pad, 0), max(int(pts[:, 1].min()) - pad, 0)
    x1, y1 = min(int(pts[:, 0].max()) + pad + 1, w), min(int(pts[:, 1].max()) + pad + 1, h)
    if x1 <= x0 or y1 <= y0:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    shift = 4  # sub-pixel precision of cv2's drawing
    local = np.round((pts - [x0, y0]) * (1 << shift)).astype(np.int32)
    cv2.polylines(mask, [local], False, 255, thickness, cv2.LINE_AA, shift)
    a = mask.astype(np.float32)[:, :, None] / 255 * pressure
    region = img[y0:y1, x0:x1].astype(np.float32)
    img[y0:y1, x0:x1] = (region * (1 - a * (1 - colour / 255))).astype(np.uint8)


def pen_marks(img: np.ndarray, cells: list[PlacedCell], rng: np.random.Generator, k: float) -> list[dict[str, Any]]:
    """2–8 ballpoint ticks and circles over cells (numbers 80 %), blue or black, 2–3.5 px at 300 dpi.

    A tick starts over the cell's right half and may run out of it; a circle rings the cell's centre,
    wobbling, a little open or overlapping its start, and may cross the cell's rules.  Both are sized
    to the cell, as if it were at most 48 × 22 pt (a hand marks a figure, not a whole spanning header).
    """
    numbers = [c for c in cells if c[2] == "number"]
    labels = [c for c in cells if c[2] == "label"]
    if not numbers and not labels:
        return []
    marks: list[dict[str, Any]] = []
    blue = rng.random() < 0.65
    colour = (np.array([rng.uniform(25, 60), rng.uniform(45, 90), rng.uniform(140, 200)], dtype=np.float32) if blue
              else rng.uniform(25, 50, 3).astype(np.float32))
    thickness = max(1, int(round(float(rng.uniform(2, 3.5)) * k)))
    pt = 300 / 72 * k  # raster pixels per point
    for _ in range(int(rng.integers(2, 9))):
        pool = numbers if numbers and (not labels or rng.random() < 0.8) else labels
        ref, (x0, y0, x1, y1), _kind = pool[int(rng.integers(len(pool)))]
        cw, ch = min(x1 - x0, 48 * pt), min(y1 - y0, 22 * pt)  # a hand marks a number, not a whole header
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        if rng.random() < 0.55:
            kind = "tick"
            s = ch * float(rng.uniform(0.6, 1.2))
            bx = cx + cw * float(rng.uniform(0.0, 0.3))
            knots = np.array([[bx - 0.45 * s, cy - 0.05 * s], [bx - 0.12 * s, cy + 0.35 * s],
                              [bx + 0.55 * s, cy - 0.6 * s]]) + rng.normal(0, 0.05 * s, (3, 2))
            t = np.linspace(0, 1, 12)[:, None]
            pts = np.vstack([knots[0] + (knots[1] - knots[0]) * t, knots[1] + (knots[2] - knots[1]) * t])
        else:
            kind = "circle"
            rx = max(cw * float(rng.uniform(0.3, 0.55)), ch * 0.6)
            ry = ch * float(rng.uniform(0.45, 0.75))
            a0 = float(rng.uniform(0, 2 * math.pi))
            theta = a0 + np.linspace(0, math.radians(float(rng.uniform(330, 400))), 64)
            wobble = 1 + np.interp(np.linspace(0, 5, 64), np.arange(6), rng.uniform(-0.06, 0.06, 6))
            tilt = math.radians(float(rng.uniform(-12, 12)))
            ex, ey = rx * np.cos(theta) * wobble, ry * np.sin(theta) * wobble
            pts = np.stack([cx + ex * math.cos(tilt) - ey * math.sin(tilt),
                            cy + ex * math.sin(tilt) + ey * math.cos(tilt)], axis=1)
        _stroke(img, pts, colour, thickness, float(rng.uniform(0.75, 1.0)))
        marks.append({**ref, "kind": kind, "colour": "blue" if blue else "black"})
    return marks


def photocopy(img: np.ndarray, rng: np.random.Generator, k: float, to_scan: ToScan) -> dict[str, Any]:
    """A grey photocopy of the sheet: paper 170–215 (±12 across it), toner speckle and drum streaks.

    Streaks are long straight grey lines, vertical (65 %) or horizontal, 0–1.5° off the sheet's axis,
    starting and ending anywhere (a quarter of the page to all of it), 1–5 px wide at 300 dpi, darkening
    the page by 12–55 % and varying along their length.  Their ends are reported in the scan's pixels.
    """
    h, w = img.shape[:2]
    paper = float(rng.uniform(170, 215))
    factor = _smooth(rng, (h, w), paper - 12, paper + 12) / 255
    # Toner speckle: fine dots and a few coarser blobs, as dark as 40–100 % of toner.
    density = float(rng.uniform(3e-4, 1.5e-3))
    speck = np.zeros((h, w), np.float32)
    for share, sigma in ((1.0, 0.7), (0.08, 1.6)):
        n = int(density * share * h * w / (k * k))
        ys, xs = rng.integers(0, h, n), rng.integers(0, w, n)
        dots = np.zeros((h, w), np.float32)
        dots[ys, xs] = rng.uniform(0.4, 1.0, n).astype(np.float32)
        dots = cv2.GaussianBlur(dots, (0, 0), sigma * k)
        np.maximum(speck, dots * np.float32(2 * math.pi * (sigma * k) ** 2), out=speck)
    np.clip(speck, 0, 0.9, out=speck)
    factor *= 1 - speck
    streaks: list[dict[str, Any]] = []
    for _ in range(int(rng.integers(1, 7))):
        vertical = rng.random() < 0.65
        span = h if vertical else w
        across = float(rng.uniform(0.03, 0.97)) * (w if vertical else h)
        length = float(rng.uniform(0.25, 1.0)) * span
        start = float(rng.uniform(0, span - length))
        tilt = math.tan(math.radians(float(rng.uniform(-1.5, 1.5))))
        p0, p1 = (((across, start), (across + tilt * length, start + length)) if vertical
                  else ((start, across), (start + length, across + tilt * length)))
        width = max(1, int(round(float(rng.uniform(1, 5)) * k)))
        depth = float(rng.uniform(0.12, 0.55))
        along = np.interp(np.linspace(0, 7, span), np.arange(8), rng.uniform(0.55, 1.0, 8)).astype(np.float32)
        _streak(factor, p0, p1, width, depth, along, vertical)
        ends = to_scan(np.array([p0, p1]))
        streaks.append({"direction": "vertical" if vertical else "horizontal",
                        "from": [round(float(v), 1) for v in ends[0]], "to": [round(float(v), 1) for v in ends[1]],
                        "width_px": width, "darkness": round(depth, 2)})
    for c in range(img.shape[2]):
        img[:, :, c] = img[:, :, c] * factor + 0.5
    return {"paper": round(paper), "speckle_density": round(density, 5), "streaks": streaks}


def _streak(factor: np.ndarray, p0: tuple[float, float], p1: tuple[float, float], width: int, depth: float,
            along: np.ndarray, vertical: bool) -> None:
    """Darken ``factor`` (in place) along one anti-aliased line, by ``depth`` times ``along`` (per row or column)."""
    h, w = factor.shape
    pad = width + 2
    x0, x1 = max(int(min(p0[0], p1[0])) - pad, 0), min(int(max(p0[0], p1[0])) + pad + 1, w)
    y0, y1 = max(int(min(p0[1], p1[1])) - pad, 0), min(int(max(p0[1], p1[1])) + pad + 1, h)
    if x1 <= x0 or y1 <= y0:
        return
    line = np.zeros((y1 - y0, x1 - x0), np.uint8)
    a, b = ((int(round((p[0] - x0) * 16)), int(round((p[1] - y0) * 16))) for p in (p0, p1))
    cv2.line(line, a, b, 255, width, cv2.LINE_AA, 4)
    profile = along[y0:y1, None] if vertical else along[None, x0:x1]
    shade = line.astype(np.float32) * np.float32(depth / 255) * profile
    factor[y0:y1, x0:x1] *= 1 - shade


def quarter_map(rotation: int, width: int, height: int) -> np.ndarray:
    """3×3 map of pixel centres from an upright ``width``×``height`` sheet to the sheet turned so that
    ``rotation`` (clockwise, 90 or 270) makes it upright again."""
    if rotation == 90:  # content turned counter-clockwise: (x, y) -> (y, width - 1 - x)
        return np.array([[0, 1, 0], [-1, 0, width - 1], [0, 0, 1]], dtype=np.float64)
    if rotation == 270:  # content turned clockwise: (x, y) -> (height - 1 - y, x)
        return np.array([[0, -1, height - 1], [1, 0, 0], [0, 0, 1]], dtype=np.float64)
    raise ValueError(f"a turned page is turned by 90 or 270, not {rotation}")


def turn(img: np.ndarray, rotation: int) -> np.ndarray:
    """The sheet fed sideways: the raster turned as ``quarter_map`` maps it (a landscape image)."""
    quarter_map(rotation, img.shape[1], img.shape[0])  # refuses anything but 90 and 270
    return cv2.rotate(img, cv2.ROTATE_90_COUNTERCLOCKWISE if rotation == 90 else cv2.ROTATE_90_CLOCKWISE)
