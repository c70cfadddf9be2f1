"""`reportscan ingest` writes the store; `reportscan export --db` reads it back with the corrections in force.

A committed sample is ingested through the command line twice (the second run must write nothing). The
export tests build their store from that record and correct it through the store's API: the truth they
check is the value the test itself wrote, never something the pipeline produced.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import SAMPLES

from ocr.model import Record

REPORTSCAN = [sys.executable, "-m", "flows.cli"]
SAMPLE = SAMPLES / "clean-s1-001.pdf"
OPERATOR = "alice"


def run(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*REPORTSCAN, *map(str, args)], capture_output=True, text=True, timeout=900, check=False,
                          env={**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", **(env or {})})


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[subprocess.CompletedProcess[str]]]:
    out = tmp_path_factory.mktemp("ingest") / "out"
    first = run("ingest", SAMPLE, "--out", out, "--workers", "1")
    first_summary = json.loads((out / "_summary.json").read_text())
    second = run("ingest", SAMPLE, "--out", out, "--workers", "1")
    (out / "_summary.first.json").write_text(json.dumps(first_summary))
    return out, [first, second]


def _record(out: Path) -> Record:
    return Record.model_validate_json((out / f"{SAMPLE.stem}.json").read_bytes())


def _count(store, table: str) -> int:
    import sqlalchemy as sa

    with store.engine.connect() as c:
        return int(c.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_ingest_writes_the_store_in_the_output_folder(ingested):
    from store.db import open_store
    from store.queue import items, page_image, queue, table_view

    out, (first, _) = ingested
    assert first.returncode == 0, first.stderr
    url = f"sqlite:///{out.resolve()}/reportscan.db"
    assert f"reportscan review --db {url}" in first.stderr
    summary = json.loads((out / "_summary.first.json").read_text())
    assert (summary["stored"], summary["already_stored"], summary["store_failed"]) == (1, 0, 0)
    assert summary["store"] == url
    record = _record(out)
    store = open_store(url, create=False)
    try:
        docs = queue(store).documents
        assert [d.sha256 for d in docs] == [record.sha256]
        open_items = [i for i in items(store, record.sha256) if not i.settled]
        assert summary["review_items"] == len(open_items) == docs[0].open_items
        assert summary["review_documents"] == (1 if open_items else 0)
        # every page holding a table has its snapshot, in record pixels through its scale
        table_pages = {t.page for t in record.tables}
        assert table_pages and _count(store, "snapshots") == len(table_pages)
        view = table_view(store, record.sha256, 0)
        assert view.image_id is not None and view.image_scale == pytest.approx(0.5)
        data, media_type = page_image(store, view.image_id)
        assert media_type == "image/jpeg"
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        assert img.ndim == 2 and (img.shape[1], img.shape[0]) == view.image_size
        assert len(list(store.images_dir.rglob("*.jpg"))) == len(table_pages)
    finally:
        store.close()


def test_reingest_duplicates_nothing(ingested):
    from store.db import open_store

    out, (_, second) = ingested
    assert second.returncode == 0, second.stderr
    summary = json.loads((out / "_summary.json").read_text())
    assert (summary["stored"], summary["already_stored"]) == (0, 1)
    record = _record(out)
    store = open_store(f"sqlite:///{out.resolve()}/reportscan.db", create=False)
    try:
        assert (_count(store, "documents"), _count(store, "readings")) == (1, 1)
        assert _count(store, "snapshots") == len({t.page for t in record.tables})
        assert _count(store, "cells") == sum(len(t.cells) for t in record.tables)
        assert len(list(store.images_dir.rglob("*.jpg"))) == len({t.page for t in record.tables})
    finally:
        store.close()


def _flagged_integer_field(record: Record) -> str:
    from ocr.template import load_templates

    types = {k: v for t in load_templates() for k, v in t.value_types.items()}
    return next(k for k, f in record.fields.items() if f.needs_review and types.get(k) == "integer")


def _fields_csv(to: Path) -> dict[tuple[str, str], dict[str, str]]:
    with (to / "fields.csv").open(encoding="utf-8-sig", newline="") as fh:
        return {(r["sha256"], r["field"]): r for r in csv.DictReader(fh) if r["field"]}


@pytest.fixture
def store_with_two(ingested, tmp_path):
    """The sample's record, and a re-scan of it (other bytes, so another sha256), in a fresh store."""
    from store.db import open_store
    from store.ingest import save_reading

    out, _ = ingested
    record = _record(out)
    rescan = record.model_copy(update={"sha256": "ab" * 32, "source": "rescan.pdf"})
    url = f"sqlite:///{tmp_path}/s.db"
    store = open_store(url, create=True)
    assert save_reading(store, record, {}).created and save_reading(store, rescan, {}).created
    yield url, store, record, rescan
    store.close()


