"""Batches over an inbox in the store: each batch from its start, and what it did with each file.

A batch flow calls, in this order: `start_batch` (before it touches a file), `record_file` for each entry
of the inbox just BEFORE it moves that entry (then again if the move fails, with what happened instead),
and `finish_batch` with its summary counts. Everything is read back by `batches`, `batch_files` and
`file_history` ("why was this document skipped?").

Why rows are written before the move, and what that makes them mean:

- A batch killed between `record_file` and its move leaves the file in the inbox and a row saying where it
  was to go. `moved_to` is therefore the destination the batch chose, not a proof the file is there.
- The next batch on that inbox settles the file again, in a row of its own (each batch has its own rows:
  history is never rewritten). A row of a batch that did not finish is `superseded_by` the first later
  batch on the same inbox with a row for the same name and the same bytes: that later row is what happened
  to the file. A row of a batch that finished is final: the flow wrote it again if the move failed.
- A batch that never finished stays `running` until a later batch on the same inbox starts: a run holds
  the inbox's OS lock, so a `running` batch on it then is a dead one, and `start_batch` marks it
  `interrupted` (with no `finished_at`: nobody knows when it died).

`record_file` is idempotent on (batch, name): a retried call, or the call after a failed move, replaces
the row (one atomic upsert), never adds a second one. Every function is one short transaction; a store
error is a StoreError with a one-line message naming the batch and the store.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, aliased

from store.db import Conflict, InvalidValue, NotFound, Store, StoreError, _one_line, safe_url
from store.models import Batch, BatchFile, Document, Reading, now

BatchState = Literal["running", "completed", "failed", "interrupted"]
FileOutcomeKind = Literal["read", "skipped", "failed", "refused"]
FINISHED: tuple[BatchState, ...] = ("completed", "failed")
OUTCOMES: tuple[str, ...] = get_args(FileOutcomeKind)


@dataclass(frozen=True)
class BatchCounts:
    """A batch's summary as the flow counts it (its BatchSummary's numbers); `failed` counts refused too."""

    files: int = 0
    read: int = 0
    skipped: int = 0
    failed: int = 0
    pages: int = 0
    tables: int = 0
    fields: int = 0
    fields_needing_review: int = 0
    review_items: int = 0  # open items in the whole store's review queue when the batch finished


@dataclass(frozen=True)
class BatchRow:
    """One batch as the store has it. `counts` are what `finish_batch` wrote (zeros for a batch that did
    not finish); `recorded` counts its file rows by outcome, which an interrupted batch has too."""

    id: str
    inbox: str
    records: str
    reportscan_version: str
    config_hash: str
    started_at: datetime
    finished_at: datetime | None
    state: BatchState
    counts: BatchCounts
    recorded: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchFileRow:
    """What one batch did with one inbox entry. `moved_to`: where the batch sent it (see the module: for
    a batch that did not finish, maybe never reached); `reading_id`: the reading the store held for its
    bytes by the batch's version and config when the row was written; `superseded_by`: the later batch
    whose row for the same file tells what became of it, when this row's batch did not finish."""

    batch_id: str
    inbox: str
    batch_state: BatchState
    name: str
    outcome: FileOutcomeKind
    reason: str | None
    stage: str | None
    sha256: str | None
    moved_to: str | None
    at: datetime
    reading_id: int | None
    superseded_by: str | None = None


# ---------------------------------------------------------------- transactions and errors


@contextmanager
def _transaction(store: Store, doing: str, *, write: bool) -> Iterator[Session]:
    """One transaction; a database error becomes one line naming what was being done and the store."""
    try:
        with store.session(write=write) as session:
            yield session
    except StoreError:
        raise
    except SQLAlchemyError as exc:
        raise StoreError(f"{doing} in the store {safe_url(store.url)}: {_one_line(exc)}") from exc


def _batch(session: Session, batch_id: str, *, lock: bool = False, share: bool = False) -> Batch:
    query = select(Batch).where(Batch.id == batch_id)
    if lock or share:
        query = query.with_for_update(read=share and not lock)
    found = session.scalars(query).first()
    if found is None:
        raise NotFound(f"no batch {batch_id} in the store")
    return found


def _counts(b: Batch) -> BatchCounts:
    return BatchCounts(files=b.files, read=b.read, skipped=b.skipped, failed=b.failed, pages=b.pages,
                       tables=b.tables, fields=b.fields, fields_needing_review=b.fields_needing_review,
                       review_items=b.review_items)


