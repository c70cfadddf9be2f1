"""Identity checks that reconcile rather than refuse (issue 13 §2, helper D's classes on augraphy-medium):

- a page part of 三 whose rule between the row labels and the first number column (自然人) was lost: that
  column's numbers were read inside the labels, the grid is a column short of the template, and every
  other column is still confirmed by its header and by where it stands on the grid its headers lay;
- the other page part of the same table kept that rule but lost one between two label columns, so both
  parts have the same column count and its row (（七）总计) has a number left of where the first part's
  numbers start: that number is no row label;
- values of one column could only change rows if a row were placed wrong: rows placed by their own
  labels rule that swap out, rows placed by order do not.
"""

from __future__ import annotations

from test_column_identity import APPLICATIONS, _flags, _got, _truth_tables, _where
from test_repair import CFG, gkey, grid_cells, grid_constraints, grid_expected
from test_template_fields import _cut

from ocr.model import Cell, Table
from ocr.repair import repair
from ocr.template import TEMPLATES_DIR, Template, align, load_template
from ocr.template.chain import chain_tables
from ocr.template.geometry import Span, anchored_positions, missing_explained

NATURAL = 3  # 自然人, the first number column of 三 in clean-s1-001


def _template() -> Template:
    return load_template(TEMPLATES_DIR / "gov_disclosure_annual_report.yaml")


def _lose_rule(table: Table, rule: int, drop_header: str | None = None) -> Table:
    """The table as read when the column rule at grid position `rule` is lost in every row: the cells either
    side of it become one (label text then the number, read as a label), later columns move left by one.
    A header cell starting at the rule and spanning more keeps its place right of it (a group header over
    several columns); `drop_header` names a header read into the cell left of it."""
    left = {c.row: c for c in table.cells if c.col + c.col_span == rule}
    right = {c.row: c for c in table.cells if c.col == rule and c.col_span == 1}
    cells: list[Cell] = []
    for c in table.cells:
        if c.col + c.col_span == rule and c.row in right:
            r = right[c.row]
            text = c.text if r.text == drop_header else c.text + r.text
            cells.append(c.model_copy(update={"text": text, "kind": "label" if c.text else r.kind,
                                              "bbox": (c.bbox[0], c.bbox[1], r.bbox[2], c.bbox[3]),
                                              "confidence": min(c.confidence, r.confidence)}))
        elif c.col == rule and c.col_span == 1 and c.row in left:
            continue  # read into the cell on its left
        elif c.col + c.col_span == rule and c.row not in right and c.row_span > 1:
            cover = [r for r in table.cells
                     if r.col == rule and r.col_span == 1 and c.row <= r.row < c.row + c.row_span]
            text = c.text + "".join(r.text for r in cover if r.text != drop_header)
            right_edge = max([c.bbox[2], *(r.bbox[2] for r in cover)])
            cells.append(c.model_copy(update={"text": text, "bbox": (*c.bbox[:2], right_edge, c.bbox[3])}))
        elif c.col == rule and c.col_span == 1:
            continue  # under a taller cell left of it: read into it above
        elif c.col >= rule:
            cells.append(c.model_copy(update={"col": c.col - 1} if c.col > rule or c.col_span == 1
                                      else {"col_span": c.col_span - 1, "bbox": (c.bbox[0] + _width(table, rule),
                                                                                 *c.bbox[1:])}))
        elif c.col + c.col_span > rule:
            cells.append(c.model_copy(update={"col_span": c.col_span - 1}))
        else:
            cells.append(c)
    return table.model_copy(update={"n_cols": table.n_cols - 1, "cells": cells})


def _width(table: Table, col: int) -> int:
    c = next(c for c in table.cells if c.col == col and c.col_span == 1 and c.kind == "number")
    return c.bbox[2] - c.bbox[0]


def _natural_lost() -> tuple[list[Table], dict[str, tuple[int, int, int]]]:
    """clean-s1-001 with 三 read a column short: the rule left of 自然人 lost in every row."""
    tables, fields = _truth_tables()
    t = _lose_rule(tables[APPLICATIONS], NATURAL, drop_header="自然人")
    new = [*tables[:APPLICATIONS], t, *tables[APPLICATIONS + 1:]]
    where = {k: (i, r, c - 1 if i == APPLICATIONS and c > NATURAL else c)
             for k, (i, r, c) in _where(tables, fields).items()
             if not (i == APPLICATIONS and c == NATURAL)}
    return new, where


def test_a_grid_a_column_short_is_explained_by_the_read_columns_where_they_stand() -> None:
    template = _template()
    new, where = _natural_lost()
    assert new[APPLICATIONS].n_cols == 9
    got = _got(new, template)
    assert {k: v for k, v in got.items() if k.startswith("applications.")} == {
        k: v for k, v in where.items() if k.startswith("applications.")}
    assert not any(k.endswith(".natural_person") for k in got if k.startswith("applications."))  # never guessed
    flags = _flags(new, template)
    assert not any(f & {"grid_mismatch", "column_unconfirmed"} for f in flags.values())
    results = repair(align(new, template).mapped, template.value_types, template.constraints, CFG)
    lost = [k for k in template.value_types if k.startswith("applications.") and k.endswith(".natural_person")]
    assert lost and all(results[k].needs_review and results[k].value is None for k in lost)  # missing: reviewed


