"""Grid detection on small generated pages: spans, skew, broken rules, stamps, stacking, resolution."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from synth import (
    SynthCell,
    SynthTable,
    add_stamp,
    draw,
    fade_rule,
    font,
    random_rects,
    rotate,
    scanned,
    simple_table,
)

from ocr.deskew import orient, to_original
from ocr.grid import binarize, detect_tables
from ocr.rasterize import ink


def _structure(grid) -> set[tuple[int, int, int, int]]:
    return {(c.row, c.col, c.row_span, c.col_span) for c in grid.cells}


def _truth(table: SynthTable) -> set[tuple[int, int, int, int]]:
    covered = {(c.row, c.col, c.row_span, c.col_span) for c in table.cells}
    # slots the synth table leaves unnamed are single cells
    named = {(r, k) for c in table.cells for r in range(c.row, c.row + c.row_span)
             for k in range(c.col, c.col + c.col_span)}
    covered |= {(r, k, 1, 1) for r in range(table.n_rows) for k in range(table.n_cols) if (r, k) not in named}
    return covered


def _detect(rgb: np.ndarray, scale: float = 1.0):
    upright, orientation = orient(ink(rgb))
    grids, _ = detect_tables(binarize(upright, scale), scale, gray=upright)
    return grids, orientation


def test_merged_cells_are_one_cell_with_spans():
    t = simple_table()
    grids, _ = _detect(draw([t]))
    assert len(grids) == 1
    assert (grids[0].n_rows, grids[0].n_cols) == (4, 4)
    assert _structure(grids[0]) == _truth(t)


@pytest.mark.parametrize("degrees", [-4.5, -1.2, 0.7, 3.0])
def test_skewed_table_keeps_its_structure_and_boxes_map_back(degrees):
    t = simple_table(origin=(300, 300))
    page = rotate(draw([t]), degrees)
    grids, orientation = _detect(page)
    assert abs(orientation.skew - degrees) < 0.15
    assert len(grids) == 1 and _structure(grids[0]) == _truth(t)
    # the cell's corners, mapped back to the skewed page, land on the rotated truth corners
    h, w = page.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    cell = next(c for c in grids[0].cells if (c.row, c.col) == (2, 1))
    truth = next(c for c in t.cells if (c.row, c.col) == (2, 1)).bbox
    want = np.array([[truth[0], truth[1]], [truth[2], truth[1]], [truth[2], truth[3]], [truth[0], truth[3]]], float)
    want = np.hstack([want, np.ones((4, 1))]) @ m.T
    got = to_original(cell.corners, orientation)
    assert np.abs(got - want).max() < 6


def test_broken_and_faint_rules_are_bridged():
    t = simple_table()
    # gaps of 8..40 px cut into rules, and one rule drawn faint grey
    t.gaps = [(250, 278, 258, 282), (500, 368, 540, 372), (638, 200, 642, 225), (960, 457, 990, 463)]
    page = draw([t])
    page[188:193, 420:860] = np.maximum(page[188:193, 420:860], 170)  # faint rule under 申请人情况
    grids, _ = _detect(page)
    assert len(grids) == 1 and _structure(grids[0]) == _truth(t)


def test_faded_rule_is_found_by_its_faint_line():
    t = simple_table()
    page = draw([t])
    # the vertical rule between 自然人 and 法人 fades to 12 grey levels under the paper, with scanner noise
    page[189:282, 637:644] = np.maximum(page[189:282, 637:644], 243)
    rng = np.random.default_rng(5)
    noisy = np.clip(page.astype(np.int16) + rng.normal(0, 3, page.shape), 0, 255).astype(np.uint8)
    grids, _ = _detect(noisy)
    assert len(grids) == 1 and _structure(grids[0]) == _truth(t)


def test_text_across_a_merged_cell_does_not_split_it():
    # a wide header whose centred text has vertical strokes right where a column rule would run
    cells = [SynthCell(0, 0, 1, 4, "第二十条第（五）项"), SynthCell(1, 0, 1, 1, "信息内容"),
             SynthCell(1, 1, 1, 1, "1"), SynthCell(1, 2, 1, 1, "2"), SynthCell(1, 3, 1, 1, "3")]
    for shift in range(0, 60, 12):
        t = SynthTable([300 + shift, 200, 200, 200 - shift], [80, 80], cells, origin=(100, 100))
        grids, _ = _detect(draw([t]))
        assert _structure(grids[0]) == _truth(t), shift


@pytest.mark.parametrize(("open_top", "open_sides"), [(True, False), (False, True), (True, True)])
def test_open_outer_border(open_top, open_sides):
    t = simple_table(open_top=open_top, open_sides=open_sides)
    grids, _ = _detect(draw([t]))
    assert len(grids) == 1 and _structure(grids[0]) == _truth(t)
    x0, y0, x1, y1 = grids[0].bbox
    assert abs(x0 - 100) < 8 and abs(x1 - 1080) < 8 and abs(y0 - 100) < 8 and abs(y1 - 460) < 8


def test_red_stamp_over_rules_is_ignored():
    t = simple_table()
    grids, _ = _detect(add_stamp(draw([t]), (640, 280), 170))
    assert len(grids) == 1 and _structure(grids[0]) == _truth(t)


def test_stacked_small_tables_with_a_title_between():
    a = simple_table(origin=(100, 80))
    b = SynthTable([300, 200, 200], [80, 80], [SynthCell(0, 0, 1, 3, "第二十条第（五）项"),
                                             SynthCell(1, 0, 1, 1, "行政许可"), SynthCell(1, 1, 1, 1, "12"),
                                             SynthCell(1, 2, 1, 1, "3")],
                   origin=(100, 620))
    page = draw([a, b], size=(1400, 900))
    from PIL import Image, ImageDraw
    from synth import font
    im = Image.fromarray(page)
    ImageDraw.Draw(im).text((100, 530), "（二）行政许可情况", fill="black", font=font(40))
    grids, _ = _detect(np.asarray(im).copy())
    assert len(grids) == 2
    assert _structure(grids[0]) == _truth(a)
    assert _structure(grids[1]) == _truth(b)


def test_prose_page_has_no_table():
    from PIL import Image, ImageDraw
    from synth import font
    im = Image.new("RGB", (1600, 1400), "white")
    d = ImageDraw.Draw(im)
    for i in range(14):
        line = "第十一师坚持以习近平新时代中国特色社会主义思想为指导，全面贯彻落实党的十九大精神。"
        d.text((120, 100 + 80 * i), line, fill="black", font=font(38))
    d.line([(120, 1300), (1480, 1300)], fill="black", width=3)  # a lone rule under the text is no table
    grids, _ = _detect(np.asarray(im).copy())
    assert grids == []


def test_low_resolution_page():
    t = simple_table()
    page = draw([t])
    small = cv2.resize(page, None, fx=1 / 3, fy=1 / 3, interpolation=cv2.INTER_AREA)  # ~100 dpi
    grids, _ = _detect(small, scale=1 / 3)
    assert len(grids) == 1 and _structure(grids[0]) == _truth(t)


def test_nested_spans_like_table_three():
    """A 3x3 corner note, a header over 5 columns over a 3-column group, a row label over 5 rows
    holding a label over 3 rows: spans inside spans, as in table 三."""
    cells = [
        SynthCell(0, 0, 3, 3, "（本列数据的勾稽关系）"), SynthCell(0, 3, 1, 5, "申请人情况"),
        SynthCell(1, 3, 2, 1, "自然人"), SynthCell(1, 4, 1, 3, "法人或其他组织"), SynthCell(1, 7, 2, 1, "总计"),
        SynthCell(2, 4, 1, 1, "商业"), SynthCell(2, 5, 1, 1, "科研"), SynthCell(2, 6, 1, 1, "其他"),
        SynthCell(3, 0, 5, 1, "三、结果"), SynthCell(3, 1, 1, 2, "（一）予以公开"),
        SynthCell(4, 1, 3, 1, "（三）不予公开"), SynthCell(4, 2, 1, 1, "1.国家秘密"),
        SynthCell(5, 2, 1, 1, "2.法律禁止"), SynthCell(6, 2, 1, 1, "3.三安全"),
        SynthCell(7, 1, 1, 2, "（七）总计"),
    ] + [SynthCell(r, c, 1, 1, str((r * 7 + c) % 10)) for r in range(3, 8) for c in range(3, 8)]
    t = SynthTable([120, 150, 260, 120, 120, 120, 120, 120], [80, 80, 80] + [70] * 5, cells, origin=(60, 60))
    grids, _ = _detect(draw([t], size=(1300, 800), text_px=30))
    assert len(grids) == 1
    assert (grids[0].n_rows, grids[0].n_cols) == (8, 8)
    assert _structure(grids[0]) == _truth(t)


def _review_table() -> SynthTable:
    """Like table 四: two group headers over three columns each, labels, one row of figures."""
    cells = [SynthCell(0, 0, 1, 3, "行政复议"), SynthCell(0, 3, 1, 3, "行政诉讼")]
    cells += [SynthCell(1, k, 1, 1, label) for k, label in enumerate(["维持", "纠正", "其他", "维持", "纠正", "总计"])]
    cells += [SynthCell(2, k, 1, 1, figure) for k, figure in enumerate(["0", "12", "3", "7", "0", "22"])]
    return SynthTable([150] * 6, [80, 100, 80], cells)


@pytest.mark.parametrize("grey", [200, 220])
def test_whole_faded_rule_is_found_as_a_line(grey):
    # The column rule between 维持 and 纠正 under 行政诉讼 (x = 700, rows 1-2) faded to light grey and
    # worn into 40 px dashes: too short and too pale for the rule mask, so no line was found there.
    t = _review_table()
    page = scanned(fade_rule(draw([t]), (696, 182, 705, 359), grey, dash=40, gap=8))
    grids, _ = _detect(page)
    assert len(grids) == 1
    assert (grids[0].n_rows, grids[0].n_cols) == (3, 6)
    assert _structure(grids[0]) == _truth(t)


def test_faded_outer_rule_is_found():
    # The table's top rule fades away; the column rules still run up to where it was.
    t = _review_table()
    page = scanned(fade_rule(draw([t]), (100, 97, 1001, 104), 215, dash=40, gap=8))
    grids, _ = _detect(page)
    assert len(grids) == 1 and _structure(grids[0]) == _truth(t)


def test_aligned_strokes_and_word_gaps_are_not_rules():
    # Every row holds the same texts, so upright strokes (1, 十) stand one above the other down the whole
    # table and the horizontal strokes of 二十一 lie level across it; gaps between words line up too.
    # None of them is a faint rule, however much evidence they seem to stack up.
    texts = ["11  11", "二十一", "1  1  1"]
    cells = [SynthCell(0, 0, 1, 3, "申请 情况")] + [SynthCell(r, k, 1, 1, texts[k]) for r in range(1, 5)
                                                   for k in range(3)]
    t = SynthTable([320, 320, 320], [90, 90, 90, 90, 90], cells)
    grids, _ = _detect(scanned(draw([t]), sigma=3.0))
    assert len(grids) == 1
    assert (grids[0].n_rows, grids[0].n_cols) == (5, 3)
    assert _structure(grids[0]) == _truth(t)


def test_rule_runs_are_labelled_in_the_page_order_from_the_box_around_them():
    """`_segments` labels only the box around the mask's ink: the same runs, in the same order."""
    from ocr.grid import _segments

    rng = np.random.default_rng(4)
    for _ in range(100):
        h, w = int(rng.integers(20, 300)), int(rng.integers(20, 300))
        mask = random_rects(rng, h, w, int(rng.integers(0, 30)), (1, 4), (5, 150))
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        want = [(stats[i, 0], stats[i, 0] + stats[i, 2] - 1) for i in range(1, n) if stats[i, 2] >= 10]
        want = sorted(want, key=lambda s: s[1] - s[0], reverse=True)  # stable: ties keep the page's order
        got = [(int(t0), int(t1)) for _, _, t0, t1 in _segments(mask, True, 10)]
        assert got == [(int(a), int(b)) for a, b in want]


