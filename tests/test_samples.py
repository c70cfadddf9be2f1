"""Tests of the sample generator (samples/) and of the committed set in samples/data.

Generation needs poppler-utils and the UMing font; when they are missing the tests fail (not skip),
because a silently skipped generator test would hide a broken environment.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from samples import template as T
from samples.generate import generate_document, generate_samples, truth_json
from samples.layout import FONT_PATH, register_font, wrap
from samples.validate import tiling_errors, validate_truth

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "samples" / "data"
COMMITTED = ["clean-s1-000", "clean-s1-001", "typical-s2-000", "typical-s2-001", "hard-s3-000"]
SEED, TIER = 13, "typical"  # seed 13: 政府集中采购 row, table 三 split over two pages, non-zero numbers


def require_tools() -> None:
    """Fail loudly when the system tools or the font the generator needs are missing."""
    missing = [t for t in ("pdftoppm", "pdftotext", "pdfinfo") if shutil.which(t) is None]
    if missing:
        pytest.fail(f"poppler-utils missing ({', '.join(missing)}): apt-get install poppler-utils")
    if not FONT_PATH.exists():
        pytest.fail(f"CJK font missing: {FONT_PATH} (apt-get install fonts-arphic-uming)")


def load_truth(pdf: Path) -> dict[str, Any]:
    return json.loads(pdf.with_suffix(".truth.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One generated document, shared by the whole module (generation takes a few seconds)."""
    require_tools()
    [pdf] = generate_samples(tmp_path_factory.mktemp("gen"), 1, SEED, TIER)
    return pdf


# ---------------------------------------------------------------- independent checks


def arithmetic_problems(fields: dict[str, str]) -> list[str]:
    """The 勾稽关系 of the fact sheet, written out again here (not via samples.template)."""
    cols = ["natural_person", "commercial_enterprise", "research_institution", "public_interest_org",
            "legal_service_org", "other_org"]
    results = ["disclosed", "partially_disclosed"]
    results += [f"withheld.{k}" for k in ("state_secret", "prohibited_by_law", "security_stability",
                                           "third_party_rights", "internal_affairs", "process_information",
                                           "enforcement_files", "inquiry_matters")]
    results += [f"unavailable.{k}" for k in ("not_held", "needs_creation", "still_unclear")]
    results += [f"not_processed.{k}" for k in ("petition", "duplicate", "publication", "excessive",
                                                "confirmation")]
    results += [f"other.{k}" for k in ("no_correction", "fee_unpaid", "other")]
    assert len(results) == 21

    def n(key: str) -> int:
        return int(fields[key])

    problems = []
    for row in ["new_applications", "carried_over", *results, "total", "carried_forward"]:
        if sum(n(f"applications.{row}.{c}") for c in cols) != n(f"applications.{row}.total"):
            problems.append(f"row {row}: 总计 != sum of applicants")
    for c in [*cols, "total"]:
        if sum(n(f"applications.{r}.{c}") for r in results) != n(f"applications.total.{c}"):
            problems.append(f"col {c}: （七）总计 != sum of results")
        if n(f"applications.new_applications.{c}") + n(f"applications.carried_over.{c}") != (
                n(f"applications.total.{c}") + n(f"applications.carried_forward.{c}")):
            problems.append(f"col {c}: 一+二 != （七）总计+四")
    for g in ("admin_review", "litigation_direct", "litigation_after_review"):
        parts = sum(n(f"review_litigation.{g}.{c}") for c in ("upheld", "corrected", "other", "pending"))
        if parts != n(f"review_litigation.{g}.total"):
            problems.append(f"review {g}: 总计 != sum")
    if not re.fullmatch(r"\d+(\.\d+)?", fields["administrative_fees.amount"]):
        problems.append("fee is not a decimal")
    return problems


