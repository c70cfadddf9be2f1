"""The Prefect flow: files in, one record per document out.

A task is a page (never a cell: a task run costs ~0.1 s, a table page ~1 s of work). Documents are
probed in the flow itself (cheap: pdfinfo); each document is then read by its own subflow (a flow run
named after its file) whose pages fan out as parallel tasks, and which assembles and writes the record
atomically as soon as its last page is back. Several documents are in flight at once (one more than
there are page slots), so no worker waits at a document's end for the next one's first pages.

Pages run where the run's page runner says (flows/runners.py): in plain worker processes of our own
(flows/workers.py) when there is more than one worker, in the flow's own thread for one, or on a Dask
cluster through prefect-dask's DaskTaskRunner, where the Dask worker runs the page task itself. A page
task's inputs are a path, a page number and the Config, never image arrays.

Each record is also saved to the store (`store/`, SQLite in the output folder unless a URL is given) with
its pages' snapshots, one transaction per document, in the parent flow's thread as each document ends: a
store that fails fails that document's saving only (its JSON record is written first and stays), never
the batch.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import subprocess
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from flows.runners import PageRunner
from flows.workers import PagePool, read_twice, run_page
from ocr.config import Config
from ocr.confirm import confirm, unvouched
from ocr.errors import InputError
from ocr.model import BBox, PageResult, Record
from ocr.rasterize import DocumentInfo, probe
from ocr.records import build_record, output_names, write_json_atomic, write_record
from ocr.template import Template, load_templates

if TYPE_CHECKING:
    from store.db import Store

_TRANSIENT = (OSError, TimeoutError, subprocess.SubprocessError, MemoryError)


def _transient(_task: Any, _run: Any, state: Any) -> bool:
    """Retry what may pass (I/O, a killed poppler, memory pressure), not a bug that will fail again."""
    exc = state.result(raise_on_failure=False)
    return isinstance(exc, _TRANSIENT)


# Backoff 1, 4, 16 s: a killed poppler passes at once, a full disk or a busy share may take a while to clear.
@task(name="page", retries=3, retry_delay_seconds=[1, 4, 16], retry_jitter_factor=0.5, retry_condition_fn=_transient,
      cache_policy=NO_CACHE, persist_result=False)
def page_task(info: DocumentInfo, number: int, cfg: Config, pool: PagePool | None = None) -> PageResult:
    if pool is None:
        return run_page(info, number, cfg)
    return pool.run(info, number, cfg)


@task(name="second reading", retries=3, retry_delay_seconds=[1, 4, 16], retry_jitter_factor=0.5,
      retry_condition_fn=_transient, cache_policy=NO_CACHE, persist_result=False)
def second_reading_task(info: DocumentInfo, number: int, boxes: dict[str, BBox], rotation: int, cfg: Config,
                        pool: PagePool | None = None) -> dict[str, str]:
    """A page's fields that only their first reading vouches for, read again (`ocr.confirm`)."""
    if pool is None:
        return read_twice(info, number, boxes, rotation, cfg)
    return pool.call(f"page {number} (second reading)", read_twice, info, number, boxes, rotation, cfg)


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
    store: str | None = None  # the store's URL, password hidden
    stored: int = 0  # documents whose reading was written to the store in this run
    already_stored: int = 0  # documents the store held already with this reading: nothing written
    store_failed: int = 0
    review_documents: int = 0  # of this run's documents, those with items still open in the review queue
    review_items: int = 0  # and how many open items they hold

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


class PageTick:
    """Counts pages done across the documents in flight and reports to the progress hook; called from the
    subflows' threads. Pickled, it arrives without its hook, as `LocalHook` does.

    It also carries the run's stop: a run interrupted while documents are under way cannot wait for their
    threads, whose pages are then refused by the closing pool; `stopped` tells them to write no record
    built from those refusals."""

    def __init__(self, progress: LocalHook | None, total: int) -> None:
        self.progress = progress
        self.total = total
        self.done = 0
        self._lock = threading.Lock()
        self.stopped = threading.Event()

    def __call__(self) -> None:
        with self._lock:
            self.done += 1
            if self.progress is not None:
                self.progress(self.done, self.total)

    def __getstate__(self) -> dict[str, Any]:
        return {"progress": None, "total": self.total, "done": self.done}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self.stopped = threading.Event()


def task_runner_for(runner: PageRunner) -> TaskRunner[Any]:
    """A document's task runner. On Dask, prefect-dask's own, attached to the run's scheduler. Otherwise
    page tasks run in the flow's threads; with our pool they only wait on it, two a worker, so a worker
    always has its next page queued while a finished page's task reports back to Prefect."""
    if runner.dask_address is not None:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=runner.dask_address)
    return ThreadPoolTaskRunner(max_workers=1 if runner.pool is None else 2 * runner.pool.workers)


def documents_in_flight(runner: PageRunner) -> int:
    """One page slot: one document at a time (a second would only compete for the same core). More: one
    document more than there are slots, so the next one's pages are queued before a document ends."""
    if runner.dask_address is None and runner.slots <= 1:
        return 1
    return runner.slots + 1


