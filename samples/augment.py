"""Sample families degraded by augraphy: paper printing and scanning damage that nobody here wrote (issue 13).

Our own scan simulator (``samples.scan``) and the pipeline's thresholds were written and fitted by the
same people, so a benchmark on its output says little about scans from elsewhere.  These families take the
generator's documents (content with its variants, layout, vector PDF, 300 dpi raster) and hand the pages,
undamaged, to augraphy's effects: photocopier toner and dirty drums and rollers, low ink, ink bleed,
shadows and uneven light, paper texture, bad binarisation, colour misregistration, recompression.

- ``augraphy-light`` / ``-medium`` / ``-heavy`` are about as hard as our clean / typical / hard tiers; all their
  effects keep geometry (no pixel moves), so the truth's boxes hold and ``geometry_kept`` is true.
- ``augraphy-geometry``: folds, page borders and small warps (with light ink and paper effects).  Pixels
  move, the truth's boxes do not follow: ``geometry_kept`` is false and scorers use its fields only.

Composition is ours, not augraphy's default pipeline (which downloads fonts for ``Scribbles`` and reaches
``np.int0``, gone in NumPy 2, through ``PaperFactory``); ``AugraphyPipeline`` is not used either, as it
writes every input image into ``./augraphy_cache/``.  Each family is a list of steps, each run with its
probability, choosing one of its effects.  An effect acts either on the page itself, or - the slow effects of
paper and light, whose output does not depend on what is printed - on a blank sheet at a fraction of the
page's size, which is then scaled up and multiplied into the page: paper and light multiply what the ink
reflects.  Their pixel parameters are in that sheet's pixels.

Randomness: augraphy draws from Python's ``random``, NumPy's global generator and numba's own generator
(inside its jitted functions).  Each page seeds all three from a ``SeedSequence`` of (seed, family, index,
page) and restores Python's and NumPy's previous state afterwards (numba's cannot be read back; it is left
seeded).  So a document depends only on (seed, family, index).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import random
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from samples.content import Report, make_report
from samples.generate import _tables, _truth, print_written, write_samples
from samples.render import DPI, PAGE_PX, PageLayout, draw_pdf, layout_document
from samples.scan import encode_jpeg, pack_pdf, rasterize
from samples.variants import Variants, draw_variants

LIGHT, MEDIUM, HEAVY, GEOMETRY = "augraphy-light", "augraphy-medium", "augraphy-heavy", "augraphy-geometry"
FAMILIES: tuple[str, ...] = (LIGHT, MEDIUM, HEAVY, GEOMETRY)
FAMILY_CODES = {family: 0x6175_0000 + i for i, family in enumerate(FAMILIES)}
"""Seed-sequence tags, far from ``samples.generate.TIER_CODES`` so no family shares a stream with a tier."""
CONTENT_TIER = {LIGHT: "clean", MEDIUM: "typical", HEAVY: "hard", GEOMETRY: "typical"}
"""Which tier's report each family prints (the tier decides only whether 政府集中采购 may appear)."""
JPEG_QUALITY = {LIGHT: (85, 92), MEDIUM: (60, 82), HEAVY: (40, 62), GEOMETRY: (70, 85)}
"""The scanner's own JPEG, inclusive ranges, drawn per page like our tiers' (clean 85-90, typical 55-80, hard 30-55)."""
STREAM = 0x6175_6770  # "augp": the pages' seed sequences, apart from the document's own


@dataclass(frozen=True)
class Effect:
    """One augraphy effect with its parameters; ``sheet`` is None for one applied to the page itself,
    else the fraction of the page's size of the blank sheet it is computed on and multiplied in from."""

    name: str
    make: Callable[[], Any]
    sheet: float | None = None


@dataclass(frozen=True)
class Step:
    """Run with probability ``p``: one of ``options``, chosen uniformly."""

    p: float
    options: tuple[Effect, ...]


