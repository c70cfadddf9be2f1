"""Column and row identity checked, not assumed (issue 13 §2): a grid that disagrees with the template is
reconciled or flagged, a column placed by order alone or standing where its header says it should not is
unconfirmed, rows carry how sure their placement is, and the arithmetic neither vouches for what it cannot
see nor moves values between cells on its own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_repair import gkey, grid_cells, grid_constraints, grid_expected, mapped
from test_template_fields import HARD_HEADER, _cut, _merge_cols, _merge_header

from ocr.config import Config
from ocr.model import Cell, Constraint, FieldResult, MappedCell, Table
from ocr.repair import repair
from ocr.template import TEMPLATES_DIR, Template, align, load_template
from ocr.template.chain import chain_tables

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "data"
APPLICATIONS = 1  # index of 三 in clean-s1-001's tables


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template(TEMPLATES_DIR / "gov_disclosure_annual_report.yaml")


def _box(b: list[float]) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = (round(v) for v in b)
    return x0, y0, x1, y1


def _read(truth: dict[str, Any]) -> list[Table]:
    """A truth's tables as a perfect reader would read them, with the cells' boxes."""
    return [Table(page=t["page"], bbox=_box(t["bbox"]), continued_from=t["continued_from"], n_rows=t["n_rows"],
                  n_cols=t["n_cols"],
                  cells=[Cell(row=c["row"], col=c["col"], row_span=c["row_span"], col_span=c["col_span"],
                              bbox=_box(c["bbox"]), text=c["text"], confidence=0.95, needs_review=False,
                              kind=c["kind"]) for c in t["cells"]]) for t in truth["tables"]]


def _truth_tables() -> tuple[list[Table], list[list[str | None]]]:
    """clean-s1-001 as a perfect reader would read it, and each cell's field."""
    truth: dict[str, Any] = json.loads((SAMPLES / "clean-s1-001.truth.json").read_text(encoding="utf-8"))
    return _read(truth), [[c["field"] for c in t["cells"]] for t in truth["tables"]]


def _where(tables: list[Table], fields: list[list[str | None]]) -> dict[str, tuple[int, int, int]]:
    return {f: (i, c.row, c.col) for i, t in enumerate(tables) for c, f in zip(t.cells, fields[i], strict=True) if f}


def _sliver(table: Table, col: int, width: int = 6, ink: bool = False) -> Table:
    """The table as read when the rule right of column `col` was printed twice `width` pixels apart: a
    sliver column between the two, blank unless a remnant of the rule was read in it."""
    cells: list[Cell] = []
    for c in table.cells:
        end = c.col + c.col_span
        if c.col > col:
            cells.append(c.model_copy(update={"col": c.col + 1}))
        elif end > col + 1:
            cells.append(c.model_copy(update={"col_span": c.col_span + 1}))
        elif end == col + 1:
            x0, y0, x1, y1 = c.bbox
            cells.append(c.model_copy(update={"col_span": c.col_span, "bbox": (x0, y0, x1 - width, y1)}))
            body = c.kind == "number"
            cells.append(Cell(row=c.row, col=col + 1, row_span=c.row_span, bbox=(x1 - width, y0, x1, y1),
                              text="1" if ink and body else "", confidence=0.3 if ink and body else 0.0,
                              needs_review=False, kind="number" if ink and body else "blank"))
        else:
            cells.append(c)
    return table.model_copy(update={"n_cols": table.n_cols + 1, "cells": cells})


def _shift(where: dict[str, tuple[int, int, int]], table: int, col: int) -> dict[str, tuple[int, int, int]]:
    return {k: (t, r, c + 1 if t == table and c > col else c) for k, (t, r, c) in where.items()}


def _got(tables: list[Table], template: Template) -> dict[str, tuple[int, int, int]]:
    return {k: (m.table, m.cell.row, m.cell.col) for k, m in align(tables, template).mapped.items()}


