"""The store: every reading the pipeline made and every correction operators made, in SQLite or PostgreSQL.

`ocr/` writes nothing here itself: `reportscan ingest` hands each record to `save_reading`; the review page
and `reportscan export` read and write only through the functions re-exported below. A batch over an inbox
records itself and each file's outcome through `store.batches` (`start_batch`, `record_file`,
`finish_batch`), over the store's own dataclasses: the store imports nothing of `flows/`.
"""

from store.batches import (
    BatchCounts,
    BatchFileRow,
    BatchRow,
    batch_files,
    batches,
    file_history,
    finish_batch,
    record_file,
    start_batch,
)
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
from store.db import (
    Conflict,
    InvalidValue,
    NotFound,
    Store,
    StoreError,
    default_url,
    head_revision,
    open_store,
    safe_url,
    upgrade,
)
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
    "AuditRow", "BatchCounts", "BatchFileRow", "BatchRow", "Card", "CellView", "Conflict", "ConstraintView",
    "EffectiveRecord", "FieldSource", "IdentityPart", "InvalidValue", "Item", "ItemReason", "NotFound", "Outcome",
    "Progress", "Queue", "QueueDocument", "SavedReading", "Store", "StoreError", "TableView", "accept_table",
    "add_operator", "approve", "audit", "batch_files", "batches", "card", "confirm", "correct", "crop",
    "default_url", "disable_operator", "effective_records", "file_history", "finish_batch", "head_revision",
    "identity", "items", "mark_source_inconsistent", "open_store", "operator_enabled", "page_image", "queue",
    "reading_of", "record_file", "reopen", "safe_url", "save_reading", "settle_item", "start_batch", "table_view",
    "undo", "upgrade", "verify_operator",
]