def test_a_rules_coverage_read_off_its_whole_length_is_the_slots_own():
    from ocr.grid import _coverage, _RuleCoverage
    from ocr.model import Rule

    rng = np.random.default_rng(8)
    for _ in range(40):
        mask = np.where(rng.random((300, 400)) < 0.3, 255, 0).astype(np.uint8)
        horizontal = bool(rng.random() < 0.5)
        length = 400 if horizontal else 300
        rule = Rule(float(rng.uniform(0, 300 if horizontal else 400)), float(rng.uniform(-0.05, 0.05)), 0, length)
        cov = _RuleCoverage(tol=int(rng.integers(2, 6)))
        for _ in range(20):
            t_a = float(rng.uniform(-20, length))
            t_b = t_a + float(rng.uniform(0, 150))
            assert cov(mask, rule, t_a, t_b, horizontal) == _coverage(mask, rule, t_a, t_b, horizontal, cov.tol)


@pytest.mark.parametrize(("text_px", "gap"), [(28, 16), (28, 30), (32, 22), (36, 30)])
def test_a_note_under_a_table_at_low_resolution_is_no_row(text_px, gap):
    # A real 96 dpi page (cTDaR t10011): a note printed just under its table, one column rule running on
    # into it (a glyph touching it). Below low-resolution text the glyphs' lower strokes line up like a
    # faint rule, and the search for a faded outer rule reached that far after the one rule: the note
    # became a row of the table. A faded border leaves two rules or more ending at it.
    from PIL import Image, ImageDraw
    from synth import font

    im = Image.fromarray(draw([simple_table()], size=(1300, 700)))
    d = ImageDraw.Draw(im)
    d.text((110, 460 + gap), "注：（1）本表中本报告期资本充足率、流动性比率、拆借资金比例、单一最大客户贷款",
           fill="black", font=font(text_px))
    d.rectangle([639, 455, 641, 495], fill="black")
    small = cv2.resize(np.asarray(im), None, fx=0.32, fy=0.32, interpolation=cv2.INTER_AREA)
    grids, _ = _detect(small, scale=0.32)
    assert len(grids) == 1 and (grids[0].n_rows, grids[0].n_cols) == (4, 4)
    assert _structure(grids[0]) == _truth(simple_table())


