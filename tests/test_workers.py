"""Page workers and the run's own API: real processes, a real Prefect server."""

from __future__ import annotations

import dataclasses
import os
import pickle
import signal
import sys
import time
import urllib.request

import pytest
from conftest import SAMPLES

from flows.server import EphemeralApi, ephemeral_api
from flows.workers import PagePool, WorkerLost, head_start
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


def test_a_head_started_page_is_taken_over_by_its_task(pool):
    cfg = Config(workers=2)
    info, n = _last_page(cfg)
    pool.head_start(info, range(n, n + 1), cfg)
    early = pool._early[(str(info.path), n)][2]  # noqa: SLF001
    res = pool.run(info, n, cfg)
    assert res is early.result() and res.error is None and res.lines
    assert (str(info.path), n) not in pool._early  # noqa: SLF001 - a retry runs the page afresh
    assert pool.run(info, n, cfg) is not res


def test_a_page_head_started_twice_runs_once(pool, monkeypatch):
    cfg = Config(workers=2)
    info, n = _last_page(cfg)
    ex, submitted = pool._executor, []  # noqa: SLF001
    submit = ex.submit
    monkeypatch.setattr(ex, "submit", lambda *a, **k: submitted.append(a[1:]) or submit(*a, **k))
    pool.head_start(info, range(n, n + 1), cfg)
    pool.head_start(info, range(n, n + 1), cfg)
    first = pool._early[(str(info.path), n)][2]  # noqa: SLF001
    assert pool.run(info, n, cfg) is first.result() and len(submitted) == 1


def test_a_head_start_on_other_content_or_settings_is_not_used(pool):
    cfg = Config(workers=2)
    info, n = _last_page(cfg)
    for other, other_cfg in ((dataclasses.replace(info, sha256="0" * 64), cfg), (info, Config(workers=2, dpi=200))):
        pool.head_start(other, range(n, n + 1), other_cfg)
        early = pool._early[(str(info.path), n)][2]  # noqa: SLF001
        res = pool.run(info, n, cfg)
        assert res is not early.result() and res.error is None and res.number == n


def test_the_batch_head_start_skips_bad_files_and_stops_at_its_share(pool, tmp_path):
    cfg = Config(workers=2)
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"not a pdf")
    docs = sorted(str(p) for p in SAMPLES.glob("*.pdf"))
    head_start(pool, [str(bad), *docs], cfg, per_worker=3)
    try:
        keys = list(pool._early)  # noqa: SLF001
        first = probe(SAMPLES / docs[0], cfg)
        assert keys[0] == (str(first.path), 1) and len(keys) == 6
        assert all(path != str(bad) for path, _ in keys)
    finally:
        for path, n in list(pool._early):  # noqa: SLF001 - let them finish before the next test
            pool.run(probe(SAMPLES / path, cfg), n, cfg)


def test_a_closed_pool_takes_no_head_start():
    cfg = Config(workers=2)
    p = PagePool(2, cfg)
    p.close()
    info, n = _last_page(cfg)
    p.head_start(info, range(1, n + 1), cfg)
    assert not p._early  # noqa: SLF001


_HEAP_SCRIPT = """
import numpy as np
from flows.workers import _rss_bytes, keep_page_heap, trim_heap_above
keep_page_heap()
base = _rss_bytes()
arrays = [np.ones(4 << 20, np.uint8) for _ in range(40)]  # 160 MB in arrays below the mmap threshold
del arrays
kept = _rss_bytes() - base
trimmed = trim_heap_above(base + (64 << 20))
print(kept >> 20, trimmed, (_rss_bytes() - base) >> 20, trim_heap_above(base + (64 << 20)))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator and /proc")
def test_a_worker_keeps_a_pages_heap_and_trims_it_only_when_it_grew_large():
    """Kept: the next page reuses it instead of faulting fresh pages in. Past the limit: handed back."""
    import subprocess

    out = subprocess.run([sys.executable, "-c", _HEAP_SCRIPT], capture_output=True, text=True, check=True)
    kept_mb, trimmed, after_mb, again = out.stdout.split()
    assert int(kept_mb) >= 150
    assert trimmed == "True" and int(after_mb) < 32
    assert again == "False"