def check_truth(truth: dict[str, Any]) -> None:
    """Everything the brief requires of a truth file."""
    assert validate_truth(truth) == []
    assert arithmetic_problems(truth["fields"]) == []
    assert len(truth["fields"]) == 10 + 25 * 7 + 15
    tables = truth["tables"]
    by_key: dict[str, list[dict[str, Any]]] = {}
    for t in tables:
        by_key.setdefault(t["template_table"], []).append(t)
    assert sorted(by_key) == sorted([T.ACTIVE_DISCLOSURE, T.APPLICATIONS, T.REVIEW_LITIGATION])
    [active] = by_key[T.ACTIVE_DISCLOSURE]
    assert (active["n_rows"], active["n_cols"]) == ((15, 4) if truth["unmapped"] else (14, 4))
    apps = by_key[T.APPLICATIONS]
    assert sum(p["n_rows"] for p in apps) == 28 and all(p["n_cols"] == 10 for p in apps)
    assert [p["part"] for p in apps] == list(range(len(apps)))
    [review] = by_key[T.REVIEW_LITIGATION]
    assert (review["n_rows"], review["n_cols"]) == (4, 15)
    pages = {p["page"]: p for p in truth["page_info"]}
    assert sorted(pages) == list(range(1, truth["pages"] + 1))
    for t in tables:
        assert tiling_errors(t) == []
        page = pages[t["page"]]
        x0, y0, x1, y1 = t["bbox"]
        assert 0 <= x0 < x1 <= page["width"] and 0 <= y0 < y1 <= page["height"]
        for c in t["cells"]:
            cx0, cy0, cx1, cy1 = c["bbox"]
            assert x0 <= cx0 < cx1 <= x1 and y0 <= cy0 < cy1 <= y1, c
            assert "\n" not in c["text"]
    for u in truth["unmapped"]:
        assert u["label"] == "政府集中采购" and u["table"] == tables.index(active) and u["row"] == 14
        assert re.fullmatch(r"\d+", u["values"][0])


def pdf_pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))  # type: ignore[union-attr]


def pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True).stdout


# ---------------------------------------------------------------- generated document


def test_same_seed_gives_identical_bytes(sample: Path, tmp_path: Path) -> None:
    [again] = generate_samples(tmp_path, 1, SEED, TIER)
    assert again.name == sample.name == f"{TIER}-s{SEED}-000.pdf"
    assert again.read_bytes() == sample.read_bytes()
    assert again.with_suffix(".truth.json").read_bytes() == sample.with_suffix(".truth.json").read_bytes()


def test_different_seed_differs(sample: Path, tmp_path: Path) -> None:
    [other] = generate_samples(tmp_path, 1, SEED + 1, TIER)
    assert other.read_bytes() != sample.read_bytes()
    a, b = load_truth(sample), load_truth(other)
    assert (a["report"], a["fields"]) != (b["report"], b["fields"])


def test_truth_header(sample: Path) -> None:
    truth = load_truth(sample)
    assert (truth["generator"], truth["seed"], truth["tier"], truth["index"]) == (1, SEED, TIER, 0)
    assert truth["source"] == sample.name and truth["dpi"] == 300
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", truth["report"]["date"])
    assert int(truth["report"]["date"][:4]) > truth["report"]["year"]
    text = sample.with_suffix(".truth.json").read_text(encoding="utf-8")
    assert text == json.dumps(truth, ensure_ascii=False, sort_keys=True, indent=1) + "\n"


def test_truth_is_consistent(sample: Path) -> None:
    truth = load_truth(sample)
    check_truth(truth)
    # The seed was picked for these features; if generation changes, pick another seed.
    parts = [t for t in truth["tables"] if t["template_table"] == T.APPLICATIONS]
    assert truth["unmapped"] and len(parts) == 2


def test_number_cells_name_their_fields(sample: Path) -> None:
    truth = load_truth(sample)
    fields = {c["field"]: c["text"] for t in truth["tables"] for c in t["cells"] if c["field"]}
    assert fields == truth["fields"]


def test_pdf_is_image_only_a4_at_300_dpi(sample: Path, tmp_path: Path) -> None:
    truth = load_truth(sample)
    assert pdf_text(sample).strip() == ""
    assert pdf_pages(sample) == truth["pages"]
    subprocess.run(["pdftoppm", "-r", "300", str(sample), str(tmp_path / "p")], check=True)
    pages = sorted(tmp_path.glob("p-*.ppm"))
    assert len(pages) == truth["pages"]
    for page in pages:
        header = page.read_bytes()[:32].split()
        assert header[0] == b"P6" and (int(header[1]), int(header[2])) == (2480, 3508), page


# ---------------------------------------------------------------- committed set


def test_committed_set_is_complete() -> None:
    names = sorted(p.name.removesuffix(".truth.json") for p in DATA.glob("*.truth.json"))
    assert names == sorted(COMMITTED)
    assert sorted(p.stem for p in DATA.glob("*.pdf")) == sorted(COMMITTED)
    assert (DATA / "README.md").exists()
    assert sum(p.stat().st_size for p in DATA.iterdir()) < 16.5 * 2**20


@pytest.mark.parametrize("name", COMMITTED)
def test_committed_truth(name: str) -> None:
    require_tools()
    pdf = DATA / f"{name}.pdf"
    truth = load_truth(pdf)
    tier, seed, index = re.fullmatch(r"(\w+)-s(\d+)-(\d+)", name).groups()  # type: ignore[union-attr]
    assert (truth["tier"], truth["seed"], truth["index"], truth["source"]) == (tier, int(seed), int(index),
                                                                               pdf.name)
    check_truth(truth)
    assert pdf_pages(pdf) == truth["pages"]
    assert pdf_text(pdf).strip() == ""
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True).stdout
    assert "595.2 x 841.92 pts" in info


