"""`reportscan`: the command line on top of the flows.

Exit codes (as OCRmyPDF's, they mean something): 0 every input went through; 1 an input failed,
a named path is missing, or a folder held no input; 2 bad usage; 3 a missing dependency.
Prefect is imported only once the arguments and the system are known to be good: it costs ~1.4 s.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from ocr.export import FORMATS, load_records, record_files, write
from ocr.rasterize import find_inputs

EXIT_OK, EXIT_INPUT, EXIT_USAGE, EXIT_DEPENDENCY = 0, 1, 2, 3
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM, as a shell reports a SIGINT


# the generator's tiers and augraphy's families, spelled out: importing the generator costs the CLI's start-up
SAMPLE_TIERS = ("clean", "typical", "hard", "digital", "deviations",
                "augraphy-light", "augraphy-medium", "augraphy-heavy", "augraphy-geometry")

def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="reportscan", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    ing = sub.add_parser("ingest", help="OCR scanned reports (PDF, PNG, JPEG, TIFF) into JSON records")
    ing.add_argument("paths", nargs="+", metavar="PATH", help="files or folders (folders are searched recursively)")
    ing.add_argument("--out", required=True, type=Path, help="folder for the records and _summary.json")
    ing.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="parallel page workers (processes)")
    ing.add_argument("--backend", choices=["tesserocr", "pytesseract"], default="tesserocr")
    ing.add_argument("--dpi", type=int, default=300, help="PDF rasterization resolution")
    ing.add_argument("--max-megapixels", type=float, default=100.0, help="refuse larger pages")
    ing.add_argument("--no-osd", action="store_true", help="skip Tesseract orientation detection")
    ing.add_argument("--verbose", "-v", action="store_true", help="show Prefect's own logs")

    smp = sub.add_parser("samples", help="generate sample scans with ground truth")
    smp.add_argument("--out", required=True, type=Path)
    smp.add_argument("--count", type=int, default=1)
    smp.add_argument("--seed", type=int, default=0)
    smp.add_argument("--tier", choices=SAMPLE_TIERS, default="clean",
                     help="scan quality; digital: a born-digital PDF with a text layer; deviations: what users' "
                          "scans have and the tiers do not draw; augraphy-*: damage by augraphy's effects")
    smp.add_argument("--variants", action="store_true",
                     help="also print the deviations real reports show (label breaks, 二 as four tables, "
                          "a misprinted total...); the truth lists them")

    ins = sub.add_parser("inspect", help="draw the detected grid of one page, cells coloured by confidence")
    ins.add_argument("file", type=Path)
    ins.add_argument("--page", type=int, default=1)
    ins.add_argument("--out", required=True, type=Path)
    ins.add_argument("--dpi", type=int, default=300)

    exp = sub.add_parser("export", help="tables of the records in an ingest output folder: one row per report "
                                        "(reports.*) and one per field (fields.*)")
    exp.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="an ingest --out folder (its *.json records)")
    exp.add_argument("--format", required=True, choices=FORMATS,
                     help="xlsx writes one workbook, reports.xlsx, with the sheets reports and fields")
    exp.add_argument("--to", required=True, type=Path, help="folder for the tables (created if missing)")
    return p


def _config(args: argparse.Namespace) -> object:
    from pydantic import ValidationError

    from ocr.config import Config

    try:
        return Config(dpi=args.dpi, max_megapixels=args.max_megapixels, backend=args.backend,
                      detect_orientation=not args.no_osd, workers=args.workers)
    except ValidationError as exc:
        raise SystemExit(_usage_error(_first_error(exc))) from exc


def _first_error(exc: object) -> str:
    first = exc.errors()[0]  # type: ignore[attr-defined]
    return f"{'.'.join(map(str, first['loc']))}: {first['msg']}"


def _usage_error(msg: str) -> int:
    print(f"reportscan: error: {msg}", file=sys.stderr)
    return EXIT_USAGE


def _missing_dependency(cfg: object) -> int | None:
    """Exit code 3 with what to install, or None when Tesseract, its languages and poppler are there."""
    from ocr.errors import DependencyError
    from ocr.recognize import check_dependencies

    try:
        check_dependencies(cfg)  # type: ignore[arg-type]
    except DependencyError as exc:
        print(f"reportscan: missing dependency: {exc}", file=sys.stderr)
        return EXIT_DEPENDENCY
    return None


def _unwritable(option: str, folder: Path) -> int | None:
    """Exit code 2 when `folder` cannot be made or written, before any work is done; None when it can."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise PermissionError("not writable")
    except OSError as exc:
        return _usage_error(f"{option} {folder}: cannot write there ({exc})")
    return None


