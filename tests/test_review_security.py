"""The review page's gates, against the real app over a real SQLite store: who may come in, which writes count.

Every refusal is checked twice: by the answer the client gets, and by the store, which must be unchanged
(an audit row would mean the gate let the write through).
"""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ocr.model import Cell, FieldResult, PageInfo, Producer, Record, ReportInfo, Table
from review.app import create_app
from review.security import SECRET_FILE, SESSION_COOKIE, SecurityError
from review.settings import ReviewSettings
from store import audit, card, default_url, items, open_store, save_reading
from store.operators import add_operator, disable_operator, verify_operator

SHA = "5e" * 32
LOCAL = "http://127.0.0.1:8000"
REMOTE = "http://review.example"
KEY = b"k" * 32


def _record() -> Record:
    """A one-table reading built here (not the pipeline's output): 规章 row, one flagged count."""
    cells = [
        Cell(row=2, col=0, bbox=(10, 200, 300, 260), text="规章", confidence=0.95, needs_review=False, kind="label"),
        Cell(row=2, col=1, bbox=(300, 200, 400, 260), text="3", confidence=0.41, needs_review=True,
             flags=["low_confidence"], kind="number"),
        Cell(row=2, col=2, bbox=(400, 200, 500, 260), text="1", confidence=0.97, needs_review=False, kind="number"),
        Cell(row=2, col=3, bbox=(500, 200, 600, 260), text="7", confidence=0.97, needs_review=False, kind="number"),
    ]
    table = Table(page=1, bbox=(10, 10, 600, 600), template_table="active_disclosure", n_rows=14, n_cols=4,
                  cells=cells)

    def field(col: int, value: int, confidence: float, flagged: bool) -> FieldResult:
        c = cells[col]
        return FieldResult(value=value, text=str(value), confidence=confidence, needs_review=flagged,
                           flags=["low_confidence"] if flagged else [],
                           reasons=["识别置信度低 (0.41)"] if flagged else [], page=1, table=0, row=2, col=col,
                           bbox=c.bbox)

    return Record(
        producer=Producer(reportscan="0.1.0", tesseract="5.3.0", traineddata={}, config="test-security"),
        source="security.pdf", sha256=SHA, pages=1, dpi=300, template="gov_disclosure_annual_report",
        page_info=[PageInfo(page=1, rotation=0, skew=0.0)], tables=[table],
        report=ReportInfo(agency="测试县人民政府", year=2022),
        fields={"regulations.issued": field(1, 3, 0.41, True), "regulations.repealed": field(2, 1, 0.97, False),
                "regulations.in_force": field(3, 7, 0.97, False)},
    )


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = default_url(tmp_path)
    store = open_store(url, create=True)
    try:
        save_reading(store, _record(), {})
        add_operator(store, "ana", "correct horse battery")
        add_operator(store, "bo", "staple paper clip")
    finally:
        store.close()
    return url


def _local(db: str, **settings: object) -> TestClient:
    return TestClient(create_app(ReviewSettings(db_url=db, secret_key=KEY, **settings)), base_url=LOCAL)


def _remote(db: str, **settings: object) -> TestClient:
    app = create_app(ReviewSettings(db_url=db, host="0.0.0.0", allowed_hosts=("review.example",), secret_key=KEY,
                                    **settings))
    return TestClient(app, base_url=REMOTE)


def _flagged(db: str) -> tuple[str, int]:
    """The open field item of the test document and its current version."""
    store = open_store(db, create=False)
    try:
        item = next(i for i in items(store, SHA) if i.kind == "field" and not i.settled)
        return item.id, card(store, SHA, item.id).version
    finally:
        store.close()


def _audit(db: str) -> list:
    store = open_store(db, create=False)
    try:
        return audit(store, SHA)
    finally:
        store.close()


def _token(client: TestClient, path: str = "/") -> str:
    page = client.get(path, headers={"accept": "text/html"})
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, f"no CSRF field on {path}: {page.status_code} {page.text[:200]}"
    return match.group(1)


def _sign_in(client: TestClient, name: str = "ana", password: str = "correct horse battery") -> None:
    token = _token(client, "/login")
    answer = client.post("/login", data={"csrf_token": token, "name": name, "password": password, "next": "/"},
                         follow_redirects=False)
    assert answer.status_code == 303, answer.text


def _confirm_url(item_id: str) -> str:
    return f"/doc/{SHA}/item/{item_id}/confirm"


# ---------------------------------------------------------------- Host header (DNS rebinding)


