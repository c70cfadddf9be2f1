"""Orientation and skew: quarter turns (text direction + Tesseract OSD) and small angles."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw
from synth import draw, font, rotate, simple_table

from ocr.config import Config
from ocr.deskew import estimate_skew, half_turn_by_reading, orient, rotate_quarter, to_original
from ocr.grid import binarize, detect_tables
from ocr.rasterize import ink
from ocr.recognize import engine_for

PROSE = "按照国务院办公厅要求统一名称、统一格式，加强规范，聚焦法定主动公开内容，提升规范化水平。"


@pytest.fixture(scope="module")
def page():
    t = simple_table(origin=(150, 1000))
    im = Image.fromarray(draw([t], size=(1700, 1500)))
    d = ImageDraw.Draw(im)
    for i in range(10):
        d.text((150, 120 + 80 * i), PROSE[: 30 - (i % 3)], fill="black", font=font(40))
    return ink(np.asarray(im).copy()), t


@pytest.mark.parametrize("turn", [0, 90, 180, 270])
def test_quarter_turned_pages_come_back_upright(page, turn):
    gray, table = page
    scanned = rotate_quarter(gray, turn)  # the sheet went through the scanner turned clockwise by `turn`
    upright, o = orient(scanned, engine_for(Config(workers=1)).osd)
    assert o.rotation == (360 - turn) % 360
    assert upright.shape == gray.shape
    grids, _ = detect_tables(binarize(upright, 1.0), 1.0)
    assert len(grids) == 1 and (grids[0].n_rows, grids[0].n_cols) == (4, 4)
    # a cell's box maps back onto the turned page where that cell really is
    cell = next(c for c in grids[0].cells if (c.row, c.col) == (2, 1))
    x0, y0, x1, y1 = next(c for c in table.cells if (c.row, c.col) == (2, 1)).bbox
    marker = np.zeros_like(gray)
    marker[(y0 + y1) // 2, (x0 + x1) // 2] = 255
    my, mx = np.argwhere(rotate_quarter(marker, turn))[0]
    back = to_original(cell.corners, o)
    assert back[:, 0].min() < mx < back[:, 0].max() and back[:, 1].min() < my < back[:, 1].max()


@pytest.mark.parametrize("degrees", [-5.0, -2.5, 0.4, 1.7, 4.8])
def test_skew_from_rules(degrees):
    assert abs(estimate_skew(ink(rotate(draw([simple_table(origin=(300, 400))]), degrees))) - degrees) < 0.1


def test_skew_from_text_rows_alone():
    im = Image.new("L", (1700, 1400), 255)
    d = ImageDraw.Draw(im)
    for i in range(12):
        d.text((120, 100 + 90 * i), PROSE, fill=0, font=font(40))
    img = np.asarray(im).copy()
    assert abs(estimate_skew(rotate(np.dstack([img] * 3), -1.3).max(axis=2)) + 1.3) < 0.2


def _rotating_profile_skew(binary: np.ndarray) -> float:
    """The direct form of `_profile_skew`: rotate the page for every angle tried."""
    import cv2

    center = (binary.shape[1] / 2.0, binary.shape[0] / 2.0)

    def score(angle: float) -> float:
        m = cv2.getRotationMatrix2D(center, angle, 1.0)
        rot = cv2.warpAffine(binary, m, (binary.shape[1], binary.shape[0]), flags=cv2.INTER_NEAREST)
        return float(np.sum(np.diff(rot.sum(axis=1, dtype=np.float64)) ** 2))

    best = max(np.arange(-5.5, 5.51, 0.5), key=score)
    return float(max(np.arange(best - 0.5, best + 0.51, 0.05), key=score))


@pytest.mark.parametrize("degrees", [-4.63, -1.3, 0.18, 2.03, 4.99])
def test_the_sheared_text_row_profile_finds_the_angle_rotating_finds(degrees):
    from ocr.deskew import _profile_skew, _small_binary

    im = Image.new("L", (1700, 2200), 255)
    d = ImageDraw.Draw(im)
    for i in range(20):
        d.text((120, 100 + 100 * i), PROSE[: 30 - (i % 4)], fill=0, font=font(40))
    binary, _ = _small_binary(rotate(np.dstack([np.asarray(im)] * 3), degrees).max(axis=2))
    found = _profile_skew(binary)
    # over 28 angles from -5 to 5 deg both forms erred by at most 0.1 deg, and differed by at most 0.15
    assert abs(found + degrees) <= 0.101
    assert abs(found - _rotating_profile_skew(binary)) <= 0.151


@pytest.mark.parametrize("shape", [(40, 5), (40, 16), (1, 300), (300, 60)])
def test_an_image_too_small_to_measure_has_no_skew(shape):
    from ocr.deskew import _profile_skew

    binary = np.zeros(shape, np.uint8)
    binary[::4] = 255  # straight rows, enough ink to look at
    assert _profile_skew(binary) == 0.0


class _CountingOsd:
    """The real engine's OSD, counting its calls."""

    def __init__(self) -> None:
        self.engine = engine_for(Config(workers=1))
        self.osd = self.engine.osd
        self.calls = 0

    def __call__(self, gray: np.ndarray, scale: float = 1.0) -> tuple[int, float]:
        self.calls += 1
        return self.osd(gray, scale)


