"""The run's own Prefect API, started before anything else and waited for only when the flow needs it.

Prefect's ephemeral server takes ~5 s of CPU to import and migrate its database. Prefect's own
launcher (`SubprocessASGIServer`) lives in `prefect.server`, which would also load the whole server
stack (FastAPI, SQLAlchemy: ~3 s and ~80 MB) into the flow process, and it blocks until the server is
up. This module starts the same server the same way (uvicorn on Prefect's app factory, in ephemeral
mode, without its UI) using the standard library alone, so the CLI can start it first and spend the
wait importing Prefect's client and warming the page workers.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

_PORT_IN_USE = 3  # uvicorn's exit code when it cannot start, e.g. the port was taken after our check
_RELAUNCHES = 3  # another port is tried this often; a server that fails at start-up every time is reported
_STARTUP_TIMEOUT = 90.0  # seconds; Prefect's own default for its ephemeral server is 20-90 depending on version


class ServerError(RuntimeError):
    """The run's Prefect API did not come up."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _prefect_dir() -> str:
    spec = importlib.util.find_spec("prefect")
    if spec is None or not spec.submodule_search_locations:
        raise ServerError("prefect is not installed")
    return str(Path(next(iter(spec.submodule_search_locations))).parent)


class EphemeralApi:
    """A Prefect API server for one run, as Prefect's ephemeral mode starts it."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.process = self._launch()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def _launch(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT_SERVER_UI_ENABLED": "false",
               "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
        env.pop("PREFECT_API_URL", None)
        return subprocess.Popen(
            # -P: the caller's folder is not searched first; a project of its own named `flows` or
            # `prefect` there would shadow ours.
            [sys.executable, "-P", "-m", "uvicorn", "--app-dir", _prefect_dir(), "--factory",
             "flows.startup:create_api_app", "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "error", "--lifespan", "on"],
            env=env, stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C at the terminal is the CLI's; it stops the server itself
        )

    def wait(self, timeout: float = _STARTUP_TIMEOUT) -> str:
        """Block until the API answers its health check; its URL."""
        deadline = time.monotonic() + timeout
        relaunches = 0
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code == _PORT_IN_USE and relaunches < _RELAUNCHES:
                relaunches += 1
                self.port = _free_port()
                self.process = self._launch()
                continue
            if code is not None:
                raise ServerError(f"Prefect's API server exited with code {code} while starting")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        return self.url
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.05)
        raise ServerError(f"Prefect's API server did not answer within {timeout:.0f} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def ephemeral_api() -> Iterator[EphemeralApi | None]:
    """The run's own API (started now, not yet waited for), or None when PREFECT_API_URL names one."""
    if os.environ.get("PREFECT_API_URL"):
        yield None
        return
    api = EphemeralApi()
    try:
        yield api
    finally:
        api.stop()
