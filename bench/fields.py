"""Template fields of reportscan's records against the generator's truth, per tier, before and after repair.

    .venv/bin/python bench/fields.py [--per-tier 10] [--seed 7300] [--docs DIR] [--out DIR] [--workers 2]
                                     [--no-variants] [--json PATH] [--show-wrong]
    .venv/bin/python bench/fields.py --records OUT --docs DIR      # score an existing ingest output

The measurement of issue 4's "Done when". Documents come from the generator with seeds of their own
(tier i of clean, typical, hard uses seed + i: 7300-7302; 9500-9502 are kept for threshold calibration,
7100-7102, 9100-9202 and 9300-9400 belong to other benchmarks), with the variants of real reports on
(``samples.variants``), written under --docs (default: a temp folder; documents already there with the
same settings are reused) and read by ``reportscan ingest`` (the CLI, one batch, --workers) into --out.
Each record's ``fields`` are compared with the truth ``fields`` (all ~200 a document):

- before repair: the field's cell as read (``record.tables[table].cells``), its text through
  ``ocr.values.normalize``, reviewed when the cell's own ``needs_review`` says so;
- after repair: the field's ``value`` and ``needs_review``.

A value is right when it equals the printed number (decimals compared as numbers). A field the record
lacks, or whose cell is not in the record, is wrong and counts as reviewed (an operator sees the gap).
Silent error = wrong and not needing review, whatever its flags. Targets (after repair) are printed
with PASS/MISS; the exit code is 0 either way (a measurement, not a test).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]

from compare import TIERS, code_state, run_reportscan, truth_of  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from ocr.config import Config  # noqa: E402
from ocr.model import Cell, FieldResult, FieldValue, Record, ValueType  # noqa: E402
from ocr.records import recognition_review  # noqa: E402

Normalizer = Callable[[str, ValueType], tuple[FieldValue, bool]]

DEFAULT_SEED = 7300
RESERVED_SEEDS = {"threshold calibration": range(9500, 9503), "bench/compare.py": range(7100, 7103),
                  "bench/calibrate_review.py": range(9100, 9203), "other benchmarks": range(9300, 9401),
                  "bench/trust.py": range(7600, 7608)}
DECIMAL_FIELDS = frozenset({"administrative_fees.amount"})
SOURCE_INCONSISTENT = "source_inconsistent"
FITTED_ONLY = ("measured on the family the thresholds were fitted on (our generator's {tier} tier): "
               "not a result on scans we did not make; bench/trust.py sets it beside a family fitting never read")

# issue 4's targets, after repair, per tier (a tier missing from a target has none)
TARGETS: dict[str, tuple[str, dict[str, float]]] = {
    "silent_rate": ("<=", {"clean": 0.0, "typical": 0.0, "hard": 0.002}),
    "review_rate": ("<=", {"typical": 0.05}),
    "accuracy": (">=", {"clean": 0.998, "typical": 0.998}),
}


def value_type(key: str) -> ValueType:
    """The template's type of a field: one decimal amount, integer counts everywhere else."""
    return "decimal" if key in DECIMAL_FIELDS else "integer"