def _textured(img: np.ndarray, lines: list[tuple[int, int, int]], grey: int) -> np.ndarray:
    """Grey lines of a textured paper or a dirty drum, 3 px wide, (x, y from, y to), drawn where the
    paper is (print stays on top), as augraphy's paper and drum effects leave them."""
    out = img.copy()
    for x, ya, yb in lines:
        band = out[ya:yb, x - 1:x + 2]
        band[band.min(axis=2) > 128] = grey
    return out


def test_pale_lines_of_the_paper_through_a_table_are_no_rules():
    """A textured paper's grey lines crossing a table's rows (issue 13: 三 read 13 columns wide on an
    augraphy-heavy page) end mid-row or go on outside the table: no column rule; the table's own faded rule
    (paler than they) ends at the rules it joins and stays."""
    t = _review_table()
    page = fade_rule(draw([t]), (696, 182, 705, 359), 215)  # rows 1-2 of a real rule, faded
    # each crosses two row rules or more (y 100, 180, 280, 360), from the middle of row 1 or the page's edge
    page = scanned(_textured(page, [(330, 230, 520), (860, 0, 1200), (480, 230, 1200)], 200))
    grids, _ = _detect(page)
    assert len(grids) == 1
    assert (grids[0].n_rows, grids[0].n_cols) == (3, 6)
    assert _structure(grids[0]) == _truth(t)