def _flags(tables: list[Table], template: Template) -> dict[str, set[str]]:
    return {k: {f for f, _ in m.doubts} for k, m in align(tables, template).mapped.items()}


# ---------------------------------------------------------------- 1. the grid agrees with the template's structure


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.truth.json")), ids=lambda p: p.name.split(".")[0])
def test_the_generators_tables_raise_no_doubt(path: Path, template: Template) -> None:
    """Every committed sample as a perfect reader reads it, boxes and all: headers, positions and rows agree."""
    mapped = align(_read(json.loads(path.read_text(encoding="utf-8"))), template).mapped
    assert len(mapped) == len(template.value_types)
    assert not [(k, m.doubts) for k, m in mapped.items() if m.doubts]


def _turn(box: tuple[int, int, int, int], rotation: int, h: int = 3508, w: int = 2480) -> tuple[int, int, int, int]:
    """A box of the upright page as it lies on the scan of that page turned `rotation` degrees."""
    x0, y0, x1, y1 = box
    if rotation == 90:
        return h - 1 - y1, x0, h - 1 - y0, x1
    if rotation == 180:
        return w - 1 - x1, h - 1 - y1, w - 1 - x0, h - 1 - y0
    return y0, w - 1 - x1, y1, w - 1 - x0


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_a_turned_page_is_measured_across_its_columns(rotation: int, template: Template) -> None:
    """Boxes are in the frame of the page as scanned: on a turned page the columns run down the scan, and
    no row is off its neighbours' rules for that; a sliver is still a sliver."""
    tables, fields = _truth_tables()
    turned = [t.model_copy(update={"bbox": _turn(t.bbox, rotation), "cells": [
        c.model_copy(update={"bbox": _turn(c.bbox, rotation)}) for c in t.cells]}) for t in tables]
    assert _got(turned, template) == _where(tables, fields)
    assert not any(_flags(turned, template).values())
    new = [*turned[:APPLICATIONS], _sliver(tables[APPLICATIONS], 5), *turned[APPLICATIONS + 1:]]
    sliver = new[APPLICATIONS]
    new[APPLICATIONS] = sliver.model_copy(update={"cells": [c.model_copy(update={"bbox": _turn(c.bbox, rotation)})
                                                            for c in sliver.cells]})
    headless = _merge_header(new[APPLICATIONS], 3, HARD_HEADER)
    new[APPLICATIONS] = headless
    assert _got(new, template) == _shift(_where(tables, fields), APPLICATIONS, 5)


def test_a_sliver_column_from_a_doubled_rule_is_merged_into_its_neighbour(template: Template) -> None:
    tables, fields = _truth_tables()
    new = [*tables[:APPLICATIONS], _sliver(tables[APPLICATIONS], 5), *tables[APPLICATIONS + 1:]]
    assert new[APPLICATIONS].n_cols == 11
    assert _got(new, template) == _shift(_where(tables, fields), APPLICATIONS, 5)
    assert not any(_flags(new, template).values())
    # With the header lost too (hard-s7302-005), order is all that places the columns: the sliver must not
    # count as one of them, and every column is placed, unconfirmed.
    headless = _merge_header(new[APPLICATIONS], 3, HARD_HEADER)
    new = [*tables[:APPLICATIONS], headless, *tables[APPLICATIONS + 1:]]
    assert _got(new, template) == _shift(_where(tables, fields), APPLICATIONS, 5)
    flags = _flags(new, template)
    assert all(("column_unconfirmed" in f) == k.startswith("applications.") for k, f in flags.items())


