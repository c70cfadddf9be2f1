"""What the review server is started with: plain data the CLI fills and `create_app` reads.

Kept free of FastAPI and store imports so `reportscan review --help` stays fast and the settings can be built
(and checked) before anything heavy is loaded.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only: there nobody but a local user can reach the server."""
    name = host.strip().strip("[]").lower().rstrip(".")
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ReviewSettings:
    """How one review server runs; the operator and allowed hosts decide who may use it."""

    db_url: str
    host: str = "127.0.0.1"
    port: int = 8000
    # The name the audit gives the local operator on loopback; None: the OS user.
    operator: str | None = None
    # Host header names accepted besides the bound host's own (--allowed-host), e.g. the name a proxy publishes.
    allowed_hosts: tuple[str, ...] = ()
    # Signs session cookies and CSRF tokens; None: REPORTSCAN_SECRET_KEY, else a key generated once and kept
    # 0600 beside the store.
    secret_key: bytes | None = None
    images_dir: Path | None = None

    def __post_init__(self) -> None:
        if not self.host.strip():
            raise ValueError("review settings: --host is empty")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"review settings: port {self.port} is not between 0 and 65535")
        if self.operator is not None and not self.operator.strip():
            raise ValueError("review settings: --operator is empty")
        if self.secret_key is not None and len(self.secret_key) < 32:
            raise ValueError(f"review settings: the secret key has {len(self.secret_key)} bytes, at least 32 needed")

    @property
    def loopback(self) -> bool:
        """Bound to 127.0.0.1 / ::1 / localhost: no sign-in, the audit names the local operator."""
        return is_loopback(self.host)
