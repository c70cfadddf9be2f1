"""Where a run's page tasks go: our own worker processes (flows/workers.py) or a Dask cluster
(flows/dask_workers.py, imported only when a run uses Dask: distributed costs ~0.5 s to import)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from flows.workers import PagePool, page_pool
from ocr.config import Config


@dataclass(frozen=True)
class PageRunner:
    """`dask_address`: page tasks run on that scheduler's workers; else on `pool` (our processes; None: in
    the flow's own thread). `slots` is how many pages run at once, which sets how many documents the flow
    keeps in flight so that no worker idles at a document's end."""

    pool: PagePool | None = None
    dask_address: str | None = None
    slots: int = 1


@contextlib.contextmanager
def page_runner(cfg: Config, dask_address: str | None = None, dask_local: int | None = None
                ) -> Iterator[PageRunner]:
    """An attached Dask cluster (warmed for `cfg`), a local one started now and stopped at the end, or our
    pool of `cfg.workers` processes."""
    if dask_address and dask_local:
        raise ValueError("give a Dask scheduler's address or a local cluster's size, not both")
    if dask_address:
        from flows.dask_workers import prepare_cluster

        yield PageRunner(dask_address=dask_address, slots=prepare_cluster(dask_address, cfg))
    elif dask_local:
        from flows.dask_workers import local_cluster

        with local_cluster(dask_local, cfg) as address:
            yield PageRunner(dask_address=address, slots=dask_local)
    else:
        with page_pool(cfg) as pool:
            yield PageRunner(pool=pool, slots=pool.workers if pool is not None else 1)
