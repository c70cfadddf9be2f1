"""Matching a record's tables to the template: alignment of tables built from the generator's truth (and
its own template description), clean and damaged, page parts joined, and documents of other types."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ocr.model import Cell, Table
from ocr.template import TEMPLATES_DIR, Template, align, identify, load_template, load_templates
from samples import template as T

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "data"
SHIPPED = TEMPLATES_DIR / "gov_disclosure_annual_report.yaml"
TRUTHS = sorted(SAMPLES.glob("*.truth.json"))

Expected = dict[str, tuple[int, int, int]]  # field -> (table index, row, col)


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template(SHIPPED)


def _truth(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / f"{name}.truth.json").read_text(encoding="utf-8"))


def _cell(c: dict[str, Any]) -> Cell:
    return Cell(row=c["row"], col=c["col"], row_span=c["row_span"], col_span=c["col_span"], bbox=(0, 0, 1, 1),
                text=c["text"], confidence=0.95, needs_review=False, kind=c["kind"])


def _tables(truth: dict[str, Any]) -> list[Table]:
    """The record tables a perfect reader would produce from this truth."""
    return [Table(page=t["page"], bbox=(0, 0, 1, 1), continued_from=t["continued_from"], n_rows=t["n_rows"],
                  n_cols=t["n_cols"], cells=[_cell(c) for c in t["cells"]]) for t in truth["tables"]]


def _expected(tables: list[Table], fields: list[list[str | None]]) -> Expected:
    return {f: (i, c.row, c.col) for i, t in enumerate(tables) for c, f in zip(t.cells, fields[i], strict=True) if f}


def _fields(truth: dict[str, Any]) -> list[list[str | None]]:
    return [[c["field"] for c in t["cells"]] for t in truth["tables"]]


def _assert_maps(tables: list[Table], template: Template, expected: Expected) -> None:
    got = {k: (m.table, m.cell.row, m.cell.col) for k, m in align(tables, template).mapped.items()}
    wrong = {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}
    extra = set(got) - set(expected)
    assert not wrong and not extra, f"wrong {list(wrong.items())[:6]} extra {sorted(extra)[:6]}"


# ---------------------------------------------------------------- matching on the generator's truth


@pytest.mark.parametrize("path", TRUTHS, ids=[p.name.removesuffix(".truth.json") for p in TRUTHS])
def test_truth_tables_map_every_number_to_its_field(path: Path, template: Template) -> None:
    truth = json.loads(path.read_text(encoding="utf-8"))
    tables = _tables(truth)
    assert identify(tables, [], [template]) is template
    _assert_maps(tables, template, _expected(tables, _fields(truth)))
    alignment = align(tables, template)
    assert alignment.table_keys == {i: t["template_table"] for i, t in enumerate(truth["tables"])}
    assert [(u.label, u.table, u.row, [v.text for v in u.values]) for u in alignment.unmapped] == [
        (u["label"], u["table"], u["row"], u["values"]) for u in truth["unmapped"]]
    mapped = alignment.mapped["administrative_fees.amount"]
    assert (mapped.value_type, mapped.label, mapped.page) == ("decimal", "行政事业性收费 本年收费金额（万元）",
                                                              truth["tables"][mapped.table]["page"])


def _garble(text: str, rng: random.Random, rate: float) -> str:
    """OCR-like damage: some characters read as others."""
    return "".join(rng.choice("太白言日口十土木乙") if ch.strip() and rng.random() < rate else ch for ch in text)


def _breaks(text: str, rng: random.Random) -> str:
    """A label wrapped over lines and read with stray spaces."""
    out = ""
    for ch in text:
        out += ch + (rng.choice(["\n", " ", ""]) if rng.random() < 0.3 else "")
    return out


def _damage(tables: list[Table], change: Callable[[Cell], Cell | None]) -> list[Table]:
    return [t.model_copy(update={"cells": [change(c) or c for c in t.cells]}) for t in tables]


def _relabel(text: str, kind: str = "label") -> Callable[[Cell], Cell]:
    return lambda c: c.model_copy(update={"text": text, "kind": kind})


def _where(tables: list[Table], text: str) -> tuple[int, int, int]:
    """Table, row and column of the label cell whose text starts with `text`."""
    return next((i, c.row, c.col) for i, t in enumerate(tables) for c in t.cells
                if c.kind == "label" and c.text.startswith(text))


def _change_at(tables: list[Table], spot: tuple[int, int, int], change: Callable[[Cell], Cell]) -> list[Table]:
    return [t.model_copy(update={"cells": [change(c) if (i, c.row, c.col) == spot else c for c in t.cells]})
            for i, t in enumerate(tables)]


DAMAGES: dict[str, Callable[[list[Table], random.Random], list[Table]]] = {
    "garbled characters": lambda ts, rng: _damage(
        ts, lambda c: c.model_copy(update={"text": _garble(c.text, rng, 0.2)}) if c.kind == "label" else None),
    "line breaks and spaces": lambda ts, rng: _damage(
        ts, lambda c: c.model_copy(update={"text": _breaks(c.text, rng)}) if c.kind == "label" else None),
    "note dropped": lambda ts, rng: _change_at(ts, _where(ts, "（二）部分公开"), _relabel("（二）部分公开")),
    "straight quotes, half-width brackets": lambda ts, rng: _damage(
        ts, lambda c: c.model_copy(update={"text": c.text.translate(str.maketrans("“”（）：，", "\"\"():,"))})),
    "seed OCR damage": lambda ts, rng: _change_at(_change_at(_change_at(_change_at(
        ts, _where(ts, "一、本年新收"), _relabel("一、太白 言息公开申请数量")),
        _where(ts, "（二）部分公开"), _relabel("分公开(区分处理的, 只计这一情形,")),
        _where(ts, "（七）总计"), _relabel("(七) 总i")),
        _where(ts, "5.要求行政机关"), _relabel("呈要求行政机关确认或重新出具已获取信")),
}


@pytest.mark.parametrize("name", ["typical-s2-001", "clean-s1-001"])
@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_mapping_survives_label_damage(damage: str, name: str, template: Template) -> None:
    truth = _truth(name)
    clean = _tables(truth)
    for seed in range(3):
        tables = DAMAGES[damage](clean, random.Random(seed))
        _assert_maps(tables, template, _expected(tables, _fields(truth)))


REMOVABLE = ["规章", "行政强制", "行政事业性收费", "一、本年新收", "（一）予以公开", "4.保护第三方", "3.其他",
             "（七）总计", "四、结转下年度", "自然人", "科研机构", "总计", "本年废止件数", "结果纠正"]


@pytest.mark.parametrize("label", REMOVABLE)
def test_one_label_removed_still_maps_by_order(label: str, template: Template) -> None:
    truth = _truth("typical-s2-001")
    tables = _tables(truth)
    tables = _change_at(tables, _where(tables, label), _relabel("", "blank"))
    _assert_maps(tables, template, _expected(tables, _fields(truth)))


def test_a_label_read_in_a_value_cell_is_never_a_number(template: Template) -> None:
    truth = _truth("clean-s1-001")
    tables = _tables(truth)
    spot = next((i, c["row"], c["col"]) for i, t in enumerate(truth["tables"]) for c in t["cells"]
                if c["field"] == "administrative_licensing.decisions")
    tables = _change_at(tables, spot, _relabel("行 政许可"))  # as a real OCR read it
    expected = _expected(tables, _fields(truth))
    del expected["administrative_licensing.decisions"]
    _assert_maps(tables, template, expected)


def _cut(table: Table, rows: range) -> Table:
    """Rows `rows` of a table as a table of their own (spans trimmed; a cut label keeps its text)."""
    cells = []
    for c in table.cells:
        top, bottom = max(c.row, rows.start), min(c.row + c.row_span, rows.stop)
        if top < bottom:
            text, kind = (c.text, c.kind) if c.row >= rows.start else ("", "blank" if c.kind == "label" else c.kind)
            cells.append(c.model_copy(update={"row": top - rows.start, "row_span": bottom - top, "text": text,
                                              "kind": kind}))
    return table.model_copy(update={"n_rows": len(rows), "cells": cells})


def _cut_fields(table: Table, fields: list[str | None], rows: range) -> list[str | None]:
    return [f for c, f in zip(table.cells, fields, strict=True) if rows.start <= c.row < rows.stop
            or c.row < rows.start < c.row + c.row_span]


def test_active_disclosure_printed_as_four_small_tables(template: Template) -> None:
    truth = _truth("typical-s2-001")  # 二 with the 政府集中采购 row
    tables, fields = _tables(truth), _fields(truth)
    parts = [range(0, 4), range(4, 7), range(7, 11), range(11, tables[0].n_rows)]
    small = [_cut(tables[0], r) for r in parts]
    rest = [t.model_copy(update={"continued_from": None if t.continued_from is None else t.continued_from + 3})
            for t in tables[1:]]
    new = small + rest
    new_fields = [_cut_fields(tables[0], fields[0], r) for r in parts] + fields[1:]
    _assert_maps(new, template, _expected(new, new_fields))
    alignment = align(new, template)
    assert [alignment.table_keys[i] for i in range(4)] == [T.ACTIVE_DISCLOSURE] * 4
    assert [(u.label, u.table, u.row) for u in alignment.unmapped] == [("政府集中采购", 3, 3)]


@pytest.mark.parametrize("linked", [True, False], ids=["continued_from", "unlinked"])
def test_applications_continued_on_the_next_page(linked: bool, template: Template) -> None:
    truth = _truth("clean-s1-001")  # 三 whole on one page
    tables, fields = _tables(truth), _fields(truth)
    i = next(k for k, t in enumerate(truth["tables"]) if t["template_table"] == T.APPLICATIONS)
    top, bottom = range(0, 11), range(11, tables[i].n_rows)  # cut inside （三）不予公开
    second = _cut(tables[i], bottom).model_copy(update={"page": tables[i].page + 1,
                                                        "continued_from": i if linked else None})
    later = [t.model_copy(update={"page": t.page + 1}) for t in tables[i + 1:]]
    new = [*tables[:i], _cut(tables[i], top), second, *later]
    new_fields = [*fields[:i], _cut_fields(tables[i], fields[i], top), _cut_fields(tables[i], fields[i], bottom),
                  *fields[i + 1:]]
    assert not any(f for f in new_fields[i + 1][:3])  # the continuation starts with label pieces
    _assert_maps(new, template, _expected(new, new_fields))
    assert align(new, template).table_keys[i + 1] == T.APPLICATIONS


# ---------------------------------------------------------------- the generator's own template description


def _from_spec(spec: T.TableSpec, page: int, numbers: dict[str | None, str]) -> tuple[Table, list[str | None]]:
    cells, fields = [], []
    for c in spec.cells:
        text = numbers.get(c.field, "92") if c.kind == T.NUMBER else c.text
        cells.append(Cell(row=c.row, col=c.col, row_span=c.row_span, col_span=c.col_span, bbox=(0, 0, 1, 1),
                          text=text, confidence=0.9, needs_review=False, kind=c.kind))
        fields.append(c.field)
    return Table(page=page, bbox=(0, 0, 1, 1), n_rows=spec.n_rows, n_cols=spec.n_cols, cells=cells), fields


def test_generator_spec_with_procurement_row(template: Template) -> None:
    numbers = {k: str(n) for n, k in enumerate(T.all_field_keys())}
    numbers["administrative_fees.amount"] = "267.9503"
    built = [_from_spec(s, p, numbers) for p, s in ((3, T.active_disclosure(procurement=True)),
                                                    (3, T.applications()), (4, T.review_litigation()))]
    tables = [t for t, _ in built]
    assert identify(tables, [], [template]) is template
    _assert_maps(tables, template, _expected(tables, [f for _, f in built]))
    alignment = align(tables, template)
    assert alignment.mapped["administrative_fees.amount"].cell.text == "267.9503"
    [row] = alignment.unmapped
    assert (row.label, row.page, row.table, row.row) == (T.PROCUREMENT_LABEL, 3, 0, 14)
    assert [(v.col, v.text, v.value) for v in row.values] == [(1, "92", 92)]


def test_only_table_two_present(template: Template) -> None:
    table, fields = _from_spec(T.active_disclosure(), 2, {})
    assert identify([table], [], [template]) is template
    _assert_maps([table], template, _expected([table], [fields]))


# ---------------------------------------------------------------- no template, other templates


def _grid(rows: list[list[str]], page: int = 1) -> Table:
    cells = [Cell(row=r, col=c, bbox=(0, 0, 1, 1), text=text, confidence=0.9, needs_review=False,
                  kind="number" if text.replace(".", "").isdigit() else "label")
             for r, row in enumerate(rows) for c, text in enumerate(row)]
    return Table(page=page, bbox=(0, 0, 1, 1), n_rows=len(rows), n_cols=len(rows[0]), cells=cells)


BUDGET = [["项目", "预算数", "决算数"], ["一般公共预算收入", "120", "118"], ["政府性基金收入", "30", "28"],
          ["合计", "150", "146"]]


def test_a_document_of_no_known_type(template: Template) -> None:
    tables = [_grid(BUDGET)]
    assert identify(tables, ["某某县2021年财政预算执行情况", "某某县财政局 2022年1月5日"], [template]) is None
    assert identify([], [], [template]) is None
    alignment = align(tables, template)
    assert alignment.mapped == {} and alignment.table_keys == {} and alignment.unmapped == []


def test_a_new_report_type_is_a_new_file(tmp_path: Path, template: Template) -> None:
    (tmp_path / "a_disclosure.yaml").write_text(SHIPPED.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "budget.yaml").write_text("""
