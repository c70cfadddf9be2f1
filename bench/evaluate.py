"""Print how records in OUT_DIR compare with the generator's truth in TRUTH_DIR, per tier.

    .venv/bin/python bench/evaluate.py out/samples samples/data [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from samples.score import score_folder


def fields_table(out_dir: Path, truth_dir: Path) -> Table | None:
    """The template's fields against truth, after repair (bench/fields.py has the full report)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from fields import score_records

    scores = score_records(out_dir, sorted(truth_dir.glob("*.truth.json")))
    if not scores:
        return None
    table = Table(title="template fields vs ground truth, after repair",
                  caption="clean/typical/hard are the families reportscan was fitted on: bench/trust.py measures "
                          "families it never saw")
    for c in ("tier", "docs", "fields", "value right", "needs review", "wrong & not reviewed", "report named"):
        table.add_column(c, justify="right")
    named = _reports_named(out_dir, truth_dir)
    for tier, s in scores.items():
        a = s.after
        table.add_row(tier, str(s.documents), str(a.fields), f"{a.right / a.fields:.2%}",
                      f"{a.review / a.fields:.1%}", str(a.silent), named.get(tier, "-"))
    return table


def _reports_named(out_dir: Path, truth_dir: Path) -> dict[str, str]:
    """Per tier, how many records name the report (agency, year, date) as the truth does."""
    counts: dict[str, list[int]] = {}
    for tpath in sorted(truth_dir.glob("*.truth.json")):
        truth = json.loads(tpath.read_text(encoding="utf-8"))
        rpath = out_dir / (Path(truth["source"]).stem + ".json")
        got = json.loads(rpath.read_text(encoding="utf-8")).get("report") if rpath.exists() else None
        c = counts.setdefault(truth["tier"], [0, 0])
        want = truth.get("report")
        c[0] += got == want or (isinstance(got, dict) and isinstance(want, dict)
                                and {k: got.get(k) for k in want} == want)  # the record adds confidences
        c[1] += 1
    return {tier: f"{a}/{b}" for tier, (a, b) in counts.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("truth_dir", type=Path)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--show-wrong", action="store_true", help="list every wrong numeric cell")
    args = ap.parse_args(argv)
    scores = score_folder(args.out_dir, args.truth_dir)
    if not scores:
        print(f"no *.truth.json in {args.truth_dir}", file=sys.stderr)
        return 1
    table = Table(title="records vs ground truth")
    cols = ["tier", "docs", "table parts found", "grids exact", "cell F1", "numeric text", "label text",
            "numbers flagged", "wrong & unflagged"]
    for c in cols:
        table.add_column(c, justify="right")
    out = {}
    for tier in ("clean", "typical", "hard"):
        if tier not in scores:
            continue
        s = scores[tier]
        r = s.ratios()
        out[tier] = {**r, "counts": {k: v for k, v in vars(s).items() if isinstance(v, int)}}
        table.add_row(tier, str(s.documents), f"{s.parts_found}/{s.table_parts}", f"{s.grids_exact}/{s.table_parts}",
                      f"{r['cell_f1']:.3f}", f"{r['numeric_text']:.1%} of {s.numbers}",
                      f"{r['label_text']:.1%} of {s.labels}", f"{r['numbers_flagged']:.1%}",
                      str(s.numbers_wrong_unflagged))
        if args.show_wrong:
            for w in s.wrong_numbers:
                print(json.dumps(w, ensure_ascii=False))
    console = Console()
    if not console.is_terminal:
        console = Console(width=150)  # a pipe or a CI log: print the whole table, not cut to 80 columns
    console.print(table)
    fields = fields_table(args.out_dir, args.truth_dir)
    if fields is not None:
        console.print(fields)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