def run_batch(paths: list[str], out_dir: str, cfg: Config, pool: PagePool | None = None,
              progress: LocalHook | None = None, db_url: str | None = None, images_dir: str | None = None,
              dask_address: str | None = None, dask_slots: int = 1) -> Summary:
    """The ingest flow, its pages on `pool` (our processes; None: in the flow's thread) or, given
    `dask_address`, on that Dask cluster's `dask_slots` task threads."""
    return ingest_flow(paths, out_dir, cfg, progress, pool, db_url, images_dir, dask_address, dask_slots)


@flow(name="reportscan-ingest", validate_parameters=False, log_prints=False, persist_result=False)
def ingest_flow(paths: list[str], out_dir: str, cfg: Config, progress: LocalHook | None = None,
                pool: PagePool | None = None, db_url: str | None = None, images_dir: str | None = None,
                dask_address: str | None = None, dask_slots: int = 1) -> Summary:
    """Probe, read each document in its subflow, save each record to the store (`db_url`, default
    `<out_dir>/reportscan.db`; its page images in `images_dir`, default the store's own folder); bad files
    are reported, never fatal.

    The store is a URL, not an open store, and the Dask cluster an address, so a deployment can pass both
    as plain parameters; the store is opened once here for the whole run.
    """
    out = Path(out_dir)
    summary = Summary()
    runner = PageRunner(pool=None if dask_address else pool, dask_address=dask_address,
                        slots=dask_slots if dask_address else (pool.workers if pool is not None else 1))
    store = _open_store(db_url, images_dir, out, summary)
    try:
        _run(paths, out, cfg, progress, runner, store, summary)
    finally:
        if not isinstance(store, str):
            store.close()
    return summary


@dataclass
class DocumentRead:
    """What a document's subflow hands back to the batch: its record (written already, or why not) and
    its pages, whose snapshots the store keeps."""

    record: Record
    pages: list[PageResult]
    written: str | None
    write_error: str | None = None


@flow(name="reportscan-document", validate_parameters=False, log_prints=False, persist_result=False)
def document_flow(info: DocumentInfo, cfg: Config, target: str, pool: PagePool | None = None,
                  tick: PageTick | None = None) -> DocumentRead:
    """One document: its pages as parallel tasks, then its record, written to `target` atomically.

    A page that failed after its retries fails that page only: the record carries its error. Each page's
    Dask future is released as soon as its result is in (flows/dask_workers.py says why).
    """
    futures = {page_task.submit(info, n, cfg, pool): n for n in range(1, info.pages + 1)}
    results: dict[int, PageResult] = {}
    for fut in as_completed(list(futures)):
        n = futures[fut]
        try:
            res = fut.result()
        except Exception as exc:  # a page that failed after its retries fails that page only
            w, h = info.page_sizes[n - 1]
            reason = f"page {n}: internal error ({type(exc).__name__}: {exc})"
            res = PageResult(number=n, width=w, height=h, error=reason)
        finally:
            _release(fut)
        results[n] = res
        if tick is not None:
            tick()
    pages = [results[k] for k in sorted(results)]
    record = _read_twice(info, build_record(info, pages, cfg, load_templates()), cfg, pool)
    if tick is not None and tick.stopped.is_set():  # the run was interrupted under this document's pages
        return DocumentRead(record, pages, None, "interrupted: record not written")
    try:
        write_record(record, Path(target))
    except OSError as exc:  # disk full, permissions: this record fails, the others still get written
        return DocumentRead(record, pages, None, f"record not written ({exc})")
    return DocumentRead(record, pages, target)


def _read_twice(info: DocumentInfo, record: Record, cfg: Config, pool: PagePool | None) -> Record:
    """The record once the fields only their reading vouches for have had their second reading, a task a
    page. A page whose second reading fails after its retries leaves its fields as the first reading
    left them (as a run without this stage would) and says so in the log."""
    rotations = {p.page: p.rotation for p in record.page_info}
    futures = {second_reading_task.submit(info, n, boxes, rotations.get(n, 0), cfg, pool): n
               for n, boxes in sorted(unvouched(record, cfg).items())}
    seconds: dict[str, str] = {}
    for fut in as_completed(list(futures)):
        try:
            seconds.update(fut.result())
        except Exception as exc:  # noqa: BLE001 - see above
            get_run_logger().warning("%s page %d: second reading failed (%s: %s)", info.path.name, futures[fut],
                                     type(exc).__name__, exc)
        finally:
            _release(fut)
    return confirm(record, seconds, cfg) if seconds else record


def _release(future: object) -> None:
    wrapped = getattr(future, "wrapped_future", None)
    if wrapped is not None and type(wrapped).__module__.startswith("distributed"):
        from flows.dask_workers import release

        release(future)