def _row(b: Batch, recorded: dict[str, int] | None = None) -> BatchRow:
    return BatchRow(id=b.id, inbox=b.inbox, records=b.records, reportscan_version=b.reportscan_version,
                    config_hash=b.config_hash, started_at=b.started_at, finished_at=b.finished_at,
                    state=b.state, counts=_counts(b), recorded=dict(recorded or {}))  # type: ignore[arg-type]


# ---------------------------------------------------------------- writing


def start_batch(store: Store, batch_id: str, inbox: str, records: str, version: str, config: str) -> tuple[str, ...]:
    """Record a batch as running, and mark every other batch still `running` on the same inbox
    `interrupted` (the caller holds the inbox's lock: those died). Returns their ids, oldest first.

    A retried call for the same batch (same inbox) records nothing new; the same id on another inbox, or
    for a batch that already finished, is a Conflict.
    """
    if not batch_id or not inbox:
        raise InvalidValue(f"batch {batch_id!r} on inbox {inbox!r}: a batch needs an id and an inbox")
    with _transaction(store, f"cannot start batch {batch_id}", write=True) as session:
        found = session.scalars(select(Batch).where(Batch.id == batch_id).with_for_update()).first()
        if found is not None and (found.inbox != inbox or found.state != "running"):
            raise Conflict(f"batch {batch_id} is in the store already ({found.state}, inbox {found.inbox})")
        dead = session.scalars(select(Batch.id).where(Batch.inbox == inbox, Batch.state == "running",
                                                      Batch.id != batch_id)
                               .order_by(Batch.started_at, Batch.id)).all()
        if dead:
            session.execute(update(Batch).where(Batch.id.in_(dead), Batch.state == "running")
                            .values(state="interrupted"))
        if found is None:
            session.add(Batch(id=batch_id, inbox=inbox, records=records, reportscan_version=version,
                              config_hash=config, started_at=now(), finished_at=None, state="running"))
        return tuple(dead)