def _augraphy() -> Any:
    """augraphy, imported on first use (3-4 s of numba start-up), its start-up chatter silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import augraphy
    return augraphy


def _e(name: str, sheet: float | None = None, **params: Any) -> Effect:
    return Effect(name, lambda: getattr(_augraphy(), name)(p=1, **params), sheet)


# Shared by the families; ranges tighten or widen per family below.
def _paper(strength: float) -> Step:
    """Paper grain and blotchy brightness, on a half-size sheet."""
    s = strength
    return Step(0.7, (
        _e("NoiseTexturize", 0.5, sigma_range=(2, int(3 + 6 * s)), turbulence_range=(2, 4),
           texture_width_range=(150, 300), texture_height_range=(150, 300)),
        _e("BrightnessTexturize", 0.5, texturize_range=(1.0 - 0.08 * s, 0.99), deviation=0.02 + 0.04 * s),
    ))


FAMILY_STEPS: dict[str, tuple[Step, ...]] = {
    LIGHT: (
        Step(0.5, (_e("InkBleed", intensity_range=(0.1, 0.25), kernel_size=(3, 3), severity=(0.2, 0.4)),)),
        Step(0.3, (_e("LowInkRandomLines", count_range=(2, 6), use_consistent_lines=False, noise_probability=0.05),
                   _e("LowInkPeriodicLines", count_range=(1, 3), period_range=(24, 48), use_consistent_lines=False,
                      noise_probability=0.05))),
        _paper(0.3),
        Step(0.4, (_e("LightingGradient", 0.25, max_brightness=255, min_brightness=200, mode="gaussian",
                      transparency=0.7),)),
        Step(0.6, (_e("SubtleNoise", subtle_range=5),)),
    ),
    MEDIUM: (
        Step(0.6, (_e("InkBleed", intensity_range=(0.2, 0.45), kernel_size=(5, 5), severity=(0.3, 0.5)),)),
        Step(0.3, (_e("LinesDegradation", line_roi=(0.0, 0.0, 1.0, 1.0), line_gradient_range=(32, 255),
                      line_gradient_direction=(0, 2), line_split_probability=(0.2, 0.4),
                      line_replacement_value=(200, 255), line_min_length=(30, 40), line_long_to_short_ratio=(5, 7),
                      line_replacement_probability=(0.3, 0.5), line_replacement_thickness=(1, 2)),)),
        Step(0.5, (_e("LowInkRandomLines", count_range=(4, 10), use_consistent_lines=False, noise_probability=0.1),
                   _e("LowInkPeriodicLines", count_range=(2, 4), period_range=(16, 40), use_consistent_lines=False,
                      noise_probability=0.1))),
        _paper(0.6),
        Step(0.4, (_e("BadPhotoCopy", 0.5, noise_type=-1, noise_side="random", noise_iteration=(1, 2),
                      noise_size=(1, 2), noise_value=(160, 230), noise_sparsity=(0.5, 0.8),
                      noise_concentration=(0.1, 0.3), blur_noise=-1, wave_pattern=0, edge_effect=0),
                   _e("DirtyDrum", 0.5, line_width_range=(1, 3), line_concentration=0.05, direction=-1,
                      noise_intensity=0.4, noise_value=(128, 224), ksize=(3, 3), sigmaX=0))),
        Step(0.5, (_e("LightingGradient", 0.25, max_brightness=255, min_brightness=150, mode="gaussian",
                      transparency=0.6),
                   _e("ShadowCast", 0.25, shadow_side="random", shadow_vertices_range=(2, 6),
                      shadow_width_range=(0.3, 0.7), shadow_height_range=(0.3, 0.7), shadow_color=(0, 0, 0),
                      shadow_opacity_range=(0.15, 0.35), shadow_iterations_range=(1, 2),
                      shadow_blur_kernel_range=(31, 101)))),
        Step(0.3, (_e("ColorShift", color_shift_offset_x_range=(1, 2), color_shift_offset_y_range=(1, 2),
                      color_shift_iterations=(1, 1), color_shift_brightness_range=(0.95, 1.05),
                      color_shift_gaussian_kernel_range=(1, 3)),)),
        Step(0.7, (_e("SubtleNoise", subtle_range=8),)),
        Step(0.4, (_e("Jpeg", quality_range=(50, 80)),)),
    ),
    HEAVY: (
        Step(0.7, (_e("InkBleed", intensity_range=(0.3, 0.6), kernel_size=(5, 5), severity=(0.4, 0.6)),)),
        Step(0.4, (_e("LinesDegradation", line_roi=(0.0, 0.0, 1.0, 1.0), line_gradient_range=(32, 255),
                      line_gradient_direction=(0, 2), line_split_probability=(0.2, 0.5),
                      line_replacement_value=(180, 255), line_min_length=(30, 40), line_long_to_short_ratio=(5, 7),
                      line_replacement_probability=(0.4, 0.6), line_replacement_thickness=(1, 3)),)),
        Step(0.7, (_e("LowInkRandomLines", count_range=(8, 16), use_consistent_lines=False, noise_probability=0.2),
                   _e("LowInkPeriodicLines", count_range=(3, 6), period_range=(12, 32), use_consistent_lines=False,
                      noise_probability=0.2))),
        Step(0.3, (_e("Dithering", dither="ordered", order=(2, 3)),
                   _e("Faxify", scale_range=(1.0, 1.0), monochrome=1, monochrome_method="threshold_otsu",
                      halftone=0, invert=1, half_kernel_size=(1, 1), angle=(0, 0), sigma=(1, 2)))),
        _paper(1.0),
        Step(0.7, (_e("BadPhotoCopy", 0.5, noise_type=-1, noise_side="random", noise_iteration=(1, 3),
                      noise_size=(1, 3), noise_value=(96, 200), noise_sparsity=(0.3, 0.7),
                      noise_concentration=(0.2, 0.5), blur_noise=-1, wave_pattern=-1, edge_effect=0),
                   _e("DirtyDrum", 0.5, line_width_range=(1, 4), line_concentration=0.06, direction=-1,
                      noise_intensity=0.5, noise_value=(96, 210), ksize=(3, 3), sigmaX=0),
                   _e("DirtyRollers", 0.5, line_width_range=(4, 16), scanline_type=0))),
        Step(0.7, (_e("LightingGradient", 0.25, max_brightness=255, min_brightness=100, mode="gaussian",
                      transparency=0.5),
                   _e("ShadowCast", 0.25, shadow_side="random", shadow_vertices_range=(2, 8),
                      shadow_width_range=(0.3, 0.8), shadow_height_range=(0.3, 0.8), shadow_color=(0, 0, 0),
                      shadow_opacity_range=(0.25, 0.5), shadow_iterations_range=(1, 2),
                      shadow_blur_kernel_range=(31, 101)))),
        Step(0.3, (_e("ColorShift", color_shift_offset_x_range=(1, 3), color_shift_offset_y_range=(1, 3),
                      color_shift_iterations=(1, 1), color_shift_brightness_range=(0.9, 1.1),
                      color_shift_gaussian_kernel_range=(1, 3)),)),
        Step(0.9, (_e("SubtleNoise", subtle_range=12),)),
        Step(0.6, (_e("Jpeg", quality_range=(30, 60)),)),
    ),
    GEOMETRY: (
        Step(0.5, (_e("InkBleed", intensity_range=(0.1, 0.3), kernel_size=(3, 3), severity=(0.2, 0.4)),)),
        _paper(0.4),
        Step(1.0, (_e("Geometric", rotate_range=(-3, 3), randomize=0),
                   _e("Folding", fold_count=2, fold_noise=0.0, fold_angle_range=(-5, 5), gradient_width=(0.05, 0.1),
                      gradient_height=(0.002, 0.006), backdrop_color=(255, 255, 255)),
                   _e("PageBorder", page_border_width_height="random", page_border_color=(0, 0, 0),
                      page_border_background_color=(255, 255, 255), page_border_use_cache_images=0,
                      page_numbers=2, page_rotation_angle_range=(-2, 2), curve_frequency=(0, 1),
                      curve_height=(2, 4), curve_length_one_side=(50, 100), same_page_border=1))),
        Step(0.5, (_e("Folding", fold_count=1, fold_noise=0.0, fold_angle_range=(-3, 3), gradient_width=(0.05, 0.1),
                      gradient_height=(0.002, 0.005), backdrop_color=(255, 255, 255)),)),
        Step(0.8, (_e("SubtleNoise", subtle_range=6),)),
    ),
}


def family_effects(family: str) -> list[Effect]:
    """Every effect a family may use (for the tests: each must run offline)."""
    return [e for step in FAMILY_STEPS[_check(family)] for e in step.options]


def _check(family: str) -> str:
    if family not in FAMILY_STEPS:
        raise ValueError(f"family must be one of {FAMILIES}, not {family!r}")
    return family


# ---------------------------------------------------------------- randomness


@functools.cache
def _numba_seeder() -> Callable[[int], None]:
    """A jitted function that seeds numba's own ``random`` and ``np.random`` (which ours cannot reach)."""
    import numba

    @numba.njit
    def seed(value: int) -> None:  # pragma: no cover - compiled
        np.random.seed(value)
        random.seed(value)

    return seed


