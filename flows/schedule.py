"""`reportscan schedule`: the batch flow served on a cron schedule with Prefect's `serve`.

A schedule needs a Prefect server whose scheduler service turns the deployment's cron into flow runs; the
run's own API of `ingest` and `batch` is an ephemeral one, which runs no services, so it cannot carry a
schedule. With PREFECT_API_URL set (or a profile naming a server) the deployment registers there; without
one, this process starts a real Prefect server of its own on 127.0.0.1 (its UI too: that is where the runs
are watched), keeps it for as long as it serves, and stops it on the way out. Either way this process runs
the flow runs (Prefect's Runner starts each one as a subprocess), so it needs what `batch` needs.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flows.server import EphemeralApi, ServerError

DEFAULT_NAME = "nightly-inbox"
DEFAULT_PORT = 4200  # Prefect's own default, so its docs and `prefect` commands find it


class ScheduleError(ValueError):
    """A cron expression or timezone Prefect would refuse later, said before anything is started."""


def check_schedule(cron: str, timezone: str | None) -> None:
    """Refuse a cron expression or timezone now, in one line, rather than as a traceback from the server.
    Prefect's own schedule model judges the cron (as its server will); the zone is looked up in tzdata."""
    from prefect.client.schemas.schedules import CronSchedule
    from pydantic import ValidationError

    if timezone is not None:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ScheduleError(f"--timezone {timezone!r}: not an IANA time zone (e.g. Asia/Shanghai)") from None
    try:
        CronSchedule(cron=cron, timezone=timezone)
    except ValidationError as exc:
        raise ScheduleError(f"--cron {cron!r}: not a cron expression Prefect accepts "
                            "(five fields, e.g. \"0 2 * * *\")") from exc


class LocalServer(EphemeralApi):
    """A Prefect server with its services (the scheduler among them) and its UI, on 127.0.0.1:`port`.

    Started as `prefect server start` starts it, so its database is Prefect's own (under PREFECT_HOME) and
    a later `prefect` command or server on the same home sees the same deployments and runs.
    """

    def __init__(self, port: int) -> None:
        self.fixed_port = port
        super().__init__()

    def _launch(self) -> subprocess.Popen[bytes]:
        self.port = self.fixed_port
        env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_SERVER_UI_ENABLED",
                                                                  "PREFECT_UI_ENABLED")}
        return subprocess.Popen(
            [sys.executable, "-P", "-m", "prefect", "server", "start", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "WARNING"],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C is ours: the server is stopped after the runner has shut down
        )

    def wait(self, timeout: float = 120.0) -> str:
        if self.process.poll() is not None:
            raise ServerError(f"Prefect's server did not start on 127.0.0.1:{self.port} "
                              f"(exit code {self.process.returncode}; is the port taken? try --port)")
        return super().wait(timeout)


@contextlib.contextmanager
def schedule_server(port: int) -> Iterator[str | None]:
    """The URL of the server this process starts, or None when a configured one is used."""
    from prefect.settings import PREFECT_API_URL

    if os.environ.get("PREFECT_API_URL") or PREFECT_API_URL.value():
        yield None
        return
    server = LocalServer(port)
    try:
        yield server.wait()
    finally:
        server.stop()


def serve_batch(parameters: dict[str, Any], cron: str, timezone: str | None, name: str = DEFAULT_NAME) -> None:
    """Register the deployment with its cron schedule and run its flow runs until stopped (SIGINT/SIGTERM).

    The entry point is a module path (`flows.scheduled.batch_inbox`), not a file path, so a flow run finds
    it from any working folder, on this machine or a worker's.
    """
    from prefect.flows import EntrypointType
    from prefect.schedules import Cron

    from flows.scheduled import batch_inbox

    batch_inbox.serve(
        name=name,
        schedules=[Cron(cron, timezone=timezone)],
        parameters=parameters,
        description=f"reportscan batch over {parameters['inbox']} on {cron!r}"
                    + (f" ({timezone})" if timezone else " (UTC)"),
        tags=["reportscan"],
        entrypoint_type=EntrypointType.MODULE_PATH,
        print_starting_message=False,
    )
