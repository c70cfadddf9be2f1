"""`reportscan`: the command line on top of the flows.

Exit codes (as OCRmyPDF's, they mean something): 0 every input went through; 1 an input failed (a
document not read, not stored, nothing to export), a named path is missing, or a folder held no input;
2 bad usage, including a --db store that cannot be opened or created (a bad URL, no server, a store not
at the newest schema) and, for batch, an --out, done/ or failed/ folder inside the inbox; 3 a missing
dependency. `batch` exits 1 too when another batch holds the inbox's lock (nothing is done: the schedule
runs it again) or when any file of the batch failed (it is in failed/ with its reason).
Prefect is imported only once the arguments and the system are known to be good: it costs ~1.4 s; the
store (SQLAlchemy, Alembic) and the review server (FastAPI) only by the commands that use them.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ocr.export import FORMATS, load_records, record_files, write
from ocr.rasterize import find_inputs

if TYPE_CHECKING:
    from flows.batch import Layout
    from ocr.config import Config
    from store.db import Store

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
    _config_options(ing)
    _dask_options(ing)
    ing.add_argument("--db", metavar="URL", help="the store the records are saved to (default: SQLite in --out, "
                                                 "sqlite:///OUT/reportscan.db; or postgresql+psycopg://...)")
    ing.add_argument("--images", type=Path, metavar="DIR",
                     help="folder for the page images the review page shows (default: beside a SQLite store; for "
                          "PostgreSQL the folder its first ingest recorded, else images/ in --out)")

    bat = sub.add_parser("batch", help="one batch over an inbox folder now, as the schedule runs it: each new file "
                                       "read once, then moved to done/ or failed/ beside the inbox")
    bat.add_argument("--inbox", required=True, type=Path, help="the folder others drop scans into")
    bat.add_argument("--out", type=Path, help="folder for the records (default: out/ beside the inbox)")
    bat.add_argument("--db", metavar="URL", help="the store (default: sqlite:///OUT/reportscan.db)")
    bat.add_argument("--images", type=Path, metavar="DIR", help="folder for the page images (as for ingest)")
    _config_options(bat)
    _dask_options(bat)

    sch = sub.add_parser("schedule", help="serve the batch on a cron schedule (Prefect's serve): a server of its own "
                                          "on 127.0.0.1, or the one PREFECT_API_URL names; runs until stopped")
    sch.add_argument("--inbox", required=True, type=Path, help="the folder others drop scans into")
    sch.add_argument("--cron", required=True, metavar="EXPR", help='when, as cron fields: "0 2 * * *" is 02:00 daily')
    sch.add_argument("--timezone", metavar="TZ", help="the cron's time zone, e.g. Asia/Shanghai (default: UTC)")
    sch.add_argument("--out", type=Path, help="folder for the records (default: out/ beside the inbox)")
    sch.add_argument("--db", metavar="URL", help="the store (default: sqlite:///OUT/reportscan.db)")
    sch.add_argument("--images", type=Path, metavar="DIR", help="folder for the page images (as for ingest)")
    sch.add_argument("--name", default="nightly-inbox", help="the deployment's name in Prefect (default: %(default)s)")
    sch.add_argument("--port", type=int, default=4200,
                     help="port of the Prefect server (and UI) it starts when PREFECT_API_URL is not set")
    _config_options(sch)
    _dask_options(sch)

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

    exp = sub.add_parser("export", help="tables of the records in an ingest output folder or a store: one row "
                                        "per report (reports.*) and one per field (fields.*)")
    exp.add_argument("out_dir", type=Path, nargs="?", metavar="OUT_DIR",
                     help="an ingest --out folder (its *.json records); or give --db")
    exp.add_argument("--db", metavar="URL", help="export from the store instead, corrections applied: each field "
                                                 "says whether it was read, repaired or corrected, and by whom")
    exp.add_argument("--approved-only", action="store_true", help="with --db: the approved documents alone")
    exp.add_argument("--format", required=True, choices=FORMATS,
                     help="xlsx writes one workbook, reports.xlsx, with the sheets reports and fields")
    exp.add_argument("--to", required=True, type=Path, help="folder for the tables (created if missing)")

    db = sub.add_parser("db", help="the store's schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="create the store or bring it to the newest schema")
    up.add_argument("--db", required=True, metavar="URL")

    rev = sub.add_parser("review", help="the review page: operators settle the flagged cells of a store")
    rev.add_argument("--db", required=True, metavar="URL")
    rev.add_argument("--host", default="127.0.0.1",
                     help="address to bind (default 127.0.0.1; any other asks operators to sign in)")
    rev.add_argument("--port", type=int, default=8000)
    rev.add_argument("--operator", help="on 127.0.0.1: the name the audit gives your corrections (default: OS user)")
    rev.add_argument("--allowed-host", action="append", default=[], metavar="H",
                     help="a Host header name to accept besides the bound address (a proxy's name); repeatable")
    rev.add_argument("--images", type=Path, metavar="DIR", help="the store's page images, if moved")

    users = sub.add_parser("users", help="operators who sign in to a review page not bound to 127.0.0.1")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    add = users_sub.add_parser("add", help="add an operator; the password is read from stdin or "
                                           "REPORTSCAN_PASSWORD, never given as an argument")
    add.add_argument("name")
    add.add_argument("--db", required=True, metavar="URL")
    dis = users_sub.add_parser("disable", help="an operator who may no longer sign in (the audit keeps the name)")
    dis.add_argument("name")
    dis.add_argument("--db", required=True, metavar="URL")
    return p


def _config_options(p: argparse.ArgumentParser) -> None:
    """The reading's settings, the same for ingest and batch (a batch skips what was read with the same ones)."""
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="parallel page workers (processes)")
    p.add_argument("--backend", choices=["tesserocr", "pytesseract"], default="tesserocr")
    p.add_argument("--dpi", type=int, default=300, help="PDF rasterization resolution")
    p.add_argument("--max-megapixels", type=float, default=100.0, help="refuse larger pages")
    p.add_argument("--no-osd", action="store_true", help="skip Tesseract orientation detection")
    p.add_argument("--verbose", "-v", action="store_true", help="show Prefect's own logs")


