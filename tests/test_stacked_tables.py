"""Tables printed one close under another (issue 13: 二 as four small tables ~36 px apart) are found apart,
while a table's own rows that look like such a gap (empty, open at the sides, faint rules) keep it whole."""

from __future__ import annotations

import numpy as np
import pytest
from synth import SynthCell, SynthTable, draw, fade_rule, scanned

from ocr.deskew import orient
from ocr.grid import binarize, detect_tables
from ocr.rasterize import ink


def _detect(rgb: np.ndarray, scale: float = 1.0) -> list:
    upright, _ = orient(ink(rgb))
    grids, _ = detect_tables(binarize(upright, scale), scale, gray=upright)
    return grids


def _boxes(grid) -> list[tuple[int, int, int, int]]:
    """Each cell's box as (x0, y0, x1, y1), whatever its row and column numbers."""
    out = []
    for c in grid.cells:
        xs, ys = c.corners[:, 0], c.corners[:, 1]
        out.append((int(round(xs.min())), int(round(ys.min())), int(round(xs.max())), int(round(ys.max()))))
    return sorted(out)


def _truth_boxes(table: SynthTable) -> list[tuple[int, int, int, int]]:
    """Every cell of `table` as drawn (unnamed slots are single cells), after `draw` filled the boxes."""
    named = {(r, k) for c in table.cells for r in range(c.row, c.row + c.row_span)
             for k in range(c.col, c.col + c.col_span)}
    ox, oy = table.origin
    xs = np.concatenate([[0], np.cumsum(table.col_widths)]) + ox
    ys = np.concatenate([[0], np.cumsum(table.row_heights)]) + oy
    boxes = [c.bbox for c in table.cells]
    boxes += [(int(xs[k]), int(ys[r]), int(xs[k + 1]), int(ys[r + 1])) for r in range(table.n_rows)
              for k in range(table.n_cols) if (r, k) not in named]
    return sorted(boxes)


def _same_cells(grid, table: SynthTable, slack: int = 6) -> bool:
    got, want = _boxes(grid), _truth_boxes(table)
    return len(got) == len(want) and all(max(abs(a - b) for a, b in zip(g, w, strict=True)) <= slack
                                         for g, w in zip(got, want, strict=True))


def _block(top: int, rows: list[list[str]], widths: list[int], spans: dict[tuple[int, int], int] | None = None,
           left: int = 100, row_h: int = 80, open_sides: bool = False) -> SynthTable:
    """A small table at `top`: rows of texts (a cell given a span in `spans` covers the next columns)."""
    spans = spans or {}
    cells = []
    for r, texts in enumerate(rows):
        k = 0
        for text in texts:
            span = spans.get((r, k), 1)
            cells.append(SynthCell(r, k, 1, span, text))
            k += span
    return SynthTable(widths, [row_h] * len(rows), cells, origin=(left, top), open_sides=open_sides)


_WIDTHS = [420, 260, 260, 260]


def test_two_tables_stacked_close_are_found_apart():
    a = _block(100, [["信息内容", "本年制发件数", "本年废止件数", "现行有效件数"], ["规章", "3", "0", "12"],
                     ["规范性文件", "5", "1", "40"]], _WIDTHS)
    b = _block(100 + 3 * 80 + 36, [["信息内容", "本年处理决定数量"], ["行政许可", "120"],
                                   ["其他对外管理服务事项", "8"]], _WIDTHS, spans={(r, 1): 3 for r in range(3)})
    grids = _detect(draw([a, b], size=(1500, 900)))
    assert len(grids) == 2
    assert grids[0].n_rows == 3 and grids[1].n_rows == 3
    assert _same_cells(grids[0], a) and _same_cells(grids[1], b)


