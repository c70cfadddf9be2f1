"""The deployment entry point: ingest whatever is in an inbox folder (run on a schedule by a worker)."""

from __future__ import annotations

from prefect import flow, get_run_logger

from flows.ingest import Summary, ingest_flow, task_runner_for
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
    summary = ingest_flow.with_options(task_runner=task_runner_for(cfg.workers))([str(f) for f in files],
                                                                                 out_dir, cfg)
    for f in summary.failures:
        logger.error("%s: %s", f.path, f.reason)
    return summary