def test_a_sliver_beside_the_row_labels_is_no_row_label(template: Template) -> None:
    """The rule between the labels and the numbers doubled, and the header over the labels unread (so
    nothing says the numbers start right of the sliver): every row keeps its own label."""
    tables, fields = _truth_tables()
    sliver = _sliver(tables[APPLICATIONS], 2)
    sliver = sliver.model_copy(update={"cells": [c.model_copy(update={"text": "", "kind": "blank"})
                                                 if c.text.startswith("（本列数据") else c for c in sliver.cells]})
    new = [*tables[:APPLICATIONS], sliver, *tables[APPLICATIONS + 1:]]
    assert _got(new, template) == _shift(_where(tables, fields), APPLICATIONS, 2)
    assert not any(_flags(new, template).values())


def test_a_sliver_in_one_page_part_only_keeps_the_other_parts_numbers(template: Template) -> None:
    """三 split over two pages, the rule doubled on the first page only: the second part's cells reach
    across the sliver, and still belong to their column."""
    tables, fields = _truth_tables()
    t = tables[APPLICATIONS]
    top = _cut(t, range(0, 11))
    bottom = _cut(t, range(11, t.n_rows)).model_copy(update={"page": t.page + 1, "continued_from": APPLICATIONS})
    later = [u.model_copy(update={"page": u.page + 1}) for u in tables[APPLICATIONS + 1:]]
    new = [*tables[:APPLICATIONS], _sliver(top, 7), bottom, *later]
    where = {}
    for k, (i, r, c) in _where(tables, fields).items():
        if i != APPLICATIONS:
            where[k] = (i + 1 if i > APPLICATIONS else i, r, c)
        else:
            where[k] = (i, r, c + 1 if c > 7 else c) if r < 11 else (i + 1, r - 11, c)
    assert _got(new, template) == where
    assert not any(_flags(new, template).values())


def test_a_sliver_with_ink_is_not_mapped_by_position(template: Template) -> None:
    """A remnant of the doubled rule read in the sliver: the grid disagrees with the template and
    nothing reconciles it, so 三's fields are flagged."""
    tables, _ = _truth_tables()
    new = [*tables[:APPLICATIONS], _sliver(tables[APPLICATIONS], 5, ink=True), *tables[APPLICATIONS + 1:]]
    flags = _flags(new, template)
    three = [k for k in flags if k.startswith("applications.")]
    assert three and all("grid_mismatch" in flags[k] for k in three)
    assert not any(flags[k] for k in flags if not k.startswith("applications."))
    mapped = align(new, template).mapped
    reasons = {why for k in three for _, why in mapped[k].doubts}
    assert any("模板为 7 列" in why for why in reasons)


def _merge_columns(table: Table, col: int, header: str) -> Table:
    """The rule between columns `col` and `col + 1` lost in every row (`_merge_cols`), the merged cells as
    wide as the two, the header read as `header`."""
    right = {c.row: c.bbox[2] for c in table.cells if c.col == col + 1 and c.col_span == 1}
    merged = _merge_cols(table, col)
    return merged.model_copy(update={"cells": [
        c.model_copy(update={"bbox": (*c.bbox[:2], right[c.row], c.bbox[3]),
                             **({"text": header} if c.kind == "label" else {})})
        if c.col == col and c.col_span == 1 and c.row in right else c for c in merged.cells]})


# ---------------------------------------------------------------- 2. column identity: header and position


def test_a_column_whose_header_reads_right_but_stands_over_two_is_unconfirmed(template: Template) -> None:
    """The rule between 其他 and 总计 lost everywhere and the header read as 其他 alone: by its header the
    wide column is 其他, but it covers two of the template's columns, and its cells hold two numbers."""
    tables, _ = _truth_tables()
    new = [*tables[:APPLICATIONS], _merge_columns(tables[APPLICATIONS], 8, "其他"), *tables[APPLICATIONS + 1:]]
    m = align(new, template).mapped
    key = "applications.new_applications.other_org"
    assert m[key].cell.text == "230"  # 2 and 30 run together: never a value as it stands
    assert ("column_unconfirmed" in {f for f, _ in m[key].doubts})
    result = repair(m, template.value_types, template.constraints, Config(workers=1))[key]
    assert result.needs_review and "column_unconfirmed" in result.flags
    assert any("位置不符" in why for why in result.reasons)
    assert not any("grid_mismatch" in {f for f, _ in c.doubts} for c in m.values())  # two positions: it adds up