@pytest.mark.parametrize("open_sides", [False, True])
def test_a_table_with_an_empty_row_stays_one(open_sides):
    # The middle row holds no text at all; only its column rules tell it from the paper between tables.
    rows = [["信息内容", "本年制发件数", "本年废止件数", "现行有效件数"], ["规章", "3", "0", "12"],
            ["", "", "", ""], ["规范性文件", "5", "1", "40"]]
    t = _block(100, rows, _WIDTHS, row_h=60, open_sides=open_sides)
    grids = _detect(draw([t], size=(1500, 600)))
    assert len(grids) == 1
    assert (grids[0].n_rows, grids[0].n_cols) == (4, 4)
    assert _same_cells(grids[0], t)


def test_a_table_with_an_empty_row_whose_column_rules_are_faint_stays_one():
    # Open at the sides, so the empty row's column rules are all that crosses it, and they are faded to a
    # dozen grey levels under the paper, with scanner noise: binarisation drops them, the grey page still
    # shows them. The row is short enough for the rules above and below it to be healed across it into
    # one tangle, as the paper between two stacked tables is.
    rows = [["信息内容", "本年制发件数", "本年废止件数", "现行有效件数"], ["规章", "3", "0", "12"],
            ["", "", "", ""], ["规范性文件", "5", "1", "40"], ["其他文件", "0", "0", "2"]]
    t = _block(100, rows, _WIDTHS, row_h=60, open_sides=True)
    t.row_heights[2] = 40
    page = draw([t], size=(1500, 600))
    y0, y1 = 100 + 2 * 60 + 3, 100 + 2 * 60 + 40 - 2
    for x in np.cumsum(_WIDTHS)[:-1] + 100:
        page = fade_rule(page, (int(x) - 3, y0, int(x) + 3, y1), 243)
    grids = _detect(scanned(page))
    assert len(grids) == 1
    assert (grids[0].n_rows, grids[0].n_cols) == (5, 4)
    assert _same_cells(grids[0], t)


def test_a_row_of_text_open_at_the_sides_and_crossed_by_no_rule_stays_one():
    # A full-width note row inside a table without side borders, short enough for the column rules above
    # and below it to be healed across it into one tangle: no rule crosses it (its short text stands
    # clear of where the column rules run), only the text tells it from the paper between two tables.
    rows = [["信息内容", "本年制发件数", "本年废止件数", "现行有效件数"], ["规章", "3", "0", "12"],
            ["注：单位件"], ["规范性文件", "5", "1", "40"], ["其他文件", "0", "0", "2"]]
    t = _block(100, rows, _WIDTHS, spans={(2, 0): 4}, row_h=60, open_sides=True)
    t.row_heights[2] = 40
    grids = _detect(draw([t], size=(1500, 600), text_px=28))
    assert len(grids) == 1
    assert grids[0].n_rows == 5
    # (the column rules healed across the short note row still cut it into four cells: not this test's)
    assert [round(h.middle()) for h in grids[0].h_rules] == pytest.approx([100, 160, 220, 260, 320, 380], abs=4)


def _active_stack(gap: int) -> list[SynthTable]:
    """二 as real reports print it: four small tables, one per 第二十条 block, with 4, 2, 2 and 2 columns
    over the same column positions (a block's later columns merged), `gap` px of paper between them."""
    header = ["信息内容", "本年制发件数", "本年废止件数", "现行有效件数"]
    blocks = [
        ([header, ["规章", "3", "0", "12"], ["规范性文件", "5", "1", "40"]], {}),
        ([["信息内容", "本年处理决定数量"], ["行政许可", "120"], ["其他对外管理服务事项", "8"]],
         {(r, 1): 3 for r in range(3)}),
        ([["信息内容", "本年处理决定数量"], ["行政处罚", "31"], ["行政强制", "2"], ["", ""]],
         {(r, 1): 3 for r in range(4)}),
        ([["信息内容", "本年收费金额（单位：万元）"], ["行政事业性收费", "0"]], {(r, 1): 3 for r in range(2)}),
    ]
    tables, top = [], 80
    for rows, spans in blocks:
        tables.append(_block(top, rows, _WIDTHS, spans=spans, row_h=70))
        top += 70 * len(rows) + gap
    return tables


