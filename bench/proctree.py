"""Run a command and measure its wall time and the peak memory of its whole process tree (stdlib only).

The command starts in a new session; every ~0.1 s the poller reads /proc and sums, over every process
that descends from it (parent links) or still sits in its session (catches re-parented helpers), the
resident set (VmRSS, what the issue's "peak RSS of the whole process tree" means: shared pages counted
once per process) and the proportional set (Pss from smaps_rollup: shared pages split, closer to what
the machine really spends). The peaks of both sums are reported, with the peak number of processes.
A child caught between fork and exec shares its parent's pages and is not counted twice.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Run:
    cmd: list[str]
    seconds: float
    returncode: int
    peak_rss_mb: float
    peak_pss_mb: float
    peak_procs: int
    stdout: str
    stderr: str


def _status(pid: int) -> tuple[int, int, int] | None:
    """(ppid, session id, rss kB) of a live process, None when it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        rest = stat[stat.rindex(")") + 2:].split()
        if rest[0] == "Z":
            return None
        ppid, sid = int(rest[1]), int(rest[3])
        rss = 0
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
                break
        return ppid, sid, rss
    except (OSError, ValueError, IndexError):
        return None


def _pss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_sample(root: int) -> tuple[int, int, int]:
    """(rss kB, pss kB, processes) summed over root's tree and session."""
    procs: dict[int, tuple[int, int, int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            st = _status(int(entry.name))
            if st is not None:
                procs[int(entry.name)] = st
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    members = {pid for pid, (_, sid, _) in procs.items() if sid == root}
    if root in procs:
        members.add(root)
    stack = list(members)  # and every descendant, whatever its session
    while stack:
        for c in children.get(stack.pop(), []):
            if c not in members:
                members.add(c)
                stack.append(c)
    # A child caught between fork and exec (a worker starting pdftoppm) still shows its parent's command
    # line and resident set, which it shares (vfork): counting it would add a phantom worker to the peak.
    unexeced = {p for p in members if procs[p][0] in members and _cmdline(p) == _cmdline(procs[p][0])}
    rss = sum(procs[p][2] for p in members - unexeced if p in procs)
    pss = sum(_pss(p) for p in members)
    return rss, pss, len(members - unexeced)


def _cmdline(pid: int) -> bytes | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None


def run(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
        interval: float = 0.1) -> Run:
    """Run cmd to completion, polling its process tree; output is captured (to temp files, not pipes)."""
    import tempfile

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd, start_new_session=True)
        peak = [0, 0, 0]
        done = threading.Event()

        def poll() -> None:
            while not done.is_set():
                rss, pss, n = tree_sample(proc.pid)
                peak[0], peak[1], peak[2] = max(peak[0], rss), max(peak[1], pss), max(peak[2], n)
                done.wait(interval)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        rc = proc.wait()
        seconds = time.perf_counter() - start
        done.set()
        poller.join()
        out.seek(0)
        err.seek(0)
        return Run(cmd, seconds, rc, peak[0] / 1024, peak[1] / 1024, peak[2],
                   out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"))