def _dask_options(p: argparse.ArgumentParser) -> None:
    """Where the pages run instead of --workers: not a reading setting (a batch read on Dask is the same)."""
    where = p.add_mutually_exclusive_group()
    where.add_argument("--dask-address", metavar="ADDR",
                       help="run the page tasks on the Dask cluster of this scheduler (tcp://host:8786) "
                            "instead of --workers")
    where.add_argument("--dask-local", type=int, metavar="N",
                       help="run the page tasks on a local Dask cluster of N single-threaded worker processes, "
                            "started for this run, instead of --workers")


def _dask_unavailable(args: argparse.Namespace, cfg: object) -> int | None:
    """Before anything starts: a bad --dask-local is a usage error (2); a scheduler that cannot be reached is
    a missing service (3), said in one line. The cluster's workers are warmed for `cfg` meanwhile."""
    if args.dask_local is not None and args.dask_local < 1:
        return _usage_error("--dask-local must be at least 1")
    if not args.dask_address:
        return None
    from flows.dask_workers import DaskUnavailable, prepare_cluster

    try:
        prepare_cluster(args.dask_address, cfg)  # type: ignore[arg-type]
    except (DaskUnavailable, ValueError) as exc:
        print(f"reportscan: {exc}", file=sys.stderr)
        return EXIT_DEPENDENCY
    return None


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


def _ready_to_read(args: argparse.Namespace) -> tuple[object, int | None]:
    """The run's settings, or the exit code of what stops it before any page is read: a missing engine
    or language (3), a broken template file (2)."""
    cfg = _config(args)
    if (missing := _missing_dependency(cfg)) is not None:
        return cfg, missing
    from ocr.errors import TemplateError
    from ocr.template import load_templates

    try:
        load_templates()
    except TemplateError as exc:
        return cfg, _usage_error(str(exc))
    return cfg, None