@pytest.mark.parametrize("gap", [24, 36, 60])
def test_a_stack_of_four_like_table_two_is_four_tables(gap):
    stack = _active_stack(gap)
    grids = _detect(draw(stack, size=(1500, 1300)))
    assert len(grids) == 4
    for grid, t in zip(grids, stack, strict=True):
        assert grid.n_rows == t.n_rows
        assert _same_cells(grid, t)


def test_stacked_tables_with_their_own_columns_are_found_apart():
    # Below a 4-column table, a 3-column one of another width whose rules stand elsewhere, then a 2-column one.
    a = _block(100, [["项目", "自然人", "法人", "总计"], ["本年新收", "12", "3", "15"]], [360, 220, 220, 220])
    b = _block(100 + 2 * 80 + 36, [["行政复议", "维持", "纠正"], ["结果", "7", "0"], ["其他", "1", "2"]],
               [300, 300, 300], left=160)
    c = _block(100 + 5 * 80 + 72, [["收费", "金额"], ["行政事业性收费", "0"]], [500, 400])
    grids = _detect(draw([a, b, c], size=(1500, 1000)))
    assert len(grids) == 3
    for grid, t in zip(grids, [a, b, c], strict=True):
        assert grid.n_rows == t.n_rows
        assert _same_cells(grid, t)


def test_stacked_tables_at_200_dpi():
    stack = _active_stack(36)
    page = draw(stack, size=(1500, 1300))
    import cv2

    small = cv2.resize(page, None, fx=2 / 3, fy=2 / 3, interpolation=cv2.INTER_AREA)
    grids = _detect(small, scale=2 / 3)
    assert len(grids) == 4
    assert [g.n_rows for g in grids] == [t.n_rows for t in stack]


def _striped_and_speckled(page: np.ndarray, stripe_at: int, seed: int = 0) -> np.ndarray:
    """`page` on grey paper with faint upright stripes every 44 px (one at `stripe_at`), as augraphy's
    dirty drums draw them, and black specks over ~2% of it."""
    rng = np.random.default_rng(seed)
    out = np.minimum(page, 228).astype(np.int16)
    for x in range(stripe_at % 44, out.shape[1] - 3, 44):
        out[:, x:x + 3] -= 9
    h, w = out.shape[:2]
    for y, x in zip(rng.integers(0, h - 3, h * w // 200), rng.integers(0, w - 3, h * w // 200), strict=True):
        out[y:y + 2, x:x + 3] = 40
    return np.clip(out, 0, 255).astype(np.uint8)


def test_a_stack_on_striped_speckled_paper_is_four_tables():
    # augraphy-heavy: the paper between two tables holds speckle over more than 1% of it, and one stripe
    # of the paper runs on from a column rule of the table above, faint, as a faded rule would.
    stack = _active_stack(36)
    page = _striped_and_speckled(draw(stack, size=(1500, 1300)), stripe_at=100 + sum(_WIDTHS[:3]))
    grids = _detect(page)
    assert len(grids) == 4
    assert [g.n_rows for g in grids] == [t.n_rows for t in stack]


def test_a_rule_of_the_table_above_blurred_into_the_gap_does_not_join_the_next():
    # augraphy-medium: a column rule of the upper table runs on faintly into the paper below it, where the
    # next table has no rule; a faint line, as a faded rule is, but no rule goes on below it.
    stack = _active_stack(36)
    page = draw(stack, size=(1500, 1300))
    x, top = 100 + sum(_WIDTHS[:3]), 80 + 70 * stack[0].n_rows
    page[top + 2:top + 36, x - 1:x + 2] = 243
    grids = _detect(scanned(page))
    assert len(grids) == 4
    assert [g.n_rows for g in grids] == [t.n_rows for t in stack]
