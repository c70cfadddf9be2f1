"""Who may use the review page, and which requests it trusts.

The page changes data that exports treat as truth, so every request passes three gates before a route sees
it: the Host header must name this server (a DNS-rebinding page in an operator's browser otherwise talks to
a loopback server as if it were its own origin), off loopback the request must carry a signed-in operator
who is still enabled (checked on every request, so disabling someone takes effect at once), and every
state-changing request must carry the session's CSRF token. The gates are ASGI middleware rather than route
dependencies so a route that forgets a dependency is still protected; `current_operator` and `require_csrf`
are the dependencies routes use to read what the gates decided.

Sessions are Starlette's signed cookies (HttpOnly, SameSite=Lax); the secret comes from the settings,
REPORTSCAN_SECRET_KEY, or a key generated once and kept 0600 beside the store so restarts keep operators
signed in.
"""

from __future__ import annotations

import getpass
import hmac
import html
import ipaddress
import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

from anyio import to_thread
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeSerializer
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from review.settings import LOOPBACK_NAMES, ReviewSettings, host_name, is_loopback
from store.db import Store, StoreError
from store.operators import add_operator, operator_enabled, verify_operator

SESSION_COOKIE = "reportscan_session"
SESSION_MAX_AGE = 12 * 3600  # a working day: a stolen cookie is not good for long
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SECRET_FILE = "reportscan-secret.key"
MAX_FORM_BYTES = 1 << 20  # review forms carry a cell value; anything larger is not ours
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
OPEN_PREFIXES = ("/static/",)  # reachable without sign-in (the login page's stylesheet, htmx)
OPEN_PATHS = frozenset({"/login"})

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; base-uri 'none'; object-src 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)

_SCOPE_OPERATOR = "reportscan.operator"
_SCOPE_GATES = "reportscan.gates"
_SCOPE_CSRF_CHECKED = "reportscan.csrf_checked"


class SecurityError(Exception):
    """The server cannot start safely (a bad secret key, half of the first operator's variables)."""


@dataclass(frozen=True)
class Gates:
    """What the middleware and the dependencies share: built once per app, never global."""

    settings: ReviewSettings
    store: Store
    allowed_hosts: frozenset[str]
    local_operator: str
    csrf_signer: URLSafeSerializer


# --- Host names ---------------------------------------------------------------------------------------------


def _is_wildcard(host: str) -> bool:
    name = host_name(host)
    return name in {"0.0.0.0", "::"}


def _own_names() -> set[str]:
    """This machine's name and the addresses it resolves to: what a wildcard-bound server is reached by."""
    names: set[str] = set()
    try:
        hostname = socket.gethostname().lower()
        names.add(hostname)
        for info in socket.getaddrinfo(hostname, None):
            names.add(str(ipaddress.ip_address(str(info[4][0]).split("%")[0])))
    except (OSError, ValueError):
        pass
    return names


def allowed_host_names(settings: ReviewSettings) -> frozenset[str]:
    """Host header names this server answers to: its bound name or address, loopback names, --allowed-host."""
    names: set[str] = set()
    bound = host_name(settings.host)
    if bound is not None:
        names.add(bound)
    if settings.loopback:
        names |= LOOPBACK_NAMES
    elif _is_wildcard(settings.host):
        names |= LOOPBACK_NAMES | _own_names()
    for entry in settings.allowed_hosts:
        name = host_name(entry)
        if name is None:
            raise SecurityError(f"--allowed-host {entry!r}: not a host name or address")
        names.add(name)
    names -= {"0.0.0.0", "::"}
    return frozenset(names)


# --- Secret key ---------------------------------------------------------------------------------------------


def secret_key_path(store: Store) -> Path:
    """Where the generated key lives: beside a SQLite file (backed up with it), else in the images folder."""
    return store.folder / SECRET_FILE


def _read_key(path: Path) -> bytes:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise SecurityError(f"secret key {path}: readable by others (mode {mode:04o}); run `chmod 600 {path}`")
    key = path.read_bytes().strip()
    if len(key) < 32:
        raise SecurityError(f"secret key {path}: {len(key)} bytes, at least 32 needed; delete it to make a new one")
    return key