def _upsert(session: Session, values: dict[str, Any]) -> None:
    """INSERT … ON CONFLICT (batch_id, name) DO UPDATE: atomic on both databases, so two calls at once
    for one file leave one row (the later call's), never an integrity error."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(BatchFile).values(**values)
    changed = {k: stmt.excluded[k] for k in values if k not in ("batch_id", "name")}
    session.execute(stmt.on_conflict_do_update(index_elements=["batch_id", "name"], set_=changed))


def record_file(store: Store, batch_id: str, name: str, outcome: FileOutcomeKind | str, reason: str | None,
                stage: str | None, sha256: str | None, moved_to: str | None) -> int | None:
    """Record (or replace) what batch `batch_id` does with inbox entry `name`; call it just before the
    move, `moved_to` being the destination. Returns the reading the row points at: the store's reading
    of `sha256` by the batch's version and config, or None.

    Refused: an outcome not in OUTCOMES (InvalidValue), an unknown batch (NotFound), a batch no longer
    running (Conflict: its rows are final, or it was found dead).
    """
    if outcome not in OUTCOMES:
        raise InvalidValue(f"batch {batch_id}, {name}: outcome {outcome!r} is not one of {', '.join(OUTCOMES)}")
    if not name:
        raise InvalidValue(f"batch {batch_id}: a file needs its name in the inbox")
    with _transaction(store, f"cannot record {name} of batch {batch_id}", write=True) as session:
        b = _batch(session, batch_id, share=True)  # FOR SHARE: finish_batch waits for rows being written
        if b.state != "running":
            raise Conflict(f"batch {batch_id} is {b.state}: {name} cannot be recorded in it any more")
        reading_id = None
        if sha256 is not None:
            reading_id = session.scalars(select(Reading.id).join(Document, Reading.document_id == Document.id)
                                         .where(Document.sha256 == sha256,
                                                Reading.reportscan_version == b.reportscan_version,
                                                Reading.config_hash == b.config_hash)).first()
        _upsert(session, {"batch_id": batch_id, "name": name, "outcome": outcome, "reason": reason,
                          "stage": stage, "sha256": sha256, "moved_to": moved_to, "at": now(),
                          "reading_id": reading_id})
        return reading_id


def finish_batch(store: Store, batch_id: str, counts: BatchCounts, state: BatchState | str = "completed") -> None:
    """Write a batch's summary and end it `completed` or `failed` (any failed file). A retried call
    writes the same again. A batch marked interrupted that does finish after all (it was not dead: two
    runs on one inbox without the lock) is recorded as it ended: its rows are then the truth."""
    if state not in FINISHED:
        raise InvalidValue(f"batch {batch_id}: a batch finishes {' or '.join(FINISHED)}, not {state!r}")
    with _transaction(store, f"cannot finish batch {batch_id}", write=True) as session:
        b = _batch(session, batch_id, lock=True)
        for name, value in asdict(counts).items():
            setattr(b, name, value)
        b.state = state
        b.finished_at = now()


# ---------------------------------------------------------------- reading


def _recorded(session: Session, ids: Sequence[str]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(dict)
    if ids:
        for batch_id, outcome, n in session.execute(
                select(BatchFile.batch_id, BatchFile.outcome, func.count())
                .where(BatchFile.batch_id.in_(list(ids))).group_by(BatchFile.batch_id, BatchFile.outcome)):
            out[batch_id][outcome] = n
    return out


def batches(store: Store, limit: int = 20, *, inbox: str | None = None) -> list[BatchRow]:
    """The newest `limit` batches (of `inbox` only, when given), newest first, with their counts."""
    with _transaction(store, "cannot list the batches", write=False) as session:
        query = select(Batch).order_by(Batch.started_at.desc(), Batch.id.desc()).limit(max(0, limit))
        if inbox is not None:
            query = query.where(Batch.inbox == inbox)
        found = session.scalars(query).all()
        recorded = _recorded(session, [b.id for b in found])
        return [_row(b, recorded.get(b.id)) for b in found]


def _file_row(f: BatchFile, b: Batch, superseded_by: str | None) -> BatchFileRow:
    return BatchFileRow(batch_id=b.id, inbox=b.inbox, batch_state=b.state, name=f.name,  # type: ignore[arg-type]
                        outcome=f.outcome, reason=f.reason, stage=f.stage, sha256=f.sha256,  # type: ignore[arg-type]
                        moved_to=f.moved_to, at=f.at, reading_id=f.reading_id, superseded_by=superseded_by)


def _same_file(earlier_sha: str | None, later_sha: str | None) -> bool:
    """A later row is about the same file when it has the same bytes; an entry with no sha256 (a link, a
    fifo, a file that could not be read) is known by its name alone."""
    return earlier_sha is None or earlier_sha == later_sha


def batch_files(store: Store, batch_id: str) -> list[BatchFileRow]:
    """Every file row of one batch, in the order they were written (NotFound for an unknown batch)."""
    with _transaction(store, f"cannot read batch {batch_id}", write=False) as session:
        b = _batch(session, batch_id)
        rows = session.scalars(select(BatchFile).where(BatchFile.batch_id == batch_id)
                               .order_by(BatchFile.at, BatchFile.id)).all()
        later: dict[str, str] = {}
        if b.state not in FINISHED and rows:
            # the first later batch on this inbox with a row for the same name and bytes
            mine, theirs, other = aliased(BatchFile), aliased(BatchFile), aliased(Batch)
            found = session.execute(
                select(mine.name, mine.sha256, theirs.sha256, other.id)
                .join(theirs, theirs.name == mine.name).join(other, other.id == theirs.batch_id)
                .where(mine.batch_id == b.id, other.inbox == b.inbox, other.id != b.id,
                       (other.started_at > b.started_at)
                       | ((other.started_at == b.started_at) & (other.id > b.id)))
                .order_by(other.started_at, other.id))
            for name, sha, their_sha, other_id in found:
                if name not in later and _same_file(sha, their_sha):
                    later[name] = other_id
        return [_file_row(f, b, later.get(f.name)) for f in rows]


def file_history(store: Store, sha256: str) -> list[BatchFileRow]:
    """Every batch's row for a document's bytes, oldest batch first, under any name: why a file was
    skipped (an earlier batch read it, its `reading_id`), where each copy went, and which rows of killed
    batches a later batch superseded."""
    with _transaction(store, f"cannot read the history of {sha256}", write=False) as session:
        found = session.execute(select(BatchFile, Batch).join(Batch, Batch.id == BatchFile.batch_id)
                                .where(BatchFile.sha256 == sha256)
                                .order_by(Batch.started_at, Batch.id, BatchFile.at, BatchFile.id)).all()
        out: list[BatchFileRow] = []
        for n, (f, b) in enumerate(found):
            superseded_by = None
            if b.state not in FINISHED:
                superseded_by = next((b2.id for f2, b2 in found[n + 1:]
                                      if b2.id != b.id and b2.inbox == b.inbox and f2.name == f.name), None)
            out.append(_file_row(f, b, superseded_by))
        return out


__all__ = [
    "FINISHED", "OUTCOMES", "BatchCounts", "BatchFileRow", "BatchRow", "BatchState", "FileOutcomeKind",
    "batch_files", "batches", "file_history", "finish_batch", "record_file", "start_batch",
]
