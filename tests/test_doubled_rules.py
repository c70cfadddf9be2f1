"""Doubled and thick rules are one rule: no sliver column or row, the drawn column count (issue 13 §2).

A rule printed (or photocopied) twice a few pixels apart, or a thick rule whose light core binarises
away, left two rules a 3-12 px slot apart: a sliver column, and every later column one to the right.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from synth import SynthCell, SynthTable, draw, scanned
from test_grid import _detect, _structure, _truth


def _table() -> SynthTable:
    """Shaped like 三: a label column, a header over the seven value columns, a 总计 column, figures."""
    cells = [SynthCell(0, 0, 2, 1, "项目"), SynthCell(0, 1, 1, 7, "申请人情况"), SynthCell(0, 8, 2, 1, "总计")]
    cells += [SynthCell(1, k, 1, 1, "法人") for k in range(1, 8)]
    cells += [SynthCell(r, 0, 1, 1, "本年新收") for r in range(2, 6)]
    cells += [SynthCell(r, k, 1, 1, str((r * 3 + k) % 17)) for r in range(2, 6) for k in range(1, 9)]
    return SynthTable([300] + [130] * 8, [80, 80, 70, 70, 70, 70], cells, origin=(150, 400))


def _edges(t: SynthTable) -> tuple[np.ndarray, np.ndarray]:
    ox, oy = t.origin
    return np.concatenate([[0], np.cumsum(t.col_widths)]) + ox, np.concatenate([[0], np.cumsum(t.row_heights)]) + oy


def _double(img: np.ndarray, t: SynthTable, k: int, gap: int, horizontal: bool) -> np.ndarray:
    """Print rule `k` (a column rule, or a row rule) a second time, `gap` px of paper beside the first."""
    out = img.copy()
    xs, ys = _edges(t)
    r, d = t.rule, gap + t.rule
    if horizontal:
        y = ys[k] - r // 2
        src = img[y:y + r, xs[0] - 2:xs[-1] + 3]
        out[y + d:y + d + r, xs[0] - 2:xs[-1] + 3] = np.minimum(out[y + d:y + d + r, xs[0] - 2:xs[-1] + 3], src)
    else:
        x = xs[k] - r // 2
        src = img[ys[0] - 2:ys[-1] + 3, x:x + r]
        out[ys[0] - 2:ys[-1] + 3, x + d:x + d + r] = np.minimum(out[ys[0] - 2:ys[-1] + 3, x + d:x + d + r], src)
    return out


def _thick(img: np.ndarray, t: SynthTable, k: int, width: int, core: int, horizontal: bool) -> np.ndarray:
    """Redraw a whole-length rule `width` px thick: dark 3 px edges around a light `core`."""
    out = img.copy()
    xs, ys = _edges(t)
    if horizontal:
        y0 = ys[k] - width // 2
        band = out[y0:y0 + width, xs[0] - 1:xs[-1] + 2]
        band[:] = core
        band[:3] = band[-3:] = 30
    else:
        x0 = xs[k] - width // 2
        band = out[ys[0] - 1:ys[-1] + 2, x0:x0 + width]
        band[:] = core
        band[:, :3] = band[:, -3:] = 30
    return out


def _grid(rgb: np.ndarray, scale: float = 1.0):
    grids, _ = _detect(rgb, scale)
    assert len(grids) == 1
    return grids[0]


@pytest.fixture(scope="module")
def plain() -> tuple[SynthTable, np.ndarray, set[tuple[int, int, int, int]]]:
    t = _table()
    page = draw([t], size=(1800, 1100), text_px=36)
    grid = _grid(page)
    assert (grid.n_rows, grid.n_cols) == (6, 9) and _structure(grid) == _truth(t)
    return t, page, _truth(t)


@pytest.mark.parametrize("gap", [2, 5, 8, 10])
def test_a_rule_printed_twice_is_one_rule(plain, gap):
    t, page, want = plain
    # two column rules (one under the spanning header, one whole) and a row rule, each printed twice
    doubled = _double(_double(_double(page, t, 3, gap, False), t, 8, gap, False), t, 3, gap, True)
    grid = _grid(scanned(doubled))
    assert (grid.n_rows, grid.n_cols) == (6, 9)
    assert _structure(grid) == want


@pytest.mark.parametrize("width", [12, 16, 20])
def test_a_thick_rule_with_a_light_core_is_one_rule(plain, width):
    t, page, want = plain
    thick = _thick(_thick(page, t, 8, width, 200, False), t, 4, width, 200, True)
    grid = _grid(scanned(thick))
    assert (grid.n_rows, grid.n_cols) == (6, 9)
    assert _structure(grid) == want
    # the cells either side of the thick column rule end at its middle, give or take its half width
    x = _edges(t)[0][8]
    left = next(c for c in grid.cells if (c.row, c.col) == (3, 7))
    assert abs(float(left.corners[1, 0]) - x) <= width / 2


def test_doubled_rules_at_200_dpi(plain):
    """The same, scanned at 200 dpi: 8 px of paper between the copies at 300 dpi, 5 px here."""
    t, page, want = plain
    doubled = _double(_double(page, t, 3, 8, False), t, 5, 8, True)
    small = cv2.resize(scanned(doubled), None, fx=2 / 3, fy=2 / 3, interpolation=cv2.INTER_AREA)
    grid = _grid(small, scale=2 / 3)
    assert (grid.n_rows, grid.n_cols) == (6, 9)
    assert _structure(grid) == want


def test_a_narrow_column_that_holds_a_figure_stays():
    """Merging stops where text fits: a 34 px column of single digits between two wide ones is a column."""
    cells = [SynthCell(r, k, 1, 1, text) for r in range(3) for k, text in enumerate(["申请", str(r + 1), "总计"])]
    t = SynthTable([300, 34, 300], [80, 80, 80], cells, origin=(100, 100))
    grid = _grid(draw([t], size=(900, 500), text_px=28))
    assert (grid.n_rows, grid.n_cols) == (3, 3)