id: budget_execution
name: 财政预算执行情况
identify:
  title: '^(?P<agency>.+?)(?P<year>\\d{4})年财政预算执行情况'
  title_words: 财政预算执行情况
tables:
  - key: budget
    title: 预算执行
    short: 表一
    recognise: [预算数, 决算数, 一般公共预算收入]
    header_rows: 1
    stub: 项目
    columns:
      - {key: planned, label: 预算数}
      - {key: actual, label: 决算数}
    rows:
      - {key: general, label: 一般公共预算收入}
      - {key: funds, label: 政府性基金收入}
      - {key: total, label: 合计, variants: [总计]}
constraints:
  - {table: budget, each: column, lhs: [total], rhs: [general..funds]}
""", encoding="utf-8")
    budget, disclosure = sorted(load_templates(tmp_path), key=lambda t: t.id)
    tables = [_grid(BUDGET)]
    assert identify(tables, [], [disclosure, budget]) is budget
    assert [c.name for c in budget.constraints] == ["表一 预算数列：合计 = 一般公共预算收入 + 政府性基金收入",
                                                    "表一 决算数列：合计 = 一般公共预算收入 + 政府性基金收入"]
    got = {k: m.cell.text for k, m in align(tables, budget).mapped.items()}
    assert got == {"general.planned": "120", "general.actual": "118", "funds.planned": "30", "funds.actual": "28",
                   "total.planned": "150", "total.actual": "146"}
    truth_tables = _tables(_truth("clean-s1-001"))
    assert identify(truth_tables, [], [budget, disclosure]) is disclosure


def _merge_cols(table: Table, col: int) -> Table:
    """The table as read when the rule between columns `col` and `col + 1` is lost: the two cells of a
    row become one whose text interleaves theirs line by line."""
    by_pos = {(c.row, c.col): c for c in table.cells}
    cells = []
    for c in table.cells:
        if c.col == col + 1 and c.col_span == 1 and (c.row, col) in by_pos and by_pos[c.row, col].col_span == 1:
            continue
        if c.col == col and c.col_span == 1 and (c.row, col + 1) in by_pos:
            right = by_pos[c.row, col + 1]
            label = c.kind == "label"
            text = c.text[:2] + right.text[:2] + c.text[2:] + right.text[2:] if label else c.text + right.text
            cells.append(c.model_copy(update={"text": text, "kind": c.kind}))
        elif c.col <= col < c.col + c.col_span - 1:
            cells.append(c.model_copy(update={"col_span": c.col_span - 1}))
        elif c.col > col:
            cells.append(c.model_copy(update={"col": c.col - 1}))
        else:
            cells.append(c)
    return table.model_copy(update={"n_cols": table.n_cols - 1, "cells": cells})


def test_a_lost_rule_leaves_the_merged_fields_unmapped(template: Template) -> None:
    """Two columns read as one cell hold two numbers run together: neither field may take it."""
    truth = _truth("clean-s1-001")
    tables, fields = _tables(truth), _fields(truth)
    i = next(k for k, t in enumerate(truth["tables"]) if t["template_table"] == T.REVIEW_LITIGATION)
    merged = _merge_cols(tables[i], 5)  # 未经复议直接起诉: 结果维持 | 结果纠正
    assert any(c.text == "结果结果维持纠正" for c in merged.cells)
    new = [*tables[:i], merged, *tables[i + 1:]]
    expected = _expected(tables, fields)
    lost = {"review_litigation.litigation_direct.upheld", "review_litigation.litigation_direct.corrected"}
    expected = {k: (t, r, c - 1 if t == i and c > 5 else c) for k, (t, r, c) in expected.items() if k not in lost}
    _assert_maps(new, template, expected)


# ---------------------------------------------------------------- damage the field benchmark found (issue 4)


def _geo_tables(truth: dict[str, Any]) -> list[Table]:
    """As `_tables`, with the cells' and tables' boxes on the page (joining parts goes by where rules are)."""
    def box(b: list[float]) -> tuple[int, int, int, int]:
        x0, y0, x1, y1 = (round(v) for v in b)
        return x0, y0, x1, y1

    return [t.model_copy(update={"bbox": box(raw["bbox"]), "cells": [
        c.model_copy(update={"bbox": box(rc["bbox"])}) for c, rc in zip(t.cells, raw["cells"], strict=True)]})
        for t, raw in zip(_tables(truth), truth["tables"], strict=True)]


def _regrid(table: Table) -> Table:
    """The table as the grid finder sees it: a column rule no cell of this part ends at is not found,
    so the part has fewer columns (三 cut after （一）予以公开 has no rule inside its label columns)."""
    rules = sorted({c.col for c in table.cells} | {c.col + c.col_span for c in table.cells})
    at = {r: i for i, r in enumerate(rules)}
    cells = [c.model_copy(update={"col": at[c.col], "col_span": at[c.col + c.col_span] - at[c.col]})
             for c in table.cells]
    return table.model_copy(update={"n_cols": len(rules) - 1, "cells": cells})


def _split_applications(truth: dict[str, Any], cut: int) -> tuple[list[Table], list[list[str | None]], int]:
    """The truth's tables with 三 cut before row `cut` onto the next page, each part re-gridded, and
    unlinked: the parts' column counts differ, so the pipeline's geometric link does not join them."""
    tables, fields = _geo_tables(truth), _fields(truth)
    i = next(k for k, t in enumerate(truth["tables"]) if t["template_table"] == T.APPLICATIONS)
    top, bottom = range(0, cut), range(cut, tables[i].n_rows)
    first = _regrid(_cut(tables[i], top))
    second = _regrid(_cut(tables[i], bottom)).model_copy(update={"page": tables[i].page + 1})
    later = [t.model_copy(update={"page": t.page + 1}) for t in tables[i + 1:]]
    new = [*tables[:i], first, second, *later]
    new_fields = [*fields[:i], _cut_fields(tables[i], fields[i], top), _cut_fields(tables[i], fields[i], bottom),
                  *fields[i + 1:]]
    return new, new_fields, i


@pytest.mark.parametrize(("cut", "short"), [(6, 0), (26, 1)], ids=["top-part-short", "last-part-short"])
def test_page_parts_whose_column_counts_differ_are_joined(cut: int, short: int, template: Template) -> None:
    """typical-s7301-003 (三 cut after （一）予以公开: its top part a rule short) and clean-s7300-009 (only
    （七）总计 and 四 on the next page): the rules that are printed stand where the other part's do."""
    new, new_fields, i = _split_applications(_truth("clean-s1-001"), cut)
    assert (new[i + short].n_cols, new[i + 1 - short].n_cols) == (9, 10)
    _assert_maps(new, template, _expected(new, new_fields))
    alignment = align(new, template)
    assert alignment.table_keys[i] == alignment.table_keys[i + 1] == T.APPLICATIONS
    assert alignment.unmapped == []
    assert alignment.continued == {i + 1: i}  # the record links the parts the page link missed


