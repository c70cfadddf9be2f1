"""Assembling records: continued tables, output names, atomic writes, the review decision."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ocr.config import Config
from ocr.model import Table
from ocr.rasterize import DocumentInfo
from ocr.records import link_continuations, needs_review, output_names, write_json_atomic


def _table(page: int, y0: int, y1: int, n_cols: int = 10) -> Table:
    return Table(page=page, bbox=(100, y0, 2300, y1), n_rows=3, n_cols=n_cols, cells=[])


def test_a_table_cut_by_a_page_break_is_linked_to_its_first_part():
    tables = [_table(2, 300, 900, 4), _table(2, 1200, 3300), _table(3, 250, 1800), _table(3, 2000, 2600, 15)]
    linked = link_continuations(tables, {2: (0, 2480, 3508), 3: (0, 2480, 3508)})
    assert [t.continued_from for t in linked] == [None, None, 1, None]
    assert [t.continued_from for t in tables] == [None] * 4  # the tables given are left as they were


@pytest.mark.parametrize(("prev_bottom", "next_top", "cols"), [(2000, 250, 10), (3300, 1500, 10), (3300, 250, 4)])
def test_tables_that_do_not_continue_stay_apart(prev_bottom, next_top, cols):
    tables = [_table(1, 300, prev_bottom), _table(2, next_top, next_top + 500, cols)]
    assert link_continuations(tables, {1: (0, 2480, 3508), 2: (0, 2480, 3508)})[1].continued_from is None


def test_same_stem_inputs_get_their_hash_in_the_name():
    def info(path: str, sha: str) -> DocumentInfo:
        return DocumentInfo(Path(path), "pdf", sha, 1, 300, ((10, 10),))

    names = output_names([info("a/r.pdf", "ab" * 32), info("b/r.pdf", "cd" * 32), info("c/s.pdf", "ef" * 32)])
    assert names == {Path("a/r.pdf"): "r-abababab.json", Path("b/r.pdf"): "r-cdcdcdcd.json",
                     Path("c/s.pdf"): "s.json"}


def test_atomic_write_leaves_nothing_behind_on_failure(tmp_path):
    target = tmp_path / "x.json"
    write_json_atomic({"a": 1}, target)
    with pytest.raises(TypeError):
        write_json_atomic({"a": object()}, target)  # not serialisable: fails mid-write
    assert json.loads(target.read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]


def test_review_decision():
    cfg = Config(workers=1, review_threshold_number=0.9, review_threshold_label=0.8)
    assert needs_review("blank", 1.0, ["blank"], cfg) == (False, ["blank"])
    assert needs_review("number", 0.95, [], cfg) == (False, [])
    assert needs_review("number", 0.85, [], cfg) == (True, ["low_confidence"])
    assert needs_review("label", 0.85, [], cfg) == (False, [])
    assert needs_review("label", 0.99, ["unreadable"], cfg) == (True, ["unreadable"])


def test_cells_whose_extent_is_a_guess_are_always_reviewed():
    cfg = Config(workers=1)
    assert needs_review("number", 0.99, ["grid_uncertain"], cfg)[0]
    assert needs_review("label", 0.99, ["readers_disagree"], cfg)[0]


def test_identical_files_in_two_folders_and_a_summary_lookalike_get_names_of_their_own():
    def info(path: str, sha: str) -> DocumentInfo:
        return DocumentInfo(Path(path), "pdf", sha, 1, 300, ((10, 10),))

    names = output_names([info("a/r.pdf", "ab" * 32), info("b/r.pdf", "ab" * 32), info("c/_summary.pdf", "cd" * 32)])
    assert len(set(names.values())) == 3 and "_summary.json" not in names.values()


def test_continuation_is_judged_on_the_upright_page():
    # page 2 was scanned upside down: its table at the top of the upright page sits at the bottom of the scan
    tables = [_table(1, 1200, 3300), Table(page=2, bbox=(100, 1700, 2300, 3250), n_rows=3, n_cols=10, cells=[])]
    assert link_continuations(tables, {1: (0, 2480, 3508), 2: (180, 2480, 3508)})[1].continued_from == 0
    # and a sideways page: upright "top" is the scan's left edge
    tables = [_table(1, 1200, 3300), Table(page=2, bbox=(50, 100, 700, 2400), n_rows=3, n_cols=10, cells=[])]
    assert link_continuations(tables, {1: (0, 2480, 3508), 2: (90, 3508, 2480)})[1].continued_from == 0


def test_outputs_get_the_usual_file_mode_not_mkstemps_0600(tmp_path):
    import os
    import stat

    from ocr.records import write_json_atomic

    old = os.umask(0o027)
    try:
        write_json_atomic({"a": 1}, tmp_path / "x.json")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "x.json").stat().st_mode) == 0o640


def test_a_document_no_template_matches_keeps_its_tables_and_names_nothing():
    from ocr.model import Cell, PageResult
    from ocr.records import build_record
    from ocr.template import load_templates

    def cell(row: int, col: int, text: str) -> Cell:
        kind = "number" if text.isdigit() else "label"
        return Cell(row=row, col=col, bbox=(col * 100, row * 50, col * 100 + 100, row * 50 + 50), text=text,
                    confidence=0.95, needs_review=False, kind=kind)

    texts = [["姓名", "年龄", "分数"], ["张三", "18", "90"], ["李四", "19", "85"]]
    table = Table(page=1, bbox=(0, 0, 300, 150), n_rows=3, n_cols=3,
                  cells=[cell(r, c, t) for r, row in enumerate(texts) for c, t in enumerate(row)])
    page = PageResult(number=1, width=2480, height=3508, tables=[table], lines=["学生成绩表"])
    info = DocumentInfo(Path("grades.pdf"), "pdf", "ab" * 32, 1, 300, ((2480, 3508),))
    record = build_record(info, [page], Config(workers=1), load_templates())
    assert record.template is None and record.fields == {} and record.unmapped == []
    assert record.report.agency is None and record.tables[0].template_table is None
    assert [c.text for c in record.tables[0].cells] == [t for row in texts for t in row]


def test_applying_the_template_returns_a_new_record_and_leaves_the_given_one_as_it_was():
    from ocr.model import Cell, Producer, Record
    from ocr.records import apply_template
    from ocr.template import load_templates

    truth = json.loads((Path(__file__).resolve().parent.parent / "samples/data/clean-s1-000.truth.json")
                       .read_text(encoding="utf-8"))
    tables = [Table(page=t["page"], bbox=(0, 0, 1, 1), continued_from=t["continued_from"], n_rows=t["n_rows"],
                    n_cols=t["n_cols"],
                    cells=[Cell(row=c["row"], col=c["col"], row_span=c["row_span"], col_span=c["col_span"],
                                bbox=(0, 0, 1, 1), text=c["text"], confidence=0.95, needs_review=False,
                                kind=c["kind"]) for c in t["cells"]]) for t in truth["tables"]]
    record = Record(producer=Producer(reportscan="0", tesseract="0", traineddata={}, config="0"),
                    source="r.pdf", sha256="ab" * 32, pages=truth["pages"], dpi=300, page_info=[], tables=tables)
    before = record.model_dump(mode="json")
    out = apply_template(record, [], load_templates(), Config(workers=1))
    assert record.model_dump(mode="json") == before
    assert out.template is not None and out.fields and out is not record
    assert [t.template_table for t in out.tables] == [t["template_table"] for t in truth["tables"]]
    for result in out.fields.values():  # every field's verdict is on its cell in the new record only
        if result.table is not None:
            cell = next(c for c in out.tables[result.table].cells if (c.row, c.col) == (result.row, result.col))
            assert cell.needs_review == result.needs_review and set(result.flags) <= set(cell.flags)


# ---------------------------------------------------------------- provenance and the record's schema


def _truth_record(edit: dict[tuple[int, int, int], str] | None = None):
    """The committed clean sample's tables as if read surely, `edit` (table, row, col) -> text applied."""
    from ocr.model import Cell, Producer, Record

    truth = json.loads((Path(__file__).resolve().parent.parent / "samples/data/clean-s1-000.truth.json")
                       .read_text(encoding="utf-8"))
    edit = edit or {}
    tables = [Table(page=t["page"], bbox=(0, 0, 2000, 3000), continued_from=t["continued_from"],
                    n_rows=t["n_rows"], n_cols=t["n_cols"],
                    cells=[Cell(row=c["row"], col=c["col"], row_span=c["row_span"], col_span=c["col_span"],
                                bbox=(c["col"] * 100, c["row"] * 40, c["col"] * 100 + 90, c["row"] * 40 + 30),
                                text=edit.get((ti, c["row"], c["col"]), c["text"]), confidence=0.97,
                                needs_review=False, kind=c["kind"]) for c in t["cells"]])
              for ti, t in enumerate(truth["tables"])]
    record = Record(producer=Producer(reportscan="0", tesseract="0", traineddata={}, config="0"),
                    source="r.pdf", sha256="ab" * 32, pages=truth["pages"], dpi=300, page_info=[], tables=tables)
    return record, truth