def load_secret_key(settings: ReviewSettings, store: Store) -> bytes:
    """The settings' key, REPORTSCAN_SECRET_KEY, or the key file (made once, 0600, tmp + link so never clobbered)."""
    if settings.secret_key is not None:
        return settings.secret_key
    env = os.environ.get("REPORTSCAN_SECRET_KEY")
    if env:
        if len(env.encode()) < 32:
            raise SecurityError(f"REPORTSCAN_SECRET_KEY: {len(env.encode())} bytes, at least 32 needed")
        return env.encode()
    path = secret_key_path(store)
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_hex(32).encode() + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)  # a rename that refuses to replace a key another server wrote meanwhile
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return _read_key(path)


# --- Operators ----------------------------------------------------------------------------------------------


def local_operator_name(settings: ReviewSettings) -> str:
    """The audit's name for whoever uses a loopback server: --operator, else the OS user."""
    if settings.operator:
        return settings.operator.strip()
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # a container user without a passwd entry
        return f"uid{os.getuid()}"


def ensure_env_operator(store: Store) -> str | None:
    """Create the first operator from REPORTSCAN_OPERATOR / _PASSWORD (containers have no terminal to type one).

    An operator who already exists keeps their password, and a disabled one stays disabled: the variables only
    ever add.
    """
    name = os.environ.get("REPORTSCAN_OPERATOR", "").strip()
    password = os.environ.get("REPORTSCAN_OPERATOR_PASSWORD", "")
    if not name and not password:
        return None
    if not name or not password:
        missing = "REPORTSCAN_OPERATOR" if not name else "REPORTSCAN_OPERATOR_PASSWORD"
        raise SecurityError(f"{missing} is not set: the first operator needs both a name and a password")
    if operator_enabled(store, name):
        return name
    try:
        add_operator(store, name, password)
    except StoreError:  # exists, disabled: left as it is
        return None
    return name


# --- CSRF ---------------------------------------------------------------------------------------------------


def _gates(request_or_scope: Request | Scope) -> Gates:
    scope = request_or_scope.scope if isinstance(request_or_scope, Request) else request_or_scope
    gates = scope.get(_SCOPE_GATES)
    if gates is None:
        raise RuntimeError("review.security: install_security(app, ...) was not called on this app")
    return gates


def csrf_token(request: Request) -> str:
    """The token templates put in forms (hidden `csrf_token` input) and in htmx's `X-CSRF-Token` header.

    A random nonce lives in the signed session; the token is that nonce signed again with its own salt, so a
    token lifted from one session is worthless in another.
    """
    session = request.session
    nonce = session.get("csrf")
    if not isinstance(nonce, str):
        nonce = secrets.token_urlsafe(32)
        session["csrf"] = nonce
    return str(_gates(request).csrf_signer.dumps(nonce))


def _token_ok(gates: Gates, session: dict, presented: str | None) -> bool:
    nonce = session.get("csrf")
    if not presented or not isinstance(nonce, str):
        return False
    try:
        signed_nonce = gates.csrf_signer.loads(presented)
    except BadSignature:
        return False
    return isinstance(signed_nonce, str) and hmac.compare_digest(signed_nonce.encode(), nonce.encode())


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def _replay(messages: list[Message]) -> Receive:
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        return {"type": "http.disconnect"}

    return receive


async def _presented_token(scope: Scope, receive: Receive) -> tuple[str | None, Receive, int | None]:
    """The CSRF token of a request (header first, else the form field) and a receive that replays the body.

    Returns (token, receive, refusal status): the body has to be read to find a form field, and the route
    still needs it, so it is buffered (bounded) and handed on.
    """
    header = _header(scope, CSRF_HEADER.lower().encode())
    if header:
        return header, receive, None
    ctype = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
    if ctype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return None, receive, None
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        size += len(message.get("body", b""))
        if size > MAX_FORM_BYTES:
            return None, receive, 413
        if not message.get("more_body", False):
            break
    if ctype == "application/x-www-form-urlencoded":
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
        values = parse_qs(body.decode("latin-1"), keep_blank_values=True).get(CSRF_FIELD)
        token = values[0] if values else None
    else:
        form = await Request(scope, _replay(messages)).form()
        value = form.get(CSRF_FIELD)
        token = value if isinstance(value, str) else None
        await form.close()
    return token, _replay(messages), None


