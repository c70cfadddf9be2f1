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
def pg_url(tmp_path_factory):
    """A throwaway PostgreSQL cluster for the session (tests/pgcluster.py); never skipped: CI must run it."""
    from tests.pgcluster import postgres_cluster

    with postgres_cluster(tmp_path_factory.mktemp("pg")) as url:
        yield url