@contextlib.contextmanager
def seeded(entropy: Sequence[int]) -> Iterator[None]:
    """Seed Python's, NumPy's and numba's global generators from ``entropy``; give Python's and NumPy's back."""
    words = np.random.SeedSequence(list(entropy)).generate_state(8)
    py_state, np_state = random.getstate(), np.random.get_state()
    random.seed(int.from_bytes(words[:4].tobytes(), "little"))
    np.random.seed(words[4:])
    _numba_seeder()(int(words[0]))
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


# ---------------------------------------------------------------- applying effects


def apply_effect(effect: Effect, bgr: np.ndarray) -> np.ndarray:
    """``bgr`` after one effect (a new array, 3 channels, uint8); geometric effects may change its size."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        aug = effect.make()
        if effect.sheet is None:
            return _as_bgr(aug(bgr.copy(), force=True))
        height, width = bgr.shape[:2]
        small = (max(32, round(width * effect.sheet)), max(32, round(height * effect.sheet)))
        sheet = _as_bgr(aug(np.full((small[1], small[0], 3), 255, np.uint8), force=True))
    field = cv2.resize(sheet, (width, height), interpolation=cv2.INTER_LINEAR)
    return cv2.multiply(bgr, field, scale=1 / 255)


def _as_bgr(result: Any) -> np.ndarray:
    img = result[0] if isinstance(result, list | tuple) else result
    img = np.asarray(img)
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.shape[2] == 4:
        img = img[:, :, :3]
    return np.ascontiguousarray(img)


def degrade_page(rgb: np.ndarray, family: str, entropy: Sequence[int]) -> tuple[np.ndarray, list[str]]:
    """One page through a family's steps: the damaged RGB page (same size as ``rgb``) and the effects it got."""
    steps = FAMILY_STEPS[_check(family)]
    height, width = rgb.shape[:2]
    applied: list[str] = []
    # Imported before seeding: augraphy's import draws from the generators, so a process's first page would
    # otherwise differ from the same page made after another document (the pool's workers made both).
    _augraphy()
    with seeded(entropy):
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        for step in steps:
            if random.random() >= step.p:
                continue
            effect = step.options[random.randrange(len(step.options))]
            bgr = apply_effect(effect, bgr)
            applied.append(effect.name)
    if bgr.shape[:2] != (height, width):
        if family != GEOMETRY:
            raise RuntimeError(f"{applied} changed a {family} page from {width}×{height} to "
                               f"{bgr.shape[1]}×{bgr.shape[0]}")
        bgr = cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA)  # the scanner's page is A4 at 300 dpi
    return np.ascontiguousarray(bgr[:, :, ::-1]), applied


