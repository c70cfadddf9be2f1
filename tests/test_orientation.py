"""The quarter-turn vote under photocopy damage: drum streaks, speckle, grey paper (issue 13 §2)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw
from synth import SynthCell, SynthTable, draw, font, photocopied, wide_table

from ocr.config import Config
from ocr.deskew import _small_binary, orient, rotate_quarter, to_original
from ocr.grid import binarize, detect_tables
from ocr.model import PageImage
from ocr.orientation import cheap_signals, quarter_turn
from ocr.recognize import engine_for

PROSE = "按照国务院办公厅要求统一名称、统一格式，加强规范，聚焦法定主动公开内容，提升规范化水平。"


class _CountingOsd:
    """The real engine's OSD, counting its calls."""

    def __init__(self) -> None:
        self.osd = engine_for(Config(workers=1)).osd
        self.calls = 0

    def __call__(self, gray: np.ndarray, scale: float = 1.0) -> tuple[int, float]:
        self.calls += 1
        return self.osd(gray, scale)


def _turned_box(box: tuple[int, int, int, int], turn: int, size: tuple[int, int]) -> np.ndarray:
    """Where an upright page's box lands on the scan of the sheet turned clockwise by `turn`."""
    x0, y0, x1, y1 = box
    w, h = size
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)
    if turn == 90:
        corners = np.column_stack([h - corners[:, 1], corners[:, 0]])
    elif turn == 270:
        corners = np.column_stack([corners[:, 1], w - corners[:, 0]])
    return np.concatenate([corners.min(axis=0), corners.max(axis=0)])


def _covered(found: np.ndarray, want: np.ndarray) -> float:
    """The share of box `want` (x0, y0, x1, y1) inside box `found`."""
    w = min(found[2], want[2]) - max(found[0], want[0])
    h = min(found[3], want[3]) - max(found[1], want[1])
    return max(0.0, w) * max(0.0, h) / float((want[2] - want[0]) * (want[3] - want[1]))


@pytest.fixture(scope="module")
def landscape():
    """A table shaped like 三 on a landscape sheet, as printed: upright RGB page and its table."""
    table = wide_table(rows=8, cols=5)
    return draw([table], size=(1500, 700)), table


@pytest.mark.parametrize("turn", [90, 270])
def test_a_turned_photocopied_table_is_turned_back_found_and_mapped_onto_the_scan(landscape, turn):
    """Twenty streaks across the scan (four as dark as the rules), four along it: a projection of all ink
    called this page upright and lost its table."""
    from ocr import pipeline

    page, table = landscape
    scan = photocopied(rotate_quarter(page, turn), seed=turn, streaks=(20, 4), dark=4)
    # the text and the grid agree that it is turned a quarter, surely enough not to ask OSD
    counting = _CountingOsd()
    binary, f = _small_binary(scan)
    assert quarter_turn(binary, 300 * f, scan, counting).rotation == 90 and counting.calls == 0
    res = pipeline.analyse_page(PageImage(1, np.dstack([scan] * 3), 300), Config(workers=1))
    assert res.rotation == (360 - turn) % 360
    want = _turned_box((table.origin[0], table.origin[1], table.origin[0] + sum(table.col_widths),
                        table.origin[1] + sum(table.row_heights)), turn, (page.shape[1], page.shape[0]))
    # streaks as dark as rules may lengthen the table's grid (telling them from rules is the grid's part):
    # the table is found where it was printed
    assert max(_covered(np.array(t.bbox, np.float64), want) for t in res.tables) >= 0.95
    # a label cell's box on the scan is where that cell was printed (streaks may cut a cell, never move it)
    label = next(c for c in table.cells if (c.row, c.col) == (3, 0))
    lx0, ly0, lx1, ly1 = _turned_box(label.bbox, turn, (page.shape[1], page.shape[0]))
    cx, cy = (lx0 + lx1) / 2, (ly0 + ly1) / 2
    hits = [c.bbox for t in res.tables for c in t.cells
            if c.bbox[0] <= cx <= c.bbox[2] and c.bbox[1] <= cy <= c.bbox[3]]
    assert len(hits) == 1
    x0, y0, x1, y1 = hits[0]
    assert x0 >= lx0 - 8 and y0 >= ly0 - 8 and x1 <= lx1 + 8 and y1 <= ly1 + 8


