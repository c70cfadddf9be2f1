"""Page workers: plain processes that import only `ocr/`, fed by the flow's page tasks.

Prefect's ProcessPoolTaskRunner runs the whole task engine in every worker: Prefect's imports
(~60 MB a worker), an API client, and ~0.1-0.2 CPU-s of task machinery per page on the cores that do
the OCR. Here the page tasks run in the flow process's threads (ThreadPoolTaskRunner), where Prefect
tracks, retries and logs them, and each hands its page to this pool; the workers start, import the
stages and open their Tesseract engines while the run's Prefect API is still starting.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import mmap
import multiprocessing
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, TypeVar

from flows.startup import long_lived_imports
from ocr.config import Config
from ocr.errors import InputError
from ocr.model import BBox, PageResult
from ocr.rasterize import DocumentInfo, probe

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters
_MMAP_FROM = 64 * 1024 * 1024
_MMAP_FROM_OLD_GLIBC = 32 * 1024 * 1024
_KEEP_HEAP = 1 << 30  # glibc never shrinks the heap on its own: `run_page` decides
_TRIM_ABOVE = 512 * 1024 * 1024  # RSS after a page above which the heap is handed back
_PAGE_SIZE = mmap.PAGESIZE
T = TypeVar("T")


class WorkerLost(OSError):
    """A page worker died (killed, out of memory) under a page: transient, the page task retries it."""


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to tune
        return None


def keep_page_heap() -> None:
    """Let a worker reuse one page's heap for the next instead of faulting it in afresh.

    Every page allocates much the same arrays. Handed back to the OS after each page (trimmed, or
    mapped and unmapped), they come back as fresh zeroed pages: on the 75 bench pages in one process
    that cost 8 CPU-s of system time, ~10% of the work. Kept, system time is ~1.3 s and a worker
    holds ~315 MB between pages instead of ~205 MB; its peak is unchanged (~320-355 MB). Arrays of
    64 MiB and more (pages far larger than A4 at 300 dpi) are still mapped and returned on free, and
    `run_page` trims a heap that a large page left above 512 MB (where /proc tells the RSS).
    """
    libc = _libc()
    if libc is None:
        return
    # Some glibc builds cap the threshold at 32 MiB and refuse more (mallopt returns 0); fixing the
    # trim threshold alone would pin the mmap threshold at 128 KiB, the opposite of the aim.
    if libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_FROM) or libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_FROM_OLD_GLIBC):
        libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_HEAP)


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return 0


def run_page(info: DocumentInfo, number: int, cfg: Config) -> PageResult:
    """One page; a heap grown past `_TRIM_ABOVE` is handed back afterwards (see `keep_page_heap`)."""
    from ocr.pipeline import process_page

    try:
        return process_page(info, number, cfg)
    finally:
        trim_heap_above(_TRIM_ABOVE)


def read_twice(info: DocumentInfo, number: int, boxes: dict[str, BBox], rotation: int, cfg: Config) -> dict[str, str]:
    """`ocr.pipeline.second_readings`, imported where it runs: the flow process keeps the OCR stages out."""
    from ocr.pipeline import second_readings

    return second_readings(info, number, boxes, rotation, cfg)


def trim_heap_above(limit: int) -> bool:
    """Hand the free heap back to the OS when the process's RSS exceeds `limit` bytes; whether it did."""
    libc = _libc()
    if libc is None or _rss_bytes() <= limit:
        return False
    libc.malloc_trim(0)
    return True