def test_the_bands_of_dirty_rollers_are_no_column_rules():
    """An augraphy-heavy page (effects written by others: low-ink lines, brightness texture, DirtyRollers'
    shaded bands, a shadow, noise) over a 4-column table of figures: the bands' edges are faint lines where
    the table's structure expects column rules, and the table was read 9 columns wide, '12' as '1' and
    '2' each read surely. A band's edge goes on past the table; the table's rules stop at its border.
    (Horizontal bands lying along a row rule can still cost that row: the rule then runs on past the
    table too.)"""
    from samples.augment import degrade_page

    t = SynthTable([200] * 4, [90] * 3, [SynthCell(r, k, 1, 1, "12") for r in range(3) for k in range(4)],
                   origin=(120, 120))
    page, effects = degrade_page(draw([t], size=(1100, 560)), "augraphy-heavy", (77, 6))
    assert "DirtyRollers" in effects
    grids, _ = _detect(page)
    assert [(g.n_rows, g.n_cols) for g in grids] == [(3, 4)]
    assert _structure(grids[0]) == _truth(t)


def test_a_pale_line_that_goes_on_past_its_stretch_is_the_papers():
    """The rule mask finds a grey line of the paper only where it is a little darker: a stretch ending near
    the joints like a rule's. Past the joint it goes on; a table's faded rule stops there (a merged cell)."""
    from ocr.grid import GridParams, _drop_pale
    from ocr.model import Rule

    gray = np.full((600, 800), 240, np.uint8)
    for y in (100, 200, 300, 400):
        gray[y - 1:y + 2, 100:701] = 0
    for x in (100, 400, 700):
        gray[100:401, x - 1:x + 2] = 0
    gray[0:600, 249:252] = 212  # the paper's line, top to bottom of the sheet
    gray[200:401, 549:552] = 212  # a faded rule of the table, under a cell merged across its top row
    hs = [Rule(float(y), 0.0, 100.0, 700.0) for y in (100, 200, 300, 400)]
    line, faded = Rule(250.0, 0.0, 115.0, 385.0), Rule(550.0, 0.0, 200.0, 400.0)  # the mask's stretches
    vs = [Rule(100.0, 0.0, 100.0, 400.0), line, Rule(400.0, 0.0, 100.0, 400.0), faded, Rule(700.0, 0.0, 100.0, 400.0)]
    kept_h, kept_v, (pale_h, pale_v) = _drop_pale(hs, vs, gray, (0, 0), 10.0, 1.0, GridParams())
    assert pale_v == [line] and not pale_h
    assert kept_h == hs and [v.middle() for v in kept_v] == [100.0, 400.0, 550.0, 700.0]


