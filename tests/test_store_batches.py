"""The store's record of batches (store/batches.py) on SQLite and PostgreSQL: migration 0002 from a 0001 store
with data in it, each function, record_file's idempotency (also two calls at once), dead batches marked
interrupted, rows of a killed batch superseded by the next batch's, and one-line StoreErrors.

The batch flow is not run here (tests/test_batch.py runs it): the calls are the ones it makes, in its order,
with hand-built records whose readings are really saved, so every reading id is known.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from pathlib import Path
from threading import Barrier

import psycopg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select

import store as S
from store import models as M
from tests.test_store import SHA_A, SHA_B, SHA_C, TOTAL, make_record, snapshot

ROOT = Path(__file__).resolve().parent.parent
INBOX, OTHER_INBOX = "/data/inbox", "/data/other-inbox"
VERSION, CONFIG = "0.1.0", "cfg1"  # what make_record's readings carry
_db_names = itertools.count()
_batch_ids = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path) -> str:
    """A URL to an empty store (no schema yet): a new SQLite file, or a new database on the session's cluster."""
    if request.param == "sqlite":
        return S.default_url(tmp_path)
    base = request.getfixturevalue("pg_url")
    name = f"batches_{os.getpid()}_{next(_db_names)}"
    with psycopg.connect(base.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return base.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
def store(url, tmp_path):
    opened = S.open_store(url, images_dir=tmp_path / "images")
    yield opened
    opened.close()


def new_id() -> str:
    return f"20261204T0200{next(_batch_ids):02d}Z-1a2b3c4d"


def start(st: S.Store, inbox: str = INBOX, batch_id: str | None = None) -> str:
    batch_id = batch_id or new_id()
    S.start_batch(st, batch_id, inbox, f"/data/out/batches/{batch_id}", VERSION, CONFIG)
    return batch_id


def file_rows(st: S.Store) -> int:
    with st.session() as session:
        return session.scalar(select(func.count()).select_from(M.BatchFile))


def revision(st: S.Store) -> str | None:
    with st.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


# ---------------------------------------------------------------- the schema


def test_a_new_store_is_at_head_and_its_schema_is_the_models(store):
    """open_store(create=True) of an empty store runs every migration; what they made is exactly what the
    models declare (Alembic's autogenerate finds nothing to add, drop or retype)."""
    head = S.head_revision()
    assert revision(store) == head and head is not None and head != "0001"
    with store.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                M.Base.metadata) == []
        tables = set(sa.inspect(connection).get_table_names())
    assert {"batches", "batch_files"} <= tables