def _four_like() -> SynthTable:
    """A table shaped like 四: fifteen narrow columns under three group headers, two rows of figures."""
    heads = ["维持", "纠正", "其他", "尚未", "总计"]
    cells = [SynthCell(0, 5 * g, 1, 5, name) for g, name in enumerate(["行政复议", "未经复议直接起诉", "复议后起诉"])]
    cells += [SynthCell(1, k, 1, 1, heads[k % 5]) for k in range(15)]
    cells += [SynthCell(r, k, 1, 1, str((r * 7 + k) % 19)) for r in (2, 3) for k in range(15)]
    return SynthTable([100] * 15, [70] * 4, cells, origin=(60, 300))


@pytest.mark.parametrize("seed", [0, 1])
def test_an_upright_table_with_streaks_along_its_columns_stays_upright(seed):
    """Twenty-four streaks down the sheet beside fifteen column rules: a projection of all ink called it
    turned."""
    table = _four_like()
    scan = photocopied(draw([table], size=(1620, 900)), seed=seed, streaks=(0, 24), dark=4)
    upright, o = orient(scan)
    assert o.rotation == 0
    grids, _ = detect_tables(binarize(upright, 1.0), 1.0, gray=upright)
    x0, y0 = table.origin
    want = np.array([x0, y0, x0 + sum(table.col_widths), y0 + sum(table.row_heights)], np.float64)
    boxes = [to_original(np.array([[g.bbox[0], g.bbox[1]], [g.bbox[2], g.bbox[3]]], np.float64), o).ravel()
             for g in grids]
    assert any(np.abs(b - want).max() <= 8 for b in boxes), (boxes, want)


def test_streaks_and_speckle_alone_say_nothing_so_osd_is_asked():
    blank = photocopied(np.full((900, 700, 3), 255, np.uint8), seed=5, streaks=(12, 6), dark=4)
    binary, f = _small_binary(blank)
    text, grid = cheap_signals(binary, 300 * f)
    assert text.weight == 0 and grid.weight == 0
    counting = _CountingOsd()
    vote = quarter_turn(binary, 300 * f, blank, counting)
    assert counting.calls == 1 and vote.osd is not None and vote.rotation == 0


@pytest.mark.parametrize("turn", [0, 90])
def test_text_and_grid_disagreeing_ask_osd_whose_turn_is_taken(turn):
    """Prose in rows above a ruled form of tall empty boxes: the text says upright, the grid says turned;
    OSD settles it (and, agreeing with the vote, gives the exact quarter)."""
    im = Image.new("RGB", (1500, 1500), "white")
    d = ImageDraw.Draw(im)
    for i in range(8):
        d.text((100, 100 + 80 * i), PROSE[: 28 - (i % 3)], fill="black", font=font(40))
    form = SynthTable([110] * 10, [260, 260], [SynthCell(r, k, 1, 1, "") for r in range(2) for k in range(10)],
                      origin=(150, 850))
    page = np.asarray(im).copy()
    page = np.minimum(page, draw([form], size=(1500, 1500)))
    scan = photocopied(rotate_quarter(page, turn), seed=turn, streaks=(3, 3), dark=1)
    binary, f = _small_binary(scan)
    text, grid = cheap_signals(binary, 300 * f)
    assert text.lean * grid.lean < 0  # they disagree
    counting = _CountingOsd()
    vote = quarter_turn(binary, 300 * f, scan, counting)
    assert counting.calls == 1 and vote.rotation == (360 - turn) % 360
