"""Grey seals: a photocopied seal over the last columns is found by its ring and divided out of the page."""

from __future__ import annotations

import numpy as np
import pytest
from synth import SynthCell, SynthTable, add_stamp, draw, grey_seal

from ocr.cells import binarize_text, crop_cell
from ocr.config import Config
from ocr.grid import binarize, detect_tables
from ocr.rasterize import ink
from ocr.recognize import engine_for, read_cell
from ocr.seals import find_seals, remove_seals

VALUES = ["0", "12", "3", "507", "46", "8", "0", "91", "20", "0", "6", "133"]


def _figures() -> SynthTable:
    cells = [SynthCell(r, k, 1, 1, VALUES[r * 4 + k]) for r in range(3) for k in range(4)]
    return SynthTable([200] * 4, [90] * 3, cells, origin=(120, 120))


@pytest.fixture(scope="module")
def sealed() -> tuple[np.ndarray, dict[tuple[int, int], str]]:
    t = _figures()
    page = ink(grey_seal(draw([t], size=(1100, 560)), (640, 260), 470))  # 40 mm at 300 dpi
    return page, {(c.row, c.col): c.text for c in t.cells}


def _read(page: np.ndarray) -> dict[tuple[int, int], str]:
    binary = binarize(page, 1.0)
    grids, rules = detect_tables(binary, 1.0, gray=page)
    text = binarize_text(page, 1.0)
    eng = engine_for(Config(workers=1))
    return {(c.row, c.col): read_cell(crop_cell(text, rules, c, 1.0, binary, page), eng).text for c in grids[0].cells}


def test_grey_seal_is_found_where_it_was_pressed(sealed):
    page, _ = sealed
    seals = find_seals(page, 1.0)
    assert len(seals) == 1
    s = seals[0]
    assert abs(s.cx - 640) < 12 and abs(s.cy - 260) < 12 and 200 < s.radius < 240


def test_no_seal_on_plain_or_red_stamped_pages():
    page = draw([_figures()], size=(1100, 560))
    assert find_seals(ink(page), 1.0) == []
    assert find_seals(ink(add_stamp(page, (640, 260), 230)), 1.0) == []  # colour already took it
    assert remove_seals(ink(page), [], 1.0) is not None


def test_figures_under_a_grey_seal_read_right(sealed):
    page, truth = sealed
    before = _read(page)
    after = _read(remove_seals(page, find_seals(page, 1.0), 1.0))
    right_before = sum(before.get(k) == v for k, v in truth.items())
    right_after = sum(after.get(k) == v for k, v in truth.items())
    assert set(after) == set(truth)  # the seal's ring no longer breaks the grid (before it did: 14 cells)
    assert right_after >= right_before + 3


def test_black_print_under_the_seal_keeps_its_darkness(sealed):
    page, _ = sealed
    out = remove_seals(page, find_seals(page, 1.0), 1.0)
    clean = ink(draw([_figures()], size=(1100, 560)))
    strokes = clean < 80
    assert np.median(out[strokes]) < 110  # print stays dark
    assert np.median(out[(clean > 250) & (page < 200)]) > 220  # seal ink on paper is paper again
