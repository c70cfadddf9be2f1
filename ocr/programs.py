"""Poppler's programs, started without copying the calling process into each child.

A page worker holds ~300 MB when it asks pdftotext or pdftoppm for a page. `subprocess` forks it to
start one: until the child execs, it is a second ~300 MB process in every RSS sum of the run's process
tree (a poller saw 441 such children in 200 spawns from a 300 MB process), and copying the page tables
costs CPU too. `posix_spawn` starts the program without running any of the parent's code in the child
(0 seen in 200, twice as many spawns a second). CPython takes that path only for an absolute program
path, `close_fds=False` and no `cwd`; file descriptors Python opens are non-inheritable (PEP 446), so
the child still gets only its three pipes.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence


def program_path(name: str) -> str:
    """The program's absolute path (`posix_spawn` needs one), or `name` to let the OS say it is missing."""
    return shutil.which(name) or name


def run_program(args: Sequence[str], timeout: float, text: bool = True) -> subprocess.CompletedProcess:
    """Run a program to completion, capturing its output; raises `subprocess.TimeoutExpired` (the child
    is killed) and `OSError` (it could not be started) as `subprocess.run` does."""
    return subprocess.run([program_path(args[0]), *args[1:]], capture_output=True, text=text,
                          errors="replace" if text else None, timeout=timeout, check=False, close_fds=False)
