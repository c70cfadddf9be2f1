"""Page tasks on a Dask cluster: the worker plugin that keeps a Tesseract engine open, and our local cluster.

On a Dask cluster the page task itself runs on a Dask worker, through prefect-dask's `DaskTaskRunner`:
nothing of ours stands between the task runner and the worker. What this module adds is what a worker
process must hold for a page task to be cheap, and the cluster's life when we start it:

- `EngineWarmer`, a `distributed.WorkerPlugin`: at a worker's start (on every worker of a cluster we
  attach to, on one that joins later, on one its nanny restarts) it imports the stages and opens the
  Tesseract engine in the worker's task thread, so no page task opens one. `ocr.recognize.engine_for`
  keeps an engine per thread, and a Dask worker keeps its executor threads for its whole life: one
  single-threaded worker process opens one engine per set of engine settings, once.
- `local_cluster(n)`: a `distributed.LocalCluster` of `n` single-threaded worker processes (a thread per
  process: Tesseract and OpenCV hold the GIL for long stretches, and the engine is per thread), closed
  at the end of the run.

Pitfalls prefect-dask's users report, and how the flows stay clear of them:
- Flows hanging with process-based workers (PrefectHQ/prefect#15331, a task starting processes inside a
  daemonic Dask worker): a page task on Dask never uses our pool (`PagePool` pickles empty) and starts
  poppler by posix_spawn; the cluster is started by the CLI's main process or the flow, never by a task.
- Completed tasks re-run when a worker dies (PrefectHQ/prefect#15442): the scheduler recomputes every
  result a client still holds a future to. The flow releases each page's Dask future once its result
  is in (`release`), and a page task is idempotent anyway: it reads a file and returns a value; only the
  flow writes outputs, atomically.
- Scheduler memory growth on a long-lived cluster: released futures let the scheduler forget their
  tasks, and a task's inputs are small (a path, a page number, the Config), never image arrays. The plugin
  is registered under one name, so a cluster that serves batch after batch holds one copy.
- Cache keys failing on unhashable inputs: the page task has no cache policy (`NO_CACHE`), and Dask keys
  its tasks by Prefect's task run id.
- A worker that outlives a run keeps sending task-run events to that run's Prefect API: Prefect keeps one
  events worker a process, keyed without the API's URL, made by the first task (found here: the second
  `ingest --dask-address` on one cluster had its task runs sent to the first run's dead API). Each run
  registers the plugin again, and its warm-up drains and drops those services, so the run's first task
  makes them anew for its own API. Two runs with different APIs at the same time on one cluster still
  mix: a shared cluster wants one Prefect server (PREFECT_API_URL), as a deployment has.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

from distributed import Client, LocalCluster, Worker
from distributed.diagnostics.plugin import WorkerPlugin

from ocr.config import Config

PLUGIN_NAME = "reportscan-engine"
_CONNECT_TIMEOUT = "10s"  # a refused connection is retried until then


class DaskUnavailable(RuntimeError):
    """The Dask scheduler named cannot be reached, or a local cluster could not start."""


def warm_worker(cfg: Config) -> int:
    """Open this thread's engine for `cfg` and import the stages; the process's id (tests ask which worker
    ran what). OpenCV keeps to one thread: there is a worker process per core already (measured in
    flows/workers.py `_start_worker`)."""
    from flows.startup import long_lived_imports
    from flows.workers import keep_page_heap

    keep_page_heap()
    _forget_prefect_services()
    with long_lived_imports():
        import cv2

        cv2.setNumThreads(1)
        from ocr.recognize import engine_for

        engine_for(cfg)
        import ocr.pipeline  # noqa: F401
    return os.getpid()


def _forget_prefect_services() -> None:
    """Drain and drop the events and API-log workers an earlier run's tasks left in this process (see the
    module); nothing when no task has run here yet."""
    import sys

    for module, name in (("prefect.events.worker", "EventsWorker"), ("prefect.logging.handlers", "APILogWorker")):
        service = getattr(sys.modules.get(module), name, None)
        if service is not None:
            service.drain_all(timeout=5, at_exit=False)


class EngineWarmer(WorkerPlugin):
    """Warms a Dask worker for `cfg` in the thread its tasks run in, before it takes a task.

    `setup` runs on the worker's event loop, not in its task thread, and the engine is kept per thread:
    the warm-up is handed to the worker's default executor (where page tasks run) and waited for.
    """

    idempotent = False  # registered again (new settings), it replaces the old one and warms for these

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg

    async def setup(self, worker: Worker) -> None:
        await asyncio.wrap_future(worker.executors["default"].submit(warm_worker, self.cfg))


def prepare_cluster(address: str, cfg: Config) -> int:
    """Register the engine plugin on the cluster at `address` (its workers now and those that join later);
    the number of task threads it has now, at least 1."""
    try:
        client = Client(address, timeout=_CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise DaskUnavailable(f"the Dask scheduler at {address} cannot be reached ({exc})") from exc
    try:
        client.register_plugin(EngineWarmer(cfg), name=PLUGIN_NAME)
        return max(1, sum(client.nthreads().values()))
    finally:
        client.close()


@contextlib.contextmanager
def local_cluster(workers: int, cfg: Config) -> Iterator[str]:
    """A LocalCluster of `workers` single-threaded processes, warmed for `cfg`; its scheduler's address.
    Stopped when the block ends, whatever ends it."""
    try:
        # Its own logs go no further than CRITICAL: the CLI says what went wrong with each file itself. At
        # ERROR, a worker's last batched write racing the scheduler's close printed a traceback now and then
        # after a batch of bad files (a fresh clone's test suite, 1 run in 5).
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.CRITICAL)
    except (OSError, TimeoutError, RuntimeError) as exc:
        raise DaskUnavailable(f"a local Dask cluster of {workers} workers could not start ({exc})") from exc
    try:
        prepare_cluster(cluster.scheduler_address, cfg)
        yield cluster.scheduler_address
    finally:
        cluster.close()


def release(future: Any) -> None:
    """Let the scheduler forget a finished page task (see the module). A future that is not a Dask one
    (our own pool's, a thread's) is left alone."""
    wrapped = getattr(future, "wrapped_future", None)
    if wrapped is not None and type(wrapped).__module__.startswith("distributed"):
        wrapped.release()