def _start_worker(cfg: Config) -> None:
    """Pay a worker's start-up (imports, engines) now, while the flow is still waiting for its API.

    OpenCV's own threads are turned off: there is a worker per core already, and their threads only
    fought each other (measured on the 23 sample pages, 2 workers: worker CPU 36.8 -> ~30 s, wall
    27.4 -> 22.6 s). A single in-process worker keeps them.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the flow's to handle: it closes the pool
    keep_page_heap()
    with long_lived_imports():
        import cv2

        cv2.setNumThreads(1)
        from ocr.recognize import engine_for

        engine_for(cfg)
        import ocr.pipeline  # noqa: F401


def _ready() -> None:
    return None


class PagePool:
    """`workers` page processes; replaced whole when one of them dies, so later pages still run.

    Passed to the flow as a parameter. Pickled (to a Dask worker, say) it arrives empty, and pages
    then run in the process their task runs in.
    """

    def __init__(self, workers: int, cfg: Config) -> None:
        self.workers = workers
        self._cfg = cfg
        self._lock = threading.Lock()
        self._closed = False
        self._executor: ProcessPoolExecutor | None = self._start()
        self._early: dict[tuple[str, int], tuple[DocumentInfo, Config, Future[PageResult], ProcessPoolExecutor]] = {}

    def _start(self) -> ProcessPoolExecutor:
        ex = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_start_worker, initargs=(self._cfg,))
        for _ in range(self.workers):  # a spawn pool starts a process per job it cannot hand to an idle one
            ex.submit(_ready)
        return ex

    def head_start(self, info: DocumentInfo, numbers: range, cfg: Config) -> None:
        """Start these pages now, before their tasks exist: the run's API takes ~5 s to start, and the
        workers would sit idle through it. Each page's first task run takes its result over; a retry
        runs the page afresh."""
        with self._lock:
            ex = self._executor
            if ex is None or self._closed:
                return
            for n in numbers:
                key = (str(info.path), n)
                if key in self._early:
                    continue
                try:
                    self._early[key] = (info, cfg, ex.submit(run_page, info, n, cfg), ex)
                except BrokenProcessPool:  # a worker died already: the page's task will see to it
                    return

    def run(self, info: DocumentInfo, number: int, cfg: Config) -> PageResult:
        with self._lock:
            early = self._early.pop((str(info.path), number), None)
        ex = self._executor
        if self._closed:
            raise RuntimeError(f"page {number}: the page workers were shut down (the run is ending)")
        if ex is None:  # unpickled elsewhere (a Dask worker): the page runs where its task runs
            return run_page(info, number, cfg)
        taken_over = early is not None and early[:2] == (info, cfg)  # the same file as probed then, same settings
        if taken_over:
            ex = early[3]
        return self._result(ex, early[2] if taken_over else None, f"page {number}", run_page, info, number, cfg)

    def call(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on a worker (a module-level function: it is pickled by name); `what` names the job
        in the error when its worker dies."""
        ex = self._executor
        if self._closed:
            raise RuntimeError(f"{what}: the page workers were shut down (the run is ending)")
        if ex is None:
            return fn(*args)
        return self._result(ex, None, what, fn, *args)

    def _result(self, ex: ProcessPoolExecutor, future: Future[T] | None, what: str, fn: Callable[..., T],
                *args: Any) -> T:
        try:
            return (future or ex.submit(fn, *args)).result()
        except BrokenProcessPool as exc:
            with self._lock:
                if self._executor is ex and not self._closed:
                    ex.shutdown(wait=False, cancel_futures=True)
                    self._executor = self._start()
            raise WorkerLost(f"{what}: its worker process died ({exc})") from exc

    def close(self) -> None:
        """Stop the workers (pages under way finish first); later pages are refused, never run here."""
        with self._lock:
            self._closed = True
            self._early.clear()
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._executor = None

    def __getstate__(self) -> dict[str, Any]:
        return {"workers": self.workers, "_cfg": self._cfg, "_executor": None, "_closed": False, "_early": {}}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


@contextlib.contextmanager
def page_pool(cfg: Config) -> Iterator[PagePool | None]:
    """The worker processes for `cfg.workers` > 1 (started now, warming while the API starts); None
    for one worker, whose pages run in the flow's own thread."""
    if cfg.workers <= 1:
        keep_page_heap()
        yield None
        return
    pool = PagePool(cfg.workers, cfg)
    try:
        yield pool
    finally:
        pool.close()


def head_start(pool: PagePool | None, paths: list[str], cfg: Config, per_worker: int = 4) -> None:
    """Queue the batch's first pages on the workers while the run's API is still starting (~5 s, in
    which a worker gets through about four table pages on a machine whose other core boots the API).
    Their page tasks then take the results over; a file that fails to probe is left to the flow."""
    if pool is None:
        return
    want = per_worker * pool.workers
    for p in paths:
        if want <= 0:
            return
        try:
            info = probe(Path(p), cfg)
        except InputError:
            continue
        pool.head_start(info, range(1, min(info.pages, want) + 1), cfg)
        want -= info.pages
