"""Page workers and the run's own API: real processes, a real Prefect server."""

from __future__ import annotations

import os
import pickle
import signal
import time
import urllib.request

import pytest
from conftest import SAMPLES

from flows.server import EphemeralApi, ephemeral_api
from flows.workers import PagePool, WorkerLost
from ocr.config import Config
from ocr.rasterize import probe


@pytest.fixture(scope="module")
def pool():
    p = PagePool(2, Config(workers=2))
    yield p
    p.close()


def _last_page(cfg: Config):
    info = probe(SAMPLES / "clean-s1-000.pdf", cfg)
    return info, info.pages


def test_a_page_runs_in_a_worker_process(pool):
    cfg = Config(workers=2)
    info, n = _last_page(cfg)
    res = pool.run(info, n, cfg)
    assert res.error is None and res.number == n and res.lines  # the closing line was read


def test_a_dead_worker_fails_its_page_as_transient_and_the_pool_is_replaced(pool):
    cfg = Config(workers=2)
    info, n = _last_page(cfg)
    for pid in list(pool._executor._processes):  # noqa: SLF001 - the OOM killer, by hand
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    with pytest.raises(WorkerLost) as err:
        pool.run(info, n, cfg)
    assert isinstance(err.value, OSError)  # the page task's retry condition takes OSError as transient
    assert pool.run(info, n, cfg).error is None


def test_a_pickled_pool_runs_pages_where_it_lands(pool):
    cfg = Config(workers=2)
    info, n = _last_page(cfg)
    copy = pickle.loads(pickle.dumps(pool))
    assert copy._executor is None  # noqa: SLF001
    assert copy.run(info, n, cfg).error is None


def test_the_runs_own_api_answers_and_stops():
    api = EphemeralApi()
    try:
        url = api.wait()
        with urllib.request.urlopen(f"{url}/health", timeout=5) as resp:
            assert resp.status == 200
    finally:
        api.stop()
    assert api.process.poll() is not None


def test_a_configured_api_is_used_instead(monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    with ephemeral_api() as api:
        assert api is None


def test_workers_leave_the_cores_to_each_other(pool):
    """One OpenCV thread per worker process: the pool already has a worker per core."""
    assert pool._executor.submit(_opencv_threads).result() == 1  # noqa: SLF001


def _opencv_threads() -> int:
    import cv2

    return cv2.getNumThreads()


def test_a_closed_pool_refuses_pages_instead_of_running_them_here():
    cfg = Config(workers=2)
    p = PagePool(2, cfg)
    p.close()
    info, n = _last_page(cfg)
    with pytest.raises(RuntimeError, match="shut down"):
        p.run(info, n, cfg)