def _headers_blanked(template: Template, *headers: str) -> tuple[list[Table], dict[str, set[str]]]:
    tables, _fields = _truth_tables()
    t = tables[APPLICATIONS]
    blanked = t.model_copy(update={"cells": [c.model_copy(update={"text": "", "kind": "blank"})
                                             if c.text in headers else c for c in t.cells]})
    new = [*tables[:APPLICATIONS], blanked, *tables[APPLICATIONS + 1:]]
    return new, _flags(new, template)


def test_two_unread_headers_side_by_side_are_placed_by_order_and_unconfirmed(template: Template) -> None:
    new, flags = _headers_blanked(template, "科研机构", "社会公益组织")
    tables, fields = _truth_tables()
    assert _got(new, template) == _where(tables, fields)  # still mapped, in order
    unsure = {k for k, f in flags.items() if "column_unconfirmed" in f}
    assert unsure == {k for k in flags if k.startswith("applications.")
                      and k.endswith((".research_institution", ".public_interest_org"))}
    why = next(w for _, w in align(new, template).mapped["applications.disclosed.research_institution"].doubts)
    assert "科研机构" in why and "列序" in why


def test_one_unread_header_between_read_ones_where_its_column_stands_is_pinned(template: Template) -> None:
    """科研机构 unread, but 商业企业 and 社会公益组织 beside it read, the grid has the template's columns and
    the column stands where 科研机构 stands: its place is confirmed by more than order."""
    new, flags = _headers_blanked(template, "科研机构")
    tables, fields = _truth_tables()
    assert _got(new, template) == _where(tables, fields)
    assert not any("column_unconfirmed" in f for f in flags.values())


def test_geometry_tells_a_column_standing_one_place_off() -> None:
    from ocr.template.geometry import Positions, Span, geometry_agrees

    tables, _ = _truth_tables()
    chain = chain_tables(tables[APPLICATIONS:APPLICATIONS + 1])[0]
    rules = chain.rules
    assert rules is not None
    pos = Positions(rules[3], (rules[10] - rules[3]) / 7, 7)
    assert geometry_agrees(chain, Span(4, 5), 1, pos)  # 商业企业 where it is printed
    assert geometry_agrees(chain, Span(4, 5), 2, pos) is False  # taken for 科研机构: one column off
    assert geometry_agrees(chain, Span(4, 6), 1, pos) is False  # two columns wide
    bare = Table(page=1, bbox=(0, 0, 1, 1), n_rows=1, n_cols=3, cells=[
        Cell(row=0, col=c, bbox=(0, 0, 1, 1), text="1", confidence=0.9, needs_review=False, kind="number")
        for c in range(3)])
    assert geometry_agrees(chain_tables([bare])[0], Span(0, 1), 0, pos) is None  # no geometry: nothing tells


# ---------------------------------------------------------------- 4. rows that do not line up with the grid


def test_a_cell_across_two_columns_flags_its_row(template: Template) -> None:
    tables, _ = _truth_tables()
    t = tables[APPLICATIONS]
    row = 5  # （一）予以公开
    a = next(c for c in t.cells if (c.row, c.col) == (row, 5))
    b = next(c for c in t.cells if (c.row, c.col) == (row, 6))
    wide = a.model_copy(update={"col_span": 2, "text": a.text + b.text, "bbox": (*a.bbox[:2], b.bbox[2], a.bbox[3])})
    damaged = t.model_copy(update={"cells": [wide if c is a else c for c in t.cells if c is not b]})
    new = [*tables[:APPLICATIONS], damaged, *tables[APPLICATIONS + 1:]]
    flags = _flags(new, template)
    in_row = {k for k in flags if k.startswith("applications.disclosed.")}
    assert len(in_row) == 5  # the two run together are not mapped at all
    assert all("row_misaligned" in flags[k] for k in in_row)
    assert not any("row_misaligned" in f for k, f in flags.items() if k not in in_row)


