"""The review page in a real browser: Debian's Chromium driven by Playwright, over a real ingest of a sample.

What a person does with the keyboard — open the queue, open a card, type a value and Enter, Enter on
another card, undo — and then what the store holds afterwards: the values in force, the audit rows, and the
re-checked constraint the page showed. The page runs with its full CSP, so a script or style it blocks shows
up here as a console error. Screenshots of a card and of the table view are written to docs/img when
REPORTSCAN_SCREENSHOTS=1 or when they are missing (otherwise to a temp folder, so CI leaves the tree clean).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from PIL import Image
from playwright.sync_api import Page

from review.app import create_app, item_url
from review.settings import ReviewSettings
from store import Card, Store, audit, card, default_url, items, open_store, queue

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
# A hard-tier report from the sample generator (seed 8, the first): a count the arithmetic proposes a value for,
# and a low-confidence count in sums that hold. The cards are picked from what the ingest stored, by what they
# are (a suggestion; a count in holding sums), not by key. As reading improves a sample may hold neither any
# more (seed 5's second report, used before, read clean once its cells were cut free of litter): pick another
# the same way, the first hard report, by seed, whose record holds both.
SAMPLE_ARGS = ["--count", "1", "--seed", "8", "--tier", "hard"]
SAMPLE = "hard-s8-000"
OPERATOR = "olga"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
IMG = ROOT / "docs" / "img"


@dataclass(frozen=True)
class Station:
    base: str
    db_url: str
    sha256: str
    truth: dict


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Station]:
    """The sample ingested by the real CLI into its default SQLite store, and the review server over it."""
    tmp = tmp_path_factory.mktemp("browser")
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    cli = [sys.executable, "-m", "flows.cli"]
    made = subprocess.run([*cli, "samples", "--out", str(tmp / "samples"), *SAMPLE_ARGS], capture_output=True,
                          text=True, env=env, cwd=ROOT, check=False)
    assert made.returncode == 0, made.stderr[-2000:]
    out = tmp / "out"
    done = subprocess.run([*cli, "ingest", str(tmp / "samples" / f"{SAMPLE}.pdf"), "--out", str(out), "--workers",
                           "1"], capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    truth = json.loads((tmp / "samples" / f"{SAMPLE}.truth.json").read_text(encoding="utf-8"))
    url = default_url(out)
    store = open_store(url, create=False)
    try:
        documents = queue(store).documents
    finally:
        store.close()
    assert len(documents) == 1, documents
    port = _free_port()
    app = create_app(ReviewSettings(db_url=url, port=port, operator=OPERATOR))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the review server did not start"
        time.sleep(0.05)
    try:
        yield Station(f"http://127.0.0.1:{port}", url, documents[0].sha256, truth)
    finally:
        server.should_exit = True
        thread.join(15)


def _screenshot(page: Page, path: Path) -> None:
    """A full-page PNG, cut down to a 256-colour palette (the page image makes a plain one ~1.5 MB).

    caret="initial": Playwright hides the caret with an injected <style>, which the page's CSP rightly blocks.
    """
    page.screenshot(path=str(path), full_page=True, caret="initial")
    with Image.open(path) as shot:
        small = shot.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE)
    small.save(path, optimize=True)


def _shots(tmp_path: Path) -> Path:
    wanted = os.environ.get("REPORTSCAN_SCREENSHOTS") == "1"
    missing = not (IMG / "review-card.png").exists() or not (IMG / "review-table.png").exists()
    return IMG if wanted or missing else tmp_path


def _pick(store: Store, sha: str) -> tuple[Card, Card]:
    """The card to accept (a field with a suggestion) and the one to correct (a count read as a number, in
    sums that hold as read or repaired, so a wrong value shows up as a failing sum)."""
    cards = [card(store, sha, i.id) for i in items(store, sha) if i.kind == "field" and not i.settled]
    to_accept = next((c for c in cards if c.suggestion is not None), None)
    to_correct = next((c for c in cards if c is not to_accept and c.value_type == "integer"
                       and (c.read_value or "").isdigit() and c.constraints
                       and all(k.status in ("holds", "repaired") for k in c.constraints)), None)
    assert to_accept is not None, f"{SAMPLE}: no open field with a suggestion: {[c.item.id for c in cards]}"
    assert to_correct is not None, f"{SAMPLE}: no open count in holding sums: {[c.item.id for c in cards]}"
    return to_accept, to_correct


def test_an_operator_settles_cards_with_the_keyboard(station: Station, tmp_path: Path):
    from playwright.sync_api import expect, sync_playwright

    sha = station.sha256
    store = open_store(station.db_url, create=False)
    try:
        accept, before = _pick(store, sha)
    finally:
        store.close()
    corrected, confirmed_id = before.item.id, accept.item.id
    read = before.read_value or ""
    typed = str(int(read) + 1)
    shots = _shots(tmp_path)
    problems: list[str] = []

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))

            # The queue, then the document's first open card from it.
            page.goto(station.base + "/")
            expect(page.locator("tr.doc").first).to_contain_text(station.truth["report"]["agency"])
            page.locator("tr.doc a.button").first.click()
            expect(page.locator("#card article.card")).to_be_visible()

            # The card of a flagged count: labels, crop, the constraints it is in. Type a value, Enter.
            page.goto(station.base + item_url(sha, corrected))
            article = page.locator("#card article.card")
            expect(article).to_have_attribute("data-item", corrected)
            expect(article.locator("img.crop")).to_be_visible()
            page.wait_for_function("document.querySelector('img.crop').naturalWidth > 0")
            for label in (before.row_label, before.col_label):
                if label:
                    expect(article.locator("h1")).to_contain_text(label)
            _screenshot(page, shots / "review-card.png")
            page.evaluate("window.sameDocument = true")
            expect(page.locator("#value")).to_be_focused()
            page.keyboard.type(typed)
            page.keyboard.press("Enter")
            outcome = page.locator("#card .outcome")
            expect(outcome).to_contain_text(corrected)
            expect(outcome.locator(".saved-value")).to_have_text(typed)
            # The sums it takes part in, re-checked at once with the new value: they no longer add up.
            failing = outcome.locator("li.constraint.fails")
            expect(failing.first).to_be_visible()
            expect(failing.first.locator(".arith")).to_contain_text(typed)
            assert page.evaluate("window.sameDocument === true"), "the next card came with a full page load"
            expect(page.locator("#card article.card")).not_to_have_attribute("data-item", corrected)

            # The table view: the page image under the grid, the corrected cell coloured as such.
            page.goto(f"{station.base}/doc/{sha}/table/{before.table}")
            expect(page.locator("img.page")).to_be_visible()
            page.wait_for_function("document.querySelector('img.page').naturalWidth > 0")
            expect(page.locator("svg.grid rect.st-corrected")).to_have_count(1)
            expect(page.locator("li.constraint.fails").first).to_be_visible()
            _screenshot(page, shots / "review-table.png")

            # Another card: Enter on the empty input accepts its suggestion.
            page.goto(station.base + item_url(sha, confirmed_id))
            expect(page.locator("#card article.card")).to_have_attribute("data-item", confirmed_id)
            expect(page.locator("#card dd.suggestion")).to_contain_text(str(accept.suggestion))
            expect(page.locator("#value")).to_be_focused()
            page.keyboard.press("Enter")
            expect(page.locator("#card .outcome")).to_contain_text(confirmed_id)
            expect(page.locator("#card .outcome .saved-value")).to_have_text(str(accept.suggestion))

            # Back to the corrected card: undo; the value read is in force again and its sums hold.
            page.goto(station.base + item_url(sha, corrected))
            expect(page.locator("#card dd.current")).to_contain_text(f"corrected by {OPERATOR}")
            page.locator("#card form.undo button").click()
            outcome = page.locator("#card .outcome")
            expect(outcome).to_contain_text("Undone")
            expect(page.locator("#card dd.current")).to_contain_text(read)
            expect(page.locator("#card dd.current")).not_to_contain_text("corrected by")
            expect(outcome.locator("li.constraint.fails")).to_have_count(0)
        finally:
            browser.close()

    assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems

    store = open_store(station.db_url, create=False)
    try:
        after = card(store, sha, corrected)
        accepted = card(store, sha, confirmed_id)
        rows = audit(store, sha)
        settled = {i.id for i in items(store, sha) if i.settled}
    finally:
        store.close()
    assert after.current == read and after.corrected_by is None
    assert all(k.status in ("holds", "repaired") for k in after.constraints), [k.text for k in after.constraints]
    assert accepted.current == str(accept.suggestion) and accepted.corrected_by == OPERATOR
    assert confirmed_id in settled
    assert [(r.operator, r.target) for r in rows] == [(OPERATOR, corrected), (OPERATOR, confirmed_id),
                                                      (OPERATOR, corrected)], rows
    assert (rows[0].old, rows[0].new) == (read, typed)
    assert (rows[1].old, rows[1].new) == (accept.read_value, str(accept.suggestion))
    assert (rows[2].old, rows[2].new) == (typed, read)
