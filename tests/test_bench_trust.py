"""bench/trust.py's scoring: truth at another dpi, fields-only families, targets on not-fitted-on families."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from rich.console import Console

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "data" / "typical-s2-000.truth.json"


@pytest.fixture(scope="module")
def trust() -> ModuleType:
    """bench/trust.py as a module (bench/ is a folder of scripts, not a package)."""
    sys.path.insert(0, str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location("bench_trust", ROOT / "bench" / "trust.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_trust"] = module
    spec.loader.exec_module(module)
    return module


def perfect_record(truth: dict[str, Any], dpi: int = 300) -> dict[str, Any]:
    """A record whose every cell is the truth's, read surely: what a flawless pipeline would write."""
    tables = [{"page": t["page"], "bbox": t["bbox"], "n_rows": t["n_rows"], "n_cols": t["n_cols"],
               "cells": [{"row": c["row"], "col": c["col"], "row_span": c["row_span"], "col_span": c["col_span"],
                          "bbox": c["bbox"], "text": c["text"], "needs_review": False, "confidence": 1.0,
                          "flags": []} for c in t["cells"]]} for t in truth["tables"]]
    return {"dpi": dpi, "tables": tables}


def scaled(truth: dict[str, Any], k: float, dpi: int) -> dict[str, Any]:
    tables = [{**t, "bbox": [v * k for v in t["bbox"]],
               "cells": [{**c, "bbox": [v * k for v in c["bbox"]]} for c in t["cells"]]} for t in truth["tables"]]
    return {**truth, "dpi": dpi, "tables": tables}


def test_a_200_dpi_scan_is_scored_in_its_own_pixels() -> None:
    """A 200 dpi scan's truth is in 200 dpi pixels, its record in those of the 300 dpi rendering."""
    from samples.score import score_document

    truth = json.loads(SAMPLE.read_text(encoding="utf-8"))
    low = scaled(truth, 200 / 300, 200)  # the same page, had it been scanned at 200 dpi
    assert score_document(perfect_record(truth, dpi=300), low).cell_f1 == pytest.approx(1.0)
    assert score_document(perfect_record(truth, dpi=200), low).cell_f1 < 0.5  # claiming the wrong dpi misses


def test_fields_only_family_scores_no_cells(trust: ModuleType, tmp_path: Path) -> None:
    truth = json.loads(SAMPLE.read_text(encoding="utf-8"))
    docs, records = tmp_path / "docs", tmp_path / "records"
    docs.mkdir()
    records.mkdir()
    for fam, kept in (("augraphy-geometry", False), ("augraphy-medium", True)):
        t = {**truth, "tier": fam, "source": f"{fam}-s1-000.pdf", "geometry_kept": kept}
        (docs / f"{fam}-s1-000.truth.json").write_text(json.dumps(t, ensure_ascii=False), encoding="utf-8")
    scores = trust.score(records, sorted(docs.glob("*.truth.json")))
    assert scores["augraphy-geometry"].cells_scored == 0
    assert scores["augraphy-geometry"].value("cell_f1") is None
    assert scores["augraphy-medium"].cells_scored == 1
    # no record at all: every field is wrong, and it counts as reviewed (an operator sees the gap)
    medium = scores["augraphy-medium"]
    assert medium.value("right") == 0.0 and medium.value("silent") == 0.0 and medium.value("review") == 1.0


def test_targets_apply_to_not_fitted_on_families_only(trust: ModuleType) -> None:
    assert trust.verdict("augraphy-light", "silent", 0.0).endswith("PASS")
    assert trust.verdict("augraphy-light", "silent", 0.0005).endswith("MISS")
    assert trust.verdict("augraphy-heavy", "right", 0.951).endswith("PASS")
    assert trust.verdict("augraphy-heavy", "right", 0.949).endswith("MISS")
    assert trust.verdict("deviations", "review", 0.09).endswith("MISS")
    for fitted in trust.FITTED:
        assert trust.verdict(fitted, "right", 1.0) == ""
    assert not set(trust.TARGETS) & set(trust.FITTED)


def test_report_sets_each_fitted_tier_beside_its_unseen_family(trust: ModuleType) -> None:
    s = trust.FamilyScore(documents=1)
    s.fields.after.count(True, False)
    s.fields.after.count(False, False)  # one silent error
    scores = {"typical": s, "augraphy-medium": s}
    out = io.StringIO()
    verdicts = trust.print_report(Console(file=out, width=200), scores)
    text = out.getvalue()
    assert "typical (fitted on)" in text and "augraphy-medium (not fitted on)" in text
    assert "augraphy-medium silent MISS" in verdicts and "augraphy-medium right MISS" in verdicts
    assert not any(v.startswith("typical ") for v in verdicts)