def test_a_foreign_host_is_refused_before_anything_runs(db):
    client = _local(db)
    answer = client.get("/", headers={"host": "attacker.example"})
    assert answer.status_code == 400
    assert "attacker.example" in answer.text and "--allowed-host" in answer.text
    assert answer.headers["x-frame-options"] == "DENY"
    for host in ("127.0.0.1:8000", "localhost:8000", "[::1]:8000", "LOCALHOST"):
        assert client.get("/", headers={"host": host}).status_code == 200, host
    assert client.get("/", headers={"host": "localhost."}).status_code == 200  # the root label is the same name
    for host in ("127.0.0.1.attacker.example", "localhost.attacker.example", "[::1", "a b", "127.0.0.1:80x"):
        assert client.get("/", headers={"host": host}).status_code == 400, host


def test_a_wildcard_bind_accepts_only_the_published_name(db):
    client = _remote(db)
    assert client.get("/", headers={"host": "attacker.example"}).status_code == 400
    assert client.get("/", headers={"host": "review.example:8443"}).status_code == 401  # known host, no sign-in


def test_a_published_name_on_a_loopback_server_still_signs_in(db):
    """Behind a proxy the name brings people from elsewhere: the loopback exemption is for loopback names."""
    client = _local(db, allowed_hosts=("review.example",))
    assert client.get("/", headers={"host": "localhost"}).status_code == 200
    assert client.get("/", headers={"host": "review.example"}).status_code == 401


def test_security_headers(db):
    answer = _local(db).get("/")
    assert answer.status_code == 200
    csp = answer.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["referrer-policy"] == "same-origin"


# ---------------------------------------------------------------- CSRF


def test_a_write_without_the_csrf_token_is_refused_and_nothing_is_written(db):
    client = _local(db, operator="olga")
    item_id, version = _flagged(db)
    token = _token(client, f"/doc/{SHA}/item/{item_id}")
    missing = client.post(_confirm_url(item_id), data={"version": version})
    wrong = client.post(_confirm_url(item_id), data={"version": version, "csrf_token": token[:-2] + "xx"})
    forged = client.post(_confirm_url(item_id), data={"version": version, "csrf_token": "a.b"},
                         headers={"X-CSRF-Token": "a.b"})
    for answer in (missing, wrong, forged):
        assert answer.status_code == 403 and "CSRF" in answer.text
    other = _local(db, operator="olga")  # a token from another session is worthless here
    assert client.post(_confirm_url(item_id), data={"version": version, "csrf_token": _token(other)}).status_code \
        == 403
    foreign = client.post(_confirm_url(item_id), data={"version": version, "csrf_token": token},
                          headers={"origin": "http://attacker.example"})
    assert foreign.status_code == 403
    assert _audit(db) == []

    done = client.post(_confirm_url(item_id), data={"version": version}, headers={"X-CSRF-Token": token})
    assert done.status_code == 200, done.text
    rows = _audit(db)
    assert [(r.operator, r.target) for r in rows] == [("olga", item_id)]


def test_the_csrf_token_from_a_form_field_works_too(db):
    client = _local(db)
    item_id, version = _flagged(db)
    token = _token(client, f"/doc/{SHA}/item/{item_id}")
    answer = client.post(_confirm_url(item_id), data={"version": version, "csrf_token": token},
                         follow_redirects=False)
    assert answer.status_code == 200, answer.text
    assert len(_audit(db)) == 1


def test_sign_in_itself_needs_the_csrf_token(db):
    client = _remote(db)
    answer = client.post("/login", data={"name": "ana", "password": "correct horse battery"},
                         follow_redirects=False)
    assert answer.status_code == 403
    assert SESSION_COOKIE not in client.cookies or "operator" not in client.get("/").text


# ---------------------------------------------------------------- sign-in off loopback


