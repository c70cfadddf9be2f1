"""`reportscan export`: records in, tables out that keep every number exact and every flagged cell visible."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.cli import main
from ocr.export import field_keys, load_records
from ocr.model import (
    ConstraintCheck,
    FieldResult,
    PageInfo,
    Producer,
    Record,
    ReportInfo,
    UnmappedRow,
    UnmappedValue,
)
from ocr.records import write_json_atomic, write_record

ROOT = Path(__file__).resolve().parent.parent
REASON = "总计 12 ≠ 3 + 4 + 0 + 0 + 0 + 0"
FEES = "administrative_fees.amount"
NEW = "applications.new_applications.natural_person"


def _field(value: object, text: str, *, flags: tuple[str, ...] = (), reasons: tuple[str, ...] = (),
           suggestion: object = None, conf: float = 0.95, row: int = 1, col: int = 1,
           constraints: tuple[int, ...] = ()) -> FieldResult:
    return FieldResult(value=value, text=text, confidence=conf, needs_review=bool(reasons), flags=list(flags),
                       reasons=list(reasons), suggestion=suggestion, page=2, table=0, row=row, col=col,
                       bbox=(100 * col, 40 * row, 100 * col + 90, 40 * row + 30), constraints=list(constraints))


def _record(source: str, agency: str, fields: dict[str, FieldResult], unmapped: list[UnmappedRow],
            constraints: list[ConstraintCheck] | None = None) -> Record:
    return Record(producer=Producer(reportscan="0.1.0", tesseract="5.3.0", traineddata={}, config="x"),
                  source=source, sha256=source.encode().hex().ljust(64, "0"), pages=1, dpi=300,
                  template="gov_disclosure_annual_report", page_info=[PageInfo(page=1, rotation=0, skew=0.0)],
                  tables=[], report=ReportInfo(agency=agency, year=2021, date="2022-01-20", agency_confidence=0.93,
                                               year_confidence=0.99, date_confidence=0.9),
                  fields=fields, constraints=constraints or [], unmapped=unmapped)


TOTAL = "applications.total.natural_person"
SUM_NAME = "三 自然人列：一 + 二 = 总计 + 四"
HOLDS_NAME = "三 自然人列：（七）总计 = 各办理结果之和"


def _checks() -> list[ConstraintCheck]:
    return [ConstraintCheck(name=HOLDS_NAME, status="open", lhs=[TOTAL], rhs=[NEW, FEES], text="total 9 =? 12 + ?"),
            ConstraintCheck(name=SUM_NAME, status="fails", text="12 + 0 ≠ 9 + 0",
                            lhs=[NEW, "applications.carried_over.natural_person"],
                            rhs=[TOTAL, "applications.carried_forward.natural_person"])]


def _records() -> list[Record]:
    a = _record("a.pdf", "国务院办公厅", {
        "regulations.issued": _field(3, "3"),
        "regulations.repealed": _field(None, "", flags=("blank",), conf=1.0),
        FEES: _field(Decimal("267.9503"), "267.9503", col=4),
        NEW: _field(12, "l2", flags=("normalized", "constraint_failed", "source_inconsistent"),
                    reasons=(REASON, "l 读作 1"), suggestion=7, conf=0.41, row=5, col=3, constraints=(0, 1)),
    }, [UnmappedRow(label="政府集中采购", page=2, table=0, row=9, values=[
        UnmappedValue(col=3, text="1,234.5", value=Decimal("1234.5"), confidence=0.8)])], _checks())
    b = _record("b.pdf", "北京市人民政府", {
        "regulations.issued": _field(0, "0"),
        "regulations.repealed": _field(1, "1"),
        "regulations.in_force": _field(5, "5"),  # a key a.pdf lacks: belongs between repealed and fees
        FEES: _field(Decimal("12.5"), "12.5", col=4),
    }, [UnmappedRow(label="其他", page=2, table=0, row=10, values=[])])
    return [a, b]


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    d = tmp_path / "records"
    for r in _records():
        write_record(r, d / r.source.replace(".pdf", ".json"))
    write_json_atomic({"documents": 2}, d / "_summary.json")
    return d


def _export(out_dir: Path, fmt: str, to: Path) -> int:
    return main(["export", str(out_dir), "--format", fmt, "--to", str(to)])


def _by_field(rows: list[dict]) -> dict[tuple[str, str | None, str | None], dict]:
    return {(r["source"], r["field"], r["label"]): r for r in rows}


def test_keys_keep_template_order_across_records():
    assert field_keys(_records()) == ["regulations.issued", "regulations.repealed", "regulations.in_force",
                                      FEES, NEW]


def test_parquet_keeps_amounts_as_exact_decimals(out_dir, tmp_path):
    to = tmp_path / "x"
    assert _export(out_dir, "parquet", to) == 0
    wide = pq.read_table(to / "reports.parquet")
    assert wide.schema.field(FEES).type == pa.decimal128(7, 4)
    assert wide.schema.field("regulations.issued").type == pa.int64()
    rows = wide.to_pylist()
    assert [r["source"] for r in rows] == ["a.pdf", "b.pdf"]
    assert rows[0][FEES] == Decimal("267.9503") and str(rows[0][FEES]) == "267.9503"
    assert rows[1][FEES] == Decimal("12.5")
    assert rows[0]["agency"] == "国务院办公厅"
    assert rows[0]["regulations.repealed"] is None and rows[1]["regulations.repealed"] == 1
    assert rows[0]["regulations.in_force"] is None and rows[1]["regulations.in_force"] == 5
    assert (rows[0]["fields_needing_review"], rows[1]["fields_needing_review"]) == (1, 0)
    assert wide.column_names[:11] == ["source", "sha256", "template", "agency", "year", "date",
                                      "agency_confidence", "year_confidence", "date_confidence",
                                      "fields_needing_review", "unmapped_rows"]
    assert wide.column_names[11:] == field_keys(_records())

    long = pq.read_table(to / "fields.parquet")
    assert pa.types.is_decimal(long.schema.field("value").type)
    got = _by_field(long.to_pylist())
    assert got[("a.pdf", FEES, None)]["value"] == Decimal("267.9503")
    assert got[("a.pdf", NEW, None)]["value"] == 12
    procurement = got[("a.pdf", None, "政府集中采购")]
    assert procurement["value"] == Decimal("1234.5") and procurement["text"] == "1,234.5"
    assert (procurement["page"], procurement["row"], procurement["col"]) == (2, 9, 3)
    assert got[("b.pdf", None, "其他")]["value"] is None  # a row with no cells is kept too
    assert len(long) == 4 + 4 + 2
    pdf = pd.read_parquet(to / "fields.parquet")  # and pandas reads it as is
    assert pdf.loc[pdf["field"] == FEES, "value"].tolist() == [Decimal("267.9503"), Decimal("12.5")]


def test_long_table_carries_printed_text_flags_and_reasons(out_dir, tmp_path):
    assert _export(out_dir, "parquet", tmp_path / "x") == 0
    got = _by_field(pq.read_table(tmp_path / "x" / "fields.parquet").to_pylist())
    new = got[("a.pdf", NEW, None)]
    assert new["text"] == "l2" and new["needs_review"] is True and new["source_inconsistent"] is True
    assert new["flags"].split(",") == ["normalized", "constraint_failed", "source_inconsistent"]
    assert new["reasons"] == f"{REASON}; l 读作 1"
    assert new["suggestion"] == 7 and new["confidence"] == pytest.approx(0.41)
    assert (new["page"], new["table"], new["row"], new["col"]) == (2, 0, 5, 3)
    blank = got[("a.pdf", "regulations.repealed", None)]
    assert blank["value"] is None and blank["text"] == "" and blank["flags"] == "blank"
    assert blank["source_inconsistent"] is False and blank["needs_review"] is False


def test_jsonl_decimals_read_back_exactly(out_dir, tmp_path):
    assert _export(out_dir, "jsonl", tmp_path / "x") == 0
    lines = (tmp_path / "x" / "reports.jsonl").read_text(encoding="utf-8").splitlines()
    wide = [json.loads(line, parse_float=Decimal) for line in lines]
    assert wide[0][FEES] == Decimal("267.9503") and isinstance(wide[0][FEES], Decimal)
    assert '"administrative_fees.amount": 267.9503' in lines[0]  # a number literal, not a string
    assert wide[0]["regulations.issued"] == 3 and wide[0]["agency"] == "国务院办公厅"
    long = [json.loads(line, parse_float=Decimal)
            for line in (tmp_path / "x" / "fields.jsonl").read_text(encoding="utf-8").splitlines()]
    got = _by_field(long)
    assert got[("a.pdf", NEW, None)]["reasons"] == f"{REASON}; l 读作 1"
    assert got[("a.pdf", None, "政府集中采购")]["value"] == Decimal("1234.5")
    assert got[("b.pdf", FEES, None)]["value"] == Decimal("12.5")


def test_csv_has_a_bom_and_the_printed_digits(out_dir, tmp_path):
    to = tmp_path / "x"
    # through a real process: the export path must not import Prefect (it costs seconds at start-up)
    code = ("import sys; from flows.cli import main; rc = main(sys.argv[1:]); "
            "assert 'prefect' not in sys.modules, 'prefect imported'; sys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code, "export", str(out_dir), "--format", "csv", "--to", str(to)],
                       capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(to / "reports.csv"), str(to / "fields.csv")]
    raw = (to / "reports.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    wide = pd.read_csv(to / "reports.csv", dtype=str)  # pandas detects the BOM itself
    assert wide.columns[0] == "source"
    assert wide["agency"].tolist() == ["国务院办公厅", "北京市人民政府"]
    assert wide[FEES].tolist() == ["267.9503", "12.5"]
    with (to / "fields.csv").open(encoding="utf-8-sig", newline="") as fh:
        long = list(csv.DictReader(fh))
    got = {(r["source"], r["field"], r["label"]): r for r in long}
    assert got[("a.pdf", NEW, "")]["reasons"] == f"{REASON}; l 读作 1"
    assert got[("a.pdf", NEW, "")]["text"] == "l2"
    assert got[("a.pdf", "", "政府集中采购")]["value"] == "1234.5"


def test_xlsx_is_one_workbook_whose_amounts_show_the_printed_digits(out_dir, tmp_path):
    to = tmp_path / "x"
    assert _export(out_dir, "xlsx", to) == 0
    assert sorted(os.listdir(to)) == ["reports.xlsx"]
    wb = openpyxl.load_workbook(to / "reports.xlsx")
    assert wb.sheetnames == ["reports", "fields"]
    ws = wb["reports"]
    header = [c.value for c in ws[1]]
    fees = ws.cell(row=2, column=header.index(FEES) + 1)
    assert fees.data_type == "n" and fees.value == pytest.approx(267.9503) and fees.number_format == "0.0000"
    assert ws.cell(row=3, column=header.index(FEES) + 1).number_format == "0.0"
    assert ws.cell(row=2, column=header.index("agency") + 1).value == "国务院办公厅"
    assert ws.cell(row=2, column=header.index("regulations.repealed") + 1).value is None
    long = pd.read_excel(to / "reports.xlsx", sheet_name="fields")
    row = long[(long["source"] == "a.pdf") & (long["field"] == NEW)].iloc[0]
    assert row["text"] == "l2" and row["reasons"] == f"{REASON}; l 读作 1" and bool(row["source_inconsistent"])
    assert long[long["label"] == "政府集中采购"]["text"].tolist() == ["1,234.5"]


def test_a_corrupt_record_is_named_and_the_others_still_exported(out_dir, tmp_path, capsys):
    (out_dir / "broken.json").write_text('{"schema_version": 1, "source": ', encoding="utf-8")
    (out_dir / "other.json").write_text('{"hello": "world"}', encoding="utf-8")
    (out_dir / ".c.json.x1y2.tmp.json").write_text("half a rec", encoding="utf-8")  # an ingest still writing
    to = tmp_path / "x"
    assert _export(out_dir, "parquet", to) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2
    assert err[0].startswith(str(out_dir / "broken.json")) and "not valid JSON" in err[0]
    assert err[1].startswith(str(out_dir / "other.json")) and "not a valid record" in err[1]
    assert pq.read_table(to / "reports.parquet").column("source").to_pylist() == ["a.pdf", "b.pdf"]
    records, errors = load_records(out_dir)
    assert [r.source for r in records] == ["a.pdf", "b.pdf"] and len(errors) == 2


def test_no_readable_record_exports_nothing(tmp_path):
    d = tmp_path / "records"
    d.mkdir()
    (d / "broken.json").write_text("", encoding="utf-8")
    assert _export(d, "csv", tmp_path / "x") == 1
    assert list((tmp_path / "x").iterdir()) == []


def test_usage_errors_exit_2(out_dir, tmp_path, capsys):
    assert _export(tmp_path / "nope", "csv", tmp_path / "x") == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    write_json_atomic({"documents": 0}, empty / "_summary.json")
    assert _export(empty, "csv", tmp_path / "x") == 2
    assert "holds no records" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    with pytest.raises(SystemExit) as exc:
        _export(out_dir, "ods", tmp_path / "x")
    assert exc.value.code == 2


def test_unwritable_to_exits_2_and_writes_nothing(out_dir, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert _export(out_dir, "csv", blocker / "x") == 2
    assert "--to" in capsys.readouterr().err
    assert blocker.read_text() == "not a folder"


def test_a_failed_write_leaves_the_previous_export_whole(out_dir, tmp_path, capsys):
    to = tmp_path / "x"
    to.mkdir()
    (to / "reports.csv").write_text("old export", encoding="utf-8")
    (to / "fields.csv").mkdir()  # a folder in the way: fields.csv cannot be renamed into place
    assert _export(out_dir, "csv", to) == 2
    assert "cannot write there" in capsys.readouterr().err
    assert (to / "reports.csv").read_text(encoding="utf-8") == "old export"  # not replaced by half an export
    assert sorted(p.name for p in to.iterdir()) == ["fields.csv", "reports.csv"]  # no temp files left


def test_parquet_schema_of_the_fixed_columns_does_not_depend_on_the_data(tmp_path):
    """Records from before the template stage: no fields, no year; the columns keep their types."""
    d = tmp_path / "records"
    bare = _record("c.pdf", "", {}, []).model_copy(update={"report": ReportInfo(), "template": None})
    write_record(bare, d / "c.json")
    assert _export(d, "parquet", tmp_path / "x") == 0
    wide = pq.read_table(tmp_path / "x" / "reports.parquet")
    assert wide.schema.field("year").type == pa.int64() and wide.column("year").to_pylist() == [None]
    long = pq.read_table(tmp_path / "x" / "fields.parquet")
    assert long.num_rows == 0
    assert long.schema.field("confidence").type == pa.float64()
    assert long.schema.field("needs_review").type == pa.bool_()
    assert long.schema.field("page").type == pa.int64()


def test_csv_text_from_a_scan_never_runs_as_a_formula(tmp_path):
    rec = _record("c.pdf", "某局", {
        "regulations.issued": _field(None, "=HYPERLINK(\"x\")", flags=("unreadable",), reasons=("无法识别",)),
        "regulations.repealed": _field(0, "-", flags=("dash",)),
        "regulations.in_force": _field(None, "@SUM(1)", flags=("unreadable",), reasons=("无法识别",)),
    }, [])
    d = tmp_path / "records"
    write_record(rec, d / "c.json")
    assert _export(d, "csv", tmp_path / "x") == 0
    long = pd.read_csv(tmp_path / "x" / "fields.csv", dtype=str, keep_default_na=False)
    texts = dict(zip(long["field"], long["text"], strict=True))
    assert texts == {"regulations.issued": "'=HYPERLINK(\"x\")", "regulations.repealed": "-",
                     "regulations.in_force": "'@SUM(1)"}


# ---------------------------------------------------------------- provenance: boxes, constraint links, identities

LINKS = [{"id": 0, "name": HOLDS_NAME, "status": "open", "text": "total 9 =? 12 + ?"},
         {"id": 1, "name": SUM_NAME, "status": "fails", "text": "12 + 0 ≠ 9 + 0"}]


def test_parquet_and_jsonl_nest_each_fields_box_and_constraint_links(out_dir, tmp_path):
    assert _export(out_dir, "parquet", tmp_path / "p") == 0
    long = pq.read_table(tmp_path / "p" / "fields.parquet")
    assert long.schema.field("bbox").type == pa.list_(pa.int64())
    assert pa.types.is_list(long.schema.field("constraints").type)
    got = _by_field(long.to_pylist())
    new = got[("a.pdf", NEW, None)]
    assert new["bbox"] == [300, 200, 390, 230] and new["constraints"] == LINKS
    assert got[("a.pdf", FEES, None)]["constraints"] == []  # 二 takes part in no sum
    assert got[("a.pdf", None, "政府集中采购")]["bbox"] is None  # the record holds no table for it
    wide = pq.read_table(tmp_path / "p" / "reports.parquet").to_pylist()
    assert (wide[0]["agency_confidence"], wide[0]["year_confidence"]) == (pytest.approx(0.93), pytest.approx(0.99))
    assert pq.read_table(tmp_path / "p" / "reports.parquet").schema.field("agency_confidence").type == pa.float64()

    assert _export(out_dir, "jsonl", tmp_path / "j") == 0
    long = _by_field([json.loads(line) for line in (tmp_path / "j" / "fields.jsonl").read_text("utf-8").splitlines()])
    assert long[("a.pdf", NEW, None)]["constraints"] == LINKS and long[("a.pdf", NEW, None)]["bbox"] == [300, 200, 390,
                                                                                                       230]
    wide = [json.loads(line) for line in (tmp_path / "j" / "reports.jsonl").read_text("utf-8").splitlines()]
    assert wide[0]["date_confidence"] == 0.9


def test_csv_and_xlsx_write_the_links_as_compact_text(out_dir, tmp_path):
    compact = f"open #0 {HOLDS_NAME}：total 9 =? 12 + ?; fails #1 {SUM_NAME}：12 + 0 ≠ 9 + 0"
    assert _export(out_dir, "csv", tmp_path / "c") == 0
    long = pd.read_csv(tmp_path / "c" / "fields.csv", dtype=str, keep_default_na=False)
    row = long[(long["source"] == "a.pdf") & (long["field"] == NEW)].iloc[0]
    assert row["bbox"] == "300,200,390,230" and row["constraints"] == compact
    assert long[long["field"] == FEES]["constraints"].tolist() == ["", ""]
    wide = pd.read_csv(tmp_path / "c" / "reports.csv", dtype=str)
    assert wide["agency_confidence"].tolist()[0] == "0.93"
    assert _export(out_dir, "xlsx", tmp_path / "x") == 0
    long = pd.read_excel(tmp_path / "x" / "reports.xlsx", sheet_name="fields")
    row = long[(long["source"] == "a.pdf") & (long["field"] == NEW)].iloc[0]
    assert row["bbox"] == "300,200,390,230" and row["constraints"] == compact


def test_a_version_1_record_exports_and_a_newer_one_is_named(out_dir, tmp_path, capsys):
    v1 = json.loads((out_dir / "a.json").read_text(encoding="utf-8"))
    v1["schema_version"] = 1
    del v1["constraints"]
    for f in v1["fields"].values():
        del f["bbox"], f["constraints"]
    v1["report"] = {k: v1["report"][k] for k in ("agency", "year", "date")}
    (out_dir / "a.json").write_text(json.dumps(v1, ensure_ascii=False), encoding="utf-8")
    newer = json.loads((out_dir / "b.json").read_text(encoding="utf-8")) | {"schema_version": 4}
    (out_dir / "b.json").write_text(json.dumps(newer, ensure_ascii=False), encoding="utf-8")
    assert _export(out_dir, "jsonl", tmp_path / "j") == 1
    err = capsys.readouterr().err
    assert "b.json" in err and "schema_version 4 was written by a newer reportscan" in err
    long = [json.loads(line) for line in (tmp_path / "j" / "fields.jsonl").read_text("utf-8").splitlines()]
    row = next(r for r in long if r["field"] == NEW)
    assert row["value"] == 12 and row["bbox"] is None and row["constraints"] == []  # nothing a v1 record lacks


def test_each_field_says_where_its_value_comes_from(out_dir, tmp_path):
    """From a record alone: repaired when a repair set the value, else read; nothing is corrected."""
    records = _records()
    records[1].fields["regulations.in_force"].flags.append("repaired")
    write_record(records[1], out_dir / "b.json")
    assert _export(out_dir, "parquet", tmp_path / "x") == 0
    got = _by_field(pq.read_table(tmp_path / "x" / "fields.parquet").to_pylist())
    assert got[("b.pdf", "regulations.in_force", None)]["value_source"] == "repaired"
    assert got[("a.pdf", NEW, None)]["value_source"] == "read"
    assert got[("a.pdf", None, "政府集中采购")]["value_source"] == "read"  # an unmapped cell, as read
    assert got[("b.pdf", None, "其他")]["value_source"] is None  # a row with no cell has no value
    assert all(r["corrected_by"] is None for r in got.values())


@dataclass(frozen=True)
class _Given:
    source: str
    by: str | None


def test_provenance_passed_in_wins_and_names_the_operator(tmp_path):
    """What the store's export passes: per record, by field key; a key it lacks is judged from the record."""
    from ocr.export import field_rows, write

    records = _records()
    sources = [{NEW: _Given("corrected", "alice")}, {"regulations.issued": _Given("repaired", None)}]
    sheet = field_rows(records, sources)
    at = {c: sheet.columns.index(c) for c in ("source", "field", "value_source", "corrected_by")}
    rows = {(r[at["source"]], r[at["field"]]): r for r in sheet.rows}
    assert rows[("a.pdf", NEW)][at["value_source"]] == "corrected"
    assert rows[("a.pdf", NEW)][at["corrected_by"]] == "alice"
    assert rows[("b.pdf", "regulations.issued")][at["value_source"]] == "repaired"
    assert rows[("a.pdf", FEES)][at["value_source"]] == "read"
    with pytest.raises(ValueError, match="2 provenance mappings for 1 records"):
        field_rows(records[:1], sources)
    write(records, "csv", tmp_path / "x", sources=sources)
    with (tmp_path / "x" / "fields.csv").open(encoding="utf-8-sig", newline="") as fh:
        csv_rows = {(r["source"], r["field"]): r for r in csv.DictReader(fh)}
    assert (csv_rows[("a.pdf", NEW)]["value_source"], csv_rows[("a.pdf", NEW)]["corrected_by"]) == ("corrected",
                                                                                                    "alice")
    assert csv_rows[("a.pdf", FEES)]["corrected_by"] == ""


def test_export_takes_a_folder_or_a_store_not_both(out_dir, tmp_path, capsys):
    to = tmp_path / "x"
    assert main(["export", "--format", "csv", "--to", str(to)]) == 2
    assert "exactly one" in capsys.readouterr().err
    assert main(["export", str(out_dir), "--db", f"sqlite:///{tmp_path}/s.db", "--format", "csv",
                 "--to", str(to)]) == 2
    assert main(["export", str(out_dir), "--approved-only", "--format", "csv", "--to", str(to)]) == 2
    assert "only with --db" in capsys.readouterr().err
    assert not to.exists() and not (tmp_path / "s.db").exists()
