"""bench/fields.py's scoring on hand-made records: what counts as right, reviewed, silent, caught."""

from __future__ import annotations

import importlib.util
import json
import sys
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from ocr.model import Cell, FieldResult, PageInfo, Producer, Record, Table
from ocr.values import normalize

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    """bench/fields.py as a module (bench/ is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("bench_fields", ROOT / "bench" / "fields.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_fields"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


KEYS = ["regulations.issued", "applications.total.total", "applications.disclosed.total",
        "administrative_fees.amount"]


def truth(tier: str = "typical", name: str = "typical-s1-000", **extra: Any) -> dict[str, Any]:
    fields = dict(zip(KEYS, ["10", "12", "7", "267.9503"], strict=True))
    return {"source": f"{name}.pdf", "tier": tier, "fields": fields, **extra}


def cell(col: int, text: str, review: bool = False) -> Cell:
    return Cell(row=0, col=col, bbox=(0, 0, 10, 10), text=text, confidence=0.3 if review else 0.95,
                needs_review=review, kind="number")


def field_result(col: int, value: int | Decimal | str | None, text: str, review: bool = False,
                 flags: list[str] | None = None) -> FieldResult:
    return FieldResult(value=value, text=text, confidence=0.9, needs_review=review, flags=flags or [], page=1,
                       table=0, row=0, col=col)


def record(cells: list[Cell], fields: dict[str, FieldResult], name: str = "typical-s1-000") -> Record:
    producer = Producer(reportscan="0", tesseract="5", traineddata={}, config="test")
    table = Table(page=1, bbox=(0, 0, 100, 10), n_rows=1, n_cols=len(cells), cells=cells)
    return Record(producer=producer, source=f"{name}.pdf", sha256="0" * 64, pages=1, dpi=300,
                  page_info=[PageInfo(page=1, rotation=0, skew=0.0)], tables=[table], fields=fields)


def test_all_right_and_sure(bench: ModuleType) -> None:
    cells = [cell(0, "10"), cell(1, "12"), cell(2, "7"), cell(3, "267.9503")]
    fields = {k: field_result(i, v, c.text) for i, (k, v, c) in
              enumerate(zip(KEYS, [10, 12, 7, Decimal("267.9503")], cells, strict=True))}
    s = bench.score_document(record(cells, fields), truth(), normalize)
    for counts in (s.before, s.after):
        assert (counts.fields, counts.right, counts.review, counts.silent, counts.caught) == (4, 4, 0, 0, 0)
    assert s.after.ratios() == {"accuracy": 1.0, "silent_rate": 0.0, "review_rate": 0.0, "caught": 1.0}


def test_before_and_after_repair(bench: ModuleType) -> None:
    cells = [cell(0, "1O"),  # normalised to 10: right before repair
             cell(1, "13"),  # misread, the cell sure of itself: a silent error before repair ...
             cell(2, "1", review=True),  # misread but reviewed: caught before repair
             cell(3, "267.9508")]
    fields = {
        KEYS[0]: field_result(0, 10, "1O", flags=["normalized"]),
        KEYS[1]: field_result(1, 12, "13", flags=["repaired"]),  # ... which the arithmetic repairs
        KEYS[2]: field_result(2, 1, "1", review=True, flags=["constraint_failed"]),
        KEYS[3]: field_result(3, Decimal("267.9508"), "267.9508"),  # wrong and unflagged after repair too
    }
    s = bench.score_document(record(cells, fields), truth(), normalize)
    assert (s.before.right, s.before.silent, s.before.caught, s.before.review) == (1, 2, 1, 1)
    assert (s.after.right, s.after.silent, s.after.caught, s.after.review) == (2, 1, 1, 1)
    assert s.after.ratios()["caught"] == 0.5
    [err] = s.silent_errors
    assert (err["field"], err["truth"], err["value"]) == ("administrative_fees.amount", "267.9503", "267.9508")


def test_missing_fields_and_cells_are_wrong_but_not_silent(bench: ModuleType) -> None:
    cells = [cell(0, "10")]
    lost = FieldResult(value=None, text="", confidence=0.0, needs_review=True, flags=["unreadable"])  # no cell
    s = bench.score_document(record(cells, {KEYS[0]: field_result(0, 10, "10"), KEYS[1]: lost}), truth(), normalize)
    assert (s.after.fields, s.after.right, s.after.missing, s.after.silent) == (4, 1, 2, 0)
    assert (s.before.missing, s.before.silent, s.before.review) == (3, 0, 3)
    none = bench.score_document(None, truth(), normalize)
    assert none.records_missing == 1 and none.after.right == 0 and none.after.caught == 4


def test_source_inconsistent_totals(bench: ModuleType) -> None:
    cells = [cell(0, "10"), cell(1, "12"), cell(2, "7"), cell(3, "267.9503")]
    printed = {KEYS[0]: field_result(0, 10, "10"), KEYS[2]: field_result(2, 7, "7"),
               KEYS[3]: field_result(3, Decimal("267.9503"), "267.9503")}
    kept = field_result(1, 12, "12", review=True, flags=["constraint_failed", "source_inconsistent"])
    doc = truth(variants=["broken_arithmetic"], source_inconsistent=[KEYS[1]])
    s = bench.score_document(record(cells, {**printed, KEYS[1]: kept}), doc, normalize)
    assert (s.inconsistent, s.inconsistent_flagged, s.inconsistent_kept, s.inconsistent_reviewed) == (1, 1, 1, 1)
    assert s.false_inconsistent == 0 and s.after.silent == 0
    # "repaired" to what the arithmetic wants: the printed value is lost, and nobody is told
    fixed = field_result(1, 11, "12", flags=["repaired"])
    s = bench.score_document(record(cells, {**printed, KEYS[1]: fixed}), doc, normalize)
    assert (s.inconsistent, s.inconsistent_flagged, s.inconsistent_kept) == (1, 0, 0) and s.after.silent == 1
    # the flag on a report whose arithmetic holds is a false alarm
    s = bench.score_document(record(cells, {**printed, KEYS[1]: kept}), truth(variants=[]), normalize)
    assert (s.inconsistent, s.false_inconsistent) == (0, 1)
    assert set(s.by_variant) == {"(none)"}


def test_targets(bench: ModuleType) -> None:
    c = bench.Counts()
    for _ in range(997):
        c.count(True, False)
    c.count(False, True)
    c.count(False, True)
    c.count(False, False)  # one silent error in 1000 fields
    clean, hard = bench.check_targets("clean", c), bench.check_targets("hard", c)
    assert clean["silent_rate"]["pass"] is False and clean["accuracy"]["pass"] is False  # 99.7 % < 99.8 %
    assert hard["silent_rate"]["pass"] is True and "accuracy" not in hard and "review_rate" not in hard
    typical = bench.check_targets("typical", c)
    assert typical["review_rate"]["pass"] is True and typical["review_rate"]["value"] == 0.002


def test_records_folder_and_json(bench: ModuleType, tmp_path: Path) -> None:
    """--records scores what ingest wrote (decimals come back from JSON as strings) and writes --json."""
    docs, out = tmp_path / "docs", tmp_path / "out"
    docs.mkdir()
    out.mkdir()
    cells = [cell(0, "10"), cell(1, "12"), cell(2, "7"), cell(3, "267.9503")]
    fields = {k: field_result(i, v, c.text) for i, (k, v, c) in
              enumerate(zip(KEYS, [10, 12, 7, Decimal("267.95030")], cells, strict=True))}
    for name, tier in (("typical-s1-000", "typical"), ("clean-s1-000", "clean"), ("hard-s1-000", "hard")):
        (docs / f"{name}.truth.json").write_text(json.dumps(truth(tier, name)), encoding="utf-8")
        if tier != "hard":  # no record for the hard one
            (out / f"{name}.json").write_text(record(cells, fields, name).model_dump_json(), encoding="utf-8")
    scores = bench.score_records(out, sorted(docs.glob("*.truth.json")))
    assert list(scores) == ["clean", "typical", "hard"]
    assert scores["clean"].after.right == 4 and scores["typical"].before.right == 4
    assert scores["hard"].records_missing == 1 and scores["hard"].after.right == 0
    report = tmp_path / "fields.json"
    assert bench.main(["--records", str(out), "--docs", str(docs), "--json", str(report)]) == 0
    result = json.loads(report.read_text(encoding="utf-8"))
    assert result["tiers"]["clean"]["after"]["accuracy"] == 1.0
    assert result["tiers"]["clean"]["targets"]["silent_rate"]["pass"] is True
    assert result["tiers"]["hard"]["after"]["caught"] == 1.0 and result["tiers"]["hard"]["records_missing"] == 1