def test_off_loopback_every_page_and_write_needs_a_sign_in(db):
    client = _remote(db)
    item_id, version = _flagged(db)
    page = client.get(f"/doc/{SHA}/item/{item_id}", headers={"accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login?next=%2Fdoc%2F")
    htmx = client.get("/", headers={"hx-request": "true"}, follow_redirects=False)
    assert htmx.status_code == 401 and htmx.headers["hx-redirect"].startswith("/login")
    assert client.get("/image/1", follow_redirects=False).status_code == 401
    assert client.get("/login").status_code == 200
    token = _token(client, "/login")
    write = client.post(_confirm_url(item_id), data={"version": version, "csrf_token": token},
                        follow_redirects=False)
    assert write.status_code == 401
    assert _audit(db) == []


def test_a_wrong_password_or_unknown_name_signs_nobody_in(db):
    client = _remote(db)
    for name, password in (("ana", "wrong"), ("nobody", "correct horse battery"), ("ana", "")):
        token = _token(client, "/login")
        answer = client.post("/login", data={"csrf_token": token, "name": name, "password": password},
                             follow_redirects=False)
        assert answer.status_code in (401, 422), (name, answer.status_code)
        assert client.get("/", follow_redirects=False).status_code == 401


def test_sign_in_works_and_the_audit_names_the_signed_in_operator(db):
    client = _remote(db)
    token = _token(client, "/login")
    answer = client.post("/login", data={"csrf_token": token, "name": "ana", "password": "correct horse battery",
                                         "next": f"/doc/{SHA}"}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == f"/doc/{SHA}"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags and "samesite=lax" in flags and any(f.startswith("max-age=") for f in flags)
    home = client.get("/")
    assert home.status_code == 200 and "ana" in home.text

    item_id, version = _flagged(db)
    token = _token(client, f"/doc/{SHA}/item/{item_id}")  # sign-in made a new session, with a new token
    done = client.post(_confirm_url(item_id), data={"version": version}, headers={"X-CSRF-Token": token})
    assert done.status_code == 200, done.text
    assert [r.operator for r in _audit(db)] == ["ana"]


def test_sign_in_never_sends_the_browser_elsewhere(db):
    client = _remote(db)
    for target in ("//attacker.example/", "https://attacker.example/", "/\\attacker.example", "/login"):
        token = _token(client, "/login")
        answer = client.post("/login", data={"csrf_token": token, "name": "ana",
                                             "password": "correct horse battery", "next": target},
                             follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/", target


def test_a_disabled_operator_is_refused_at_once_even_mid_session(db):
    client = _remote(db)
    _sign_in(client)
    item_id, version = _flagged(db)
    token = _token(client, f"/doc/{SHA}/item/{item_id}")
    store = open_store(db, create=False)
    try:
        disable_operator(store, "ana")
    finally:
        store.close()
    page = client.get("/", follow_redirects=False)
    assert page.status_code == 401 and "disabled" in page.text
    write = client.post(_confirm_url(item_id), data={"version": version}, headers={"X-CSRF-Token": token},
                        follow_redirects=False)
    assert write.status_code == 401
    assert _audit(db) == []
    login = _token(client, "/login")
    again = client.post("/login", data={"csrf_token": login, "name": "ana", "password": "correct horse battery"},
                        follow_redirects=False)
    assert again.status_code == 401
    _sign_in(client, "bo", "staple paper clip")  # the others are not affected
    assert client.get("/").status_code == 200


def test_sign_out_ends_the_session(db):
    client = _remote(db)
    _sign_in(client)
    assert client.post("/logout", follow_redirects=False).status_code == 403  # no token: not even a sign-out
    token = _token(client)
    answer = client.post("/logout", headers={"X-CSRF-Token": token}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    assert client.get("/", follow_redirects=False).status_code == 401


# ---------------------------------------------------------------- start-up: first operator, secret key


def test_the_first_operator_comes_from_the_environment(db, monkeypatch):
    monkeypatch.setenv("REPORTSCAN_OPERATOR", "cy")
    monkeypatch.setenv("REPORTSCAN_OPERATOR_PASSWORD", "from the container")
    client = _remote(db)
    _sign_in(client, "cy", "from the container")
    assert client.get("/").status_code == 200

    monkeypatch.setenv("REPORTSCAN_OPERATOR", "bo")  # an existing operator keeps their password
    monkeypatch.setenv("REPORTSCAN_OPERATOR_PASSWORD", "taken over")
    _remote(db)
    store = open_store(db, create=False)
    try:
        assert verify_operator(store, "bo", "staple paper clip") and not verify_operator(store, "bo", "taken over")
    finally:
        store.close()

    monkeypatch.delenv("REPORTSCAN_OPERATOR_PASSWORD")
    with pytest.raises(SecurityError, match="REPORTSCAN_OPERATOR_PASSWORD"):
        _remote(db)


def test_the_secret_key_is_made_once_beside_the_store_and_kept_private(db, tmp_path, monkeypatch):
    monkeypatch.delenv("REPORTSCAN_SECRET_KEY", raising=False)
    settings = ReviewSettings(db_url=db, host="0.0.0.0", allowed_hosts=("review.example",))
    first = TestClient(create_app(settings), base_url=REMOTE)
    key = tmp_path / SECRET_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_bytes().strip()) >= 32
    _sign_in(first)
    second = TestClient(create_app(settings), base_url=REMOTE, cookies=dict(first.cookies))
    assert second.get("/").status_code == 200  # a restart keeps operators signed in
    assert not list(tmp_path.glob(f".{SECRET_FILE}*"))  # no temporary file left behind

    key.chmod(0o644)
    with pytest.raises(SecurityError, match="readable by others"):
        create_app(settings)


def test_a_malformed_host_or_allowed_host_is_a_usage_error_before_anything_starts(db):
    for settings in ({"host": "a b"}, {"allowed_hosts": ("review.example", "http://x/")}, {"port": 70000}):
        with pytest.raises(ValueError, match="review settings"):
            ReviewSettings(db_url=db, **settings)