def test_two_figures_apart_across_a_lost_rule_are_two_cells():
    # augraphy-heavy: a value column's rule worn away over whole rows (dotted, faded into the paper) made
    # '0' and '0' one cell read '00', and every field of the row went to review as misaligned
    from synth import wide_table

    t = wide_table(rows=8, cols=7)
    xs = np.cumsum([0, *t.col_widths]) + t.origin[0]
    ys = np.cumsum([0, *t.row_heights]) + t.origin[1]
    t.gaps = [(xs[k] - 3, ys[r] + 2, xs[k] + 3, ys[r + 1] - 2) for r, k in ((3, 2), (3, 3), (5, 4), (6, 6))]
    page = draw([t], size=(1900, 700))
    # the lost rule's dots: damage leaves some of its ink along its line
    for y in range(int(ys[3]) + 6, int(ys[4]) - 4, 9):
        page[y:y + 2, xs[2] - 1:xs[2] + 1] = 0
    grids, _ = _detect(page)
    assert len(grids) == 1 and _structure(grids[0]) == _truth(t)


def test_words_across_a_lost_rule_stay_one_cell():
    # only figures are parted so: a label whose rule to its figure was lost is not cut from it, and a
    # header's words spanning columns stay one cell
    from synth import wide_table

    t = wide_table(rows=6, cols=5)
    xs = np.cumsum([0, *t.col_widths]) + t.origin[0]
    ys = np.cumsum([0, *t.row_heights]) + t.origin[1]
    t.gaps = [(xs[1] - 3, ys[3] + 2, xs[1] + 3, ys[4] - 2)]  # between the label and its first figure
    page = draw([t], size=(1500, 600))
    grids, _ = _detect(page)
    assert len(grids) == 1
    cells = _structure(grids[0])
    assert (3, 0, 1, 2) in cells and (0, 1, 1, 3) in cells