def _validate(record) -> None:
    import jsonschema

    from ocr.schema import record_schema

    jsonschema.validate(record.model_dump(mode="json"), record_schema())


def test_every_field_says_where_its_cell_is_and_which_sums_it_takes_part_in():
    from ocr.records import apply_template
    from ocr.template import load_templates

    record, _ = _truth_record()
    out = apply_template(record, [], load_templates(), Config(workers=1))
    assert out.schema_version == 3 and out.constraints
    assert {c.status for c in out.constraints} == {"holds"}  # the printed figures add up
    for key, f in out.fields.items():
        assert f.table is not None, key
        cell = next(c for c in out.tables[f.table].cells if (c.row, c.col) == (f.row, f.col))
        assert f.bbox == cell.bbox
        for i in f.constraints:  # each link points at a sum that names the field
            assert key in (*out.constraints[i].lhs, *out.constraints[i].rhs)
    linked = {k for c in out.constraints for k in (*c.lhs, *c.rhs)}
    assert all(bool(f.constraints) == (k in linked) for k, f in out.fields.items())
    assert not out.fields["regulations.issued"].constraints  # 二 has no arithmetic
    _validate(out)


def test_a_misread_the_sums_cannot_place_fails_with_its_numbers_and_an_unreadable_cell_leaves_sums_open():
    from ocr.records import apply_template
    from ocr.template import load_templates

    record, truth = _truth_record()
    base = apply_template(record, [], load_templates(), Config(workers=1))
    key = "applications.total.natural_person"
    f = base.fields[key]
    good = next(c.text for c in record.tables[f.table].cells if (c.row, c.col) == (f.row, f.col))
    wrong = str(int(good) + 100)
    out = apply_template(_truth_record({(f.table, f.row, f.col): wrong})[0], [], load_templates(), Config(workers=1))
    links = [out.constraints[i] for i in out.fields[key].constraints]
    assert len(links) >= 2 and any(c.status == "fails" for c in links)
    failing = [c for c in links if c.status == "fails"]
    assert all(wrong in c.text and "≠" in c.text for c in failing)
    assert out.fields[key].value == int(wrong) and all(key in (*c.lhs, *c.rhs) for c in failing)
    for c in failing:  # every other field of a failing sum links to it as well
        assert all(out.constraints.index(c) in out.fields[k].constraints for k in (*c.lhs, *c.rhs))
    _validate(out)
    out = apply_template(_truth_record({(f.table, f.row, f.col): "全"})[0], [], load_templates(), Config(workers=1))
    links = [out.constraints[i] for i in out.fields[key].constraints]
    assert links and {c.status for c in links} <= {"open", "repaired"}
    assert any(c.status == "open" and "?" in c.text for c in links) or out.fields[key].value == int(good)
    _validate(out)


