"""The store: every reading the pipeline made and every correction operators made, in SQLite or PostgreSQL.

`ocr/` writes nothing here itself: `reportscan ingest` hands each record to `save_reading`; the review page
and `reportscan export` read and write only through the functions re-exported below.
"""

from store.corrections import (
    accept_table,
    approve,
    audit,
    confirm,
    correct,
    mark_source_inconsistent,
    reopen,
    settle_item,
    undo,
)
from store.db import Conflict, InvalidValue, NotFound, Store, StoreError, default_url, open_store, safe_url, upgrade
from store.export import EffectiveRecord, FieldSource, effective_records
from store.ingest import SavedReading, reading_of, save_reading
from store.operators import add_operator, disable_operator, operator_enabled, verify_operator
from store.queue import card, crop, identity, items, page_image, queue, table_view
from store.views import (
    AuditRow,
    Card,
    CellView,
    ConstraintView,
    IdentityPart,
    Item,
    ItemReason,
    Outcome,
    Progress,
    Queue,
    QueueDocument,
    TableView,
)

__all__ = [
    "AuditRow", "Card", "CellView", "Conflict", "ConstraintView", "EffectiveRecord", "FieldSource", "IdentityPart",
    "InvalidValue", "Item", "ItemReason", "NotFound", "Outcome", "Progress", "Queue", "QueueDocument", "SavedReading",
    "Store", "StoreError", "TableView", "accept_table", "add_operator", "approve", "audit", "card", "confirm",
    "correct", "crop", "default_url", "disable_operator", "effective_records", "identity", "items",
    "mark_source_inconsistent", "open_store", "operator_enabled", "page_image", "queue", "reading_of", "reopen",
    "safe_url", "save_reading", "settle_item", "table_view", "undo", "upgrade", "verify_operator",
]
