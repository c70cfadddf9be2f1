"""Prefect retries a page task that fails with a transient error (a full disk that clears, a killed poppler)
and never one that fails for good. The fault is injected around the real page stage, which then runs."""

from __future__ import annotations

import json

import pytest
from PIL import Image
from synth import draw, simple_table

from ocr.config import Config

pytestmark = pytest.mark.slow


@pytest.fixture
def scan(tmp_path):
    path = tmp_path / "scan.png"
    Image.fromarray(draw([simple_table()])).save(path, dpi=(300, 300))
    return path


def _flaky(monkeypatch, error):
    """run_page raising `error` on its first call only; the calls made, in order."""
    import flows.ingest as ingest

    real, calls = ingest.run_page, []

    def run_page(info, number, cfg):
        calls.append(number)
        if len(calls) == 1:
            raise error
        return real(info, number, cfg)

    monkeypatch.setattr(ingest, "run_page", run_page)
    return calls


def test_a_page_task_that_fails_once_with_a_transient_error_is_retried(prefect_harness, tmp_path, scan,
                                                                        monkeypatch):
    from flows.ingest import run_batch

    calls = _flaky(monkeypatch, OSError(28, "No space left on device"))
    summary = run_batch([str(scan)], str(tmp_path / "out"), Config(workers=1))
    assert calls == [1, 1]
    assert summary.failures == [] and summary.pages == 1 and summary.tables == 1
    record = json.loads((tmp_path / "out" / "scan.json").read_text())
    assert record["page_info"][0]["error"] is None and record["tables"]


def test_a_page_task_that_fails_for_good_is_not_retried_and_fails_its_page_only(prefect_harness, tmp_path, scan,
                                                                                monkeypatch):
    from flows.ingest import run_batch

    calls = _flaky(monkeypatch, ValueError("a bug, not the weather"))
    summary = run_batch([str(scan)], str(tmp_path / "out"), Config(workers=1))
    assert calls == [1]
    [failure] = summary.failures
    assert "page 1: internal error (ValueError: a bug, not the weather)" in failure.reason
    record = json.loads((tmp_path / "out" / "scan.json").read_text())  # the document still has its record
    assert "ValueError" in record["page_info"][0]["error"]
