"""A throwaway PostgreSQL 15 cluster for tests: initdb in a temporary folder, trust auth on 127.0.0.1 and a
unix socket in that folder, a free port; stopped and removed at exit.

PostgreSQL refuses to run as root, and CI runs as root: then the cluster belongs to the `postgres` OS user
(the folder is chowned to it and every command runs under `runuser -u postgres --`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BIN = Path("/usr/lib/postgresql/15/bin")
OS_USER = "postgres"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(args: list[str], as_postgres: bool, log: Path | None = None) -> None:
    cmd = ["runuser", "-u", OS_USER, "--", *args] if as_postgres else args
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log is not None and log.exists() else ""
        raise RuntimeError(f"{' '.join(args[:2])} failed ({result.returncode}): {result.stderr.strip()} {tail}")


def _stop(data: Path, as_postgres: bool) -> None:
    """pg_ctl stop -m immediate; if that fails, the postmaster gets SIGQUIT (immediate shutdown) itself, so
    no test run leaves a server behind."""
    try:
        _run([str(BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], as_postgres)
    except (RuntimeError, subprocess.TimeoutExpired):
        pid_file = data / "postmaster.pid"
        if pid_file.exists():
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGQUIT)
        raise


@contextmanager
def postgres_cluster(base: Path) -> Iterator[str]:
    """A running cluster under a new folder in `base`; yields a SQLAlchemy URL to its `postgres` database."""
    missing = [b for b in ("initdb", "pg_ctl", "postgres") if not (BIN / b).exists()]
    if missing:
        raise RuntimeError(f"PostgreSQL 15 binaries missing in {BIN} ({', '.join(missing)}): scripts/test installs "
                           "Debian's postgresql package (REPORTSCAN_TEST_PACKAGES=1 scripts/setup)")
    as_postgres = os.geteuid() == 0
    folder = Path(tempfile.mkdtemp(prefix="pgcluster-", dir=base))
    data, sock, log = folder / "data", folder / "sock", folder / "server.log"
    sock.mkdir()
    if as_postgres:
        shutil.chown(folder, OS_USER, OS_USER)
        shutil.chown(sock, OS_USER, OS_USER)
        os.chmod(folder, 0o700)
        closed = [p for p in folder.parents if p != Path("/") and not p.stat().st_mode & 0o001]
        if closed:
            shutil.rmtree(folder, ignore_errors=True)
            raise RuntimeError(f"{closed[0]} is not traversable by the {OS_USER} user: start the cluster under a "
                               "folder others may enter (e.g. the system temp folder)")
    port = _free_port()
    try:
        _run([str(BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
              "--locale=C.UTF-8", "--no-sync"], as_postgres)
        options = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={sock} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50")
        _run([str(BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"],
             as_postgres, log)
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL did not listen on 127.0.0.1:{port}") from None
                time.sleep(0.1)
        try:
            yield url
        finally:
            _stop(data, as_postgres)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


__all__ = ["postgres_cluster"]
