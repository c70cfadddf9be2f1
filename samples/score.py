"""Score records against the generator's ground truth (used by the tests, the demo and bench/).

Truth comes from the generator, never from the pipeline: tables are matched by page and box overlap,
cells by box overlap with equal spans, texts after NFKC and whitespace removal.
"""

from __future__ import annotations

import json
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

IOU_MATCH = 0.5


def norm(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def iou(a: list[int] | tuple[int, ...], b: list[int] | tuple[int, ...]) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass
class Score:
    """Counts for one document or a whole tier; ratios are computed from the counts."""

    documents: int = 0
    table_parts: int = 0
    parts_found: int = 0
    false_tables: int = 0
    grids_exact: int = 0
    truth_cells: int = 0
    predicted_cells: int = 0
    cells_matched: int = 0
    numbers: int = 0
    numbers_right: int = 0
    numbers_flagged: int = 0
    numbers_wrong_unflagged: int = 0
    labels: int = 0
    labels_right: int = 0
    wrong_numbers: list[dict[str, Any]] = field(default_factory=list)

    def add(self, other: Score) -> None:
        for k, v in vars(other).items():
            if isinstance(v, int):
                setattr(self, k, getattr(self, k) + v)
            else:
                getattr(self, k).extend(v)

    @property
    def cell_f1(self) -> float:
        p = self.cells_matched / self.predicted_cells if self.predicted_cells else 0.0
        r = self.cells_matched / self.truth_cells if self.truth_cells else 0.0
        return 2 * p * r / (p + r) if p + r else 0.0

    def ratios(self) -> dict[str, float]:
        def ratio(a: int, b: int) -> float:
            return a / b if b else 1.0

        return {
            "parts_found": ratio(self.parts_found, self.table_parts),
            "grids_exact": ratio(self.grids_exact, self.table_parts),
            "cell_f1": self.cell_f1,
            "numeric_text": ratio(self.numbers_right, self.numbers),
            "label_text": ratio(self.labels_right, self.labels),
            "numbers_flagged": ratio(self.numbers_flagged, self.numbers),
            "numbers_wrong_unflagged": ratio(self.numbers_wrong_unflagged, self.numbers),
        }


def _cells_key(cells: list[dict[str, Any]]) -> set[tuple[int, int, int, int]]:
    return {(c["row"], c["col"], c["row_span"], c["col_span"]) for c in cells}


def _at_dpi(tables: list[dict[str, Any]], factor: float) -> list[dict[str, Any]]:
    """Tables with every box scaled by ``factor``: a record's pixels at the truth's dpi (a 200-dpi scan that
    the pipeline rendered at 300 dpi is scored in its own 200-dpi pixels)."""
    def scaled(box: list[float]) -> list[float]:
        return [v * factor for v in box]

    return [{**t, "bbox": scaled(t["bbox"]), "cells": [{**c, "bbox": scaled(c["bbox"])} for c in t["cells"]]}
            for t in tables]


def score_document(record: dict[str, Any], truth: dict[str, Any]) -> Score:
    s = Score(documents=1)
    predicted = record["tables"]
    record_dpi, truth_dpi = record.get("dpi") or truth["dpi"], truth["dpi"]
    if record_dpi != truth_dpi:
        predicted = _at_dpi(predicted, truth_dpi / record_dpi)
    used: set[int] = set()
    for tt in truth["tables"]:
        s.table_parts += 1
        s.truth_cells += len(tt["cells"])
        candidates = [(iou(tt["bbox"], pt["bbox"]), i) for i, pt in enumerate(predicted)
                      if pt["page"] == tt["page"] and i not in used]
        best = max(candidates, default=(0.0, -1))
        match = predicted[best[1]] if best[0] >= IOU_MATCH else None
        if match is not None:
            used.add(best[1])
            s.parts_found += 1
            if (match["n_rows"], match["n_cols"]) == (tt["n_rows"], tt["n_cols"]) and \
                    _cells_key(match["cells"]) == _cells_key(tt["cells"]):
                s.grids_exact += 1
        pcells = match["cells"] if match else []
        for tc in tt["cells"]:
            pc = _match_cell(tc, pcells)
            if pc is not None:
                s.cells_matched += 1
            if tc["kind"] == "number":
                s.numbers += 1
                right = pc is not None and norm(pc["text"]) == norm(tc["text"])
                # a cell whose reading the template's arithmetic replaced says so (`repaired`): its value is
                # in the record's fields, and its text is knowingly not it
                flagged = pc is None or pc["needs_review"] or "repaired" in pc.get("flags", [])
                s.numbers_right += right
                s.numbers_flagged += flagged
                if not right and not flagged:
                    s.numbers_wrong_unflagged += 1
                if not right:
                    s.wrong_numbers.append({"source": truth["source"], "page": tt["page"], "row": tc["row"],
                                            "col": tc["col"], "truth": tc["text"],
                                            "read": pc["text"] if pc else None,
                                            "confidence": pc["confidence"] if pc else None})
            elif tc["kind"] == "label":
                s.labels += 1
                s.labels_right += pc is not None and norm(pc["text"]) == norm(tc["text"])
    for i, pt in enumerate(predicted):
        s.predicted_cells += len(pt["cells"])
        if i not in used:
            s.false_tables += 1
    return s


def _match_cell(tc: dict[str, Any], pcells: list[dict[str, Any]]) -> dict[str, Any] | None:
    best, best_iou = None, IOU_MATCH
    for pc in pcells:
        if (pc["row_span"], pc["col_span"]) != (tc["row_span"], tc["col_span"]):
            continue
        v = iou(tc["bbox"], pc["bbox"])
        if v >= best_iou:
            best, best_iou = pc, v
    return best


def truth_for(record_path: Path, truth_dir: Path) -> Path:
    record = json.loads(record_path.read_text(encoding="utf-8"))
    return truth_dir / (Path(record["source"]).stem + ".truth.json")


def score_folder(out_dir: Path, truth_dir: Path) -> dict[str, Score]:
    """Per-tier scores for every truth file that has a record in `out_dir` (a missing record scores 0)."""
    tiers: dict[str, Score] = defaultdict(Score)
    for tpath in sorted(truth_dir.glob("*.truth.json")):
        truth = json.loads(tpath.read_text(encoding="utf-8"))
        rpath = out_dir / (Path(truth["source"]).stem + ".json")
        record = json.loads(rpath.read_text(encoding="utf-8")) if rpath.exists() else {"tables": []}
        tiers[truth["tier"]].add(score_document(record, truth))
    return dict(tiers)
