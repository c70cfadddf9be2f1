"""The store: every reading the pipeline made and every correction operators made, in SQLite or PostgreSQL.

`ocr/` writes nothing here itself: `reportscan ingest` hands each record to `save_reading`; the review page
and `reportscan export` read and write only through the functions re-exported below.
"""

from store.db import Conflict, InvalidValue, NotFound, Store, StoreError, default_url, open_store, upgrade

__all__ = ["Conflict", "InvalidValue", "NotFound", "Store", "StoreError", "default_url", "open_store", "upgrade"]