# ---------------------------------------------------------------- documents


def generate_document(seed: int, family: str, index: int, name: str) -> tuple[bytes, dict[str, Any]]:
    """One augraphy-damaged sample: the image-only PDF bytes and its truth (``samples.generate``'s format)."""
    code = FAMILY_CODES[_check(family)]
    rng = np.random.default_rng(np.random.SeedSequence([seed, code, index]))
    report, plan = draw_variants(make_report(rng, CONTENT_TIER[family]), seed, code, index)
    style, pages = layout_document(report, rng, plan)
    rasters = rasterize(draw_pdf(style, pages), DPI)
    if len(rasters) != len(pages):
        raise RuntimeError(f"pdftoppm gave {len(rasters)} pages for {len(pages)} laid out")
    jpegs: list[bytes] = []
    page_info: list[dict[str, Any]] = []
    low, high = JPEG_QUALITY[family]
    for page_no, img in enumerate(rasters, start=1):
        if img.shape[:2] != (PAGE_PX[1], PAGE_PX[0]):
            raise RuntimeError(f"page {page_no} rasterized to {img.shape[1]}×{img.shape[0]}, expected "
                               f"{PAGE_PX[0]}×{PAGE_PX[1]}")
        damaged, applied = degrade_page(img, family, (seed, code, index, page_no, STREAM))
        jpegs.append(encode_jpeg(damaged, int(rng.integers(low, high + 1)), DPI))
        page_info.append({"page": page_no, "width": PAGE_PX[0], "height": PAGE_PX[1], "rotation": 0, "skew": 0.0,
                          "stamps": 0, "augraphy": applied})
    return pack_pdf(jpegs), family_truth(seed, family, index, name, report, page_info, pages, plan)


