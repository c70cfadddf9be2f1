"""A document's state as operators left it: the values in force, what is settled, the 勾稽关系 re-checked,
and whether it is approved. Shared by the views (queue, card, table) and the actions (corrections).

Everything here reads the current reading and the operator tables of one document in a handful of
queries (never one per item), so a card or an action costs the same with 10 or 10 000 documents stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.orm import Session

from ocr.model import FieldValue, ValueType
from ocr.repair import arithmetic
from store.db import NotFound
from store.models import (
    Audit,
    ConstraintMark,
    Correction,
    Document,
    ItemSettlement,
    ReadConstraint,
    ReadField,
    ReadItem,
    now,
)
from store.views import ConstraintView, Item

INGEST_OPERATOR = "reportscan ingest"


# ---------------------------------------------------------------- values as stored


def stored_value(value: FieldValue) -> str | None:
    """A record's value as the store keeps it: digits (a decimal never in exponent form), text, or NULL."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def typed_value(text: str | None, value_type: ValueType | str | None) -> FieldValue:
    """A stored value (a reading's or a correction's canonical text) as the record's value type."""
    if text is None or text == "":
        return None
    if value_type == "integer":
        return 0 if text == "-" else int(text)
    if value_type == "decimal":
        return Decimal(0) if text == "-" else Decimal(text)
    return text


# ---------------------------------------------------------------- corrections in force


@dataclass(frozen=True)
class Change:
    """The last thing that happened to a target: for the version check and its message."""

    version: int
    by: str
    at: datetime


@dataclass
class Operated:
    """What operators did to one document: corrections in force, target versions, settlements, marks."""

    in_force: dict[str, Correction] = field(default_factory=dict)  # target -> latest active correction
    changes: dict[str, Change] = field(default_factory=dict)
    settled_items: set[str] = field(default_factory=set)  # document-level items acknowledged
    marks: set[str] = field(default_factory=set)  # constraint names marked source-inconsistent

    def version(self, target: str) -> int:
        change = self.changes.get(target)
        return change.version if change is not None else 0

    def settled(self, item_id: str) -> bool:
        return item_id in self.in_force or item_id in self.settled_items


def operated(session: Session, document_id: int) -> Operated:
    out = Operated()
    rows = session.scalars(select(Correction).where(Correction.document_id == document_id)
                           .order_by(Correction.id)).all()
    for c in rows:
        if c.active:
            out.in_force[c.target] = c
        last = out.changes.get(c.target)
        by, at = (c.undone_by, c.undone_at) if c.undone_by is not None and c.undone_at is not None else (
            c.operator, c.at)
        if last is None or c.version > last.version:
            out.changes[c.target] = Change(c.version, by, at)
    out.settled_items = set(session.scalars(select(ItemSettlement.item_id)
                                            .where(ItemSettlement.document_id == document_id)))
    out.marks = set(session.scalars(select(ConstraintMark.name).where(ConstraintMark.document_id == document_id)))
    return out


# ---------------------------------------------------------------- documents and items


def document(session: Session, sha256: str, *, lock: bool = False) -> Document:
    """The document by sha256; `lock`: for an action, FOR UPDATE so two operators' changes queue."""
    query = select(Document).where(Document.sha256 == sha256)
    doc = session.scalars(query.with_for_update() if lock else query).first()
    if doc is None or doc.current_reading_id is None:
        raise NotFound(f"no document {sha256} in the store")
    return doc


def duplicate_items(session: Session, doc: Document) -> list[Item]:
    """A second report for the same agency and year: a re-scan has new bytes, so a new sha256."""
    if doc.agency is None or doc.year is None:
        return []
    others = session.execute(select(Document.sha256, Document.source)
                             .where(Document.agency == doc.agency, Document.year == doc.year,
                                    Document.id != doc.id).order_by(Document.first_seen, Document.id)).all()
    return [Item(id=f"d:duplicate_report:{sha}", sha256=doc.sha256, kind="document", reasons=("duplicate_report",),
                 settled=False, summary=f"another report for {doc.agency} {doc.year}: {source} ({sha[:12]})",
                 table=None, page=1) for sha, source in others]


