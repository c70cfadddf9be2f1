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
import multiprocessing
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ocr.config import Config
from ocr.model import PageResult
from ocr.rasterize import DocumentInfo

_M_MMAP_THRESHOLD = -3  # glibc mallopt parameter


class WorkerLost(OSError):
    """A page worker died (killed, out of memory) under a page: transient, the page task retries it."""


def return_freed_pages() -> None:
    """Let a worker give a page's arrays back to the OS once it is done with them.

    glibc raises its mmap threshold after large frees, so later page-sized arrays come from the heap and
    stay counted in RSS after they are freed. A fixed 64 KiB threshold keeps them mmapped: measured on a
    5-page document, steady RSS 352 -> 245 MB and peak 390 -> 353 MB per worker.
    """
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to tune
        ctypes.CDLL("libc.so.6").mallopt(_M_MMAP_THRESHOLD, 64 * 1024)


def _start_worker(cfg: Config) -> None:
    """Pay a worker's start-up (imports, engines) now, while the flow is still waiting for its API.

    OpenCV's own threads are turned off: there is a worker per core already, and their threads only
    fought each other (measured on the 23 sample pages, 2 workers: worker CPU 36.8 -> ~30 s, wall
    27.4 -> 22.6 s). A single in-process worker keeps them.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the flow's to handle: it closes the pool
    return_freed_pages()
    import cv2

    cv2.setNumThreads(1)
    from ocr.recognize import engine_for

    engine_for(cfg)
    import ocr.pipeline  # noqa: F401


def _ready() -> None:
    return None


def _page(info: DocumentInfo, number: int, cfg: Config) -> PageResult:
    from ocr.pipeline import process_page

    return process_page(info, number, cfg)


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

    def _start(self) -> ProcessPoolExecutor:
        ex = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_start_worker, initargs=(self._cfg,))
        for _ in range(self.workers):  # a spawn pool starts a process per job it cannot hand to an idle one
            ex.submit(_ready)
        return ex

    def run(self, info: DocumentInfo, number: int, cfg: Config) -> PageResult:
        ex = self._executor
        if self._closed:
            raise RuntimeError(f"page {number}: the page workers were shut down (the run is ending)")
        if ex is None:  # unpickled elsewhere (a Dask worker): the page runs where its task runs
            return _page(info, number, cfg)
        try:
            return ex.submit(_page, info, number, cfg).result()
        except BrokenProcessPool as exc:
            with self._lock:
                if self._executor is ex and not self._closed:
                    ex.shutdown(wait=False, cancel_futures=True)
                    self._executor = self._start()
            raise WorkerLost(f"page {number}: its worker process died ({exc})") from exc

    def close(self) -> None:
        """Stop the workers (pages under way finish first); later pages are refused, never run here."""
        with self._lock:
            self._closed = True
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._executor = None

    def __getstate__(self) -> dict[str, Any]:
        return {"workers": self.workers, "_cfg": self._cfg, "_executor": None, "_closed": False}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