def cmd_ingest(args: argparse.Namespace) -> int:
    cfg = _config(args)
    if (missing := _missing_dependency(cfg)) is not None:
        return missing
    from ocr.errors import TemplateError
    from ocr.template import load_templates

    try:
        load_templates()
    except TemplateError as exc:
        return _usage_error(str(exc))
    files, path_errors = find_inputs(args.paths)
    for e in path_errors:
        print(e, file=sys.stderr)
    if not files:
        print("reportscan: nothing to process", file=sys.stderr)
        return EXIT_INPUT
    if (unwritable := _unwritable("--out", args.out)) is not None:
        return unwritable
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # no phoning home from batch jobs
    os.environ.setdefault("PREFECT_SERVER_UI_ENABLED", "false")  # the run's own server needs no UI (~0.6 s)
    # The run's own server is gone with the run: its log records would be thrown away (and a log flushed
    # after it stopped prints "Error logging to API"). A configured server still gets the flow's states.
    os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")
    if not args.verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
        os.environ.setdefault("PREFECT_LOGGING_SERVER_LEVEL", "ERROR")
    from flows.server import ServerError, ephemeral_api
    from flows.startup import long_lived_imports
    from flows.workers import head_start, page_pool

    signal.signal(signal.SIGTERM, _terminated)  # unwind like Ctrl-C: workers and the server are stopped
    paths = [str(f) for f in files]
    try:
        # The API is started first: it takes longest. The workers start next (before Prefect's own import
        # here) and begin on the first pages while it boots.
        with ephemeral_api() as api, page_pool(cfg) as pool:
            if api is not None:
                head_start(pool, paths, cfg)
            with long_lived_imports():
                from flows.report import run_ingest

            summary = run_ingest(paths, args.out, cfg, api, pool)
    except ServerError as exc:
        print(f"reportscan: {exc}", file=sys.stderr)
        return EXIT_DEPENDENCY
    except KeyboardInterrupt:
        print("reportscan: interrupted; the records already written are whole, the rest were not written",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_INPUT if summary.failures or path_errors else EXIT_OK


def _terminated(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def cmd_samples(args: argparse.Namespace) -> int:
    from samples.generate import generate_samples

    if args.count < 1:
        return _usage_error("--count must be at least 1")
    if args.tier.startswith("augraphy-"):
        from samples.augment import generate_augmented

        paths = generate_augmented(args.out, args.count, args.seed, args.tier)
    else:
        paths = generate_samples(args.out, args.count, args.seed, args.tier, args.variants)
    for path in paths:
        print(path)
    return EXIT_OK


def cmd_inspect(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from ocr.config import Config
    from ocr.errors import InputError, PageError
    from ocr.inspect import write_overlay

    try:
        cfg = Config(dpi=args.dpi, workers=1)
    except ValidationError as exc:
        return _usage_error(_first_error(exc))
    if (missing := _missing_dependency(cfg)) is not None:
        return missing
    try:
        print(write_overlay(args.file, args.page, args.out, cfg))
    except (InputError, PageError) as exc:
        print(f"{args.file}: {exc}" if isinstance(exc, PageError) else str(exc), file=sys.stderr)
        return EXIT_INPUT
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    """No Prefect and no OCR engine on this path: pyarrow or openpyxl load only for their format."""
    if not args.out_dir.is_dir():
        return _usage_error(f"{args.out_dir}: no such folder")
    if not record_files(args.out_dir):
        return _usage_error(f"{args.out_dir}: holds no records (*.json)")
    if (unwritable := _unwritable("--to", args.to)) is not None:
        return unwritable
    records, errors = load_records(args.out_dir)
    for e in errors:
        print(e, file=sys.stderr)
    if not records:
        print("reportscan: no record could be read, nothing exported", file=sys.stderr)
        return EXIT_INPUT
    try:
        paths = write(records, args.format, args.to)
    except OSError as exc:
        return _usage_error(f"--to {args.to}: cannot write there ({exc})")
    for path in paths:
        print(path)
    return EXIT_INPUT if errors else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = {"ingest": cmd_ingest, "samples": cmd_samples, "inspect": cmd_inspect,
               "export": cmd_export}[args.command]
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