# ---------------------------------------------------------------- template and hygiene


def test_template_shapes() -> None:
    for spec, shape in ((T.active_disclosure(), (14, 4)), (T.active_disclosure(True), (15, 4)),
                        (T.applications(), (28, 10)), (T.review_litigation(), (4, 15))):
        assert (spec.n_rows, spec.n_cols) == shape
        cells = [{"row": c.row, "col": c.col, "row_span": c.row_span, "col_span": c.col_span}
                 for c in spec.cells]
        assert tiling_errors({"n_rows": spec.n_rows, "n_cols": spec.n_cols, "cells": cells}) == []
    apps = {(c.row, c.col): c for c in T.applications().cells}
    assert (apps[(0, 0)].row_span, apps[(0, 0)].col_span) == (3, 3)
    assert apps[(5, 0)].text == "三、本年度办理结果" and apps[(5, 0)].row_span == 22
    assert apps[(7, 1)].text == "（三）不予公开" and apps[(7, 1)].row_span == 8
    assert sum(1 for c in T.applications().cells if c.kind == T.NUMBER) == 25 * 7


def test_generator_does_not_import_the_pipeline() -> None:
    for path in (REPO / "samples").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n.split(".")[0] in ("ocr", "flows") for n in names), (path, names)


def test_bad_tier_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate_samples(tmp_path, 1, 0, "pristine")


# ---------------------------------------------------------------- variants (issue 4)


def fixed_value(key: str, fields: dict[str, str]) -> int:
    """What the arithmetic says a published total should be, written out here (not via samples.template)."""
    if key.startswith("review_litigation."):
        group = key.split(".")[1]
        return sum(int(fields[f"review_litigation.{group}.{c}"]) for c in ("upheld", "corrected", "other", "pending"))
    prefix, *middle, col = key.split(".")
    row = ".".join(middle)
    assert prefix == "applications", key
    if col == "total":
        cols = ["natural_person", "commercial_enterprise", "research_institution", "public_interest_org",
                "legal_service_org", "other_org"]
        return sum(int(fields[f"applications.{row}.{c}"]) for c in cols)
    assert row == "total", f"{key} is not a published total"
    # the （七）总计 row: the column's result rows, i.e. every row but the four outside 三、本年度办理结果
    rows = {k.split(".", 1)[1].rsplit(".", 1)[0] for k in fields if k.startswith("applications.")}
    outside = ("new_applications", "carried_over", "total", "carried_forward")
    return sum(int(fields[f"applications.{r}.{col}"]) for r in rows if r not in outside)