def test_db_upgrade_brings_a_0001_store_with_data_to_head(url, tmp_path):
    """A store as the previous reportscan left it (schema 0001, a reading, an operator's correction) is refused
    until `reportscan db upgrade`, which keeps every row; a batch then links to the reading stored before."""
    S.upgrade(url, "0001")
    old = S.Store(url=url, images_dir=(tmp_path / "images").resolve(), engine=sa.create_engine(url))
    try:
        saved = S.save_reading(old, make_record(), {1: snapshot()})
        S.correct(old, SHA_A, f"f:{TOTAL}", "13", "ann", 0)
        with old.engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_revision() == "0001"
            assert "batches" not in sa.inspect(connection).get_table_names()
    finally:
        old.close()
    with pytest.raises(S.StoreError, match=rf"is at revision 0001, not {S.head_revision()}: run `reportscan db "):
        S.open_store(url, create=False)

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([str(Path(sys.executable).parent / "reportscan"), "db", "upgrade", "--db", url],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "at the newest schema" in done.stdout

    st = S.open_store(url, create=False)
    try:
        assert revision(st) == S.head_revision()
        assert st.images_dir == (tmp_path / "images").resolve()  # the folder recorded at 0001 is still found
        (effective,) = S.effective_records(st)
        assert effective.record.fields[TOTAL].value == 13  # the correction, kept
        assert effective.sources[TOTAL].source == "corrected"
        assert [d.sha256 for d in S.queue(st).documents] == [SHA_A]
        batch = start(st)
        assert S.record_file(st, batch, "a.pdf", "skipped", "read before", None, SHA_A, "/data/done/a.pdf") \
            == saved.reading_id
    finally:
        st.close()


# ---------------------------------------------------------------- one batch


def test_a_batch_start_to_finish(store):
    saved = S.save_reading(store, make_record(SHA_A), {})
    S.save_reading(store, make_record(SHA_B, config="another config"), {})  # not this batch's config
    batch = start(store)
    (row,) = S.batches(store)
    assert (row.id, row.inbox, row.state, row.finished_at, row.counts, row.recorded) == (
        batch, INBOX, "running", None, S.BatchCounts(), {})
    assert (row.reportscan_version, row.config_hash, row.records) == (VERSION, CONFIG, f"/data/out/batches/{batch}")
    assert row.started_at.tzinfo == UTC

    # in the flow's order: refused entries, then hashed files, each just before its move
    assert S.record_file(store, batch, "sub/link.pdf", "refused", "a symbolic link (-> /etc/passwd)", "scan",
                         None, "/data/failed/sub/link.pdf") is None
    assert S.record_file(store, batch, "a.pdf", "read", None, None, SHA_A, "/data/done/a.pdf") == saved.reading_id
    assert S.record_file(store, batch, "b.pdf", "failed", "no record was made", "read", SHA_B,
                         "/data/failed/b.pdf") is None  # B's reading is by another config
    assert S.record_file(store, batch, "copy of a.pdf", "skipped", "the same document as a.pdf", None, SHA_A,
                         "/data/done/copy of a.pdf") == saved.reading_id
    counts = S.BatchCounts(files=4, read=1, skipped=1, failed=2, pages=1, tables=1, fields=8,
                           fields_needing_review=1, review_items=4)
    S.finish_batch(store, batch, counts, "failed")

    (row,) = S.batches(store)
    assert (row.state, row.counts) == ("failed", counts)
    assert row.recorded == {"read": 1, "skipped": 1, "failed": 1, "refused": 1}
    assert row.finished_at is not None and row.finished_at >= row.started_at and row.finished_at.tzinfo == UTC
    files = S.batch_files(store, batch)
    assert [(f.name, f.outcome, f.stage, f.sha256, f.reading_id, f.superseded_by) for f in files] == [
        ("sub/link.pdf", "refused", "scan", None, None, None),
        ("a.pdf", "read", None, SHA_A, saved.reading_id, None),
        ("b.pdf", "failed", "read", SHA_B, None, None),
        ("copy of a.pdf", "skipped", None, SHA_A, saved.reading_id, None)]
    assert files[0].reason == "a symbolic link (-> /etc/passwd)" and files[0].moved_to == "/data/failed/sub/link.pdf"
    assert {(f.batch_id, f.inbox, f.batch_state) for f in files} == {(batch, INBOX, "failed")}
    assert all(row.started_at <= f.at <= row.finished_at for f in files)


def test_batches_newest_first_by_inbox_with_a_limit(store):
    first, second = start(store), start(store, OTHER_INBOX)
    S.finish_batch(store, second, S.BatchCounts(files=2, read=2))
    third = start(store)
    assert [b.id for b in S.batches(store)] == [third, second, first]
    assert [b.id for b in S.batches(store, limit=2)] == [third, second]
    assert [b.id for b in S.batches(store, inbox=INBOX)] == [third, first]
    assert [(b.id, b.state) for b in S.batches(store, inbox=OTHER_INBOX)] == [(second, "completed")]
    assert S.batches(store, limit=0) == []


# ---------------------------------------------------------------- idempotency


def test_record_file_again_replaces_its_row(store):
    """The same call retried writes nothing new; a call after a failed move (what happened instead) replaces
    the intended destination. Either way one row per (batch, name)."""
    saved = S.save_reading(store, make_record(), {})
    batch = start(store)
    for _ in range(2):
        S.record_file(store, batch, "a.pdf", "read", None, None, SHA_A, "/data/done/a.pdf")
    assert file_rows(store) == 1
    S.record_file(store, batch, "a.pdf", "failed", "not moved out of the inbox (Permission denied)", "move", SHA_A,
                  None)
    (row,) = S.batch_files(store, batch)
    assert (row.outcome, row.reason, row.stage, row.moved_to, row.reading_id) == (
        "failed", "not moved out of the inbox (Permission denied)", "move", None, saved.reading_id)
    other = start(store, OTHER_INBOX)  # the same name in another batch is another row
    S.record_file(store, other, "a.pdf", "skipped", None, None, SHA_A, "/data/done/a.pdf")
    assert file_rows(store) == 2


def test_two_record_file_calls_at_once_leave_one_row(store):
    batch = start(store)
    go = Barrier(4)

    def record(n: int) -> None:
        go.wait()
        S.record_file(store, batch, "a.pdf", "failed", f"attempt {n}", "read", SHA_A, f"/data/failed/a.{n}.pdf")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(record, range(4)))  # none raises: the upsert is atomic
    (row,) = S.batch_files(store, batch)
    n = int(row.reason.split()[-1])  # the last writer's row, whole (not a mix of two calls)
    assert row.moved_to == f"/data/failed/a.{n}.pdf"