def document_items(session: Session, doc: Document, ops: Operated) -> list[Item]:
    """Every item of the current reading, in reading order (document items first), with whether it is settled."""
    rows = session.execute(select(ReadItem.item_id, ReadItem.kind, ReadItem.reasons, ReadItem.summary,
                                  ReadItem.table_index, ReadItem.page)
                           .where(ReadItem.reading_id == doc.current_reading_id).order_by(ReadItem.ordinal))
    stored = [Item(id=item_id, sha256=doc.sha256, kind=kind, reasons=tuple(reasons),  # type: ignore[arg-type]
                   settled=False, summary=summary, table=table, page=page)
              for item_id, kind, reasons, summary, table, page in rows]
    docs = [i for i in stored if i.kind == "document"]
    rest = [i for i in stored if i.kind != "document"]
    items = [*docs, *duplicate_items(session, doc), *rest]
    return [Item(id=i.id, sha256=i.sha256, kind=i.kind, reasons=i.reasons, settled=ops.settled(i.id),
                 summary=i.summary, table=i.table, page=i.page) for i in items]


def neighbours(items: Sequence[Item], item_id: str | None) -> tuple[str | None, str | None]:
    """The open items before and after `item_id` in reading order, wrapping around (never the item itself)."""
    ids = [i.id for i in items]
    here = ids.index(item_id) if item_id in ids else -1
    open_ids = [(n, i.id) for n, i in enumerate(items) if not i.settled and i.id != item_id]
    if not open_ids:
        return None, None
    if here < 0:
        return open_ids[-1][1], open_ids[0][1]
    after = [i for n, i in open_ids if n > here] + [i for n, i in open_ids if n < here]
    before = [i for n, i in reversed(open_ids) if n < here] + [i for n, i in reversed(open_ids) if n > here]
    return before[0], after[0]


# ---------------------------------------------------------------- 勾稽关系 with the values in force


@dataclass(frozen=True)
class FieldState:
    value_type: str | None
    value: FieldValue  # in force
    repaired: bool  # the machine's repair is what is in force


def field_states(session: Session, reading_id: int, ops: Operated, keys: Iterable[str] | None = None
                 ) -> dict[str, FieldState]:
    query = select(ReadField.key, ReadField.value_type, ReadField.value, ReadField.flags).where(
        ReadField.reading_id == reading_id)
    if keys is not None:
        query = query.where(ReadField.key.in_(list(keys)))
    out: dict[str, FieldState] = {}
    for key, vtype, value, flags in session.execute(query):
        correction = ops.in_force.get(f"f:{key}")
        if correction is not None:
            out[key] = FieldState(vtype, typed_value(correction.value, vtype), False)
        else:
            out[key] = FieldState(vtype, typed_value(value, vtype), "repaired" in flags)
    return out


_OPERATOR = {"holds": "=", "repaired": "=", "fails": "≠", "source_inconsistent": "≠", "open": "=?"}