def test_parts_without_geometry_are_not_joined_by_column_count_alone(template: Template) -> None:
    """Where the rules are is what tells a part a rule short from another table: without it, no join."""
    truth = _truth("clean-s1-001")
    new, new_fields, i = _split_applications(truth, 26)
    bare = [t.model_copy(update={"bbox": (0, 0, 1, 1), "cells": [c.model_copy(update={"bbox": (0, 0, 1, 1)})
                                                                   for c in t.cells]}) for t in new]
    alignment = align(bare, template)
    assert i + 1 not in alignment.table_keys
    lost = {f for f in new_fields[i + 1] if f}
    assert lost and not lost & set(alignment.mapped)


@pytest.mark.parametrize(("field", "text"), [("administrative_licensing.decisions", "179本"),
                                             ("administrative_fees.amount", "O")])
def test_a_number_read_as_words_keeps_its_row(field: str, text: str, template: Template) -> None:
    """typical-s7301-000 ('179本') and -006 (a lone 'O'): a one-row block of 二 whose number the label
    reader garbled is still a body row, not a header, so the field keeps its cell (repair judges it)."""
    truth = _truth("clean-s1-001")
    tables = _tables(truth)
    spot = next((i, c["row"], c["col"]) for i, t in enumerate(truth["tables"]) for c in t["cells"]
                if c["field"] == field)
    tables = _change_at(tables, spot, _relabel(text))
    _assert_maps(tables, template, _expected(tables, _fields(truth)))
    assert align(tables, template).mapped[field].cell.text == text