def test_a_row_shifted_against_its_neighbours_is_flagged(template: Template) -> None:
    tables, _ = _truth_tables()
    t = tables[APPLICATIONS]
    row = 6  # （二）部分公开
    shifted = t.model_copy(update={"cells": [
        c.model_copy(update={"bbox": (c.bbox[0] + 60, c.bbox[1], c.bbox[2] + 60, c.bbox[3])})
        if c.row == row and c.col >= 3 else c for c in t.cells]})
    flags = _flags([*tables[:APPLICATIONS], shifted, *tables[APPLICATIONS + 1:]], template)
    assert {k for k, f in flags.items() if "row_misaligned" in f} == {
        k for k in flags if k.startswith("applications.partially_disclosed.")}


# ---------------------------------------------------------------- 6. row matches carry a confidence


def test_a_row_placed_by_order_between_unsure_rows_is_flagged(template: Template) -> None:
    """Three row labels in a run unread: all three are placed by order, but only the middle one has no
    read neighbour to stand on."""
    tables, fields = _truth_tables()
    t = tables[APPLICATIONS]
    lost = ("1.属于国家秘密", "2.其他法律行政法规禁止公开", "3.危及")
    blanked = t.model_copy(update={"cells": [c.model_copy(update={"text": "", "kind": "blank"})
                                             if c.text.startswith(lost) else c for c in t.cells]})
    new = [*tables[:APPLICATIONS], blanked, *tables[APPLICATIONS + 1:]]
    assert _got(new, template) == _where(tables, fields)
    flags = _flags(new, template)
    assert {k for k, f in flags.items() if "row_unconfirmed" in f} == {
        k for k in flags if k.startswith("applications.withheld.prohibited_by_law.")}
    conf = align(new, template).row_confidence
    assert conf["applications.withheld.state_secret.total"] < 0.5 < conf["applications.disclosed.total"]
    assert conf["applications.disclosed.total"] == pytest.approx(1.0)


# ---------------------------------------------------------------- 3. what no evaluable sum checks


CFG = Config(workers=1)


def test_two_values_swapped_between_columns_whose_sums_are_open_are_reviewed() -> None:
    """r2's a and b swapped (a row sum does not care) and read surely, while an unreadable cell in each of
    their columns leaves the column sums open: only the reading vouches for them."""
    cells = grid_cells({gkey("r2", "a"): ("5", 0.93), gkey("r2", "b"): ("4", 0.93),
                        gkey("r1", "a"): ("?", 0.3), gkey("r3", "b"): ("?", 0.3)})
    results = repair(cells, grid_expected(), grid_constraints(), CFG)
    for col in ("a", "b"):
        r = results[gkey("r2", col)]
        assert r.needs_review and "unconfirmed_reading" in r.flags
        assert any("互换" in why for why in r.reasons)
    assert not results[gkey("r2", "c")].needs_review  # its column sum holds: a swap would show there