def recheck(rows: Sequence[ReadConstraint], states: Mapping[str, FieldState], marks: set[str]) -> list[ConstraintView]:
    """Each 勾稽关系 as it stands now: sum(lhs) == sum(rhs) over the values in force, written as the record
    writes it (ocr.repair.arithmetic). A correction is a value, not a repair: only an uncorrected repaired
    value makes a holding constraint `repaired`."""
    out: list[ConstraintView] = []
    for c in rows:
        def term(k: str, c: ReadConstraint = c) -> tuple[str, FieldValue]:
            state = states.get(k)
            return c.labels.get(k, k.rsplit(".", 1)[-1]), (state.value if state is not None else None)

        lhs, rhs = [term(k) for k in c.lhs], [term(k) for k in c.rhs]
        values = [v for _, v in (*lhs, *rhs)]
        if not all(isinstance(v, int | Decimal) for v in values):
            status = "open"
        elif sum(Fraction(v) for _, v in lhs) != sum(Fraction(v) for _, v in rhs):  # type: ignore[arg-type]
            status = "source_inconsistent" if c.name in marks else "fails"
        elif any(states[k].repaired for k in (*c.lhs, *c.rhs) if k in states):
            status = "repaired"
        else:
            status = "holds"
        if status == "open" and c.name in marks:
            status = "source_inconsistent"
        out.append(ConstraintView(index=c.index, name=c.name, status=status,  # type: ignore[arg-type]
                                  text=arithmetic(lhs, rhs, _OPERATOR[status]),
                                  keys=tuple(dict.fromkeys((*c.lhs, *c.rhs)))))
    return out


def constraint_rows(session: Session, reading_id: int, table: int | None = None,
                    indexes: Iterable[int] | None = None) -> list[ReadConstraint]:
    rows = session.scalars(select(ReadConstraint).where(ReadConstraint.reading_id == reading_id)
                           .order_by(ReadConstraint.index)).all()
    if indexes is not None:
        wanted = set(indexes)
        rows = [r for r in rows if r.index in wanted]
    if table is not None:
        rows = [r for r in rows if table in r.tables]
    return list(rows)


def checked(session: Session, doc: Document, ops: Operated, rows: Sequence[ReadConstraint]) -> list[ConstraintView]:
    assert doc.current_reading_id is not None
    keys = {k for r in rows for k in (*r.lhs, *r.rhs)}
    return recheck(rows, field_states(session, doc.current_reading_id, ops, keys), ops.marks)


# ---------------------------------------------------------------- approval


def blockers(session: Session, doc: Document, ops: Operated) -> tuple[list[Item], list[ConstraintView]]:
    """What keeps a document from approval: its open items, and its 勾稽关系 that neither hold nor are marked."""
    assert doc.current_reading_id is not None
    open_items = [i for i in document_items(session, doc, ops) if not i.settled]
    views = checked(session, doc, ops, constraint_rows(session, doc.current_reading_id))
    bad = [v for v in views if v.status not in ("holds", "repaired", "source_inconsistent")]
    return open_items, bad


def write_audit(session: Session, doc: Document, operator: str, action: str, target: str,
                old: str | None, new: str | None) -> None:
    session.add(Audit(at=now(), operator=operator, document_id=doc.id, sha256=doc.sha256, action=action,
                      target=target, old=old, new=new))


def set_status(session: Session, doc: Document, status: str, operator: str, action: str) -> None:
    if doc.status == status:
        return
    write_audit(session, doc, operator, action, "document", doc.status, status)
    doc.status = status
    if status == "approved":
        doc.approved_by, doc.approved_at = operator, now()
    else:
        doc.approved_by, doc.approved_at = None, None


def refresh_status(session: Session, doc: Document, ops: Operated, operator: str, *, settling: bool) -> str:
    """After a change: an approved document that no longer qualifies is reopened; an open one is approved
    when this change settled work and nothing is left (the action that settles its last item approves it)."""
    open_items, bad = blockers(session, doc, ops)
    ok = not open_items and not bad
    if doc.status == "approved" and not ok:
        set_status(session, doc, "open", operator, "reopen (automatic)")
    elif doc.status == "open" and ok and settling:
        set_status(session, doc, "approved", operator, "approve (automatic)")
    return doc.status


__all__ = [
    "INGEST_OPERATOR", "Change", "FieldState", "Operated", "blockers", "checked", "constraint_rows", "document",
    "document_items", "duplicate_items", "field_states", "neighbours", "operated", "recheck", "refresh_status",
    "set_status", "stored_value", "typed_value", "write_audit",
]