def as_number(value: FieldValue) -> Decimal | None:
    """A field value as an exact number; None when it is none (blank, unreadable, text).

    A decimal arrives as a string of digits after a JSON round trip, so strings are parsed too."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return None
    return number if number.is_finite() else None


@dataclass
class Counts:
    """How the fields of a set of documents fared, read one way (before or after repair)."""

    fields: int = 0
    right: int = 0
    review: int = 0
    silent: int = 0  # wrong and not needing review
    caught: int = 0  # wrong and needing review
    missing: int = 0  # no field (after) or no cell (before) in the record

    def count(self, right: bool, review: bool, missing: bool = False) -> None:
        self.fields += 1
        self.right += right
        self.review += review
        self.silent += not right and not review
        self.caught += not right and review
        self.missing += missing

    def add(self, other: Counts) -> None:
        for name, value in vars(other).items():
            setattr(self, name, getattr(self, name) + value)

    @property
    def wrong(self) -> int:
        return self.fields - self.right

    def ratios(self) -> dict[str, float]:
        def ratio(a: int, b: int, empty: float) -> float:
            return a / b if b else empty

        return {"accuracy": ratio(self.right, self.fields, 1.0), "silent_rate": ratio(self.silent, self.fields, 0.0),
                "review_rate": ratio(self.review, self.fields, 0.0), "caught": ratio(self.caught, self.wrong, 1.0)}


@dataclass
class Score:
    """One document or a whole tier."""

    documents: int = 0
    records_missing: int = 0
    before: Counts = field(default_factory=Counts)
    after: Counts = field(default_factory=Counts)
    inconsistent: int = 0  # fields the truth says the report misprinted
    inconsistent_flagged: int = 0  # ... flagged source_inconsistent
    inconsistent_kept: int = 0  # ... whose value stayed as printed
    inconsistent_reviewed: int = 0  # ... needing review
    false_inconsistent: int = 0  # fields flagged source_inconsistent in reports whose arithmetic holds
    variant_docs: Counter[str] = field(default_factory=Counter)
    by_variant: dict[str, Counts] = field(default_factory=dict)  # after repair, documents with that variant
    silent_errors: list[dict[str, Any]] = field(default_factory=list)

    def add(self, other: Score) -> None:
        for name in ("documents", "records_missing", "inconsistent", "inconsistent_flagged", "inconsistent_kept",
                     "inconsistent_reviewed", "false_inconsistent"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.before.add(other.before)
        self.after.add(other.after)
        self.variant_docs.update(other.variant_docs)
        for name, counts in other.by_variant.items():
            self.by_variant.setdefault(name, Counts()).add(counts)
        self.silent_errors += other.silent_errors

    def to_json(self) -> dict[str, Any]:
        return {
            "documents": self.documents, "records_missing": self.records_missing,
            "before": {**asdict(self.before), **self.before.ratios()},
            "after": {**asdict(self.after), **self.after.ratios()},
            "source_inconsistent": {"fields": self.inconsistent, "flagged": self.inconsistent_flagged,
                                    "kept_as_printed": self.inconsistent_kept,
                                    "reviewed": self.inconsistent_reviewed,
                                    "flagged_in_consistent_reports": self.false_inconsistent},
            "variant_documents": dict(self.variant_docs),
            "by_variant": {name: {**asdict(c), **c.ratios()} for name, c in sorted(self.by_variant.items())},
            "silent_errors": self.silent_errors,
        }


def cell_of(record: Record, result: FieldResult) -> Cell | None:
    """The cell a field was read from, as the record holds it (None when the field names no cell)."""
    if result.table is None or result.row is None or result.col is None or result.table >= len(record.tables):
        return None
    return next((c for c in record.tables[result.table].cells if (c.row, c.col) == (result.row, result.col)), None)


def default_normalizer() -> Normalizer:
    """ocr.values.normalize, imported late: the scorer is about records, not the pipeline's import cost."""
    from ocr.values import normalize

    return normalize


def score_document(record: Record | None, truth: dict[str, Any], normalize: Normalizer,
                   cfg: Config | None = None) -> Score:
    """Every truth field of one document, before and after repair; ``record`` None when ingest wrote none.

    "Before" judges a cell by its reading alone (`recognition_review`): a record's cells carry their
    field's final verdict. `cfg` holds the review thresholds the records were made with (the defaults).
    """
    cfg = cfg or Config(workers=1)
    s = Score(documents=1, records_missing=record is None)
    names = truth.get("variants", [])
    s.variant_docs.update(names or ["(none)"])
    doc_after = Counts()
    listed = set(truth.get(SOURCE_INCONSISTENT, []))
    for key, printed in truth["fields"].items():
        want = Decimal(printed)
        result = record.fields.get(key) if record is not None else None
        if result is None:
            s.before.count(False, True, missing=True)
            doc_after.count(False, True, missing=True)
            s.inconsistent += key in listed
            continue
        cell = cell_of(record, result) if record is not None else None
        if cell is None:
            s.before.count(False, True, missing=True)
        else:
            value, _changed = normalize(cell.text, value_type(key))
            s.before.count(as_number(value) == want, recognition_review(cell, cfg))
        right = as_number(result.value) == want
        doc_after.count(right, result.needs_review)
        if not right and not result.needs_review:
            s.silent_errors.append({"source": truth["source"], "field": key, "truth": printed,
                                    "value": str(result.value), "text": result.text, "flags": result.flags,
                                    "confidence": result.confidence, "page": result.page})
        flagged = SOURCE_INCONSISTENT in result.flags
        if key in listed:
            s.inconsistent += 1
            s.inconsistent_flagged += flagged
            s.inconsistent_kept += right
            s.inconsistent_reviewed += result.needs_review
        elif flagged and not listed:
            s.false_inconsistent += 1
    s.after.add(doc_after)
    for name in names or ["(none)"]:
        s.by_variant.setdefault(name, Counts()).add(doc_after)
    return s


