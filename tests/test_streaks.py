"""Photocopy drum streaks are not table rules (issue 13 §2).

A streak is a long straight grey line across the sheet, as dark as print or lighter. It crosses a table's
rules like a rule would, but it runs on far past the table's border, often to the page's edge.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw
from synth import SynthCell, SynthTable, draw, font, scanned, simple_table
from test_grid import _detect, _structure, _truth

from ocr.deskew import orient
from ocr.grid import binarize, detect_tables
from ocr.rasterize import ink


def _streak(img: np.ndarray, pos: int, horizontal: bool, level: int = 40, width: int = 3,
            t0: int = 0, t1: int | None = None) -> np.ndarray:
    """A straight streak `width` px wide at `pos`, from t0 to t1 along it (the page's edges by default)."""
    out = img.copy()
    t1 = (out.shape[1] if horizontal else out.shape[0]) if t1 is None else t1
    if horizontal:
        out[pos:pos + width, t0:t1] = np.minimum(out[pos:pos + width, t0:t1], level)
    else:
        out[t0:t1, pos:pos + width] = np.minimum(out[t0:t1, pos:pos + width], level)
    return out


def _rules_mask(rgb: np.ndarray) -> np.ndarray:
    upright, _ = orient(ink(rgb))
    return detect_tables(binarize(upright, 1.0), 1.0, gray=upright)[1]


# simple_table at (300, 500): columns at x = 300 620 840 1060 1280, rows at y = 500 590 680 770 860
_CASES = {
    "down the page, dark": dict(pos=530, horizontal=False),
    "down the page, light": dict(pos=760, horizontal=False, level=150),
    "across the page, dark": dict(pos=640, horizontal=True),
    "across the page, light and thin": dict(pos=730, horizontal=True, level=160, width=2),
    "across the header, wide": dict(pos=545, horizontal=True, width=5),
    "down, starting and ending off the table": dict(pos=1000, horizontal=False, level=60, t0=200, t1=1300),
    "across, starting and ending off the table": dict(pos=545, horizontal=True, level=60, t0=60, t1=1540),
    "down, from the page's top to below the table": dict(pos=700, horizontal=False, level=90, t1=1200),
}


@pytest.mark.parametrize("case", list(_CASES))
def test_a_streak_across_a_table_is_no_rule(case):
    t = simple_table(origin=(300, 500))
    page = scanned(_streak(draw([t], size=(1600, 1600)), **_CASES[case]))
    grids, _ = _detect(page)
    assert len(grids) == 1
    assert (grids[0].n_rows, grids[0].n_cols) == (4, 4)
    assert _structure(grids[0]) == _truth(t)
    x0, y0, x1, y1 = grids[0].bbox
    assert abs(x0 - 300) < 8 and abs(x1 - 1280) < 8 and abs(y0 - 500) < 8 and abs(y1 - 860) < 8


@pytest.mark.parametrize(("offset", "horizontal"), [(12, False), (-16, False), (12, True), (-16, True)])
def test_a_streak_beside_a_rule_leaves_the_rule(offset, horizontal):
    """A streak closer to a rule than a cell can be narrow is no second copy of it: the rule stays."""
    t = simple_table(origin=(300, 500))
    page = _streak(draw([t], size=(1600, 1600)), (770 if horizontal else 840) + offset, horizontal)
    grids, _ = _detect(scanned(page))
    assert len(grids) == 1 and _structure(grids[0]) == _truth(t)


def test_streaks_both_ways_through_a_table_without_side_borders():
    """The rows' rules of a table printed without left and right borders run past its outer column rules
    too, but together, to the table's edge: that is an open border, not a streak."""
    t = simple_table(origin=(300, 500), open_sides=True)
    page = _streak(_streak(draw([t], size=(1600, 1600)), 530, False), 730, True, level=120)
    grids, _ = _detect(scanned(page))
    assert len(grids) == 1 and _structure(grids[0]) == _truth(t)


@pytest.mark.parametrize("ends", [(0, None), (80, 1061)], ids=["page's edges", "first table's top to last's bottom"])
def test_a_streak_does_not_join_the_tables_it_crosses(ends):
    """Even a streak that starts and ends with the tables: between them it runs where they have no rule."""
    a, b = simple_table(origin=(100, 80)), simple_table(origin=(100, 700))
    page = _streak(draw([a, b], size=(1400, 1300)), 530, False, t0=ends[0], t1=ends[1])
    grids, _ = _detect(scanned(page))
    assert len(grids) == 2
    assert _structure(grids[0]) == _truth(a) and _structure(grids[1]) == _truth(b)


def test_streaks_spanning_the_paper_between_two_tables_do_not_vouch_for_each_other():
    """Each streak starts inside the upper table and ends inside the lower one, so neither runs past a
    frame; between the tables each spans paper that only the other spans too. Issue 13: four such streaks
    joined 二 and 三 of a deviations page into one 29x17 grid."""
    a, b = simple_table(origin=(100, 80)), simple_table(origin=(100, 700))
    page = draw([a, b], size=(1400, 1300))
    for x in (530, 900):
        page = _streak(page, x, False, level=70, t0=200, t1=900)
    grids, _ = _detect(scanned(page))
    assert len(grids) == 2
    assert _structure(grids[0]) == _truth(a) and _structure(grids[1]) == _truth(b)


def test_a_column_rule_a_drum_stripe_runs_on_from_is_kept():
    """A grey stripe of the drum runs down the page into a column rule: the line the mask fits runs on
    far past the table, but the rule is printed much darker inside it and is cut back, not dropped."""
    t = simple_table(origin=(300, 500))
    page = scanned(_streak(draw([t], size=(1600, 1600)), 839, False, level=120, t0=0, t1=500))
    grids, _ = _detect(page)
    assert len(grids) == 1 and _structure(grids[0]) == _truth(t)


def test_a_border_rule_stripes_run_on_from_and_beside_is_kept():
    """The table's left border runs on as a stripe to the page's edges, and another stripe runs beside it,
    a streak itself, and a dash of texture crosses both above the table: the border is still cut back to
    its print (issue 13: an augraphy-heavy page's
    texture took 二's left border, and with it the top rule, which crossed nothing else)."""
    cells = [SynthCell(0, 0, 1, 3, "第二十条第（一）项")]
    cells += [SynthCell(r, k, 1, 1, text) for r in (1, 2) for k, text in enumerate(["规章", str(r), "0"])]
    t = SynthTable([300, 250, 250], [80, 80, 80], cells, origin=(300, 500))
    page = _streak(_streak(draw([t], size=(1600, 1600)), 299, False, level=120), 314, False, level=120)
    page[300:303, 250:340] = 40  # a dash of the texture across both stripes, above the table
    grids, _ = _detect(scanned(page))
    assert len(grids) == 1 and _structure(grids[0]) == _truth(t)


def test_a_stripe_carrying_a_lower_tables_column_rule_up_through_the_upper_table():
    """The stripe joins two stacked tables, and crosses the upper one where it has no column: the lower
    table's column rule is dark across its own rows only, and is kept there (issue 13: 四 lost three
    column rules under a striped drum, 三 two)."""
    a = SynthTable([500, 480], [90, 90, 90], [SynthCell(r, c, 1, 1, "行政许可") for r in range(3) for c in range(2)],
                   origin=(100, 80))
    b = simple_table(origin=(100, 700))
    page = scanned(_streak(draw([a, b], size=(1400, 1300)), 419, False, level=120, t0=0, t1=700))
    grids, _ = _detect(page)
    assert len(grids) == 2
    assert _structure(grids[0]) == _truth(a) and _structure(grids[1]) == _truth(b)


def test_a_streaks_ink_in_a_table_is_taken_out_with_the_rules():
    """The cells drop the returned rule mask from their crops: a streak through the figures goes with it."""
    t = simple_table(origin=(300, 500))
    page = _streak(draw([t], size=(1600, 1600)), 760, False)
    mask = _rules_mask(page)
    assert mask[700:760, 760:763].all()  # down the cell of 3 (row 2, column 2)
    assert not mask[1000:1600, 760:763].any()  # below the table it is nobody's rule


def test_streaks_on_a_page_without_a_table():
    im = Image.new("RGB", (1600, 1400), "white")
    d = ImageDraw.Draw(im)
    prose = "第十一师坚持以习近平新时代中国特色社会主义思想为指导，全面贯彻落实党的十九大精神。"
    for i in range(14):
        d.text((120, 100 + 80 * i), prose, fill="black", font=font(38))
    page = np.asarray(im).copy()
    for x in (400, 800, 1200):
        page = _streak(page, x, False, level=60)
    for y in (300, 900):
        page = _streak(page, y, True, level=60)
    grids, _ = _detect(scanned(page))
    assert grids == []


@pytest.mark.parametrize("rows", [(680,), (770, 860)], ids=["between rows", "and the bottom border"])
def test_a_band_of_dirty_rollers_along_a_row_rule_leaves_the_rule(rows):
    """augraphy's DirtyRollers print grey bands across the whole sheet; one lying along a row rule made the
    rule's line run on to the page's edges, and the rule was dropped as a streak, with the table part it
    closed. The rule is printed black inside the table and only the band's grey runs on: it is the
    table's rule, cut back to it. (A band along a rule that merged cells interrupt is still lost: inside
    the table the band alone is no darker there than outside.)"""
    t = simple_table(origin=(300, 500))
    page = draw([t], size=(1600, 1600))
    for y in rows:
        page = _streak(page, y - 8, True, level=150, width=17)
    grids, _ = _detect(scanned(page))
    assert len(grids) == 1 and _structure(grids[0]) == _truth(t)
    x0, y0, x1, y1 = grids[0].bbox
    assert abs(x0 - 300) < 8 and abs(x1 - 1280) < 8 and abs(y1 - 860) < 8


def test_a_column_rule_running_up_to_a_worn_header_rule_is_no_streak():
    """Issue 13: a header's rules worn away but for a stretch across one column rule, which runs up to it
    past the rules kept; that column rule is the table's, and its column stays."""
    t = simple_table(origin=(300, 500))
    page = draw([t], size=(1600, 1600))
    page[330:500, 619:622] = 0  # the column rule between the labels and the first figures, up to ...
    page[329:332, 560:700] = 0  # ... what is left of the rule that closed the header above
    grids, _ = _detect(scanned(page))
    assert len(grids) == 1
    assert (grids[0].n_rows, grids[0].n_cols) == (4, 4)
    assert _structure(grids[0]) == _truth(t)


def test_a_line_ending_at_an_l_beside_the_table_is_still_no_rule():
    # A real page's organisation chart: a connector line runs from the table's right border across it and
    # on past its left border, and ends where a short line down from a box meets it, an L; only a T (the
    # line across running on both sides, as a header rule does over a column rule) is a corner of print.
    t = simple_table(origin=(300, 500))
    page = _streak(draw([t], size=(1600, 1600)), 640, True, t0=60, t1=1282)
    page[540:643, 60:63] = 40
    grids, _ = _detect(scanned(page))
    assert len(grids) == 1
    assert (grids[0].n_rows, grids[0].n_cols) == (4, 4)
    assert _structure(grids[0]) == _truth(t)
