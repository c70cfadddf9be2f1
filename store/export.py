"""The records as operators left them: each document's current reading with the corrections in force, and
per field where its value came from (read, repaired by the arithmetic, or corrected by whom and when).

`ocr/export.py` writes its tables from these records unchanged, with the sources as two extra columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select

from ocr.model import Record
from store.db import Store
from store.models import Document, ReadField, Reading
from store.state import checked, constraint_rows, operated, typed_value


@dataclass(frozen=True)
class FieldSource:
    source: Literal["read", "repaired", "corrected"]
    by: str | None  # who corrected it, or who confirmed the value read
    at: datetime | None


@dataclass(frozen=True)
class EffectiveRecord:
    record: Record
    sources: dict[str, FieldSource]
    status: Literal["open", "approved"] = "open"


def effective_records(store: Store, *, approved_only: bool = False) -> list[EffectiveRecord]:
    """Every document's current reading with corrections applied (fields, agency and year, cells outside the
    template, and the 勾稽关系 re-checked with them), oldest ingest first."""
    out: list[EffectiveRecord] = []
    with store.session() as session:
        query = (select(Document, Reading).join(Reading, Reading.id == Document.current_reading_id)
                 .order_by(Document.first_seen, Document.id))
        if approved_only:
            query = query.where(Document.status == "approved")
        for doc, reading in session.execute(query).all():
            ops = operated(session, doc.id)
            record = Record.model_validate(reading.record)
            sources: dict[str, FieldSource] = {}
            fields = dict(record.fields)
            types = dict(session.execute(select(ReadField.key, ReadField.value_type)
                                         .where(ReadField.reading_id == reading.id)).all())
            for key, f in record.fields.items():
                machine = "repaired" if "repaired" in f.flags else "read"
                c = ops.in_force.get(f"f:{key}")
                if c is None:
                    sources[key] = FieldSource(machine, None, None)  # type: ignore[arg-type]
                    if types.get(key) == "decimal" and isinstance(f.value, str):
                        # JSON keeps a decimal as its digits, which read back as text: the type says which
                        fields[key] = f.model_copy(update={"value": typed_value(f.value, "decimal")})
                    continue
                value = typed_value(c.value, types.get(key) or "text")
                same = c.action != "correct" and value == f.value
                sources[key] = FieldSource(machine if same else "corrected", c.operator, c.at)  # type: ignore[arg-type]
                if not same:
                    flags = [x for x in f.flags if x != "repaired"]
                    fields[key] = f.model_copy(update={"value": value, "needs_review": False, "flags": flags})
                else:
                    fields[key] = f.model_copy(update={"needs_review": False})
            tables = [t.model_copy(deep=True) for t in record.tables]
            for target, c in ops.in_force.items():
                if not target.startswith("c:"):
                    continue
                _, table, row, col = (int(x) for x in target.split(":")[1:])
                if 0 <= table < len(tables):
                    for cell in tables[table].cells:
                        if cell.row == row and cell.col == col:
                            cell.text, cell.needs_review = c.value, False
            report = record.report.model_copy(update={"agency": doc.agency, "year": doc.year})
            views = {v.index: v for v in checked(session, doc, ops, constraint_rows(session, reading.id))}
            constraints = [c.model_copy(update={"status": "fails" if views[i].status == "source_inconsistent"
                                                else views[i].status, "text": views[i].text})
                           if i in views else c for i, c in enumerate(record.constraints)]
            record = record.model_copy(update={"fields": fields, "tables": tables, "report": report,
                                               "constraints": constraints})
            out.append(EffectiveRecord(record, sources, doc.status))  # type: ignore[arg-type]
    return out


__all__ = ["EffectiveRecord", "FieldSource", "effective_records"]