async def require_csrf(request: Request) -> None:
    """Dependency for every POST route: the gate already checked the token; this refuses if it did not run."""
    if request.scope.get(_SCOPE_CSRF_CHECKED) is not True:
        raise HTTPException(403, "refused: this request carries no valid CSRF token; reload the page and try again")


# --- Sign-in ------------------------------------------------------------------------------------------------


def current_operator(request: Request) -> str:
    """Dependency: the operator the audit names: the local one on loopback, else the signed-in, enabled one."""
    operator = request.scope.get(_SCOPE_OPERATOR)
    if not isinstance(operator, str):
        if request.headers.get("hx-request") == "true":
            raise HTTPException(401, "sign-in required", headers={"HX-Redirect": _login_url(request.scope)})
        raise HTTPException(303, "sign-in required", headers={"Location": _login_url(request.scope)})
    return operator


def _safe_next(target: str | None) -> str:
    """A local path to return to after sign-in; anything that could leave this origin becomes '/'."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.path == "/login":
        return "/"
    return target


def _login_url(scope: Scope) -> str:
    if _header(scope, b"hx-request") == "true":
        current = urlsplit(_header(scope, b"hx-current-url") or "/")
        here = current.path + (f"?{current.query}" if current.query else "")
    else:
        query = scope.get("query_string", b"").decode("latin-1")
        here = scope.get("path", "/") + (f"?{query}" if query else "")
    here = _safe_next(here)
    return "/login" if here == "/" else f"/login?next={quote(here, safe='')}"


def _login_page(request: Request, *, message: str | None = None, name: str = "", status: int = 200) -> HTMLResponse:
    target = _safe_next(request.query_params.get("next"))
    notice = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · reportscan review</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/review.css"></head>
<body class="login"><main>
<h1>reportscan review</h1>
{notice}
<form method="post" action="/login">
<input type="hidden" name="{CSRF_FIELD}" value="{html.escape(csrf_token(request))}">
<input type="hidden" name="next" value="{html.escape(target)}">
<label>Operator <input name="name" autocomplete="username" required autofocus value="{html.escape(name)}"></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form></main></body></html>"""
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _install_routes(app: FastAPI, gates: Gates) -> None:
    async def login_form(request: Request) -> Response:
        if _is_local(gates, request.scope):
            return RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
        return _login_page(request)

    async def login(request: Request) -> Response:
        if _is_local(gates, request.scope):
            return RedirectResponse("/", status_code=303)
        form = await request.form()
        name = str(form.get("name") or "").strip()
        password = str(form.get("password") or "")
        target = _safe_next(str(form.get("next") or "/"))
        if not name or not password or not await to_thread.run_sync(verify_operator, gates.store, name, password):
            return _login_page(request, message="Wrong operator name or password.", name=name, status=401)
        request.session.clear()  # a new session on sign-in: nothing carried over from before (fixation)
        request.session["operator"] = name
        request.session["csrf"] = secrets.token_urlsafe(32)
        return RedirectResponse(target, status_code=303)

    async def logout(request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/" if _is_local(gates, request.scope) else "/login", status_code=303)

    app.add_api_route("/login", login_form, methods=["GET"], include_in_schema=False)
    app.add_api_route("/login", login, methods=["POST"], include_in_schema=False)
    app.add_api_route("/logout", logout, methods=["POST"], include_in_schema=False)


# --- Middleware ---------------------------------------------------------------------------------------------


def _is_local(gates: Gates, scope: Scope) -> bool:
    """Loopback use: bound to loopback and addressed by a loopback name; a name published through a proxy
    (--allowed-host) on a loopback server still signs in, since the proxy brings in people from elsewhere."""
    return gates.settings.loopback and is_loopback(host_name(_header(scope, b"host")) or "")


def _with_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            present = {key.lower() for key, _ in headers}
            headers += [(key, value) for key, value in SECURITY_HEADERS if key not in present]
            message = {**message, "headers": headers}
        await send(message)

    return wrapped


class HostGuard:
    """Outermost: refuses foreign Host headers before anything else runs, and adds the security headers."""

    def __init__(self, app: ASGIApp, gates: Gates) -> None:
        self.app = app
        self.gates = gates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        raw = _header(scope, b"host")
        name = host_name(raw)
        if name is None or name not in self.gates.allowed_hosts:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            shown = (raw or "")[:80]
            message = (
                f"refused: Host {shown!r} is not this server's name or address; "
                "start `reportscan review` with --allowed-host NAME to accept it"
                if raw
                else "refused: the request has no Host header"
            )
            await PlainTextResponse(message, status_code=400)(scope, receive, _with_headers(send))
            return
        scope[_SCOPE_GATES] = self.gates
        await self.app(scope, receive, _with_headers(send) if scope["type"] == "http" else send)


class SignInAndCsrfGate:
    """Inside the session middleware: decides the operator, refuses unsigned users and unsigned writes."""

    def __init__(self, app: ASGIApp, gates: Gates) -> None:
        self.app = app
        self.gates = gates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        gates = self.gates
        session = scope["session"]
        operator: str | None = None
        why = "sign-in required"
        if _is_local(gates, scope):
            operator = gates.local_operator
        else:
            signed = session.get("operator")
            if isinstance(signed, str):
                if await to_thread.run_sync(operator_enabled, gates.store, signed):
                    operator = signed
                else:
                    session.clear()
                    why = f"operator {signed!r} is disabled: sign in as an enabled operator"
        scope[_SCOPE_OPERATOR] = operator
        path = scope.get("path", "/")
        if operator is None and path not in OPEN_PATHS and not path.startswith(OPEN_PREFIXES):
            await _refuse_unsigned(scope, receive, send, why)
            return
        if scope["method"] in UNSAFE_METHODS:
            presented, receive, status = await _presented_token(scope, receive)
            if status is not None:
                await PlainTextResponse("refused: the form is too large", status_code=status)(scope, receive, send)
                return
            origin = _header(scope, b"origin")
            if origin is not None and host_name(urlsplit(origin).netloc) not in gates.allowed_hosts:
                await PlainTextResponse(
                    f"refused: a write from origin {origin[:80]!r}, not this server", status_code=403
                )(scope, receive, send)
                return
            if not _token_ok(gates, session, presented):
                await PlainTextResponse(
                    "refused: the CSRF token is missing or wrong (the page is stale or the request came from "
                    "another site); reload the page and try again",
                    status_code=403,
                )(scope, receive, send)
                return
            scope[_SCOPE_CSRF_CHECKED] = True
        await self.app(scope, receive, send)


async def _refuse_unsigned(scope: Scope, receive: Receive, send: Send, why: str) -> None:
    login = _login_url(scope)
    response: Response
    if _header(scope, b"hx-request") == "true":
        response = PlainTextResponse(why, status_code=401, headers={"HX-Redirect": login})
    elif scope["method"] in ("GET", "HEAD") and "text/html" in (_header(scope, b"accept") or ""):
        response = RedirectResponse(login, status_code=303)
    else:
        response = PlainTextResponse(f"{why}: sign in at /login", status_code=401)
    await response(scope, receive, send)


def install_security(app: FastAPI, settings: ReviewSettings, store: Store) -> None:
    """Wrap `app` in the Host check, signed sessions, the sign-in and CSRF gate; add /login and /logout.

    Call it from `create_app` before the app serves its first request. Tests that use Starlette's TestClient
    must address the server by a name it accepts: `TestClient(app, base_url="http://127.0.0.1")`.
    """
    ensure_env_operator(store)
    key = load_secret_key(settings, store)
    gates = Gates(
        settings=settings,
        store=store,
        allowed_hosts=allowed_host_names(settings),
        local_operator=local_operator_name(settings),
        csrf_signer=URLSafeSerializer(key, salt="reportscan-csrf"),
    )
    _install_routes(app, gates)
    # add_middleware wraps from the inside out: the last one added runs first.
    app.add_middleware(SignInAndCsrfGate, gates=gates)
    app.add_middleware(
        SessionMiddleware,
        secret_key=key.decode("latin-1"),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE,
        same_site="lax",
        https_only=False,
    )
    app.add_middleware(HostGuard, gates=gates)


__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SecurityError",
    "current_operator",
    "csrf_token",
    "install_security",
    "require_csrf",
]
