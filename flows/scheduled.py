"""The deployment entry points: `batch_inbox` (the batch of `reportscan batch`: each file read once, moved to
done/ or failed/, see flows/batch.py) and `ingest_inbox`, the earlier flow that ingests whatever is in the
inbox on every run and leaves it there (prefect.yaml still names it until its deployment moves over)."""

from __future__ import annotations

from prefect import flow, get_run_logger

from flows.batch import batch_flow
from flows.ingest import Summary, run_batch
from flows.workers import page_pool
from ocr.config import Config
from ocr.rasterize import find_inputs


@flow(name="reportscan-inbox", log_prints=False)
def ingest_inbox(inbox: str, out_dir: str, cfg: Config | None = None) -> Summary:
    """Every supported file under `inbox` -> one record each in `out_dir`; bad files end up in the summary."""
    cfg = cfg or Config()
    files, errors = find_inputs([inbox])
    logger = get_run_logger()
    for e in errors:
        logger.warning(e)
    with page_pool(cfg) as pool:
        summary = run_batch([str(f) for f in files], out_dir, cfg, pool)
    for f in summary.failures:
        logger.error("%s: %s", f.path, f.reason)
    return summary


batch_inbox = batch_flow  # the flow itself, under the name a deployment's entry point gives