@pytest.mark.parametrize(("a", "b", "held"), [("2", "4", True), ("3", "3", False)], ids=["differ", "equal"])
def test_two_values_a_swap_could_exchange_are_held_only_when_they_differ(a: str, b: str, held: bool) -> None:
    """r2 unreadable, so both column sums are open and r1's a and b could have been swapped unseen: unless
    they are equal, when a swap changes nothing."""
    texts = {"r1.a": a, "r1.b": b, "r1.t": "6", "r2.a": "?", "r2.b": "?", "r2.t": "?", "t.a": "4", "t.b": "7"}
    cells = {f"x.{k}": mapped(f"x.{k}", v, 0.93 if k.startswith("r1.") else 0.99, col=i)
             for i, (k, v) in enumerate(texts.items())}
    cons = [Constraint("r1", ("x.r1.t",), ("x.r1.a", "x.r1.b")), Constraint("r2", ("x.r2.t",), ("x.r2.a", "x.r2.b")),
            Constraint("a", ("x.t.a",), ("x.r1.a", "x.r2.a")), Constraint("b", ("x.t.b",), ("x.r1.b", "x.r2.b"))]
    results = repair(cells, {k: "integer" for k in cells}, cons, CFG)
    assert [results[f"x.r1.{c}"].needs_review for c in "ab"] == [held, held]
    assert not results["x.r1.t"].needs_review  # its one sum holds and nothing could swap with it


def test_a_reading_whose_every_sum_is_open_is_held_to_a_stricter_confidence() -> None:
    keys = [f"review.{c}" for c in ("upheld", "corrected", "other", "pending", "total")]
    texts = {"upheld": "3", "corrected": "2", "other": "?", "pending": "6", "total": "19"}  # pending: a 0 read as 6
    cells = {k: mapped(k, texts[k.split(".")[1]], 0.92 if k.endswith("pending") else 0.99, col=i)
             for i, k in enumerate(keys)}
    con = Constraint("行政复议：总计 = 各结果之和", (keys[-1],), tuple(keys[:-1]))
    results = repair(cells, {k: "integer" for k in keys}, [con], CFG)
    assert results["review.pending"].needs_review and "unconfirmed_reading" in results["review.pending"].flags
    assert not results["review.upheld"].needs_review  # read at 0.99: surer than the stricter bar
    loose = repair(cells, {k: "integer" for k in keys}, [con], Config(workers=1, review_threshold_open=0.9))
    assert not loose["review.pending"].needs_review


# ---------------------------------------------------------------- 5. the arithmetic suggests, never moves


def _repaired(results: dict[str, FieldResult]) -> set[str]:
    return {k for k, r in results.items() if "repaired" in r.flags}


def test_values_swapped_between_cells_are_a_suggestion_not_a_repair() -> None:
    results = repair(grid_cells({gkey("r2", "a"): ("5", 0.6), gkey("r2", "b"): ("4", 0.6)}), grid_expected(),
                     grid_constraints(), CFG)
    for col, right in (("a", 4), ("b", 5)):
        r = results[gkey("r2", col)]
        assert r.needs_review and "suggested" in r.flags and r.suggestion == right and r.value != right
        assert any("互换" in why for why in r.reasons)
    assert not _repaired(results)


def test_a_confident_reading_is_never_overwritten() -> None:
    """A reading recognition passed (0.82, over the review bar) but under the repair's doubt bar."""
    results = repair(grid_cells({gkey("r2", "a"): ("9", 0.82)}), grid_expected(), grid_constraints(), CFG)
    r = results[gkey("r2", "a")]
    assert r.value == 9 and r.suggestion == 4 and r.needs_review and "suggested" in r.flags
    plain = repair(grid_cells({gkey("r2", "a"): ("9", 0.6)}), grid_expected(), grid_constraints(), CFG)
    assert _repaired(plain) == {gkey("r2", "a")} and plain[gkey("r2", "a")].value == 4  # a doubtful misread still is


def test_doubts_on_a_placement_survive_the_arithmetic() -> None:
    """Sums that hold cannot clear a column placed by order: a whole column moved keeps its own sums."""
    cells = grid_cells()
    key = gkey("r1", "a")
    cells[key] = MappedCell(**{**cells[key].__dict__, "doubts": (("column_unconfirmed", "列「a」仅按列序对应"),)})
    r = repair(cells, grid_expected(), grid_constraints(), CFG)[key]
    assert r.needs_review and "column_unconfirmed" in r.flags and "列「a」仅按列序对应" in r.reasons