def test_a_tall_merged_cell_of_words_and_specks_stays_one_cell():
    # augraphy-medium: the 勾稽关系 note, one line of words at the top of a cell three rows tall, specks of
    # toner near its foot on both sides of the rule it spans; judged against the height of all that ink,
    # its glyphs passed for a figure's points and the cell was cut in two
    t = SynthTable([300, 300, 200], [250, 80], [
        SynthCell(0, 0, 1, 2, "申请人情况说明"), SynthCell(0, 2, 1, 1, "12"),
        SynthCell(1, 0, 1, 1, "本年"), SynthCell(1, 1, 1, 1, "3"), SynthCell(1, 2, 1, 1, "15")])
    page = draw([t], size=(1000, 500))
    ox, oy = t.origin
    for x in (ox + 60, ox + 530):
        page[oy + 228:oy + 240, x:x + 12] = 0
    grids, _ = _detect(page)
    assert len(grids) == 1 and _structure(grids[0]) == _truth(t)


def test_rules_lost_beside_a_group_label_do_not_join_every_label_into_one_cell():
    # augraphy-heavy: the rules either side of the (三)/(四) column faded over a few rows; the group label's
    # column joined the labels beside it into one cell 15 rows tall and their texts were lost
    t = SynthTable([260, 360, 170, 170], [70] * 5, [
        SynthCell(0, 0, 1, 2, "项目"), SynthCell(0, 2, 1, 1, "自然人"), SynthCell(0, 3, 1, 1, "总计"),
        SynthCell(1, 0, 4, 1, "三、本年度"),
        *(SynthCell(r, 1, 1, 1, s) for r, s in zip(range(1, 5), ["予以公开", "部分公开", "不予公开", "无法提供"],
                                                  strict=True)),
        *(SynthCell(r, k, 1, 1, str(r + k)) for r in range(1, 5) for k in (2, 3))])
    xs = np.cumsum([0, *t.col_widths]) + t.origin[0]
    ys = np.cumsum([0, *t.row_heights]) + t.origin[1]
    t.gaps = [(xs[1] - 3, ys[r] + 2, xs[1] + 3, ys[r + 1] - 2) for r in (1, 2)]  # group | labels
    t.gaps += [(xs[2] - 3, ys[2] + 2, xs[2] + 3, ys[3] - 2)]  # a label | its first figure
    page = draw([t], size=(1300, 600))
    grids, _ = _detect(page)
    assert len(grids) == 1
    cells = {(c.row, c.col, c.row_span, c.col_span): c for c in grids[0].cells}
    assert (1, 0, 4, 1) in cells  # the group label's column stays one cell
    assert {(r, 1, 1, 1) for r in (1, 3, 4)} <= set(cells)  # each label beside it a cell of its own
    assert (2, 1, 1, 2) in cells and cells[(2, 1, 1, 2)].uncertain  # the label whose rule to its figure was lost