def test_the_same_grid_with_its_headers_unread_is_still_a_mismatch() -> None:
    """Two headers read are too few to lay the template's grid by: nothing but order places the columns,
    so the grid is flagged, never mapped by position."""
    template = _template()
    new, _ = _natural_lost()
    t = new[APPLICATIONS]
    unread = ("科研机构", "社会公益组织", "法律服务机构", "其他", "总计")
    blank = t.model_copy(update={"cells": [c.model_copy(update={"text": "口", "confidence": 0.1})
                                           if c.text in unread else c for c in t.cells]})
    flags = _flags([*new[:APPLICATIONS], blank, *new[APPLICATIONS + 1:]], template)
    three = [k for k in flags if k.startswith("applications.")]
    assert len(three) > 100 and all("grid_mismatch" in flags[k] for k in three)


def test_a_column_over_two_of_the_template_explains_no_missing_column() -> None:
    """The read columns must be one column wide each, where their template columns stand: a printed
    column as wide as two (a rule lost between two numbers) is no grid of its own to lay by."""
    tables, _ = _truth_tables()
    chain = chain_tables([tables[APPLICATIONS]])[0]
    read = [(Span(c, c + 1), c - NATURAL) for c in range(NATURAL + 1, 10)]
    pos = anchored_positions(chain, read, 7)
    assert pos is not None and abs(pos.column_of(*chain.rules[NATURAL:NATURAL + 2]) - 0.5) < 0.1  # type: ignore[index]
    assert missing_explained(chain, read, read, 7) is not None  # 自然人 alone missing: explained
    wide = [(Span(4, 6), 1), *((Span(c, c + 1), c - NATURAL) for c in range(6, 10))]
    assert missing_explained(chain, wide, wide, 7) is None
    off = [*read[:3], (Span(7, 8), 5), *read[4:]]  # 法律服务机构 paired one place off: stands where 其他 does not
    assert missing_explained(chain, off, read[:3], 7) is None


def test_a_number_left_of_the_numbers_is_no_row_label() -> None:
    """三 cut before （七）总计: the first part lost the rule left of 自然人, the second the rule between two
    label columns (nothing printed crosses it there), so both have nine columns and are joined as numbered;
    the second part's 自然人 figure then stands left of where the first part's numbers start."""
    template = _template()
    tables, fields = _truth_tables()
    t = tables[APPLICATIONS]
    cut = 26  # （七）总计
    top = _lose_rule(_cut(t, range(0, cut)), NATURAL, drop_header="自然人")
    bottom = _lose_rule(_cut(t, range(cut, t.n_rows)), 2).model_copy(
        update={"page": t.page + 1, "continued_from": APPLICATIONS})
    assert top.n_cols == bottom.n_cols == 9
    later = [u.model_copy(update={"page": u.page + 1}) for u in tables[APPLICATIONS + 1:]]
    new = [*tables[:APPLICATIONS], top, bottom, *later]
    got = _got(new, template)
    total = {k: v for k, v in got.items() if k.startswith("applications.total.")}
    want = {k: (APPLICATIONS + 1, r - cut, c - 1) for k, (i, r, c) in _where(tables, fields).items()
            if k.startswith("applications.total.") and i == APPLICATIONS and c > NATURAL}
    assert total == want  # the row is placed by its label, each value under its header
    doubts = {"grid_mismatch", "column_unconfirmed", "row_unconfirmed"}
    assert not any(f & doubts for f in _flags(new, template).values())


def test_a_swap_between_rows_placed_by_their_labels_is_ruled_out() -> None:
    """Columns c and 总计 unreadable in every row: every row sum is open, the column sums of a and b still
    check. Two values of column a could only trade rows if a row were placed wrong."""
    unread = {gkey(r, c): ("?", 0.3) for r in ("r1", "r2", "r3", "total") for c in ("c", "total")}
    cells = grid_cells({**unread, gkey("r2", "a"): ("4", 0.93)})
    by_label = {k: 1.0 for k in cells}
    held = repair(cells, grid_expected(), grid_constraints(), CFG)  # no row confidence: any row may be wrong
    assert "unconfirmed_reading" in held[gkey("r2", "a")].flags and held[gkey("r2", "a")].needs_review
    sure = repair(cells, grid_expected(), grid_constraints(), CFG, by_label)
    assert not sure[gkey("r2", "a")].needs_review
    by_order = {**by_label, **{gkey("r1", c): 0.3 for c in ("a", "b", "c", "total")}}  # r1 placed by order
    unsure = repair(cells, grid_expected(), grid_constraints(), CFG, by_order)
    r2a = unsure[gkey("r2", "a")]
    assert "unconfirmed_reading" in r2a.flags and any("互换" in w for w in r2a.reasons)
    assert all(sure[k].needs_review for k in unread)  # the unreadable ones stay reviewed