def _open_store(db_url: str | None, images_dir: str | None, out: Path, summary: Summary) -> Store | str:
    """The run's store, or why it cannot be opened: the records are still written, and each document then
    fails with that reason (the CLI checks the store before any OCR, so this is a deployment's case)."""
    from store.db import StoreError, default_url, open_store, safe_url

    url = db_url or default_url(out)
    summary.store = safe_url(url)
    try:
        return open_store(url, Path(images_dir) if images_dir else None, create=True,
                          fallback_images=out / "images")
    except StoreError as exc:
        return str(exc)


def _run(paths: list[str], out: Path, cfg: Config, progress: LocalHook | None, runner: PageRunner,
         store: Store | str, summary: Summary) -> None:
    infos: list[DocumentInfo] = []
    for p in paths:
        try:
            infos.append(probe(Path(p), cfg))
        except InputError as exc:
            summary.failures.append(Failure(p, exc.reason))
    names = output_names(infos)
    templates = load_templates()  # checked by the CLI before the run: a broken file fails it up front
    tick = PageTick(progress, sum(i.pages for i in infos))
    read = document_flow.with_options(task_runner=task_runner_for(runner))
    stored_shas: list[str] = []
    # Each subflow runs in a thread of its own, in a copy of this flow's context: Prefect then records it
    # as this run's child. Documents queue for the threads in order; the store is written here, in turn.
    ex = concurrent.futures.ThreadPoolExecutor(max_workers=documents_in_flight(runner),
                                               thread_name_prefix="reportscan-document")
    try:
        docs = {ex.submit(contextvars.copy_context().run, read.with_options(flow_run_name=info.path.name),
                          info, cfg, str(out / names[info.path]), runner.pool, tick): info for info in infos}
        for fut in concurrent.futures.as_completed(docs):
            info = docs[fut]
            try:
                doc = fut.result()
            except Exception as exc:  # a bug in a document's subflow fails that document only
                summary.failures.append(Failure(str(info.path), f"internal error ({type(exc).__name__}: "
                                                                f"{_one_line(exc)})"))
                continue
            _count(info, doc.record, summary)
            if doc.written is not None:
                summary.outputs.append(doc.written)
            else:
                summary.failures.append(Failure(str(info.path), doc.write_error or "record not written"))
            if isinstance(store, str):
                summary.failures.append(Failure(str(info.path), f"not stored ({store})"))
                summary.store_failed += 1
            elif _store(store, str(info.path), doc.record, doc.pages, templates, summary):
                stored_shas.append(doc.record.sha256)
            for page in doc.pages:
                page.snapshot = None  # saved: a batch's images are not held to its end
    except BaseException:
        # Interrupted: documents not started never start; those under way end as their pages are refused
        # (the pool or cluster closes next), instead of this thread waiting for them all, and write nothing.
        tick.stopped.set()
        raise
    finally:
        ex.shutdown(wait=False, cancel_futures=True)
    summary.documents = len(infos)
    if not isinstance(store, str):
        _review_counts(store, stored_shas, summary)
    summary.failed = len({f.path for f in summary.failures})
    write_json_atomic(summary.to_dict(), out / "_summary.json")


def _store(store: Store, path: str, record: Record, pages: list[PageResult], templates: list[Template],
           summary: Summary) -> bool:
    """One document into the store, in one transaction; a failure is that document's alone. Whether the
    store holds its reading now.

    Any exception counts, a bug included: its transaction is rolled back, the JSON record is written
    already, and the next document must still be saved and the summary written.
    """
    from store.db import StoreError, safe_url
    from store.ingest import save_reading

    snapshots = {p.number: p.snapshot for p in pages if p.snapshot is not None}
    try:
        saved = save_reading(store, record, snapshots, templates=templates)
    except Exception as exc:  # noqa: BLE001 - see above
        reason = _one_line(exc) if isinstance(exc, StoreError | OSError) else f"{type(exc).__name__}: {_one_line(exc)}"
        summary.failures.append(Failure(path, f"not stored in {safe_url(store.url)} ({reason})"))
        summary.store_failed += 1
        return False
    if saved.created:
        summary.stored += 1
    else:
        summary.already_stored += 1
    return True


def _review_counts(store: Store, shas: list[str], summary: Summary) -> None:
    """What this run left for the operators: its documents with open items, and how many."""
    from store.queue import queue

    wanted = set(shas)
    try:
        docs = [d for d in queue(store).documents if d.sha256 in wanted]
    except Exception as exc:  # noqa: BLE001 - the records and the store are written: only the count is lost
        reason = f"{type(exc).__name__}: {_one_line(exc)}"
        summary.failures.append(Failure(summary.store or store.url, f"review queue not counted ({reason})"))
        return
    summary.review_documents = sum(d.open_items > 0 for d in docs)
    summary.review_items = sum(d.open_items for d in docs)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def _count(info: DocumentInfo, record: Record, summary: Summary) -> None:
    summary.pages += info.pages
    summary.tables += len(record.tables)
    cells = [c for t in record.tables for c in t.cells]
    summary.cells += len(cells)
    summary.cells_needing_review += sum(c.needs_review for c in cells)
    for p in record.page_info:
        if p.error:
            summary.failures.append(Failure(str(info.path), p.error))