def load_record(path: Path) -> Record | None:
    """The record at ``path`` (validated against the model; a broken record stops the run, naming it)."""
    if not path.exists():
        return None
    try:
        return Record.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise SystemExit(f"{path}: not a valid record: {exc}") from exc


def score_records(records: Path, truths: list[Path], normalize: Normalizer | None = None) -> dict[str, Score]:
    """Per tier, every truth file against ``records/<stem>.json`` (a missing record scores every field wrong)."""
    normalize = normalize or default_normalizer()
    tiers: dict[str, Score] = {}
    for tpath in truths:
        truth = json.loads(tpath.read_text(encoding="utf-8"))
        record = load_record(records / (Path(truth["source"]).stem + ".json"))
        tiers.setdefault(truth["tier"], Score()).add(score_document(record, truth, normalize))
    return {tier: tiers[tier] for tier in sorted(tiers, key=lambda t: (TIERS + (t,)).index(t))}


def check_targets(tier: str, after: Counts) -> dict[str, dict[str, Any]]:
    """The targets that apply to ``tier``, each with its value and whether it is met."""
    ratios = after.ratios()
    out: dict[str, dict[str, Any]] = {}
    for name, (op, goals) in TARGETS.items():
        if tier in goals:
            goal, value = goals[tier], ratios[name]
            met = value <= goal + 1e-12 if op == "<=" else value >= goal - 1e-12
            out[name] = {"target": f"{op} {goal:.1%}", "value": value, "pass": met}
    return out


# ---------------------------------------------------------------- documents and ingest


def _generate_tier(folder: Path, count: int, seed: int, tier: str, variants: bool) -> list[Path]:
    from samples.generate import generate_samples

    return generate_samples(folder, count, seed, tier, variants=variants)


def documents(docs: Path, per_tier: int, seed: int, variants: bool, workers: int) -> list[Path]:
    """The tiers' PDFs under docs/<tier>/, generated unless already there with the same settings."""
    jobs: dict[str, tuple[Path, int]] = {}
    pdfs: list[Path] = []
    for i, tier in enumerate(TIERS):
        folder = docs / tier
        want = [folder / f"{tier}-s{seed + i}-{k:03d}.pdf" for k in range(per_tier)]
        pdfs += want
        have = all(p.exists() and p.with_name(p.stem + ".truth.json").exists()
                   and ("variants" in truth_of(p)) == variants for p in want)
        if not have:
            jobs[tier] = (folder, seed + i)
    if jobs:
        with ProcessPoolExecutor(max_workers=max(1, min(workers, len(jobs)))) as pool:
            for done in [pool.submit(_generate_tier, folder, per_tier, s, tier, variants)
                         for tier, (folder, s) in jobs.items()]:
                done.result()
    return pdfs


@contextmanager
def folder_or_temp(path: Path | None, prefix: str) -> Iterator[Path]:
    """``path`` (created) when given, else a temp folder removed afterwards."""
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path.resolve()
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


# ---------------------------------------------------------------- report


def _pct(a: int, b: int, digits: int = 1) -> str:
    return f"{a / b:.{digits}%} ({a}/{b})" if b else "- (0/0)"


def print_report(console: Console, scores: dict[str, Score]) -> None:
    for tier, s in scores.items():
        targets = check_targets(tier, s.after)
        t = Table(caption=FITTED_ONLY.format(tier=tier) if tier in TIERS else None,
                  title=f"{tier}: {s.documents} documents, {s.after.fields} fields"
                        + (f", {s.records_missing} without a record" if s.records_missing else ""))
        for c in ("measure", "before repair", "after repair", "target (after)"):
            t.add_column(c, justify="right")

        def target(name: str, targets: dict[str, dict[str, Any]] = targets) -> str:
            got = targets.get(name)
            return f"{got['target']}: {'PASS' if got['pass'] else 'MISS'}" if got else ""

        b, a = s.before, s.after
        t.add_row("numeric field accuracy", _pct(b.right, b.fields, 2), _pct(a.right, a.fields, 2), target("accuracy"))
        t.add_row("silent errors (wrong, not reviewed)", _pct(b.silent, b.fields, 2), _pct(a.silent, a.fields, 2),
                  target("silent_rate"))
        t.add_row("review rate", _pct(b.review, b.fields), _pct(a.review, a.fields), target("review_rate"))
        t.add_row("errors caught (wrong and reviewed)", _pct(b.caught, b.wrong), _pct(a.caught, a.wrong), "")
        t.add_row("fields without a cell / a field", str(b.missing), str(a.missing), "")
        if s.inconsistent:
            t.add_row("misprinted totals flagged source_inconsistent", "-",
                      _pct(s.inconsistent_flagged, s.inconsistent, 0), "")
            t.add_row("misprinted totals kept as printed / reviewed", "-",
                      f"{s.inconsistent_kept}/{s.inconsistent} / {s.inconsistent_reviewed}/{s.inconsistent}", "")
        t.add_row("source_inconsistent flags in consistent reports", "-", str(s.false_inconsistent), "")
        console.print(t)
        v = Table(title=f"{tier}: after repair, by variant (a document counts under each of its variants)")
        for c in ("variant", "documents", "accuracy", "silent errors", "review rate"):
            v.add_column(c, justify="right")
        for name, c in sorted(s.by_variant.items()):
            v.add_row(name, str(s.variant_docs[name]), _pct(c.right, c.fields, 2), str(c.silent),
                      _pct(c.review, c.fields))
        console.print(v)


