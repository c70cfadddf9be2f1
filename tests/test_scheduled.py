"""The nightly deployment's flow: an inbox in, records out, bad files in the summary (real Prefect)."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import SAMPLES

from ocr.config import Config

pytestmark = pytest.mark.slow


def test_the_inbox_flow_ingests_what_is_there_with_worker_processes(prefect_harness, tmp_path):
    from flows.scheduled import ingest_inbox

    inbox, out = tmp_path / "inbox", tmp_path / "out"
    (inbox / "sub").mkdir(parents=True)
    shutil.copy(SAMPLES / "hard-s3-000.pdf", inbox / "sub" / "scan.PDF")
    (inbox / "broken.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    summary = ingest_inbox(str(inbox), str(out), Config(workers=2))
    assert summary.documents == 1 and summary.pages == 4 and summary.tables >= 3
    assert [f.path for f in summary.failures] == [str(inbox / "broken.pdf")]
    record = json.loads((out / "scan.json").read_text(encoding="utf-8"))
    assert record["template"] == "gov_disclosure_annual_report" and record["fields"]
    assert json.loads((out / "_summary.json").read_text())["documents"] == 1