def test_start_batch_retried_and_reused_ids(store):
    batch = start(store)
    assert S.start_batch(store, batch, INBOX, "/elsewhere", VERSION, CONFIG) == ()  # a retry: nothing new
    assert len(S.batches(store)) == 1 and S.batches(store)[0].state == "running"
    with pytest.raises(S.Conflict, match=rf"batch {batch} is in the store already \(running, inbox {INBOX}\)"):
        S.start_batch(store, batch, OTHER_INBOX, "/x", VERSION, CONFIG)
    S.finish_batch(store, batch, S.BatchCounts())
    with pytest.raises(S.Conflict, match="completed"):
        S.start_batch(store, batch, INBOX, "/x", VERSION, CONFIG)
    S.finish_batch(store, batch, S.BatchCounts(files=1))  # a retried finish writes the same again
    assert S.batches(store)[0].counts.files == 1


# ---------------------------------------------------------------- killed batches


def test_a_later_batch_on_the_inbox_marks_dead_ones_interrupted(store):
    dead, elsewhere = start(store), start(store, OTHER_INBOX)
    S.record_file(store, dead, "a.pdf", "read", None, None, SHA_A, "/data/done/a.pdf")
    also_dead = start(store, batch_id=new_id())
    assert S.batches(store, inbox=INBOX)[1].state == "interrupted"  # the first, when the second started
    assert S.start_batch(store, new_id(), INBOX, "/data/out/batches/x", VERSION, CONFIG) == (also_dead,)
    states = {b.id: (b.state, b.finished_at) for b in S.batches(store)}
    assert states[dead] == ("interrupted", None) and states[also_dead] == ("interrupted", None)
    assert states[elsewhere] == ("running", None)  # another inbox's batch is not touched
    assert S.batches(store, inbox=INBOX)[-1].recorded == {"read": 1}  # an interrupted batch keeps its rows
    with pytest.raises(S.Conflict, match=rf"batch {dead} is interrupted: a.pdf cannot be recorded"):
        S.record_file(store, dead, "a.pdf", "read", None, None, SHA_A, "/data/done/a.pdf")


def test_file_history_across_batches_and_rows_a_later_batch_supersedes(store):
    """Batch 1 records a.pdf and is killed before its move; its copy.pdf was moved, its link was recorded but not
    moved. Batch 2 finds a.pdf and the link still in the inbox, and a new file named copy.pdf (other bytes)."""
    saved = S.save_reading(store, make_record(SHA_A), {})
    one = start(store)
    S.record_file(store, one, "copy.pdf", "skipped", "read before", None, SHA_A, "/data/done/copy.pdf")
    S.record_file(store, one, "link.pdf", "refused", "a symbolic link", "scan", None, "/data/failed/link.pdf")
    S.record_file(store, one, "a.pdf", "skipped", "read before", None, SHA_A, "/data/done/a.pdf")
    elsewhere = start(store, OTHER_INBOX)  # the same name and bytes in another inbox supersedes nothing
    S.record_file(store, elsewhere, "a.pdf", "skipped", "read before", None, SHA_A, "/data/done/a.pdf")
    two = start(store)
    S.record_file(store, two, "link.pdf", "refused", "a symbolic link", "scan", None, "/data/failed/link.1.pdf")
    S.record_file(store, two, "a.pdf", "skipped", "read before", None, SHA_A, "/data/done/a.1.pdf")
    S.record_file(store, two, "copy.pdf", "failed", "no record was made", "read", SHA_C, "/data/failed/copy.pdf")
    S.finish_batch(store, two, S.BatchCounts(files=3, skipped=1, failed=2), "failed")

    history = S.file_history(store, SHA_A)
    assert [(h.batch_id, h.name, h.batch_state, h.moved_to, h.reading_id, h.superseded_by) for h in history] == [
        (one, "copy.pdf", "interrupted", "/data/done/copy.pdf", saved.reading_id, None),
        (one, "a.pdf", "interrupted", "/data/done/a.pdf", saved.reading_id, two),
        (elsewhere, "a.pdf", "running", "/data/done/a.pdf", saved.reading_id, None),
        (two, "a.pdf", "failed", "/data/done/a.1.pdf", saved.reading_id, None)]
    assert {h.inbox for h in history} == {INBOX, OTHER_INBOX}
    assert [(f.name, f.superseded_by) for f in S.batch_files(store, one)] == [
        ("copy.pdf", None), ("link.pdf", two), ("a.pdf", two)]
    assert all(f.superseded_by is None for f in S.batch_files(store, two))  # a finished batch's rows are final
    assert [(h.batch_id, h.name, h.outcome) for h in S.file_history(store, SHA_C)] == [(two, "copy.pdf", "failed")]
    assert S.file_history(store, SHA_B) == []