# hard-s7302-005's header as read when its rules were lost: one cell, the labels interleaved line by line
HARD_HEADER = ("|申请人情况(本列数据的勾秽关系为，第一项加第二项之和，等于第三项加第四项法人或其他组织之和"
               "自然帮，科研社会法律总计人商业科研公益服务其他")


def _merge_header(table: Table, rows: int, text: str) -> Table:
    """The header rules lost: the top `rows` rows read as one cell across the table."""
    cells = [c for c in table.cells if c.row >= rows]
    merged = Cell(row=0, col=0, row_span=rows, col_span=table.n_cols, bbox=(0, 0, 1, 1), text=text, confidence=0.0,
                  needs_review=True, kind="label")
    return table.model_copy(update={"cells": [merged, *cells]})


def _merge_cells(table: Table, row: int, col: int, text: str) -> Table:
    """One row's rule between `col` and `col + 1` lost: two value cells read as one."""
    cells = []
    for c in table.cells:
        if c.row == row and c.col == col + 1:
            continue
        cells.append(c.model_copy(update={"col_span": 2, "text": text}) if (c.row, c.col) == (row, col) else c)
    return table.model_copy(update={"cells": cells})


def _applications_index(truth: dict[str, Any]) -> int:
    return next(k for k, t in enumerate(truth["tables"]) if t["template_table"] == T.APPLICATIONS)


