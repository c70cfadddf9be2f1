"""Shared fixtures: one Prefect test server per session, the committed samples, a strict config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "data"

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def cfg():
    from ocr.config import Config

    return Config(workers=1)


@pytest.fixture(scope="session")
def pg_url():
    """A throwaway PostgreSQL cluster for the session (tests/pgcluster.py); never skipped: CI must run it."""
    import tempfile

    from tests.pgcluster import postgres_cluster

    # not under pytest's own temp folder: that one is private to root (0700), and the cluster runs as postgres
    with postgres_cluster(Path(tempfile.gettempdir())) as url:
        yield url