def test_export_from_the_store_shows_the_correction_and_who_made_it(store_with_two, tmp_path):
    from store.corrections import correct
    from store.queue import card

    url, store, record, _ = store_with_two
    key = _flagged_integer_field(record)
    wanted = (record.fields[key].value or 0) + 4242
    version = card(store, record.sha256, f"f:{key}").version
    correct(store, record.sha256, f"f:{key}", str(wanted), OPERATOR, version)

    to = tmp_path / "x"
    r = run("export", "--db", url, "--format", "csv", "--to", to)
    assert r.returncode == 0, r.stderr
    rows = _fields_csv(to)
    got = rows[(record.sha256, key)]
    assert (got["value"], got["value_source"], got["corrected_by"]) == (str(wanted), "corrected", OPERATOR)
    assert got["text"] == record.fields[key].text  # what was read stays beside it
    for k, f in record.fields.items():
        if k != key:
            row = rows[(record.sha256, k)]
            assert row["value_source"] == ("repaired" if "repaired" in f.flags else "read") and not row["corrected_by"]
    with (to / "reports.csv").open(encoding="utf-8-sig", newline="") as fh:
        wide = {r["sha256"]: r for r in csv.DictReader(fh)}
    assert wide[record.sha256][key] == str(wanted)
    assert set(wide) == {record.sha256, "ab" * 32}


def _settle_everything(store, sha: str) -> None:
    """Work a document through as an operator would: confirm every cell, keep every document-level item,
    and mark a constraint the confirmed values still break as the source's own inconsistency."""
    from store.corrections import approve, confirm, mark_source_inconsistent, settle_item
    from store.queue import card, items, table_view

    for item in items(store, sha):
        if item.settled:
            continue
        if item.kind == "document":
            settle_item(store, sha, item.id, OPERATOR)
        else:
            confirm(store, sha, item.id, OPERATOR, card(store, sha, item.id).version)
    tables = {i.table for i in items(store, sha) if i.table is not None}
    for t in tables:
        for c in table_view(store, sha, t).constraints:
            if c.status in ("fails", "open"):
                mark_source_inconsistent(store, sha, c.index, OPERATOR)
    from store.queue import queue

    if next(d for d in queue(store).documents if d.sha256 == sha).status != "approved":
        approve(store, sha, OPERATOR)


def test_approved_only_exports_the_approved_documents_alone(store_with_two, tmp_path):
    url, store, record, rescan = store_with_two
    to = tmp_path / "x"
    r = run("export", "--db", url, "--approved-only", "--format", "jsonl", "--to", to)
    assert r.returncode == 1 and "no approved document" in r.stderr
    _settle_everything(store, record.sha256)
    r = run("export", "--db", url, "--approved-only", "--format", "jsonl", "--to", to)
    assert r.returncode == 0, r.stderr
    shas = {json.loads(line)["sha256"] for line in (to / "reports.jsonl").read_text().splitlines()}
    assert shas == {record.sha256}
    r = run("export", "--db", url, "--format", "jsonl", "--to", to)
    shas = {json.loads(line)["sha256"] for line in (to / "reports.jsonl").read_text().splitlines()}
    assert r.returncode == 0 and shas == {record.sha256, rescan.sha256}


def test_export_refuses_a_store_that_is_not_there(tmp_path):
    r = run("export", "--db", f"sqlite:///{tmp_path}/none.db", "--format", "csv", "--to", tmp_path / "x")
    assert r.returncode == 2 and "db upgrade" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "none.db").exists()


def test_a_store_that_fails_fails_its_document_only(ingested, tmp_path):
    """The store's images folder cannot be written: the record is still written, the summary says the
    document was not stored, and the run exits 1 instead of crashing."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "images").write_text("a file where the images folder should be")
    r = run("ingest", SAMPLE, "--out", out, "--workers", "1")
    assert r.returncode == 1, r.stderr
    assert (out / f"{SAMPLE.stem}.json").exists()
    summary = json.loads((out / "_summary.json").read_text())
    assert summary["store_failed"] == 1 and summary["stored"] == 0
    assert any("not stored" in f["reason"] for f in summary["failures"]) and "Traceback" not in r.stderr
    shutil.rmtree(out)


def test_ingest_into_postgresql_and_export_from_it(pg_url, tmp_path):
    """The same command line on PostgreSQL: stored once, images where --images says, exported back."""
    from store.db import open_store
    from store.queue import page_image, table_view

    out, images = tmp_path / "out", tmp_path / "images"
    r = run("ingest", SAMPLE, "--out", out, "--workers", "1", "--db", pg_url, "--images", images)
    assert r.returncode == 0, r.stderr
    assert "reportscan review --db postgresql" in r.stderr and not (out / "reportscan.db").exists()
    summary = json.loads((out / "_summary.json").read_text())
    assert summary["stored"] + summary["already_stored"] == 1 and summary["store_failed"] == 0
    record = _record(out)
    store = open_store(pg_url, images, create=False)
    try:
        view = table_view(store, record.sha256, 0)
        assert view.image_id is not None and page_image(store, view.image_id)[1] == "image/jpeg"
    finally:
        store.close()
    if summary["stored"]:
        assert len(list(images.rglob("*.jpg"))) == len({t.page for t in record.tables})
    r = run("export", "--db", pg_url, "--format", "jsonl", "--to", tmp_path / "x")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in (tmp_path / "x" / "fields.jsonl").read_text().splitlines()]
    mine = {row["field"]: row for row in rows if row["sha256"] == record.sha256 and row["field"]}
    assert mine.keys() == record.fields.keys()
    assert all(mine[k]["value_source"] in ("read", "repaired") for k in mine)
