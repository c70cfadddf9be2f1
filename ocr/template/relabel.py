"""Label cells given back the template's wording, where the reading can only be one of its labels.

A label is read by the same OCR that garbles digits: 不予 read as 不子, a bracket lost, a seal's stroke
read as 六 after it. The national template prints a fixed set of labels, so a reading close to exactly
one of them is that label misread. The template's spelling becomes the cell's text and the reading is
kept beside it; a reading that is close to none, or to two, is left as read. Nothing here touches a
number: fields come from value cells, and a label cell's text names a row, it is never a value.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz

from ocr.model import Cell, Table
from ocr.template.labels import normalize
from ocr.template.spec import TemplateTable

# Calibrated on the clean, typical and hard families of our generator (bench/calibrate_labels.py): the
# least likeness (rapidfuzz Indel ratio, 0..100, on normalised text) and the least lead over the next
# label at which at most one label cell in a thousand in them was given a wording other than the one
# printed (run it again when the template or the readers change).
LIKENESS = 60.0
LEAD = 25.0
# How sure a label given the template's wording is: there, 82 of the 83 such labels were right, and
# 0.93 is the lower end of the 95% (Wilson) interval of that share.
REPAIRED_CONFIDENCE = 0.93


@dataclass(frozen=True)
class Relabel:
    """The template label a reading stands for, and how alike they are (0..1)."""

    text: str
    likeness: float


def nearest_label(text: str, printed: Sequence[str], likeness: float = LIKENESS,
                  lead: float = LEAD) -> Relabel | None:
    """The one template label `text` is a misreading of, or None when it is like none, or two, enough.

    Two readings are left alone however alike: one whose letters are the label's (its punctuation is
    what was printed, as far as anyone can tell: reports print 3.危及"三安全一稳定" with straight quotes
    too), and one that is the label's start (a label cut short by a narrow cell reads the same as one
    whose end OCR lost)."""
    read = normalize(text)
    if not read:
        return None
    scored: dict[str, tuple[float, str]] = {}  # normalised label -> (likeness, its spelling)
    for label in printed:
        key = normalize(label)
        if key and key not in scored:
            scored[key] = (fuzz.ratio(read, key), label)
    ranked = sorted(scored.items(), key=lambda kv: kv[1], reverse=True)
    if not ranked:
        return None
    key, (best, label) = ranked[0]
    runner_up = ranked[1][1][0] if len(ranked) > 1 else 0.0
    if best < likeness or best - runner_up < lead or key.startswith(read):
        return None
    return Relabel(label, best / 100)


def relabel(table: Table, template_table: TemplateTable, values: Collection[tuple[int, int]] = ()) -> Table:
    """The table with each label cell that reads as one template label spelt as the template spells
    it (`label_repaired`, the reading kept in `read_text`, its confidence at least REPAIRED_CONFIDENCE).

    `values` are the (row, col) of cells mapped to fields: whatever they read, they are never a label."""
    cells: list[Cell] = []
    changed = False
    for cell in table.cells:
        label = cell.kind == "label" and (cell.row, cell.col) not in values
        found = nearest_label(cell.text, template_table.printed) if label else None
        if found is None or found.text == cell.text:
            cells.append(cell)
            continue
        changed = True
        cells.append(cell.model_copy(update={
            "text": found.text, "read_text": cell.read_text or cell.text,
            "confidence": max(cell.confidence, REPAIRED_CONFIDENCE),
            "flags": list(dict.fromkeys([*cell.flags, "label_repaired"]))}))
    return table.model_copy(update={"cells": cells}) if changed else table