@pytest.mark.parametrize("turn", [180, 270])
def test_page_pipeline_turns_a_table_page_upright_and_reads_it(page, turn, monkeypatch):
    from ocr import pipeline
    from ocr.model import PageImage

    gray, _ = page
    counting = _CountingOsd()
    monkeypatch.setattr(counting.engine, "osd", counting)
    monkeypatch.setattr(pipeline, "engine_for", lambda cfg: counting.engine)
    scanned = rotate_quarter(gray, turn)
    res = pipeline.analyse_page(PageImage(1, np.dstack([scanned] * 3), 300), Config(workers=1))
    # the label cells, read both ways up, settle the half turn: OSD (3x the time) is not asked
    assert res.rotation == (360 - turn) % 360 and counting.calls == 0
    cells = {(c.row, c.col): c.text for c in res.tables[0].cells}
    assert cells[(2, 1)] == "12" and cells[(1, 1)] == "自然人"


@pytest.mark.parametrize("turn", [0, 180])
@pytest.mark.parametrize("prose", [True, False])
def test_a_table_of_figures_is_turned_by_its_prose_lines_or_else_by_osd(turn, prose, monkeypatch):
    from ocr import pipeline
    from ocr.model import PageImage

    t = simple_table(origin=(150, 1000))
    for c in t.cells:
        c.text = "" if c.row < 2 else str(7 * c.row + c.col)
    im = Image.fromarray(draw([t], size=(1700, 1500)))
    d = ImageDraw.Draw(im)
    for i in range(10 if prose else 0):
        d.text((150, 120 + 80 * i), PROSE[: 30 - (i % 3)], fill="black", font=font(40))
    counting = _CountingOsd()
    monkeypatch.setattr(counting.engine, "osd", counting)
    monkeypatch.setattr(pipeline, "engine_for", lambda cfg: counting.engine)
    scanned = rotate_quarter(ink(np.asarray(im).copy()), turn)
    res = pipeline.analyse_page(PageImage(1, np.dstack([scanned] * 3), 300), Config(workers=1))
    if prose:  # no label cell to read, but lines of prose: they settle it
        assert res.rotation == (360 - turn) % 360 and counting.calls == 0
    else:  # figures alone read much the same either way up: OSD is asked
        assert counting.calls == 1


def _label_crops(texts: list[str]) -> list[np.ndarray]:
    crops = []
    for text in texts:
        im = Image.new("L", (60 + 44 * len(text), 70), 255)
        ImageDraw.Draw(im).text((12, 12), text, fill=0, font=font(40))
        crops.append(np.asarray(im).copy())
    return crops


