"""The deployment entry point: `batch_inbox`, the batch of `reportscan batch` (each file read once, moved to
done/ or failed/, see flows/batch.py) with parameters a deployment can carry as JSON.

`reportscan schedule` serves it on a cron schedule (flows/schedule.py); `prefect.yaml` deploys it to a work
pool for docker/compose.yaml. Its parameters are plain values, not our objects: a deployment stores them
in Prefect's database as JSON and a flow run may start on another machine, so the configuration travels as
the dict `Config.model_dump()` gives and is checked here, at the start of the run.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.batch import _batch_flow, default_out
from ocr.config import Config


@flow(name="reportscan-batch", validate_parameters=False, log_prints=False, persist_result=False)
def batch_inbox(inbox: str, out_dir: str | None = None, db_url: str | None = None, images_dir: str | None = None,
                config: dict[str, Any] | None = None, dask_address: str | None = None,
                dask_local: int | None = None) -> dict[str, Any]:
    """One batch over `inbox` now, as `reportscan batch` runs it. A failed file fails the run (Prefect's
    Failed state, for automations to alert on) after everything is written; the summary is returned.
    Pages run on `dask_address`'s cluster, on a local one of `dask_local` workers, or on our own pool."""
    cfg = Config.model_validate(config or {})
    out = out_dir or str(default_out(inbox))
    return _batch_flow(inbox, out, cfg, db_url, images_dir, dask_address, dask_local).to_dict()
