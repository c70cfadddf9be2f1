"""The Prefect flow: files in, one record per document out.

A task is a page (never a cell: a task run costs ~0.1 s, a table page ~1 s of work). Documents are
probed in the flow itself (cheap: pdfinfo), their pages fan out to the task runner, and each
document's record is assembled and written atomically as soon as its last page is back. The page
work itself runs in plain worker processes (flows/workers.py) when there is more than one worker.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner

from flows.workers import PagePool, run_page
from ocr.config import Config
from ocr.errors import InputError
from ocr.model import PageResult
from ocr.rasterize import DocumentInfo, probe
from ocr.records import build_record, output_names, write_json_atomic, write_record
from ocr.template import Template, load_templates

_TRANSIENT = (OSError, TimeoutError, subprocess.SubprocessError, MemoryError)


def _transient(_task: Any, _run: Any, state: Any) -> bool:
    """Retry what may pass (I/O, a killed poppler, memory pressure), not a bug that will fail again."""
    exc = state.result(raise_on_failure=False)
    return isinstance(exc, _TRANSIENT)


@task(name="page", retries=2, retry_delay_seconds=1, retry_condition_fn=_transient, cache_policy=NO_CACHE,
      persist_result=False)
def page_task(info: DocumentInfo, number: int, cfg: Config, pool: PagePool | None = None) -> PageResult:
    if pool is None:
        return run_page(info, number, cfg)
    return pool.run(info, number, cfg)


@dataclass
class Failure:
    path: str
    reason: str


@dataclass
class Summary:
    documents: int = 0
    pages: int = 0
    tables: int = 0
    cells: int = 0
    cells_needing_review: int = 0
    failed: int = 0
    failures: list[Failure] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


ProgressFn = Callable[[int, int], None]


class LocalHook:
    """A callback that stays in the process that made it.

    Prefect ships the flow's parameters and context to worker processes; a progress bar holds locks
    and cannot be pickled, so a pickled hook arrives as a no-op.
    """

    def __init__(self, fn: ProgressFn | None = None) -> None:
        self.fn = fn

    def __call__(self, done: int, total: int) -> None:
        if self.fn is not None:
            self.fn(done, total)

    def __getstate__(self) -> dict[str, Any]:
        return {"fn": None}


def task_runner_for(pool: PagePool | None) -> ThreadPoolTaskRunner:
    """Page tasks run in the flow's threads; with a pool they only wait on it, two a worker, so a
    worker always has its next page queued while a finished page's task reports back to Prefect."""
    return ThreadPoolTaskRunner(max_workers=1 if pool is None else 2 * pool.workers)


def run_batch(paths: list[str], out_dir: str, cfg: Config, pool: PagePool | None,
              progress: LocalHook | None = None) -> Summary:
    """The ingest flow with the task runner that fits `pool`."""
    flow_ = ingest_flow.with_options(task_runner=task_runner_for(pool))
    return flow_(paths, out_dir, cfg, progress, pool)


@flow(name="reportscan-ingest", validate_parameters=False, log_prints=False, persist_result=False)
def ingest_flow(paths: list[str], out_dir: str, cfg: Config, progress: LocalHook | None = None,
                pool: PagePool | None = None) -> Summary:
    """Probe, fan pages out, assemble and write each record; bad files are reported, never fatal."""
    out = Path(out_dir)
    summary = Summary()
    infos: list[DocumentInfo] = []
    for p in paths:
        try:
            infos.append(probe(Path(p), cfg))
        except InputError as exc:
            summary.failures.append(Failure(p, exc.reason))
    names = output_names(infos)
    templates = load_templates()  # checked by the CLI before the run: a broken file fails it up front
    futures = {}
    for info in infos:
        for n in range(1, info.pages + 1):
            futures[page_task.submit(info, n, cfg, pool)] = (info, n)
    total = len(futures)
    results: dict[Path, dict[int, PageResult]] = {i.path: {} for i in infos}
    for done, fut in enumerate(as_completed(list(futures)), start=1):
        info, n = futures[fut]
        try:
            res = fut.result()
        except Exception as exc:  # a page that failed after its retries fails that page only
            w, h = info.page_sizes[n - 1]
            reason = f"page {n}: internal error ({type(exc).__name__}: {exc})"
            res = PageResult(number=n, width=w, height=h, error=reason)
        results[info.path][n] = res
        if progress:
            progress(done, total)
        if len(results[info.path]) == info.pages:
            try:
                _finish(info, list(results[info.path].values()), out / names[info.path], cfg, templates, summary)
            except OSError as exc:  # disk full, permissions: this record fails, the others still get written
                summary.failures.append(Failure(str(info.path), f"record not written ({exc})"))
    summary.documents = len(infos)
    summary.failed = len({f.path for f in summary.failures})
    write_json_atomic(summary.to_dict(), out / "_summary.json")
    return summary


def _finish(info: DocumentInfo, pages: list[PageResult], target: Path, cfg: Config, templates: list[Template],
            summary: Summary) -> None:
    record = build_record(info, pages, cfg, templates)
    write_record(record, target)
    summary.outputs.append(str(target))
    summary.pages += info.pages
    summary.tables += len(record.tables)
    cells = [c for t in record.tables for c in t.cells]
    summary.cells += len(cells)
    summary.cells_needing_review += sum(c.needs_review for c in cells)
    for p in record.page_info:
        if p.error:
            summary.failures.append(Failure(str(info.path), p.error))