def test_a_header_read_as_one_cell_maps_the_columns_in_order(template: Template) -> None:
    """hard-s7302-005: the header rules lost, so no column label can be read, and one body row lost a
    rule between two numbers. The seven number columns are the template's seven, in order: never a
    column skipped and its neighbour's numbers taken for it."""
    truth = _truth("clean-s1-001")
    tables, fields = _tables(truth), _fields(truth)
    i = _applications_index(truth)
    damaged = _merge_cells(_merge_header(tables[i], 3, HARD_HEADER), 20, 4, "00")
    new = [*tables[:i], damaged, *tables[i + 1:]]
    expected = _expected(tables, fields)
    lost = {k for k, (t, r, c) in expected.items() if t == i and r == 20 and c in (4, 5)}
    assert len(lost) == 2
    _assert_maps(new, template, {k: v for k, v in expected.items() if k not in lost})


def test_a_column_lost_without_labels_maps_no_column(template: Template) -> None:
    """Six printed number columns for the template's seven and no label to say which is missing: any
    pairing by order would shift some; so none of 三's fields is mapped (all go to review)."""
    truth = _truth("clean-s1-001")
    tables = _tables(truth)
    i = _applications_index(truth)
    damaged = _merge_header(tables[i], 3, HARD_HEADER)
    for row in range(3, damaged.n_rows):
        damaged = _merge_cells(damaged, row, 5, "0 0")
    new = [*tables[:i], damaged, *tables[i + 1:]]
    mapped = align(new, template).mapped
    assert not any(k.startswith("applications.") for k in mapped)
    assert "review_litigation.admin_review.total" in mapped  # the other tables still map


