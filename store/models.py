"""The store's tables: every reading the pipeline made, and beside them what operators did to it.

Machine output (readings and what hangs off them) and operator work (corrections, settlements, marks,
approval) are separate tables joined by the document's sha256 (through `documents.id`), so a new reading
never overwrites a correction: ingest writes the first group only, the review page the second only.

A third group, `batches` and `batch_files` (migration 0002), is what each batch over an inbox did with each
file: written by the batch flow through `store.batches`, pointing at readings, never changing them.

Values are kept as text (`""` for blank is never stored: a field without a number is NULL) and parsed with
the field's value type when used, so a decimal amount never passes through a float.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on both databases: SQLite keeps no zone, so one is put back on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use datetime.now(UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


# ---------------------------------------------------------------- documents and the machine's readings


class Document(Base):
    """One input file by its bytes. `agency`/`year` are the ones in force (a correction wins) for the queue."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(Text)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    # no foreign key: readings point at documents, and a cycle would need ALTER TABLE, which SQLite lacks
    current_reading_id: Mapped[int | None] = mapped_column(Integer, index=True)
    agency: Mapped[str | None] = mapped_column(Text)
    year: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(16), default="open")
    approved_by: Mapped[str | None] = mapped_column(Text)
    approved_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_documents_queue", "status", "first_seen"),
                      Index("ix_documents_identity", "agency", "year"))


class Reading(Base):
    """One pass of the pipeline over a document: identified by reportscan version and config hash."""

    __tablename__ = "readings"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    reportscan_version: Mapped[str] = mapped_column(String(64))
    config_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(Text)
    template: Mapped[str | None] = mapped_column(Text)
    agency: Mapped[str | None] = mapped_column(Text)
    year: Mapped[int | None]
    agency_confidence: Mapped[float | None] = mapped_column(Float)
    year_confidence: Mapped[float | None] = mapped_column(Float)
    record: Mapped[dict[str, Any]]  # the whole Record as JSON: export rebuilds it from this

    __table_args__ = (UniqueConstraint("document_id", "reportscan_version", "config_hash",
                                       name="uq_readings_identity"),)


class Snapshot(Base):
    """A page image file under the images folder, content-addressed so two readings share one file."""

    __tablename__ = "snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    media_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int]  # bytes
    width: Mapped[int]
    height: Mapped[int]
    scale: Mapped[float] = mapped_column(Float)  # image px = record px * scale
    file_name: Mapped[str] = mapped_column(Text)  # relative to the images folder


class Page(Base):
    __tablename__ = "pages"

    id: Mapped[int] = mapped_column(primary_key=True)
    reading_id: Mapped[int] = mapped_column(ForeignKey("readings.id", ondelete="CASCADE"))
    number: Mapped[int]
    rotation: Mapped[int]
    skew: Mapped[float] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    width: Mapped[int | None]  # record px, from the snapshot when there is one
    height: Mapped[int | None]
    snapshot_id: Mapped[int | None] = mapped_column(ForeignKey("snapshots.id"))

    __table_args__ = (UniqueConstraint("reading_id", "number", name="uq_pages_number"),)


class ReadTable(Base):
    __tablename__ = "read_tables"

    id: Mapped[int] = mapped_column(primary_key=True)
    reading_id: Mapped[int] = mapped_column(ForeignKey("readings.id", ondelete="CASCADE"))
    index: Mapped[int]
    page: Mapped[int]
    bbox: Mapped[list[Any]]
    template_table: Mapped[str | None] = mapped_column(Text)
    template_short: Mapped[str | None] = mapped_column(Text)
    continued_from: Mapped[int | None]
    n_rows: Mapped[int]
    n_cols: Mapped[int]

    __table_args__ = (UniqueConstraint("reading_id", "index", name="uq_read_tables_index"),)


class ReadCell(Base):
    __tablename__ = "cells"

    id: Mapped[int] = mapped_column(primary_key=True)
    reading_id: Mapped[int] = mapped_column(ForeignKey("readings.id", ondelete="CASCADE"))
    table_index: Mapped[int]
    page: Mapped[int]
    row: Mapped[int]
    col: Mapped[int]
    row_span: Mapped[int]
    col_span: Mapped[int]
    bbox: Mapped[list[Any]]
    text: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float] = mapped_column(Float)
    needs_review: Mapped[bool] = mapped_column(Boolean)
    flags: Mapped[list[Any]]
    kind: Mapped[str] = mapped_column(String(16))
    field_key: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_cells_table", "reading_id", "table_index"),)


class ReadField(Base):
    """A template field as read, with the template's words for it kept at ingest so a card needs no YAML."""

    __tablename__ = "fields"

    id: Mapped[int] = mapped_column(primary_key=True)
    reading_id: Mapped[int] = mapped_column(ForeignKey("readings.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(Text)
    value_type: Mapped[str | None] = mapped_column(String(16))
    value: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float] = mapped_column(Float)
    needs_review: Mapped[bool] = mapped_column(Boolean)
    flags: Mapped[list[Any]]
    reasons: Mapped[list[Any]]
    suggestion: Mapped[str | None] = mapped_column(Text)
    page: Mapped[int | None]
    table_index: Mapped[int | None]
    row: Mapped[int | None]
    col: Mapped[int | None]
    bbox: Mapped[list[Any] | None] = mapped_column(JSON)
    constraints: Mapped[list[Any]]
    label: Mapped[str | None] = mapped_column(Text)  # the template's short words, as constraint texts name it
    row_label: Mapped[str | None] = mapped_column(Text)
    col_label: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("reading_id", "key", name="uq_fields_key"),
                      Index("ix_fields_table", "reading_id", "table_index"))