def test_a_deleted_document_leaves_its_batch_rows(store):
    saved = S.save_reading(store, make_record(), {})
    batch = start(store)
    S.record_file(store, batch, "a.pdf", "read", None, None, SHA_A, "/data/done/a.pdf")
    with store.session(write=True) as session:
        session.execute(sa.delete(M.Document).where(M.Document.id == saved.document_id))
    (row,) = S.batch_files(store, batch)
    assert (row.name, row.sha256, row.reading_id) == ("a.pdf", SHA_A, None)


# ---------------------------------------------------------------- errors


def _one_line(exc: pytest.ExceptionInfo[S.StoreError]) -> str:
    text = str(exc.value)
    assert "\n" not in text and isinstance(exc.value, S.StoreError)
    return text


def test_errors_are_one_line_store_errors(store):
    with pytest.raises(S.NotFound) as err:
        S.record_file(store, "no-such-batch", "a.pdf", "read", None, None, SHA_A, "/d/a.pdf")
    assert _one_line(err) == "no batch no-such-batch in the store"
    with pytest.raises(S.NotFound):
        S.finish_batch(store, "no-such-batch", S.BatchCounts())
    with pytest.raises(S.NotFound):
        S.batch_files(store, "no-such-batch")
    batch = start(store)
    with pytest.raises(S.InvalidValue) as err:
        S.record_file(store, batch, "a.pdf", "moved", None, None, SHA_A, "/d/a.pdf")
    assert "outcome 'moved' is not one of read, skipped, failed, refused" in _one_line(err)
    with pytest.raises(S.InvalidValue):
        S.record_file(store, batch, "", "read", None, None, SHA_A, "/d/a.pdf")
    with pytest.raises(S.InvalidValue) as err:
        S.finish_batch(store, batch, S.BatchCounts(), "interrupted")
    assert "a batch finishes completed or failed, not 'interrupted'" in _one_line(err)
    with pytest.raises(S.InvalidValue):
        S.start_batch(store, "", INBOX, "/x", VERSION, CONFIG)
    S.finish_batch(store, batch, S.BatchCounts())
    with pytest.raises(S.Conflict) as err:
        S.record_file(store, batch, "late.pdf", "read", None, None, SHA_A, "/d/late.pdf")
    assert _one_line(err) == f"batch {batch} is completed: late.pdf cannot be recorded in it any more"
    assert file_rows(store) == 0  # nothing refused was written

    # a database error (here: the table gone) is one line naming what was done and the store, never a traceback
    other = start(store)
    with store.session(write=True) as session:
        session.execute(sa.text("DROP TABLE batch_files"))
    with pytest.raises(S.StoreError) as err:
        S.record_file(store, other, "a.pdf", "read", None, None, SHA_A, "/d/a.pdf")
    text = _one_line(err)
    assert text.startswith(f"cannot record a.pdf of batch {other} in the store {S.safe_url(store.url)}: ")
    assert "batch_files" in text and len(text) < 500
