"""Running the ingest flow for a person at a terminal: progress bar, summary table, error lines."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from flows.ingest import LocalHook, Summary, ingest_flow, shared_api, task_runner_for
from ocr.config import Config


def run_ingest(files: list[str], out: Path, cfg: Config) -> Summary:
    err = Console(stderr=True)
    with Progress(TextColumn("pages"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as bar:
        job = bar.add_task("pages", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(job, completed=done, total=total)

        flow = ingest_flow.with_options(task_runner=task_runner_for(cfg.workers))
        with shared_api():
            summary = flow(files, str(out), cfg, LocalHook(progress))
    for f in summary.failures:
        print(f"{f.path}: {f.reason}", file=sys.stderr)
    table = Table(title="reportscan ingest")
    for col in ("documents", "pages", "tables", "cells", "needing review", "failed"):
        table.add_column(col, justify="right")
    table.add_row(*(str(v) for v in (summary.documents, summary.pages, summary.tables, summary.cells,
                                     summary.cells_needing_review, summary.failed)))
    Console().print(table)
    return summary
