"""Pick how alike a label reading must be to one template label to be given its wording, on the families
we fit on; then show what that choice does on the families we do not.

    .venv/bin/python bench/calibrate_labels.py [--cache out/bench-trust]

Reads the records and truths `bench/trust.py --cache` left (the label cells' readings: `read_text` where
a record already repaired one), and for every (likeness, lead) pair on a grid counts, on the clean,
typical and hard families, the label cells read exactly before and after, and the cells given a wording
other than the one printed. The choice is the pair that gives at most one label cell in a thousand a
wrong wording (a label names a row; no number changes with it) and leaves the most cells right, the
stricter pair on a tie; it goes into ocr/template/relabel.py by hand. The
not-fitted-on families are printed at that pair only, as a measure, never as an input.
"""

from __future__ import annotations

import argparse
import json
import sys
from itertools import product
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from trust import FAMILIES, FITTED  # noqa: E402

from ocr.template import load_templates  # noqa: E402
from ocr.template.relabel import nearest_label  # noqa: E402
from samples.score import IOU_MATCH, _at_dpi, _match_cell, iou, norm  # noqa: E402

LIKENESS = tuple(range(50, 100, 5))
LEAD = tuple(range(0, 35, 5))


Observation = tuple[str, str, tuple[str, ...]]
"""A label cell's printed text, its reading, and the labels of the template table it is in."""


def observations(cache: Path, family: str) -> list[Observation]:
    """Every label cell of the family's truth that the record has a label cell for, on tables the record
    matched to a template table."""
    printed = {t.key: t.printed for t in load_templates()[0].tables}
    out = []
    for truth_path in sorted((cache / "docs" / family).glob("*.truth.json")):
        stem = truth_path.name.removesuffix(".truth.json")
        record_path = cache / "records" / f"{stem}.json"
        if not record_path.exists():
            continue
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
        record = json.loads(record_path.read_text(encoding="utf-8"))
        tables = record["tables"]
        if (record.get("dpi") or truth["dpi"]) != truth["dpi"]:
            tables = _at_dpi(tables, truth["dpi"] / record["dpi"])
        for tt in truth["tables"]:
            scored = [(iou(tt["bbox"], pt["bbox"]), i) for i, pt in enumerate(tables) if pt["page"] == tt["page"]]
            best = max(scored, default=(0.0, -1))
            if best[0] < IOU_MATCH or tables[best[1]].get("template_table") not in printed:
                continue
            table = tables[best[1]]
            for tc in tt["cells"]:
                pc = _match_cell(tc, table["cells"])
                if tc["kind"] != "label" or pc is None or pc["kind"] != "label":
                    continue
                out.append((tc["text"], pc.get("read_text") or pc["text"], printed[table["template_table"]]))
    return out


def outcome(obs: list[Observation], likeness: float, lead: float) -> tuple[int, int, int, int, int]:
    """(cells, right before, right after, given a wrong wording, given the template's wording)."""
    before = after = wrong = repaired = 0
    for truth, read, printed in obs:
        text = read
        if (found := nearest_label(read, printed, likeness, lead)) is not None:
            text = found.text
            repaired += 1
            wrong += norm(text) != norm(truth)
        before += norm(read) == norm(truth)
        after += norm(text) == norm(truth)
    return len(obs), before, after, wrong, repaired


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path("out/bench-trust"))
    args = ap.parse_args(argv)
    fitted = [o for f in FITTED for o in observations(args.cache, f)]
    if not fitted:
        print(f"error: {args.cache}: no records of the fitted-on families; run bench/trust.py --cache first",
              file=sys.stderr)
        return 2
    grid = {(lk, ld): outcome(fitted, lk, ld) for lk, ld in product(LIKENESS, LEAD)}
    allowed = len(fitted) // 1000  # wrong wordings tolerated: 0.1% of the label cells (no number is touched)
    choice = max(grid, key=lambda k: (grid[k][3] <= allowed, grid[k][2], k[0], k[1]))
    print(f"fitted on {', '.join(FITTED)}: {len(fitted)} label cells")
    print("likeness lead  right-before right-after wrong-wording")
    for (lk, ld), (_n, before, after, wrong, _r) in sorted(grid.items()):
        mark = "  <- chosen" if (lk, ld) == choice else ""
        print(f"{lk:8} {ld:4}  {before:12} {after:11} {wrong:13}{mark}")
    _, _, _, wrong, repaired = grid[choice]
    print(f"\nat likeness {choice[0]}, lead {choice[1]}: {repaired - wrong} of the {repaired} labels given the "
          f"template's wording were right (the confidence such a label is given)")
    print("not fitted on (a measure, not an input):")
    for family in (f for f in FAMILIES if f not in FITTED):
        obs = observations(args.cache, family)
        if obs:
            n, before, after, wrong, repaired = outcome(obs, *choice)
            print(f"{family:18} {n:5} label cells: right {before / n:.1%} -> {after / n:.1%}, "
                  f"{repaired} given the template's wording, {wrong} of them wrongly")
    return 0


if __name__ == "__main__":
    sys.exit(main())