def test_half_turn_by_reading_label_cells():
    score = engine_for(Config(workers=1)).label_score
    labels = _label_crops(["本年新收政府信息公开申请数量", "上年结转政府信息公开申请数量", "行政规范性文件"])
    assert half_turn_by_reading(labels, score) == 0
    assert half_turn_by_reading([rotate_quarter(c, 180) for c in labels], score) == 180
    # one crop, or crops too short to judge by, say nothing: the caller asks OSD
    assert half_turn_by_reading(labels[:1], score) is None
    assert half_turn_by_reading(_label_crops(["总", "计"]), score) is None


def test_degraded_upright_crops_are_never_turned_on_a_slim_margin():
    """Noise can make an upright crop read a little better upside down; it never reads well that way."""
    score = engine_for(Config(workers=1)).label_score
    rng = np.random.default_rng(3)
    labels = _label_crops(["本年新收政府信息公开申请数量", "上年结转政府信息公开申请数量", "行政规范性文件"])
    noisy = [np.where(rng.random(c.shape) < 0.12, 0, c).astype(np.uint8) for c in labels]
    assert half_turn_by_reading(noisy, score) in (0, None)
    # a scorer that prefers upside down, but weakly, is no reason to turn the page
    weak = {True: 0.05, False: 0.4}
    # (windows are views of the crops, turned copies own their pixels)
    assert half_turn_by_reading(labels, lambda c: weak[c.base is not None]) is None


def test_a_page_without_tables_skips_the_half_turn_check(monkeypatch):
    from ocr import pipeline
    from ocr.model import PageImage

    im = Image.new("RGB", (1700, 1400), "white")
    d = ImageDraw.Draw(im)
    for i in range(12):
        d.text((120, 100 + 90 * i), PROSE, fill="black", font=font(40))
    counting = _CountingOsd()
    monkeypatch.setattr(counting.engine, "osd", counting)
    scores = []
    label_score = counting.engine.label_score
    monkeypatch.setattr(counting.engine, "label_score", lambda crop: scores.append(1) or label_score(crop))
    monkeypatch.setattr(pipeline, "engine_for", lambda cfg: counting.engine)
    res = pipeline.analyse_page(PageImage(2, np.asarray(im).copy(), 300), Config(workers=1))
    assert res.tables == [] and counting.calls == 0 and not scores
    # a title to read: the prose lines, read as they are, settle which way up the page is
    res = pipeline.analyse_page(PageImage(1, np.asarray(im).copy(), 300), Config(workers=1), None, (2, 0))
    assert scores and counting.calls == 0 and len(res.lines) == 2 and res.rotation == 0


def test_one_clear_crop_settles_the_half_turn_and_an_unclear_one_does_not():
    score = engine_for(Config(workers=1)).label_score
    labels = _label_crops(["本年新收政府信息公开申请数量", "上年结转政府信息公开申请数量", "行政规范性文件"])
    calls: list[float] = []

    def counted(crop: np.ndarray) -> float:
        calls.append(score(crop))
        return calls[-1]

    assert half_turn_by_reading(labels, counted) == 0 and len(calls) == 2
    calls.clear()
    assert half_turn_by_reading([rotate_quarter(c, 180) for c in labels], counted) == 180 and len(calls) == 2
    # a first crop read 0.7 / 0.1 is not sure enough alone: the second is read, and settles it
    scores = iter([0.7, 0.1, 0.9, 0.2])
    assert half_turn_by_reading(labels, lambda c: next(scores)) == 0
    scores = iter([0.7, 0.1])
    with pytest.raises(StopIteration):  # it did ask for a second crop
        half_turn_by_reading(labels, lambda c: next(scores))


@pytest.mark.parametrize("degrees", [-2.0, 3.0])
def test_skew_is_the_prints_not_the_drum_streaks(degrees):
    """A photocopy's streaks cross the sheet level while the print under them is tilted: the rules, not the
    streaks, give the angle (the streaks used to pull it to 0)."""
    from synth import photocopied, wide_table

    page = rotate(draw([wide_table(rows=8, cols=5)], size=(1500, 800)), degrees)
    assert abs(estimate_skew(photocopied(page, seed=3, streaks=(20, 4), dark=4)) - degrees) < 0.1
