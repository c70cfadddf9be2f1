"""The review page through its HTTP API, over a real SQLite store filled by `store.save_reading`.

The records are written here by hand (schema 2, the shipped template's keys), with a generated page image,
so what each page must show is known without running the pipeline: the total 12 against its parts
3 + 4 + 6 + 0 + 0 + 0 = 13 fails, and 13 is suggested; a label cell read as `<script>` must come back escaped.
Every action is checked in the store afterwards (values, audit rows), never only in the HTML.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from ocr.model import (
    Cell,
    ConstraintCheck,
    FieldResult,
    PageInfo,
    PageSnapshot,
    Producer,
    Record,
    ReportInfo,
    Table,
)
from review.app import create_app
from review.settings import ReviewSettings
from store import audit, card, identity, items, open_store, queue, save_reading, table_view
from store.operators import add_operator, disable_operator

SHA_A = "a" * 64
SHA_B = "b" * 64
AGENCY = "测试市测试局"
PARTS = ("natural_person", "commercial_enterprise", "research_institution", "public_interest_org",
         "legal_service_org", "other_org")
PART_VALUES = (3, 4, 6, 0, 0, 0)
TOTAL = "applications.new_applications.total"
NATURAL = "applications.new_applications.natural_person"
SCRIPT = "<script>alert(1)</script>"
SECRET = b"k" * 40
PAGE_W, PAGE_H, SCALE = 1200, 900, 0.5


def _box(col: int, row: int) -> tuple[int, int, int, int]:
    return (100 + col * 120, 100 + row * 60, 100 + (col + 1) * 120, 100 + (row + 1) * 60)


def make_record(sha: str, source: str, *, year: int = 2023, config: str = "cfg-test") -> Record:
    """One page, one template table: row 0 a cell outside the fields read as `<script>`, the 一、本年新收申请 row 1 with
    its six parts and a total read 12 (unsure, suggested 13); a second, unmatched table on page 2."""
    cells = [Cell(row=0, col=0, bbox=_box(0, 0), text=SCRIPT, confidence=0.41, needs_review=True,
                  flags=["unreadable"], kind="number")]
    fields: dict[str, FieldResult] = {}
    for i, (part, value) in enumerate(zip(PARTS, PART_VALUES, strict=True), start=1):
        key = f"applications.new_applications.{part}"
        unsure = part == "natural_person"
        conf = 0.55 if unsure else 0.97
        flags = ["low_confidence"] if unsure else []
        cells.append(Cell(row=1, col=i, bbox=_box(i, 1), text=str(value), confidence=conf, needs_review=unsure,
                          flags=flags, kind="number"))
        fields[key] = FieldResult(value=value, text=str(value), confidence=conf, needs_review=unsure, flags=flags,
                                  reasons=["置信度低 0.55"] if unsure else [], page=1, table=0, row=1, col=i,
                                  bbox=_box(i, 1), constraints=[0])
    cells.append(Cell(row=1, col=7, bbox=_box(7, 1), text="12", confidence=0.62, needs_review=True,
                      flags=["low_confidence", "constraint_failed", "suggested"], kind="number"))
    fields[TOTAL] = FieldResult(value=12, text="12", confidence=0.62, needs_review=True,
                                flags=["low_confidence", "constraint_failed", "suggested"],
                                reasons=["总计 12 ≠ 3 + 4 + 6 + 0 + 0 + 0"], suggestion=13, page=1, table=0, row=1,
                                col=7, bbox=_box(7, 1), constraints=[0])
    constraint = ConstraintCheck(
        name="三 一、本年新收申请：总计 = 各类申请人之和", status="fails", lhs=[TOTAL],
        rhs=[f"applications.new_applications.{p}" for p in PARTS],
        text="一、本年新收申请 总计 12 ≠ 3 + 4 + 6 + 0 + 0 + 0")
    tables = [
        Table(page=1, bbox=(100, 100, 1060, 220), template_table="applications", n_rows=2, n_cols=8, cells=cells),
        Table(page=2, bbox=(100, 100, 340, 160), template_table=None, n_rows=1, n_cols=2, cells=[
            Cell(row=0, col=c, bbox=_box(c, 0), text="x", confidence=0.9, needs_review=False, kind="label")
            for c in range(2)]),
    ]
    return Record(
        producer=Producer(reportscan="0.1.0", tesseract="5.3.0", traineddata={}, config=config),
        source=source, sha256=sha, pages=2, dpi=200, template="gov_disclosure_annual_report",
        page_info=[PageInfo(page=1, rotation=0, skew=0.0), PageInfo(page=2, rotation=0, skew=0.0)],
        tables=tables, report=ReportInfo(agency=AGENCY, year=year, agency_confidence=0.9, year_confidence=0.9),
        fields=fields, constraints=[constraint])


def make_snapshot() -> PageSnapshot:
    """A grey page image at half the record's pixels, with the total's cell drawn in it."""
    image = Image.new("L", (int(PAGE_W * SCALE), int(PAGE_H * SCALE)), 255)
    draw = ImageDraw.Draw(image)
    x0, y0, x1, y1 = (int(v * SCALE) for v in _box(7, 1))
    draw.rectangle((x0, y0, x1, y1), outline=0, width=2)
    draw.text((x0 + 10, y0 + 8), "12", fill=0)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return PageSnapshot(buffer.getvalue(), "image/jpeg", image.width, image.height, SCALE)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/reportscan.db"
    store = open_store(url)
    try:
        snapshots = {1: make_snapshot()}
        save_reading(store, make_record(SHA_A, "first.pdf"), snapshots)
        save_reading(store, make_record(SHA_B, "second.pdf"), snapshots)  # same agency and year: a duplicate
    finally:
        store.close()
    return url


def local_settings(db_url: str, **extra: object) -> ReviewSettings:
    return ReviewSettings(db_url=db_url, operator="alice", secret_key=SECRET, **extra)


@pytest.fixture
def client(db_url: str):
    with TestClient(create_app(local_settings(db_url)), base_url="http://127.0.0.1") as c:
        yield c


@pytest.fixture
def store(db_url: str):
    s = open_store(db_url, create=False)
    yield s
    s.close()


def token(client: TestClient, path: str = "/") -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, "no CSRF token on the page"
    return match.group(1)


def item_path(sha: str, item_id: str) -> str:
    return f"/doc/{sha}/item/{quote(item_id, safe=':')}"


HX = {"HX-Request": "true"}


def field_item(store, sha: str, key: str) -> str:
    return next(i.id for i in items(store, sha) if i.kind == "field" and i.id == f"f:{key}")


def post(client: TestClient, path: str, data: dict[str, str], *, htmx: bool = True, csrf: str | None = None):
    headers = {**HX, "X-CSRF-Token": csrf or token(client)} if htmx else {}
    if not htmx:
        data = {"csrf_token": csrf or token(client), **data}
    return client.post(path, data=data, headers=headers, follow_redirects=False)


# ---------------------------------------------------------------- pages


def test_queue_lists_documents_oldest_first_with_progress_and_filters(client, store):
    page = client.get("/")
    assert page.status_code == 200
    text = page.text
    assert text.index("first.pdf") < text.index("second.pdf")
    progress = queue(store).progress
    assert re.search(rf'<progress value="{progress.items_settled}" max="{progress.items_total}"', text)
    assert f"{progress.documents_approved}</strong> of {progress.documents_total} documents" in text
    assert f'<option value="{AGENCY}">' in text and '<option value="2023">' in text
    for doc in queue(store).documents:
        assert item_path(doc.sha256, doc.first_open_item) in text
    # a filter that matches nothing empties the list; the year filter keeps both
    assert "first.pdf" not in client.get("/", params={"agency": "别的局"}).text
    kept = client.get("/", params={"year": "2023", "agency": AGENCY}).text
    assert "first.pdf" in kept and "second.pdf" in kept
    assert "first.pdf" not in client.get("/", params={"year": "1999"}).text
    reason = client.get("/", params={"reason": "unreadable"}).text
    assert "first.pdf" in reason and "second.pdf" in reason and '<option value="unreadable" selected>' in reason
    assert "first.pdf" not in client.get("/", params={"reason": "grid_mismatch"}).text


def test_document_items_fragment_links_cards_and_views(client, store):
    fragment = client.get(f"/doc/{SHA_A}/items", headers=HX).text
    assert "<html" not in fragment
    assert item_path(SHA_A, f"f:{TOTAL}") in fragment
    assert f"/doc/{SHA_A}/table/1" in fragment  # the unmatched table is a document-level item: its table view


def test_card_shows_labels_reading_reasons_suggestion_and_constraint(client, store):
    page = client.get(item_path(SHA_A, f"f:{TOTAL}"))
    assert page.status_code == 200
    text = page.text
    c = card(store, SHA_A, f"f:{TOTAL}")
    assert c.row_label and c.row_label in text and c.col_label and c.col_label in text
    assert TOTAL in text
    assert '<code class="text">12</code>' in text and "62% sure" in text
    assert "总计 12 ≠ 3 + 4 + 6 + 0 + 0 + 0" in text
    assert '<dd class="suggestion"><strong>13</strong>' in text
    assert f'name="version" value="{c.version}"' in text
    assert f"/image/{c.image_id}/crop?x0={c.bbox[0]}&amp;y0={c.bbox[1]}" in text
    assert 'hx-post="' + item_path(SHA_A, f"f:{TOTAL}") + '/save"' in text
    assert 'hx-target="#card"' in text


def test_card_fragment_for_htmx_and_whole_page_without(client):
    path = item_path(SHA_A, f"f:{TOTAL}")
    fragment = client.get(path, headers=HX).text
    assert "<html" not in fragment and 'data-item="f:' in fragment
    assert "<html" in client.get(path).text
    assert "<html" in client.get(path, headers={**HX, "HX-History-Restore-Request": "true"}).text


def test_ocr_text_is_escaped(client, store):
    cell_item = next(i for i in items(store, SHA_A) if i.kind == "cell")
    page = client.get(item_path(SHA_A, cell_item.id))
    assert page.status_code == 200
    assert SCRIPT not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    table = client.get(f"/doc/{SHA_A}/table/0")
    assert SCRIPT not in table.text and "&lt;script&gt;" in table.text


def test_table_view_draws_the_grid_scaled_over_the_image(client, store):
    page = client.get(f"/doc/{SHA_A}/table/0")
    assert page.status_code == 200
    view = table_view(store, SHA_A, 0)
    text = page.text
    assert f'<img class="page" src="/image/{view.image_id}"' in text
    w, h = view.image_size
    assert f'viewBox="0 0 {w} {h}"' in text
    x0, y0, x1, y1 = _box(7, 1)
    s = view.image_scale
    assert f'x="{round(x0 * s, 1)}" y="{round(y0 * s, 1)}" width="{round((x1 - x0) * s, 1)}"' in text
    for state in ("read", "repaired", "needs review", "corrected"):
        assert state in text  # the legend
    assert 'class="cell st-review"' in text
    assert "Accept every suggestion of this table (1)" in text
    assert "Mark source-inconsistent" in text


def test_images_by_id_and_crop(client, store):
    c = card(store, SHA_A, f"f:{TOTAL}")
    image = client.get(f"/image/{c.image_id}")
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert image.content == make_snapshot().data
    cut = client.get(f"/image/{c.image_id}/crop", params=dict(zip(("x0", "y0", "x1", "y1"), c.bbox, strict=True)))
    assert cut.status_code == 200 and cut.headers["content-type"] == "image/png"
    crop = Image.open(io.BytesIO(cut.content))
    assert 0 < crop.width < PAGE_W * SCALE


@pytest.mark.parametrize("probe", [
    "/image/../../etc/passwd", "/image/..%2F..%2Fetc%2Fpasswd", "/image/abc", "/image/-1", "/image/1.5",
    "/image/%2Fetc%2Fpasswd", "/image/999999", "/image/999999/crop?x0=0&y0=0&x1=10&y1=10",
])
def test_image_path_probes_are_refused(client, probe):
    response = client.get(probe)
    assert response.status_code in (404, 422)
    assert b"root:" not in response.content


def test_crop_refuses_empty_or_huge_boxes(client, store):
    image_id = card(store, SHA_A, f"f:{TOTAL}").image_id
    assert client.get(f"/image/{image_id}/crop?x0=10&y0=10&x1=10&y1=20").status_code == 422
    assert client.get(f"/image/{image_id}/crop?x0=0&y0=0&x1=99999999&y1=20").status_code == 422


def test_unknown_document_and_item_are_not_found(client):
    assert client.get(f"/doc/{'c' * 64}").status_code == 404
    assert client.get("/doc/not-a-sha/item/f:x").status_code == 404
    assert client.get(item_path(SHA_A, "f:no.such.field")).status_code == 404


def test_page_view_lists_its_document_items_with_the_page_image(client, store):
    duplicate = next(i for i in items(store, SHA_A) if i.id.startswith("d:duplicate_report:"))
    assert duplicate.page == 1 and duplicate.table is None
    page = client.get(f"/doc/{SHA_A}/page/1").text
    assert "second.pdf" in page  # the other report's name, in the duplicate's summary
    assert f'action="{item_path(SHA_A, duplicate.id)}/settle"' in page
    assert f'<img class="page" src="/image/{table_view(store, SHA_A, 0).image_id}"' in page
    assert f"/doc/{SHA_A}/page/1" in client.get(f"/doc/{SHA_A}").text  # the document page links it


def test_next_document_first_card(client, store):
    first = next(i for i in items(store, SHA_B) if not i.settled)
    whole = client.get(f"/doc/{SHA_B}/first")
    assert whole.status_code == 200 and f'data-item="{first.id}"' in whole.text and f'data-sha="{SHA_B}"' in whole.text
    swapped = client.get(f"/doc/{SHA_B}/first", headers=HX)
    assert swapped.headers["HX-Push-Url"] == item_path(SHA_B, first.id)


def test_the_last_card_ends_with_no_open_items(tmp_path):
    url = f"sqlite:///{tmp_path}/one.db"
    s = open_store(url)
    try:
        save_reading(s, make_record(SHA_A, "only.pdf"), {1: make_snapshot()})
        with TestClient(create_app(local_settings(url)), base_url="http://127.0.0.1") as c:
            csrf = token(c)
            for item in items(s, SHA_A):
                if item.kind == "document":
                    r = post(c, item_path(SHA_A, item.id) + "/settle", {}, csrf=csrf)
                else:
                    version = card(s, SHA_A, item.id).version
                    r = post(c, item_path(SHA_A, item.id) + "/confirm", {"version": str(version)}, csrf=csrf)
                assert r.status_code == 200, r.text
            assert "No open items left" in r.text and "<html" not in r.text
            assert r.headers["HX-Push-Url"] == f"/doc/{SHA_A}"
            assert '<li class="constraint holds">' in r.text
            assert status_of(s, SHA_A) == "approved"
    finally:
        s.close()


# ---------------------------------------------------------------- actions


def test_correct_saves_shows_rechecked_constraint_and_next_card(client, store):
    target = f"f:{TOTAL}"
    version = card(store, SHA_A, target).version
    response = post(client, item_path(SHA_A, target) + "/save", {"value": "13", "version": str(version)})
    assert response.status_code == 200, response.text
    text = response.text
    assert "Saved" in text and "<html" not in text
    assert re.search(r'<li class="constraint holds">.*总计 13 = 3 \+ 4 \+ 6 \+ 0 \+ 0 \+ 0', text)
    following = "d:table_missing:active_disclosure"  # the next open item, wrapping round to the document's first
    assert f'data-item="{following}"' in text
    assert response.headers["HX-Push-Url"] == item_path(SHA_A, following)
    now = card(store, SHA_A, target)
    assert now.current == "13" and now.corrected_by == "alice" and now.version != version
    rows = [(a.operator, a.action, a.old, a.new) for a in audit(store, SHA_A) if a.target == target]
    assert rows == [("alice", "correct", "12", "13")]


def test_enter_on_an_empty_input_accepts_the_suggestion(client, store):
    target = f"f:{TOTAL}"
    version = card(store, SHA_A, target).version
    response = post(client, item_path(SHA_A, target) + "/save", {"value": "", "version": str(version)})
    assert response.status_code == 200, response.text
    assert "Confirmed" in response.text
    assert card(store, SHA_A, target).current == "13"


def test_enter_without_a_suggestion_confirms_the_reading(client, store):
    target = f"f:{NATURAL}"
    version = card(store, SHA_A, target).version
    response = post(client, item_path(SHA_A, target) + "/confirm", {"version": str(version)})
    assert response.status_code == 200, response.text
    after = card(store, SHA_A, target)
    assert after.current == "3" and after.item.settled
    assert '<span class="done">settled</span></h1>' in client.get(item_path(SHA_A, target)).text


def test_stale_version_is_refused_with_409_and_the_card_stays(client, store):
    target = f"f:{TOTAL}"
    version = card(store, SHA_A, target).version
    assert post(client, item_path(SHA_A, target) + "/save", {"value": "13", "version": str(version)}).status_code == 200
    stale = post(client, item_path(SHA_A, target) + "/save", {"value": "14", "version": str(version)})
    assert stale.status_code == 409
    assert stale.headers.get("hx-retarget") == "#message"
    assert "reload" in stale.text.lower() and 'data-item=' not in stale.text
    assert card(store, SHA_A, target).current == "13"
    plain = post(client, item_path(SHA_A, target) + "/save", {"value": "14", "version": str(version)}, htmx=False)
    assert plain.status_code == 409 and 'data-item="f:' in plain.text and 'role="alert"' in plain.text


@pytest.mark.parametrize("bad", ["12a", "-3", "1.5", "<b>x</b>"])
def test_bad_value_is_refused_with_422(client, store, bad):
    target = f"f:{TOTAL}"
    before = card(store, SHA_A, target)
    response = post(client, item_path(SHA_A, target) + "/save", {"value": bad, "version": str(before.version)})
    assert response.status_code == 422
    assert response.headers.get("hx-retarget") == "#message"
    assert "<b>x</b>" not in response.text
    after = card(store, SHA_A, target)
    assert after.current == before.current and after.version == before.version


def test_blank_button_saves_a_blank(client, store):
    target = f"f:{NATURAL}"
    version = card(store, SHA_A, target).version
    response = post(client, item_path(SHA_A, target) + "/save",
                    {"value": "", "blank": "1", "version": str(version)})
    assert response.status_code == 200, response.text
    assert card(store, SHA_A, target).current in ("", None)


def test_undo_restores_the_reading_and_the_audit_keeps_both(client, store):
    target = f"f:{TOTAL}"
    version = card(store, SHA_A, target).version
    post(client, item_path(SHA_A, target) + "/save", {"value": "13", "version": str(version)})
    response = post(client, item_path(SHA_A, target) + "/undo", {})
    assert response.status_code == 200, response.text
    assert "Undone" in response.text and f'data-item="{target}"' in response.text
    assert re.search(r'<li class="constraint fails">.*总计 12 ≠', response.text)
    assert card(store, SHA_A, target).current == "12"
    rows = [(a.action, a.old, a.new) for a in audit(store, SHA_A) if a.target == target]
    assert rows == [("correct", "12", "13"), ("undo", "13", "12")]


def test_the_year_is_corrected_on_the_document_page_and_the_duplicate_goes(client, store):
    def duplicates(sha: str) -> list[str]:
        return [i.id for i in items(store, sha) if "duplicate_report" in i.reasons]

    assert duplicates(SHA_A) == [f"d:duplicate_report:{SHA_B}"]
    page = client.get(f"/doc/{SHA_B}")
    assert 'action="/doc/' + SHA_B + '/identity/year"' in page.text and AGENCY in page.text
    year = next(p for p in identity(store, SHA_B) if p.target == "identity:year")
    assert (year.read, year.current, year.version) == ("2023", "2023", 0)
    csrf = token(client, f"/doc/{SHA_B}")
    bad = post(client, f"/doc/{SHA_B}/identity/year", {"value": "20x3", "version": "0"}, htmx=False, csrf=csrf)
    assert bad.status_code == 422
    done = post(client, f"/doc/{SHA_B}/identity/year", {"value": "2022", "version": "0"}, htmx=False, csrf=csrf)
    assert done.status_code == 303 and done.headers["location"].endswith("?done=identity")
    assert duplicates(SHA_A) == [] and queue(store, year=2022).documents[0].sha256 == SHA_B
    stale = post(client, f"/doc/{SHA_B}/identity/year", {"value": "2021", "version": "0"}, htmx=False, csrf=csrf)
    assert stale.status_code == 409
    year = next(p for p in identity(store, SHA_B) if p.target == "identity:year")
    assert (year.current, year.corrected_by, year.version) == ("2022", "alice", 1)
    assert [(a.action, a.old, a.new) for a in audit(store, SHA_B) if a.target == "identity:year"] == [
        ("correct", "2023", "2022")]
    assert post(client, f"/doc/{SHA_B}/identity/sha", {"value": "x", "version": "0"}, htmx=False,
                csrf=csrf).status_code == 404


def test_accept_table_takes_every_suggestion(client, store):
    response = post(client, f"/doc/{SHA_A}/table/0/accept", {}, htmx=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/doc/{SHA_A}/table/0?done=accepted"
    assert card(store, SHA_A, f"f:{TOTAL}").current == "13"
    view = client.get(response.headers["location"]).text
    assert "Every open suggestion of this table was accepted." in view
    assert "Accept every suggestion of this table (0)" in view
    assert table_view(store, SHA_A, 0).open_suggestions == 0


def test_mark_source_inconsistent_and_unmark(client, store):
    back = f"/doc/{SHA_A}/table/0"
    response = post(client, f"/doc/{SHA_A}/constraint/0/inconsistent", {"on": "1", "back": back}, htmx=False)
    assert response.status_code == 303 and response.headers["location"] == back + "?done=marked"
    assert table_view(store, SHA_A, 0).constraints[0].status == "source_inconsistent"
    assert "Unmark source-inconsistent" in client.get(back).text
    off = post(client, f"/doc/{SHA_A}/constraint/0/inconsistent", {"on": "0", "back": "https://evil.example/"},
               htmx=False)
    assert off.headers["location"] == f"/doc/{SHA_A}?done=unmarked"  # never a redirect off this server
    assert table_view(store, SHA_A, 0).constraints[0].status == "fails"
    assert [a.action for a in audit(store, SHA_A)] == ["mark_source_inconsistent", "unmark_source_inconsistent"]


def status_of(store, sha: str) -> str:
    return next(d.status for d in queue(store).documents if d.sha256 == sha)


def test_settle_approve_and_reopen(client, store):
    refused = post(client, f"/doc/{SHA_A}/approve", {}, htmx=False)
    assert refused.status_code == 409 and "cannot be approved" in refused.text
    assert status_of(store, SHA_A) == "open"
    for item in items(store, SHA_A):  # the total comes last: accepting its suggestion makes the sum hold
        if item.kind == "document":
            r = post(client, item_path(SHA_A, item.id) + "/settle", {"back": f"/doc/{SHA_A}"}, htmx=False)
            assert r.status_code == 303 and r.headers["location"] == f"/doc/{SHA_A}?done=settled"
        else:
            c = card(store, SHA_A, item.id)
            r = post(client, item_path(SHA_A, item.id) + "/confirm", {"version": str(c.version)})
            assert r.status_code == 200, r.text
    # the action that settled the last item approved the document; the next document's first card follows
    assert status_of(store, SHA_A) == "approved"
    assert f'data-sha="{SHA_B}"' in r.text and "That document is <strong class=\"document-status\">approved" in r.text
    assert audit(store, SHA_A)[-1].action == "approve (automatic)"
    page = client.get(f"/doc/{SHA_A}").text
    assert "Reopen" in page and "<td>alice</td><td>approve (automatic)</td>" in page
    reopened = post(client, f"/doc/{SHA_A}/reopen", {}, htmx=False)
    assert reopened.status_code == 303 and reopened.headers["location"] == f"/doc/{SHA_A}?done=reopened"
    assert status_of(store, SHA_A) == "open"
    approved = post(client, f"/doc/{SHA_A}/approve", {}, htmx=False)  # all settled, the sum holds: by hand
    assert approved.status_code == 303 and status_of(store, SHA_A) == "approved"
    assert [a.action for a in audit(store, SHA_A)][-2:] == ["reopen", "approve"]
    assert "The document is approved." in client.get(approved.headers["location"]).text


# ---------------------------------------------------------------- refusals of the security gates


def test_post_without_csrf_is_refused(client, store):
    target = f"f:{TOTAL}"
    before = card(store, SHA_A, target)
    client.get("/")  # a session exists, the token is simply not sent
    response = client.post(item_path(SHA_A, target) + "/save", data={"value": "13", "version": str(before.version)},
                           headers=HX)
    assert response.status_code == 403
    wrong = client.post(item_path(SHA_A, target) + "/save", data={"value": "13", "version": str(before.version)},
                        headers={**HX, "X-CSRF-Token": "forged"})
    assert wrong.status_code == 403
    assert client.post(f"/doc/{SHA_A}/approve", follow_redirects=False).status_code == 403
    assert card(store, SHA_A, target).version == before.version


def test_foreign_host_is_refused(db_url):
    with TestClient(create_app(local_settings(db_url)), base_url="http://evil.example") as c:
        response = c.get("/")
        assert response.status_code == 400
        assert "evil.example" in response.text
        assert "first.pdf" not in response.text


def test_off_loopback_needs_sign_in_and_a_disabled_operator_is_refused(db_url):
    s = open_store(db_url, create=False)
    try:
        add_operator(s, "bob", "correct horse battery")
    finally:
        s.close()
    settings = ReviewSettings(db_url=db_url, host="0.0.0.0", secret_key=SECRET, allowed_hosts=("review.example",))
    with TestClient(create_app(settings), base_url="http://review.example") as c:
        anonymous = c.get("/", headers={"Accept": "text/html"}, follow_redirects=False)
        assert anonymous.status_code in (303, 401) and "first.pdf" not in anonymous.text
        assert c.get(item_path(SHA_A, f"f:{TOTAL}"), headers=HX).status_code == 401
        assert c.get("/image/1").status_code == 401
        login_token = token(c, "/login")
        bad = c.post("/login", data={"name": "bob", "password": "wrong", "csrf_token": login_token})
        assert bad.status_code == 401
        ok = c.post("/login", data={"name": "bob", "password": "correct horse battery", "csrf_token": login_token},
                    follow_redirects=False)
        assert ok.status_code == 303
        page = c.get("/")
        assert page.status_code == 200 and "first.pdf" in page.text and "bob" in page.text
        # an action is audited under the signed-in name
        s = open_store(db_url, create=False)
        try:
            version = card(s, SHA_A, f"f:{TOTAL}").version
            r = c.post(item_path(SHA_A, f"f:{TOTAL}") + "/save", data={"value": "13", "version": str(version)},
                       headers={**HX, "X-CSRF-Token": token(c)})
            assert r.status_code == 200, r.text
            assert audit(s, SHA_A)[-1].operator == "bob"
            disable_operator(s, "bob")
        finally:
            s.close()
        refused = c.get("/", headers={"Accept": "text/html"}, follow_redirects=False)
        assert refused.status_code in (303, 401) and "first.pdf" not in refused.text
