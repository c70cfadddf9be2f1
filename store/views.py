"""What the store hands the review page and the CLI: frozen plain data, so Jinja2 renders it directly."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

ItemReason = str
"""A cell's flags, or for a document-level item: table_missing, table_unmatched, page_uncertain, duplicate_report."""

ConstraintState = Literal["holds", "fails", "open", "repaired", "source_inconsistent"]


@dataclass(frozen=True)
class Item:
    id: str  # "f:<field key>", "c:<page>:<table>:<row>:<col>", "d:<reason>:<detail>"
    sha256: str
    kind: Literal["field", "cell", "document"]
    reasons: tuple[str, ...]
    settled: bool
    summary: str
    table: int | None  # the table view it opens (None: the page view of `page`)
    page: int | None


@dataclass(frozen=True)
class QueueDocument:
    sha256: str
    source: str
    agency: str | None
    year: int | None
    ingested_at: datetime
    status: Literal["open", "approved"]
    open_items: int
    total_items: int
    first_open_item: str | None


@dataclass(frozen=True)
class Progress:
    items_total: int
    items_settled: int
    documents_total: int
    documents_approved: int


@dataclass(frozen=True)
class Queue:
    documents: list[QueueDocument]  # with open items first, oldest ingest first; approved ones after
    progress: Progress
    agencies: list[str]
    years: list[int]
    reasons: list[str]


@dataclass(frozen=True)
class ConstraintView:
    index: int
    name: str
    status: ConstraintState
    text: str  # with the values in force, e.g. "总计 12 ≠ 3 + 4 + 0 + 0 + 0 + 0"
    keys: tuple[str, ...]


@dataclass(frozen=True)
class Card:
    sha256: str
    item: Item
    field_key: str | None
    page: int | None
    table: int | None
    row: int | None
    col: int | None
    bbox: tuple[int, int, int, int] | None  # record pixels
    image_id: int | None
    row_label: str | None
    col_label: str | None
    value_type: Literal["integer", "decimal", "text"] | None
    text: str
    confidence: float | None
    reasons: tuple[str, ...]
    flags: tuple[str, ...]
    read_value: str | None  # the machine's value as a string ("" for blank)
    suggestion: str | None
    current: str | None  # the value in force (a correction wins)
    corrected_by: str | None
    corrected_at: datetime | None
    constraints: list[ConstraintView]
    version: int
    prev_item: str | None  # neighbouring open items of this document
    next_item: str | None
    next_document: str | None = None  # sha256 of the next document in the queue with open work


@dataclass(frozen=True)
class CellView:
    row: int
    col: int
    row_span: int
    col_span: int
    bbox: tuple[int, int, int, int]
    text: str
    field_key: str | None
    item_id: str | None
    state: Literal["read", "repaired", "review", "corrected"]


@dataclass(frozen=True)
class TableView:
    sha256: str
    index: int
    page: int
    template_table: str | None
    image_id: int | None
    image_scale: float | None
    image_size: tuple[int, int] | None
    cells: list[CellView]
    constraints: list[ConstraintView]
    open_suggestions: int


@dataclass(frozen=True)
class Outcome:
    value: str | None
    version: int
    constraints: list[ConstraintView]  # the whole table's, re-checked
    document_status: Literal["open", "approved"]
    next_item: str | None
    next_document: str | None = None


@dataclass(frozen=True)
class IdentityPart:
    """The report's agency or year as an operator sees it on the document page: read, in force, and the
    version a correction must send back (identity parts are targets like cells, `identity:agency|year`)."""

    target: str  # identity:agency | identity:year
    read: str  # as the machine read it ("" when it found none)
    confidence: float | None
    current: str  # in force: a correction wins
    corrected_by: str | None
    version: int


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    operator: str
    sha256: str
    action: str
    target: str
    old: str | None
    new: str | None


__all__ = [
    "AuditRow", "Card", "CellView", "ConstraintState", "ConstraintView", "IdentityPart", "Item", "ItemReason",
    "Outcome",
    "Progress", "Queue", "QueueDocument", "TableView",
]