def cmd_ingest(args: argparse.Namespace) -> int:
    cfg, stop = _ready_to_read(args)
    if stop is not None:
        return stop
    if (no_dask := _dask_unavailable(args, cfg)) is not None:
        return no_dask
    duplicates: list[str] = []
    files, path_errors = find_inputs(args.paths, duplicates)
    for line in (*duplicates, *path_errors):
        print(line, file=sys.stderr)
    if not files:
        print("reportscan: nothing to process", file=sys.stderr)
        return EXIT_INPUT
    if (unwritable := _unwritable("--out", args.out)) is not None:
        return unwritable
    db_url, bad_store = _ingest_store(args)
    if bad_store is not None:
        return bad_store
    _prefect_env(args.verbose)
    from flows.runners import page_runner
    from flows.server import ServerError, ephemeral_api
    from flows.startup import long_lived_imports
    from flows.workers import head_start

    _interruptible(args.verbose)
    paths = [str(f) for f in files]
    try:
        # The API is started first: it takes longest. The workers (ours or a local Dask cluster's) start
        # next, before Prefect's own import here; ours begin on the first pages while it boots.
        with ephemeral_api() as api, page_runner(cfg, args.dask_address, args.dask_local) as runner:
            if api is not None:
                head_start(runner.pool, paths, cfg)
            with long_lived_imports():
                from flows.report import run_ingest

            summary = run_ingest(paths, args.out, cfg, api, runner, db_url, args.images)
    except ServerError as exc:
        print(f"reportscan: {exc}", file=sys.stderr)
        return EXIT_DEPENDENCY
    except RuntimeError as exc:
        from flows.dask_workers import DaskUnavailable

        if not isinstance(exc, DaskUnavailable):
            raise
        print(f"reportscan: {exc}", file=sys.stderr)
        return EXIT_DEPENDENCY
    except KeyboardInterrupt:
        print("reportscan: interrupted; the records already written are whole, the rest were not written",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    if duplicates or path_errors:
        print(_paths_line(len(duplicates), path_errors), file=sys.stderr)
    return EXIT_INPUT if summary.failures or path_errors else EXIT_OK


def _paths_line(duplicates: int, path_errors: list[str]) -> str:
    """The summary's word on what never reached the flow: its table counts documents read, not paths named."""
    links = sum("dangling or looping link" in e for e in path_errors)
    parts = [f"{duplicates} duplicate{'s' * (duplicates != 1)} read once"] if duplicates else []
    if links:
        parts.append(f"{links} dangling or looping link{'s' * (links != 1)} failed")
    if len(path_errors) > links:
        parts.append(f"{len(path_errors) - links} other bad path{'s' * (len(path_errors) - links != 1)}")
    return "not ingested: " + ", ".join(parts) + " (named above)"


def _prefect_env(verbose: bool) -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # no phoning home from batch jobs
    os.environ.setdefault("PREFECT_SERVER_UI_ENABLED", "false")  # the run's own server needs no UI (~0.6 s)
    # The run's own server is gone with the run: its log records would be thrown away (and a log flushed
    # after it stopped prints "Error logging to API"). A configured server still gets the flow's states.
    os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
        os.environ.setdefault("PREFECT_LOGGING_SERVER_LEVEL", "ERROR")


def _batch_ready(args: argparse.Namespace, lock: bool = True) -> tuple[Layout, Config, str] | int:
    """What `batch` and `schedule` check before anything starts, in the order a person fixes them (usage,
    dependencies, the Dask scheduler, the lock, writable folders, the store): the layout, the configuration and
    the store's URL, or the exit code."""
    from flows.batch import BatchLocked, BatchUsageError, check_unlocked, default_out, layout

    out = args.out if args.out is not None else default_out(args.inbox)
    try:
        lay = layout(args.inbox, out)
    except BatchUsageError as exc:
        return _usage_error(str(exc))
    cfg, stop = _ready_to_read(args)
    if stop is not None:
        return stop
    if (no_dask := _dask_unavailable(args, cfg)) is not None:
        return no_dask
    if lock:
        try:  # before anything is made: a second run leaves no trace
            check_unlocked(lay)
        except (BatchLocked, OSError) as exc:
            print(f"reportscan: {exc}", file=sys.stderr)
            return EXIT_INPUT
    for option, folder in (("--out", lay.out), ("done/", lay.done), ("failed/", lay.failed)):
        if (unwritable := _unwritable(option, folder)) is not None:
            return unwritable
    args.out = lay.out
    db_url, bad_store = _ingest_store(args)
    if bad_store is not None:
        return bad_store
    return lay, cfg, db_url  # type: ignore[return-value]


def cmd_batch(args: argparse.Namespace) -> int:
    """The checks of `_batch_ready`, then the flow on the run's own Prefect API (or the configured one). A
    batch with a failed file exits 1, like ingest."""
    from flows.batch import BatchLocked

    ready = _batch_ready(args)
    if isinstance(ready, int):
        return ready
    lay, cfg, db_url = ready
    if not args.verbose:  # a failed file fails the flow run: Prefect would log its traceback, we say why
        os.environ["PREFECT_LOGGING_LEVEL"] = "CRITICAL"
    _prefect_env(args.verbose)
    from flows.server import ServerError, ephemeral_api

    _interruptible(args.verbose)
    try:
        with ephemeral_api() as api:
            from prefect.settings import PREFECT_API_URL, temporary_settings

            from flows.batch import BatchFailed, batch_flow, summary_markdown

            configured = PREFECT_API_URL.value()
            if api is not None and configured:  # a profile names a server: use it, not ours
                api.stop()
            url = configured or (api.wait() if api is not None else None)
            try:
                with temporary_settings({PREFECT_API_URL: url} if url else {}):
                    summary = batch_flow(str(lay.inbox), str(lay.out), cfg, db_url,
                                         str(args.images) if args.images else None, args.dask_address,
                                         args.dask_local)
                failed = False
            except BatchFailed as exc:
                summary, failed = exc.summary, True
    except ServerError as exc:
        print(f"reportscan: {exc}", file=sys.stderr)
        return EXIT_DEPENDENCY
    except BatchLocked as exc:  # taken between our check and the flow's start
        print(f"reportscan: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("reportscan: interrupted; files not yet moved are still in the inbox and the next batch takes them",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    for o in summary.failures:
        print(f"{lay.inbox / o.name}: {o.reason}", file=sys.stderr)
    print(summary_markdown(summary))
    return EXIT_INPUT if failed else EXIT_OK


def cmd_schedule(args: argparse.Namespace) -> int:
    """The batch's own checks, the cron and the zone; then the deployment served until Ctrl-C or SIGTERM
    (flows/schedule.py). Its runs take the inbox's lock each, so no lock is asked for here."""
    from flows.schedule import ScheduleError, check_schedule

    try:
        check_schedule(args.cron, args.timezone)
    except ScheduleError as exc:
        return _usage_error(str(exc))
    ready = _batch_ready(args, lock=False)
    if isinstance(ready, int):
        return ready
    lay, cfg, db_url = ready
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if not args.verbose:  # the runs' own logs (INFO) are what a served process is watched by
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    from flows.schedule import schedule_server, serve_batch
    from flows.server import ServerError

    parameters = {"inbox": str(lay.inbox), "out_dir": str(lay.out), "db_url": db_url,
                  "images_dir": str(args.images.absolute()) if args.images else None,
                  "config": cfg.model_dump(mode="json"), "dask_address": args.dask_address,
                  "dask_local": args.dask_local}
    try:
        with schedule_server(args.port) as url:
            from prefect.settings import PREFECT_API_URL, temporary_settings

            where = url or PREFECT_API_URL.value()
            zone = args.timezone or "UTC"
            print(f"reportscan: serving {args.name!r}: a batch over {lay.inbox} at {args.cron!r} ({zone}); "
                  f"runs at {where.removesuffix('/api')}; Ctrl-C stops", file=sys.stderr, flush=True)
            with temporary_settings({PREFECT_API_URL: url} if url else {}):
                serve_batch(parameters, args.cron, args.timezone, args.name)
    except ServerError as exc:
        print(f"reportscan: {exc}", file=sys.stderr)
        return EXIT_DEPENDENCY
    except KeyboardInterrupt:
        pass
    return EXIT_OK


def _ingest_store(args: argparse.Namespace) -> tuple[str, int | None]:
    """The run's store URL, created or upgraded now: a store that cannot be opened is a usage error said
    before any page is read, not one failure per document at the end."""
    from store.db import StoreError, default_url, open_store

    url = args.db or default_url(args.out)
    try:
        open_store(url, args.images, create=True, fallback_images=args.out / "images").close()
    except StoreError as exc:
        return url, _usage_error(f"--db: {exc}")
    return url, None


def _open_existing(url: str, images: Path | None = None) -> Store | int:
    """A store that must exist already at the newest schema (export, review, users), or the exit code."""
    from store.db import StoreError, open_store

    try:
        return open_store(url, images, create=False)
    except StoreError as exc:
        return _usage_error(f"--db: {exc}")


def _interruptible(verbose: bool) -> None:
    """Ctrl-C and SIGTERM unwind the run alike (workers, cluster and server are stopped on the way out). From
    then on the CLI alone speaks, in one line: documents under way end in their own threads while the run
    unwinds, and Prefect would log each one's crash, with a traceback, against a client already closed."""

    def interrupted(signum: int, _frame: object) -> None:
        if not verbose:
            logging.disable(logging.CRITICAL)
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)


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
    if (args.out_dir is None) == (args.db is None):
        return _usage_error("export: give an OUT_DIR or --db URL (exactly one of them)")
    if args.approved_only and args.db is None:
        return _usage_error("--approved-only: only with --db (a folder of records knows no approvals)")
    if args.db is not None:
        return _export_store(args)
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


def _export_store(args: argparse.Namespace) -> int:
    """Rows from the store's current readings with the corrections applied; provenance per field."""
    from store.db import StoreError, safe_url
    from store.export import effective_records

    if (unwritable := _unwritable("--to", args.to)) is not None:
        return unwritable
    store = _open_existing(args.db)
    if isinstance(store, int):
        return store
    try:
        found = effective_records(store, approved_only=args.approved_only)
    except StoreError as exc:
        print(f"reportscan: {exc}", file=sys.stderr)
        return EXIT_INPUT
    finally:
        store.close()
    if not found:
        what = "approved document" if args.approved_only else "document"
        print(f"reportscan: {safe_url(args.db)} holds no {what}, nothing exported", file=sys.stderr)
        return EXIT_INPUT
    try:
        paths = write([e.record for e in found], args.format, args.to, sources=[e.sources for e in found])
    except OSError as exc:
        return _usage_error(f"--to {args.to}: cannot write there ({exc})")
    for path in paths:
        print(path)
    return EXIT_OK


def cmd_db(args: argparse.Namespace) -> int:
    from store.db import StoreError, safe_url, upgrade

    try:
        upgrade(args.db)
    except StoreError as exc:
        return _usage_error(f"--db: {exc}")
    print(f"{safe_url(args.db)}: at the newest schema")
    return EXIT_OK


def cmd_review(args: argparse.Namespace) -> int:
    """The store is checked before the server starts: a missing or old store is one line, not a traceback."""
    from review.settings import ReviewSettings

    try:
        settings = ReviewSettings(db_url=args.db, host=args.host, port=args.port, operator=args.operator,
                                  allowed_hosts=tuple(args.allowed_host), images_dir=args.images)
    except ValueError as exc:
        return _usage_error(str(exc))
    store = _open_existing(args.db, args.images)
    if isinstance(store, int):
        return store
    store.close()
    from review.app import serve
    from review.security import SecurityError
    from store.db import StoreError

    try:
        serve(settings)
    except StoreError as exc:
        return _usage_error(f"--db: {exc}")
    except SecurityError as exc:  # a key file others can read, half of the first operator's variables
        return _usage_error(str(exc))
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_OK


PASSWORD_ENV = "REPORTSCAN_PASSWORD"


def _password() -> str:
    """From REPORTSCAN_PASSWORD, else stdin (a prompt without echo at a terminal): never an argument, which
    `ps` and the shell's history would show."""
    if (env := os.environ.get(PASSWORD_ENV)) is not None:
        return env
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass("password: ")
    return sys.stdin.readline().rstrip("\r\n")


def cmd_users(args: argparse.Namespace) -> int:
    from store.db import StoreError
    from store.operators import add_operator, disable_operator

    if not args.name.strip():
        return _usage_error("users: the operator's name is empty")
    store = _open_existing(args.db)  # first: nobody types a password for a store that is not there
    if isinstance(store, int):
        return store
    try:
        if args.users_command == "add":
            if not (password := _password()):
                return _usage_error(f"users add {args.name}: the password is empty (give it on stdin or in "
                                    f"{PASSWORD_ENV})")
            add_operator(store, args.name, password)
            print(f"operator {args.name} added")
        else:
            disable_operator(store, args.name)
            print(f"operator {args.name} disabled")
    except StoreError as exc:
        print(f"reportscan: {exc}", file=sys.stderr)
        return EXIT_INPUT
    finally:
        store.close()
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = {"ingest": cmd_ingest, "batch": cmd_batch, "schedule": cmd_schedule, "samples": cmd_samples,
               "inspect": cmd_inspect, "export": cmd_export, "db": cmd_db, "review": cmd_review,
               "users": cmd_users}[args.command]
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