def test_a_column_rule_lost_down_the_whole_table_is_told_by_its_figures():
    # deviations: a broken, faint rule printed twice was found neither by the mask nor as a faint line;
    # 三 came out a column short, two value columns one, and their fields unmapped
    from synth import wide_table

    t = wide_table(rows=9, cols=6)
    xs = np.cumsum([0, *t.col_widths]) + t.origin[0]
    ys = np.cumsum([0, *t.row_heights]) + t.origin[1]
    t.gaps = [(xs[3] - 3, ys[1] + 2, xs[3] + 3, ys[-1] - 2)]  # under the header's first row, all the way down
    page = draw([t], size=(1800, 800))
    for y in range(int(ys[2]) + 10, int(ys[-1]) - 20, 90):  # dashes of it left here and there
        page[y:y + 24, xs[3] - 3:xs[3] + 3] = 0
    grids, _ = _detect(page)
    assert len(grids) == 1
    # every body row has its two cells; the header's two words over them stay one cell (the template
    # gives each column its word in order, `ocr.template.match._split_slot`)
    want = (_truth(t) - {(1, 2, 1, 1), (1, 3, 1, 1)}) | {(1, 2, 1, 2)}
    assert _structure(grids[0]) == want
    # the rule told by the figures runs down every body row, where the figures stand
    told = [r for r in grids[0].v_rules if abs(r.middle() - xs[3]) < 40]
    assert len(told) == 1 and told[0].t0 <= ys[2] + 10 and told[0].t1 >= ys[-1] - 10


def test_two_column_rules_lost_side_by_side_are_told_by_their_figures():
    # augraphy-heavy: low-ink stripes faded two neighbouring column rules of 三 away; a slot of three value
    # columns holds three figures a row, two channels common to its rows
    from synth import wide_table

    t = wide_table(rows=9, cols=6)
    xs = np.cumsum([0, *t.col_widths]) + t.origin[0]
    ys = np.cumsum([0, *t.row_heights]) + t.origin[1]
    t.gaps = [(x - 3, ys[1] + 2, x + 3, ys[-1] - 2) for x in (xs[3], xs[4])]
    grids, _ = _detect(draw([t], size=(1800, 800)))
    assert len(grids) == 1
    for x in (xs[3], xs[4]):
        told = [r for r in grids[0].v_rules if abs(r.middle() - x) < 40]
        assert len(told) == 1 and told[0].t0 <= ys[2] + 10 and told[0].t1 >= ys[-1] - 10
    body = {(r, c) for r, c, rs, cs in _structure(grids[0]) if r >= 2 and rs == cs == 1}
    assert {(r, c) for r in range(2, t.n_rows) for c in range(t.n_cols)} <= body


def test_figures_of_one_column_do_not_make_a_rule_inside_it():
    # two-digit figures in a wide column stand apart by their glyphs' own spacing, never by a common
    # channel down the table
    from synth import wide_table

    t = wide_table(rows=9, cols=5, col_w=260)
    page = draw([t], size=(1900, 800))
    grids, _ = _detect(page)
    assert len(grids) == 1 and _structure(grids[0]) == _truth(t)


def test_boxes_drawn_inside_a_box_are_no_table():
    # a real page's organisation chart (cTDaR t10163): a framed box holding two boxes, lines from them down
    # through its border; read as a grid it is one group of slots that is no rectangle and holds most of
    # the grid, which cut into pieces made a false 3x6 table
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (1400, 900), "white")
    d = ImageDraw.Draw(im)
    d.rectangle((200, 150, 1000, 500), outline="black", width=4)
    for x0 in (300, 650):
        d.rectangle((x0, 280, x0 + 220, 380), outline="black", width=4)
        d.line((x0 + 110, 380, x0 + 110, 650), fill="black", width=4)
    d.text((420, 180), "控股股东、实际控制人", fill="black", font=font(40))
    d.text((340, 305), "李振国", fill="black", font=font(40))
    d.text((690, 305), "李喜燕", fill="black", font=font(40))
    grids, _ = _detect(np.asarray(im).copy())
    assert grids == []