def test_agency_and_year_carry_the_confidence_of_the_lines_they_came_from():
    from ocr.model import PageResult
    from ocr.records import build_record
    from ocr.template import load_templates

    record, truth = _truth_record()
    rep = truth["report"]
    y, m, d = (int(x) for x in rep["date"].split("-"))
    title = f"{rep['agency']}{rep['year']}年度政府信息公开工作年度报告"
    closing = f"{rep['agency']}办公室 {y}年{m}月{d}日"

    def built(confidences: list[float], lines: list[str] | None = None):
        pages = [PageResult(number=t.page, width=2480, height=3508, tables=[t]) for t in record.tables]
        by_page: dict[int, PageResult] = {}
        for p in pages:
            by_page.setdefault(p.number, PageResult(number=p.number, width=2480, height=3508)).tables.extend(p.tables)
        ordered = sorted(by_page.values(), key=lambda p: p.number)
        ordered[0].lines, ordered[0].line_confidences = (lines or [title, closing]), confidences
        info = DocumentInfo(Path("r.pdf"), "pdf", "ab" * 32, truth["pages"], 300, ((2480, 3508),) * truth["pages"])
        return build_record(info, ordered, Config(workers=1), load_templates()).report

    both = built([0.8, 0.7])
    assert (both.agency, both.year, both.date) == (rep["agency"], rep["year"], rep["date"])
    assert both.date_confidence == 0.7
    assert both.agency_confidence == both.year_confidence == round(1 - 0.2 * 0.3, 4)  # title and closing agree
    alone = built([0.8], [title])
    assert alone.agency_confidence == alone.year_confidence == 0.8 and alone.date is None
    assert alone.date_confidence is None
    other = built([0.8, 0.7], [title, f"某某局 {y}年{m}月{d}日"])  # the closing names someone else
    assert other.agency == rep["agency"] and other.agency_confidence == 0.8
    assert other.year_confidence == round(1 - 0.2 * 0.3, 4)  # its date still falls after the report's year


