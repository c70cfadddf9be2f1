"""What the review server is started with: plain data the CLI fills and `create_app` reads.

Kept free of FastAPI and store imports so `reportscan review --help` stays fast and the settings can be built
(and checked) before anything heavy is loaded.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?")


def host_name(value: str | None) -> str | None:
    """The host of a Host header or --allowed-host entry, lower-cased, without port or brackets; None if malformed."""
    if value is None:
        return None
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        rest = value[end + 1 :]
        if end < 0 or (rest and not re.fullmatch(r":\d{1,5}", rest)):
            return None
        return _ip_or_none(value[1:end])
    if value.count(":") > 1:  # a bare IPv6 address: only in our own configuration, never in a valid Host header
        return _ip_or_none(value)
    name, _, port = value.partition(":")
    if port and not re.fullmatch(r"\d{1,5}", port):
        return None
    name = name.rstrip(".")
    if not _HOST_NAME.fullmatch(name):
        return None
    return name


def _ip_or_none(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


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
        if host_name(self.host) is None:
            raise ValueError(f"review settings: --host {self.host!r} is not a host name or address")
        for entry in self.allowed_hosts:
            if host_name(entry) is None:
                raise ValueError(f"review settings: --allowed-host {entry!r} is not a host name or address")
        if self.operator is not None and not self.operator.strip():
            raise ValueError("review settings: --operator is empty")
        if self.secret_key is not None and len(self.secret_key) < 32:
            raise ValueError(f"review settings: the secret key has {len(self.secret_key)} bytes, at least 32 needed")

    @property
    def loopback(self) -> bool:
        """Bound to 127.0.0.1 / ::1 / localhost: no sign-in, the audit names the local operator."""
        return is_loopback(self.host)