class ReadConstraint(Base):
    __tablename__ = "constraints"

    id: Mapped[int] = mapped_column(primary_key=True)
    reading_id: Mapped[int] = mapped_column(ForeignKey("readings.id", ondelete="CASCADE"))
    index: Mapped[int]
    name: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    lhs: Mapped[list[Any]]
    rhs: Mapped[list[Any]]
    labels: Mapped[dict[str, Any]]  # field key -> printed words, for the keys no field of the record has
    text: Mapped[str] = mapped_column(Text)
    tables: Mapped[list[Any]]  # record table indexes its fields stand in

    __table_args__ = (UniqueConstraint("reading_id", "index", name="uq_constraints_index"),)


class ReadItem(Base):
    """A piece of work for an operator, computed once at ingest so the queue is one indexed query.

    `reasons_text` is the reasons wrapped in spaces (" low_confidence suggested "): a LIKE filters by one
    reason on both databases without JSON operators.
    """

    __tablename__ = "items"

    id: Mapped[int] = mapped_column(primary_key=True)
    reading_id: Mapped[int] = mapped_column(ForeignKey("readings.id", ondelete="CASCADE"))
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    ordinal: Mapped[int]  # reading order: document items first, then (page, table, row, col)
    item_id: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[list[Any]]
    reasons_text: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    table_index: Mapped[int | None]
    page: Mapped[int | None]

    __table_args__ = (UniqueConstraint("reading_id", "item_id", name="uq_items_item"),
                      Index("ix_items_reading", "reading_id", "ordinal"))


# ---------------------------------------------------------------- what operators did


class Correction(Base):
    """One operator value for a target ("f:<key>", "c:<page>:<table>:<row>:<col>", "identity:agency|year").

    Rows are never deleted: the latest active row is in force; undo clears `active` of the latest. `version`
    is the target's version after the last change this row took part in, so the target's version is the
    largest over its rows (0 when none).
    """

    __tablename__ = "corrections"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(16))  # correct | confirm | accept
    value: Mapped[str] = mapped_column(Text)  # canonical: digits, "-" for a dash, "" for blank
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int]
    operator: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]
    undone_by: Mapped[str | None] = mapped_column(Text)
    undone_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_corrections_target", "document_id", "target", "active"),)


class ItemSettlement(Base):
    """A document-level item an operator acknowledged (a second report kept, a missing table accepted)."""

    __tablename__ = "item_settlements"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    item_id: Mapped[str] = mapped_column(Text)
    operator: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("document_id", "item_id", name="uq_item_settlements_item"),)


class ConstraintMark(Base):
    """A 勾稽关系 the report itself breaks, as an operator judged it; keyed by its name, which a new reading
    of the same template repeats, not by its position."""

    __tablename__ = "constraint_marks"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(Text)
    operator: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("document_id", "name", name="uq_constraint_marks_name"),)


class Audit(Base):
    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    operator: Mapped[str] = mapped_column(Text)
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    sha256: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(Text)
    old: Mapped[str | None] = mapped_column(Text)
    new: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_audit_document", "document_id", "id"),)


class Operator(Base):
    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class StoreSetting(Base):
    __tablename__ = "store_settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


# ---------------------------------------------------------------- batches over an inbox


class Batch(Base):
    """One batch over an inbox, from its start: a batch killed before its end keeps `finished_at` NULL, and
    the next batch on the same inbox turns its `running` into `interrupted` (a run holds the inbox's OS
    lock, so a batch still `running` when another starts on that inbox is a dead one). The counts are the
    batch's summary, written when it finishes; an unfinished batch's files are its `batch_files` rows."""

    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the batch's own id ("<UTC time>-<hex>")
    inbox: Mapped[str] = mapped_column(Text)
    records: Mapped[str] = mapped_column(Text)  # the folder of this batch's records
    reportscan_version: Mapped[str] = mapped_column(String(64))
    config_hash: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    state: Mapped[str] = mapped_column(String(16))  # running | completed | failed | interrupted
    files: Mapped[int] = mapped_column(Integer, default=0)
    read: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    tables: Mapped[int] = mapped_column(Integer, default=0)
    fields: Mapped[int] = mapped_column(Integer, default=0)
    fields_needing_review: Mapped[int] = mapped_column(Integer, default=0)
    review_items: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_batches_inbox", "inbox", "state"), Index("ix_batches_started", "started_at"))


class BatchFile(Base):
    """What one batch did with one entry of its inbox, written just before the entry is moved: `moved_to`
    is where it was sent. A batch killed between the two leaves the file in the inbox and this row; the
    next batch settles the file again in a row of its own, which supersedes this one (see store.batches).
    `reading_id` is the reading the store held for the file's bytes by the batch's version and config when
    the row was written; a document deleted later leaves the row, without it."""

    __tablename__ = "batch_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(Text)  # path inside the inbox
    outcome: Mapped[str] = mapped_column(String(16))  # read | skipped | failed | refused
    reason: Mapped[str | None] = mapped_column(Text)
    stage: Mapped[str | None] = mapped_column(String(32))
    sha256: Mapped[str | None] = mapped_column(String(64))
    moved_to: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime]
    reading_id: Mapped[int | None] = mapped_column(ForeignKey("readings.id", ondelete="SET NULL"))

    __table_args__ = (UniqueConstraint("batch_id", "name", name="uq_batch_files_name"),
                      Index("ix_batch_files_sha256", "sha256"), Index("ix_batch_files_name", "name"))


__all__ = [
    "Audit", "Base", "Batch", "BatchFile", "ConstraintMark", "Correction", "Document", "ItemSettlement", "Operator",
    "Page", "ReadCell", "ReadConstraint", "ReadField", "ReadItem", "ReadTable", "Reading", "Snapshot",
    "StoreSetting", "UTCDateTime", "now",
]