def test_a_header_lost_rules_over_numbers_the_body_keeps(template: Template) -> None:
    """hard-s7302-001: 二's three column labels read as one cell (the header lost its rules, the body
    did not): each number column takes its label in order."""
    truth = _truth("clean-s1-001")
    tables, fields = _tables(truth), _fields(truth)
    i = next(k for k, t in enumerate(truth["tables"]) if t["template_table"] == T.ACTIVE_DISCLOSURE)
    top = [c for c in tables[i].cells if c.row == 1 and c.col >= 1]
    assert [c.text for c in top] == ["本年制发件数", "本年废止件数", "现行有效件数"]
    cells = [c for c in tables[i].cells if c not in top]
    cells.append(top[0].model_copy(update={"col_span": 3, "text": "本年制发件数本年废止件数现行有效件数"}))
    new = [*tables[:i], tables[i].model_copy(update={"cells": cells}), *tables[i + 1:]]
    _assert_maps(new, template, _expected(tables, fields))


def test_row_labels_read_as_one_cell_map_the_rows_in_order(template: Template) -> None:
    """hard-s7302-002: every label of 三's result rows read as one cell beside them all (the label
    column lost its rules, the numbers did not): the 22 rows are the template's 22, in order."""
    truth = _truth("clean-s1-001")
    tables, fields = _tables(truth), _fields(truth)
    i = _applications_index(truth)
    t = tables[i]
    first = next(c for c in t.cells if c.text.startswith("三、本年度办理结果"))
    rows = range(first.row, first.row + first.row_span)
    labels = [c for c in t.cells if c.row in rows and c.kind == "label" and c.col < 3]
    text = "".join(c.text for c in sorted(labels, key=lambda c: (c.row, c.col)))
    merged = first.model_copy(update={"col_span": 3, "text": text[:40]})
    new_t = t.model_copy(update={"cells": [merged, *(c for c in t.cells if c not in labels)]})
    new = [*tables[:i], new_t, *tables[i + 1:]]
    _assert_maps(new, template, _expected(tables, fields))