def reserved_clash(seed: int) -> list[str]:
    """Which other uses the tiers' seeds (seed, seed + 1, seed + 2) would take from."""
    return [f"{seed + i} ({who})" for i in range(len(TIERS)) for who, seeds in RESERVED_SEEDS.items()
            if seed + i in seeds]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-tier", type=int, default=10, help="documents per tier (~200 fields each)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED, help="tier i of clean, typical, hard uses seed + i")
    ap.add_argument("--variants", action=argparse.BooleanOptionalAction, default=True,
                    help="documents with the deviations of real reports (samples/variants.py)")
    ap.add_argument("--docs", type=Path, help="folder for the documents and their truth (default: a temp folder)")
    ap.add_argument("--out", type=Path, help="folder for the records (default: a temp folder)")
    ap.add_argument("--records", type=Path, help="score the records already in this folder (no ingest); "
                                                 "their truth is read from --docs")
    ap.add_argument("--workers", type=int, default=2, help="reportscan ingest --workers (and generator processes)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--show-wrong", action="store_true", help="list every silent error after repair")
    args = ap.parse_args(argv)
    console = Console() if Console().is_terminal else Console(width=150)
    if args.records is not None:
        if args.docs is None:
            ap.error("--records needs --docs, the folder holding the *.truth.json")
        truths = sorted(args.docs.rglob("*.truth.json"))
        if not truths:
            ap.error(f"no *.truth.json under {args.docs}")
        scores = score_records(args.records, truths)
        result: dict[str, Any] = {"records": str(args.records), "docs": str(args.docs)}
    else:
        if args.per_tier < 1:
            ap.error("--per-tier must be at least 1")
        for clash in reserved_clash(args.seed):
            console.print(f"[bold red]warning: seed {clash} is reserved for another use[/bold red]")
        state = code_state()
        with folder_or_temp(args.docs, "fields-docs-") as docs, folder_or_temp(args.out, "fields-out-") as out:
            console.log(f"documents: {args.per_tier} per tier, seeds {args.seed}-{args.seed + len(TIERS) - 1}, "
                        f"variants {'on' if args.variants else 'off'}, in {docs}")
            pdfs = documents(docs, args.per_tier, args.seed, args.variants, args.workers)
            console.log(f"reportscan ingest: {len(pdfs)} documents, --workers {args.workers}, into {out}")
            run = run_reportscan(pdfs, out, args.workers)
            scores = score_records(out, [p.with_name(p.stem + ".truth.json") for p in pdfs])
        result = {"per_tier": args.per_tier, "seed": args.seed, "variants": args.variants,
                  "ingest": {"seconds": run.seconds, "returncode": run.returncode},
                  "code": {"start": state, "end": code_state()}}
    print_report(console, scores)
    if "code" in result and result["code"]["end"]["code_sha256"] != result["code"]["start"]["code_sha256"]:
        console.print(f"[bold red]WARNING: ocr/ or flows/ changed during the run (now {result['code']['end']}): "
                      "the records may come from different code; run again[/bold red]")
    result["tiers"] = {tier: {**s.to_json(), "targets": check_targets(tier, s.after)} for tier, s in scores.items()}
    verdicts = [f"{tier} {name} {'PASS' if t['pass'] else 'MISS'}" for tier, e in result["tiers"].items()
                for name, t in e["targets"].items()]
    console.print("targets: " + ", ".join(verdicts))
    if args.show_wrong:
        for s in scores.values():
            for err in s.silent_errors:
                print(json.dumps(err, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