def family_truth(seed: int, family: str, index: int, name: str, report: Report, page_info: list[dict[str, Any]],
                 pages: list[PageLayout], plan: Variants) -> dict[str, Any]:
    """``samples.generate``'s truth with ``tier`` the family and ``geometry_kept`` saying whether boxes hold.

    Boxes are the layout's own (no page moved before augraphy); in the geometry family augraphy moves
    the pixels under them, so they are written but not valid.
    """
    identity = np.eye(3)
    truth = _truth(seed, family, index, name, report, page_info, _tables(pages, lambda _n: identity), plan)
    truth["geometry_kept"] = family != GEOMETRY
    return truth


def generate_augmented(out: Path, count: int, seed: int, family: str) -> list[Path]:
    """Write ``count`` samples ``<family>-s<seed>-<index>.pdf`` + ``.truth.json`` into ``out``; the PDF paths.

    Document ``i`` depends only on (seed, family, i); files of the same names are overwritten.
    """
    _check(family)
    return write_samples(out, count, family, seed, lambda index, name: generate_document(seed, family, index, name))


def warm() -> int:
    """Run every effect once on a small blank page, so numba compiles augraphy's kernels into its cache (in the
    venv, next to augraphy): scripts/setup does it once per install, else the first run pays ~40 s CPU of
    compiling.  Returns how many effects ran."""
    page = np.full((400, 300, 3), 255, np.uint8)
    cv2.putText(page, "2021", (40, 200), cv2.FONT_HERSHEY_SIMPLEX, 2.0, (0, 0, 0), 4)
    effects = [e for family in FAMILIES for e in family_effects(family)]
    for n, effect in enumerate(effects):
        with seeded((n,)):
            apply_effect(effect, page)
    return len(effects)


def main(argv: list[str] | None = None) -> int:
    """``python -m samples.augment --out DIR --count N --seed S --family F``: one line per document written."""
    if argv is None:
        argv = sys.argv[1:]
    if argv == ["--warm"]:
        start = time.perf_counter()
        print(f"{warm()} augraphy effects compiled and run in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        return 0
    parser = argparse.ArgumentParser(prog="python -m samples.augment", description=__doc__.split("\n\n")[0],
                                     epilog="--warm alone: compile augraphy's numba kernels into their cache")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--count", type=int, default=1, help="number of documents")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--family", choices=FAMILIES, default=MEDIUM, help="which augraphy family")
    args = parser.parse_args(argv)
    return print_written(lambda: generate_augmented(args.out, args.count, args.seed, args.family))


if __name__ == "__main__":
    raise SystemExit(main())
