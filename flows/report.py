"""Running the ingest flow for a person at a terminal: progress bar, summary table, error lines."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from flows.ingest import LocalHook, Summary, run_batch
from flows.runners import PageRunner
from flows.server import EphemeralApi
from ocr.config import Config


def run_ingest(files: list[str], out: Path, cfg: Config, api: EphemeralApi | None = None,
               runner: PageRunner | None = None, db_url: str | None = None, images_dir: Path | None = None
               ) -> Summary:
    """Run the batch on `runner` (our pool or a Dask cluster; None: in this process) against `api` (the run's
    own server, still starting) or the configured Prefect API, saving to the store at `db_url` (default:
    `<out>/reportscan.db`)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    err = Console(stderr=True)
    with Progress(TextColumn("pages"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as bar:
        job = bar.add_task("pages", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(job, completed=done, total=total)

        configured = PREFECT_API_URL.value()
        if api is not None and configured:  # a profile names a server: use it, not ours
            api.stop()
        url = configured or (api.wait() if api is not None else None)
        with temporary_settings({PREFECT_API_URL: url} if url else {}):
            runner = runner or PageRunner()
            summary = run_batch(files, str(out), cfg, runner.pool, LocalHook(progress), db_url,
                                str(images_dir) if images_dir else None, runner.dask_address, runner.slots)
    for f in summary.failures:
        print(f"{f.path}: {f.reason}", file=sys.stderr)
    table = Table(title="reportscan ingest")
    for col in ("documents", "pages", "tables", "cells", "needing review", "stored", "failed"):
        table.add_column(col, justify="right")
    table.add_row(*(str(v) for v in (summary.documents, summary.pages, summary.tables, summary.cells,
                                     summary.cells_needing_review, summary.stored + summary.already_stored,
                                     summary.failed)))
    Console().print(table)
    print(review_hint(summary), file=sys.stderr)
    return summary


def review_hint(summary: Summary) -> str:
    """What to run next: the operators settle the flagged cells on the review page, over this store."""
    n, docs, held = summary.review_items, summary.review_documents, summary.already_stored
    what = f"{n} open item{'s' * (n != 1)} in {docs} document{'s' * (docs != 1)}" if n else "nothing open"
    if held:
        what += f"; {held} document{'s were' if held != 1 else ' was'} stored already, unchanged"
    return f"review ({what}): reportscan review --db {shlex.quote(summary.store or '')}"
