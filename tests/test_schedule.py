"""`reportscan schedule`: the batch served with its cron on a real Prefect server, and its runs run here."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image
from synth import draw, simple_table
from test_cli import REPORTSCAN, run

from flows.schedule import LocalServer, ScheduleError, check_schedule
from flows.server import _free_port

ROOT = Path(__file__).resolve().parent.parent


def test_a_cron_or_timezone_prefect_would_refuse_is_refused_first(tmp_path):
    check_schedule("0 2 * * *", "Asia/Shanghai")
    with pytest.raises(ScheduleError, match="not a cron expression"):
        check_schedule("0 2 * *", None)
    with pytest.raises(ScheduleError, match="not a cron expression"):
        check_schedule("61 2 * * *", None)
    with pytest.raises(ScheduleError, match="not an IANA time zone"):
        check_schedule("0 2 * * *", "Mars/Olympus")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    r = run("schedule", "--inbox", inbox, "--cron", "every night")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--cron 'every night'" in r.stderr
    r = run("schedule", "--inbox", inbox, "--cron", "0 2 * * *", "--timezone", "Beijing")
    assert r.returncode == 2 and "--timezone 'Beijing'" in r.stderr
    r = run("schedule", "--inbox", inbox, "--out", inbox / "out", "--cron", "0 2 * * *")
    assert r.returncode == 2 and "inside the inbox" in r.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "done").exists()


def _api(url, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{url}{path}", data=data, method="GET" if body is None else "POST",
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


def _deployment(url, proc, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        try:
            found = _api(url, "/deployments/filter", {})
        except OSError:
            found = []
        if found:
            return found[0]
        time.sleep(1)
    raise AssertionError("the deployment was not registered")


def _wait_run(url, run_id, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = _api(url, f"/flow_runs/{run_id}")["state_type"]
        if state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return state
        time.sleep(1)
    raise AssertionError(f"flow run {run_id} did not finish")


def _stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()


def _inbox(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    Image.fromarray(draw([simple_table()])).save(inbox / "scan.png", dpi=(300, 300))
    return inbox


def _env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return {**env, "PREFECT_HOME": str(tmp_path / "prefect-home"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            **extra}


@pytest.mark.slow
def test_schedule_starts_its_own_server_registers_the_cron_and_stops_it(tmp_path):
    inbox, port = _inbox(tmp_path), _free_port()
    proc = subprocess.Popen([*REPORTSCAN, "schedule", "--inbox", str(inbox), "--cron", "0 2 * * *",
                             "--timezone", "Asia/Shanghai", "--port", str(port), "--workers", "1"],
                            env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/api"
    try:
        dep = _deployment(url, proc)
        assert dep["name"] == "nightly-inbox" and dep["entrypoint"] == "flows.scheduled.batch_inbox"
        [sched] = dep["schedules"]
        assert sched["active"] and sched["schedule"]["cron"] == "0 2 * * *"
        assert sched["schedule"]["timezone"] == "Asia/Shanghai"
        assert dep["parameters"]["inbox"] == str(inbox.resolve())
        assert dep["parameters"]["config"]["workers"] == 1
        # the next runs the scheduler made from the cron: 02:00 in Shanghai is 18:00 UTC
        deadline = time.monotonic() + 60
        while not (runs := _api(url, "/flow_runs/filter", {"deployments": {"id": {"any_": [dep["id"]]}}})):
            assert time.monotonic() < deadline, "the scheduler made no run from the cron"
            time.sleep(1)
        assert all(r["expected_start_time"][11:19] == "18:00:00" for r in runs)
    finally:
        code = _stop(proc)
    assert code == 0, proc.stderr.read()
    with pytest.raises(OSError):  # the server it started went with it
        _api(url, "/health")


class _Hook(http.server.BaseHTTPRequestHandler):
    """Stands in for Slack or a mail relay: the alert is a real POST from Prefect's notification block."""

    received: list[dict] = []

    def do_POST(self):  # noqa: N802 - the standard library's name
        self.received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args):
        pass


def _alerting(url, tmp_path):
    """A webhook block and the README's automation (docker/automation-failed-batch.yaml) on that server."""
    hook = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    code = (
        "import sys; from prefect.blocks.notifications import CustomWebhookNotificationBlock as B; "
        "print(B(name='reportscan-alerts', url=sys.argv[1], json_data={'subject': '{{subject}}', 'body': '{{body}}'}, "
        "allow_private_urls=True).save('reportscan-alerts'))")
    env = _env(tmp_path, PREFECT_API_URL=url)
    block = subprocess.run([sys.executable, "-c", code, f"http://127.0.0.1:{hook.server_port}/"], env=env,
                           capture_output=True, text=True, check=True).stdout.split()[-1]
    automation = tmp_path / "automation.yaml"
    automation.write_text((ROOT / "docker" / "automation-failed-batch.yaml").read_text()
                          .replace("BLOCK_DOCUMENT_ID", block))
    subprocess.run([sys.executable, "-m", "prefect", "automation", "create", "--from-file", str(automation)],
                   env=env, capture_output=True, text=True, check=True)
    return hook


@pytest.mark.slow
def test_a_configured_server_gets_the_deployment_its_runs_run_here_and_a_failed_batch_alerts(tmp_path):
    inbox = _inbox(tmp_path)
    (inbox / "empty.pdf").write_bytes(b"")
    os.environ["PREFECT_HOME"] = str(tmp_path / "server-home")
    try:
        server = LocalServer(_free_port())
        url = server.wait()
    finally:
        del os.environ["PREFECT_HOME"]
    try:
        hook = _alerting(url, tmp_path)
        proc = subprocess.Popen([*REPORTSCAN, "schedule", "--inbox", str(inbox), "--cron", "*/5 * * * *",
                                 "--name", "every-five", "--workers", "1"],
                                env=_env(tmp_path, PREFECT_API_URL=url), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            dep = _deployment(url, proc)
            assert dep["name"] == "every-five" and dep["schedules"][0]["schedule"]["cron"] == "*/5 * * * *"
            flow_run = _api(url, f"/deployments/{dep['id']}/create_flow_run", {})
            assert _wait_run(url, flow_run["id"]) == "FAILED"  # empty.pdf failed: the run says so
            deadline = time.monotonic() + 60
            while not _Hook.received:
                assert time.monotonic() < deadline, "the automation sent no alert"
                time.sleep(0.5)
        finally:
            code = _stop(proc)
            hook.shutdown()
        assert code == 0, proc.stderr.read()
        assert _api(url, "/health") is True  # a configured server is not ours to stop
    finally:
        server.stop()
    [alert] = _Hook.received
    assert "failed" in alert["subject"] and flow_run["name"] in alert["subject"]
    assert "1 of 2 files failed" in alert["body"]
    assert sorted(p.name for p in (tmp_path / "failed").iterdir()) == ["empty.pdf", "empty.pdf.error.json"]
    assert not list(inbox.iterdir()) and (tmp_path / "done" / "scan.png").is_file()
    [batch] = (tmp_path / "out" / "batches").iterdir()
    assert json.loads((batch / "_batch.json").read_text())["read"] == 1
    assert json.loads((batch / "scan.json").read_text())["tables"]