def test_first_number_column_read_as_nothing_in_every_row(template: Template) -> None:
    """hard-s9502-003: both numbers under 本年制发件数 read as empty words, so every row's first number
    is one column further right; the header over the row labels still says where the numbers start."""
    truth = _truth("clean-s1-001")
    tables = _tables(truth)
    for field in ("regulations.issued", "normative_documents.issued"):
        spot = next((i, c["row"], c["col"]) for i, t in enumerate(truth["tables"]) for c in t["cells"]
                    if c["field"] == field)
        tables = _change_at(tables, spot, _relabel(""))
    _assert_maps(tables, template, _expected(tables, _fields(truth)))


def test_unmapped_values_are_read_as_fields_are() -> None:
    from ocr.template.fields import _plain_value

    assert _plain_value("1,234") == 1234 and _plain_value("１２") == 12 and _plain_value("-") == 0
    assert _plain_value("267.9503") == Decimal("267.9503") and _plain_value("件") is None


def _split_row(table: Table, row: int, cut: set[int], first_value: int) -> Table:
    """`table` with body row `row` split in two across value columns `cut` by a stray line (a seal's ring):
    their lower halves become cells of a new row under it holding the seal's ink read as a word; every
    other cell covering the row now spans both."""
    cells = []
    for c in table.cells:
        if c.row > row:
            cells.append(c.model_copy(update={"row": c.row + 1}))
        elif c.row == row and c.col >= first_value and c.col in cut:
            cells.append(c)
            cells.append(c.model_copy(update={"row": row + 1, "text": "克", "kind": "label", "confidence": 0.3}))
        elif c.row <= row < c.row + c.row_span:
            cells.append(c.model_copy(update={"row_span": c.row_span + 1}))
        else:
            cells.append(c)
    return table.model_copy(update={"cells": cells, "n_rows": table.n_rows + 1})


