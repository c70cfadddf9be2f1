"""The deployment's flow (`flows/scheduled.py:batch_inbox`) run with parameters as a deployment stores them:
JSON, the configuration a dict (real Prefect, real worker processes)."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import SAMPLES

from ocr.config import Config

pytestmark = pytest.mark.slow


def test_the_deployed_batch_reads_the_inbox_from_json_parameters(prefect_harness, tmp_path):
    from flows.scheduled import batch_inbox

    inbox = tmp_path / "inbox"
    (inbox / "sub").mkdir(parents=True)
    shutil.copy(SAMPLES / "hard-s3-000.pdf", inbox / "sub" / "scan.PDF")
    (inbox / "broken.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    params = json.loads(json.dumps({"inbox": str(inbox), "config": Config(workers=2).model_dump(mode="json")}))
    state = batch_inbox(**params, return_state=True)
    assert state.is_failed()  # a file failed: the run is Failed, for automations to alert on
    out = tmp_path / "out"  # the default: beside the inbox
    [batch] = (out / "batches").iterdir()
    summary = json.loads((batch / "_batch.json").read_text())
    assert summary["read"] == 1 and summary["pages"] == 4 and summary["tables"] >= 3
    assert [o["name"] for o in summary["outcomes"] if o["outcome"] == "failed"] == ["broken.pdf"]
    record = json.loads((batch / "scan.json").read_text(encoding="utf-8"))
    assert record["template"] == "gov_disclosure_annual_report" and record["fields"]
    assert (tmp_path / "done" / "sub" / "scan.PDF").is_file() and (tmp_path / "failed" / "broken.pdf").is_file()
    assert (out / "reportscan.db").is_file()


def test_a_configuration_the_model_refuses_fails_the_run_before_any_file_moves(prefect_harness, tmp_path):
    from flows.scheduled import batch_inbox

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(SAMPLES / "clean-s1-000.pdf", inbox / "a.pdf")
    state = batch_inbox(str(inbox), config={"dpi": 5}, return_state=True)
    assert state.is_failed() and "dpi" in str(state.result(raise_on_failure=False))
    assert (inbox / "a.pdf").is_file() and not (tmp_path / "done").exists()