def test_version_1_and_2_records_still_read_and_a_newer_one_is_refused_clearly():
    from pydantic import ValidationError

    from ocr.model import Record
    from ocr.records import apply_template
    from ocr.template import load_templates

    record, _ = _truth_record()
    v3 = apply_template(record, [], load_templates(), Config(workers=1)).model_dump(mode="json")
    v2 = {**v3, "schema_version": 2, "tables": [{**t, "cells": [{k: v for k, v in c.items() if k != "read_text"}
                                                                for c in t["cells"]]} for t in v3["tables"]]}
    assert Record.model_validate(v2).schema_version == 3
    v1 = {**v2, "schema_version": 1, "fields": {k: {x: y for x, y in f.items() if x not in ("bbox", "constraints")}
                                                 for k, f in v2["fields"].items()}}
    del v1["constraints"]
    v1["report"] = {k: v2["report"][k] for k in ("agency", "year", "date")}
    old = Record.model_validate_json(json.dumps(v1, ensure_ascii=False))
    assert old.schema_version == 3 and old.constraints == []
    assert all(old.fields[k].bbox == tuple(f["bbox"]) for k, f in v2["fields"].items() if f["bbox"] is not None)
    assert all(f.constraints == [] for f in old.fields.values()) and old.report.agency_confidence is None
    _validate(old)
    with pytest.raises(ValidationError, match="schema_version 4 was written by a newer reportscan"):
        Record.model_validate({**v3, "schema_version": 4})


def test_a_field_linked_past_the_records_constraints_is_refused():
    from pydantic import ValidationError

    from ocr.model import Record
    from ocr.records import apply_template
    from ocr.template import load_templates

    record, _ = _truth_record()
    data = apply_template(record, [], load_templates(), Config(workers=1)).model_dump(mode="json")
    key = "applications.total.total"
    data["fields"][key]["constraints"] = [len(data["constraints"])]
    with pytest.raises(ValidationError, match=f"fields.{key}.constraints .* point past"):
        Record.model_validate(data)


def test_a_misread_label_is_printed_in_the_templates_wording_and_its_reading_kept():
    from ocr.records import apply_template
    from ocr.template import load_templates

    _, truth = _truth_record()
    where = next((ti, c["row"], c["col"]) for ti, t in enumerate(truth["tables"]) for c in t["cells"]
                 if c["text"] == "（三）不予公开")
    record, _ = _truth_record({where: "(三)不子公开"})
    low = record.model_copy(update={"tables": [t.model_copy(update={"cells": [
        c.model_copy(update={"confidence": 0.2, "needs_review": True, "flags": ["low_confidence"]})
        if (ti, c.row, c.col) == where else c for c in t.cells]}) for ti, t in enumerate(record.tables)]})
    out = apply_template(low, [], load_templates(), Config(workers=1))
    cell = next(c for c in out.tables[where[0]].cells if (c.row, c.col) == where[1:])
    assert (cell.text, cell.read_text) == ("（三）不予公开", "(三)不子公开")
    assert cell.flags == ["label_repaired"] and not cell.needs_review and cell.confidence > 0.9
    untouched = [c for t in out.tables for c in t.cells if c.read_text is None]
    assert len(untouched) == sum(len(t.cells) for t in out.tables) - 1
    _validate(out)
