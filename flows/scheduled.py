"""The deployment entry point: ingest whatever is in an inbox folder (run on a schedule by a worker)."""

from __future__ import annotations

from prefect import flow, get_run_logger

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