def test_a_row_split_by_a_stray_line_keeps_its_own_fields_and_every_row_under_it(template: Template) -> None:
    # a deviations report: a seal's ring cut row 3.要求提供公开出版物 in two across its last value columns,
    # the seal's ink below read as a word; taken for a header row, it opened a new block and the 73 fields
    # under it went unmapped
    truth = _truth("typical-s2-001")
    tables = _tables(truth)
    ti, row, _ = _where(tables, "3.要求提供公开出版物")
    first_value = min(c.col for c in tables[ti].cells if c.row == row and c.kind == "number")
    split = [_split_row(t, row, {first_value + 4, first_value + 5}, first_value) if i == ti else t
             for i, t in enumerate(tables)]
    expected = {k: (i, r + 1 if i == ti and r > row else r, c) for k, (i, r, c) in
                _expected(tables, _fields(truth)).items()}
    _assert_maps(split, template, expected)
    mapped = align(split, template).mapped

    def split_doubt(m) -> bool:  # noqa: ANN001
        return any(flag == "row_misaligned" and "分成上下两格" in why for flag, why in m.doubts)

    in_row = [m for m in mapped.values() if m.table == ti and m.cell.row == row and m.cell.kind == "number"]
    assert len(in_row) == 7 and all(split_doubt(m) for m in in_row)  # its cells may have lost their lower half
    below = [m for m in mapped.values() if m.table == ti and m.cell.row > row + 1]
    assert below and not any(split_doubt(m) for m in below)


@pytest.mark.parametrize(("row", "printed", "label", "confidence", "placed"), [
    # failed readings: placed in order, as an unread label is (augraphy-heavy s7705-004, deviations s7706-002)
    ("applications.not_processed.confirmation", "5.要求行政机关确认", "多", 0.06, True),
    ("applications.withheld.state_secret", "1.属于国家秘密", "性于[本所秘全VV", 0.0, True),
    # read surely and like no template label: a row the template does not know
    ("applications.not_processed.confirmation", "5.要求行政机关确认", "多", 0.9, False),
])
def test_a_row_whose_label_reading_failed_is_placed_between_its_neighbours(
        template: Template, row: str, printed: str, label: str, confidence: float, placed: bool) -> None:
    """A row label read as noise between two read ones: one template row, one printed row, placed in order;
    the same text read surely stays a row the template does not know, with its values kept unmapped."""
    truth = _truth("clean-s1-001")
    tables, fields = _tables(truth), _fields(truth)
    spot = _where(tables, printed)
    damaged = _change_at(tables, spot, lambda c: c.model_copy(update={"text": label, "confidence": confidence}))
    alignment = align(damaged, template)
    if placed:
        _assert_maps(damaged, template, _expected(tables, fields))
    else:
        assert not {k for k in alignment.mapped if k.startswith(row + ".")}
        assert [u.label for u in alignment.unmapped] == [label]