def test_figures_apart_across_a_rule_worn_into_a_wide_scatter_of_dots():
    # augraphy-heavy: the worn rule's dots spread 15 px wide, wider than its fitted line, with toner specks
    # beside them; the two zeros stayed one cell read '00'
    from synth import wide_table

    t = wide_table(rows=6, cols=5)
    xs = np.cumsum([0, *t.col_widths]) + t.origin[0]
    ys = np.cumsum([0, *t.row_heights]) + t.origin[1]
    t.gaps = [(xs[2] - 3, ys[3] + 2, xs[2] + 3, ys[4] - 2)]
    page = draw([t], size=(1500, 600))
    rng = np.random.default_rng(3)
    for y in range(int(ys[3]) + 3, int(ys[4]) - 3, 2):  # a scatter of dots 15 px wide down the rule's place
        for x in rng.integers(xs[2] - 7, xs[2] + 8, size=2):
            page[y:y + 2, x:x + 2] = 0
    page[int(ys[3]) + 30:int(ys[3]) + 40, xs[2] + 12:xs[2] + 20] = 0  # a speck beside them
    grids, _ = _detect(page)
    assert len(grids) == 1 and _structure(grids[0]) == _truth(t)


@pytest.mark.parametrize(("rows", "cols", "grey"), [
    # a short stroke a few rows long beside a column rule, closer than any text fits (issue 13: a 27 px
    # column over three rows made 三 of an augraphy-heavy page 11 columns wide)
    ((592, 768), (646, 649), 30),
    # dark blotches of the paper lined up 44 px beside a column rule over one row make a rule of the mask;
    # the slot between holds no print, so it is no column (issue 13: 三 of an augraphy-heavy page 11 wide)
    ((586, 684), (663, 667), 40),
], ids=["pen stroke", "line of blotches"])
def test_a_mark_beside_a_column_rule_makes_no_sliver_column(rows, cols, grey):
    t = simple_table(origin=(300, 500))
    page = draw([t], size=(1600, 1400))
    page[rows[0]:rows[1], cols[0]:cols[1]] = grey
    grids, _ = _detect(scanned(page))
    assert len(grids) == 1 and _structure(grids[0]) == _truth(t)


def test_a_stripe_a_little_way_beside_a_column_rule_is_no_faint_rule():
    """A grey stripe of the drum along a column rule, inside the table only, passes for a faded rule; the
    slot it would part from the rule holds no print in any row (issue 13: 四 read 16 columns wide)."""
    t = simple_table(origin=(300, 500))
    page = scanned(_textured(draw([t], size=(1600, 1400)), [(653, 502, 858)], 230))
    grids, _ = _detect(page)
    assert len(grids) == 1 and _structure(grids[0]) == _truth(t)


def test_a_column_rule_printed_with_a_jog_keeps_both_pieces():
    """A real page's column rule steps 22 px aside for one row (cTDaR t10094): the two pieces are one
    rule's, and both bound cells, though no text fits between them; no stroke or blotch to drop."""
    t = simple_table(origin=(300, 500))
    page = draw([t], size=(1600, 1400))
    page[682:769, 618:624] = 255  # the rule at x=620 leaves row 2 ...
    page[680:771, 640:643] = 0  # ... and runs 22 px aside there
    grids, _ = _detect(scanned(page))
    assert len(grids) == 1
    xs = [r.middle() for r in grids[0].v_rules]
    assert any(abs(x - 620) < 4 for x in xs) and any(abs(x - 641) < 4 for x in xs)


def test_a_full_length_line_beside_a_border_is_no_blotches_line():
    """Two rules 50 px apart down the table's whole height, an empty slot between (a warped page's border
    beside the table's: augraphy-geometry s7707-001): which one is the table's the grid cannot tell, and
    neither is a line of blotches, so both stay (dropping one lost 二's label column there)."""
    t = simple_table(origin=(300, 500))
    page = draw([t], size=(1600, 1400))
    for y in range(508, 850, 130):  # a little shorter than the border and broken: the sparser of the two
        page[y:y + 80, 249:252] = 0
    page[500:503, 249:300] = 0
    page[858:861, 249:300] = 0
    grids, _ = _detect(scanned(page))
    assert len(grids) == 1
    xs = sorted(round(r.middle()) for r in grids[0].v_rules)
    assert any(abs(x - 250) < 4 for x in xs) and any(abs(x - 300) < 4 for x in xs)