@pytest.fixture(scope="module")
def variant_docs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Three documents with variants (seeds picked for them): two born-digital (fast), one scanned."""
    require_tools()
    out = tmp_path_factory.mktemp("variants")
    docs = {}
    for seed, tier in ((47, "digital"), (55, "digital"), (72, "typical")):
        [pdf] = generate_samples(out, 1, seed, tier, variants=True)
        docs[pdf.stem] = load_truth(pdf)
    return docs


def test_variant_truth_marks_what_was_applied(variant_docs: dict[str, dict[str, Any]]) -> None:
    # The seeds were picked for these variants; if the variant draw changes, pick others.
    assert variant_docs["digital-s47-000"]["variants"] == ["label_breaks", "partial_without_note", "split_active",
                                                          "broken_arithmetic"]
    assert variant_docs["digital-s55-000"]["variants"] == ["straight_quotes", "split_active", "procurement_row"]
    assert variant_docs["typical-s72-000"]["variants"] == ["partial_without_note", "straight_quotes",
                                                          "procurement_row", "broken_arithmetic"]
    for truth in variant_docs.values():
        assert validate_truth(truth) == []
        labels = [c["text"] for t in truth["tables"] for c in t["cells"] if c["kind"] == "label"]
        assert all("\n" not in text for text in labels)
        partial = next(text for text in labels if text.startswith("（二）部分公开"))
        assert (partial == "（二）部分公开") == ("partial_without_note" in truth["variants"])
        quotes = next(text for text in labels if text.startswith("3.危及"))
        assert quotes == ('3.危及"三安全一稳定"' if "straight_quotes" in truth["variants"] else "3.危及“三安全一稳定”")
        active = [t for t in truth["tables"] if t["template_table"] == T.ACTIVE_DISCLOSURE]
        extra = 1 if truth["unmapped"] else 0
        if "split_active" in truth["variants"]:  # four small tables on one page, one per 第二十条 block
            assert [t["n_rows"] for t in active] == [4, 3, 4, 3 + extra]
            assert len({t["page"] for t in active}) == 1
            heads = [c["text"] for t in active for c in t["cells"] if c["row"] == 0]
            assert heads == ["第二十条第（一）项", "第二十条第（五）项", "第二十条第（六）项", "第二十条第（八）项"]
            assert all(a["bbox"][3] < b["bbox"][1] for a, b in zip(active, active[1:], strict=False))
        else:
            assert [t["n_rows"] for t in active] == [14 + extra]
        for u in truth["unmapped"]:
            assert u["label"] == "政府集中采购" and u["table"] == truth["tables"].index(active[-1])


def test_broken_arithmetic_is_one_misprinted_total(variant_docs: dict[str, dict[str, Any]]) -> None:
    for name, truth in variant_docs.items():
        fields = truth["fields"]
        if "broken_arithmetic" not in truth["variants"]:
            assert truth["source_inconsistent"] == [] and arithmetic_problems(fields) == [], name
            continue
        [key] = truth["source_inconsistent"]
        assert arithmetic_problems(fields) != []
        printed = {c["text"] for t in truth["tables"] for c in t["cells"] if c["field"] == key}
        assert printed == {fields[key]}  # the truth holds the value as printed
        fixed = {**fields, key: str(fixed_value(key, fields))}
        assert fixed[key] != fields[key] and arithmetic_problems(fixed) == [], name


def test_variants_leave_the_report_as_it_was(tmp_path: Path) -> None:
    require_tools()
    [plain] = generate_samples(tmp_path / "plain", 1, 47, "digital")
    [varied] = generate_samples(tmp_path / "varied", 1, 47, "digital", variants=True)
    a, b = load_truth(plain), load_truth(varied)
    assert "variants" not in a and "source_inconsistent" not in a
    assert a["report"] == b["report"]
    changed = {k for k in a["fields"] if a["fields"][k] != b["fields"][k]}
    assert changed == set(b["source_inconsistent"])


def test_validate_knows_broken_arithmetic_is_intended(variant_docs: dict[str, dict[str, Any]]) -> None:
    truth = variant_docs["digital-s47-000"]
    [key] = truth["source_inconsistent"]
    unlisted = {**truth, "source_inconsistent": []}
    assert validate_truth(unlisted) != []  # a broken total nobody owns up to
    fields = {**truth["fields"], key: str(fixed_value(key, truth["fields"]))}
    for t in (fixed := json.loads(json.dumps(truth)))["tables"]:
        for c in t["cells"]:
            if c["field"] == key:
                c["text"] = fields[key]
    fixed["fields"] = fields
    assert any("arithmetic holds" in e for e in validate_truth(fixed))
    other = "applications.disclosed.natural_person" if key != "applications.disclosed.natural_person" else \
        "applications.carried_over.natural_person"
    twice = json.loads(json.dumps(truth))
    twice["fields"][other] = str(int(twice["fields"][other]) + 1)
    for t in twice["tables"]:
        for c in t["cells"]:
            if c["field"] == other:
                c["text"] = twice["fields"][other]
    assert any("broken by no source_inconsistent field" in e for e in validate_truth(twice))
    assert validate_truth({**truth, "variants": ["split_active", "label_breaks"]}) != []


def test_regenerating_a_committed_seed_gives_its_bytes() -> None:
    """The tiers stay byte-identical whatever is added next to them (variants, the deviations family):
    the committed set and every benchmark depend on it."""
    require_tools()
    text = (DATA / "clean-s1-001.truth.json").read_text(encoding="utf-8")
    pdf, truth = generate_document(1, "clean", 1, "clean-s1-001")
    assert truth_json(truth) == text
    assert pdf == (DATA / "clean-s1-001.pdf").read_bytes()


def test_forced_label_breaks_wrap_apart() -> None:
    register_font()
    assert wrap("行政规范\n性文件", 500, 10) == ["行政规范", "性文件"]
    assert wrap("行政规范性文件", 500, 10) == ["行政规范性文件"]


def test_variants_option_on_the_command_line(tmp_path: Path) -> None:
    require_tools()
    subprocess.run([sys.executable, "-m", "samples", "--out", str(tmp_path), "--seed", "47", "--tier", "digital",
                    "--variants"], check=True, cwd=REPO, capture_output=True)
    truth = load_truth(tmp_path / "digital-s47-000.pdf")
    assert truth["variants"] and validate_truth(truth) == []
