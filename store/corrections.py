"""What operators do: correct or confirm a value, undo, accept a table's suggestions, settle a document
item, mark a 勾稽关系 the report itself breaks, approve and reopen.

Every action is one transaction that locks its document first, checks the target's version (two
operators on one cell: the later save is refused, never silently lost), writes its audit row, and
re-checks the table's constraints with the values now in force. Corrections sit beside the readings and
are never overwritten by ingest: a new reading of the same document finds them by the same keys.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ocr.values import parse
from store.db import Conflict, InvalidValue, NotFound, Store, StoreError
from store.models import (
    Audit,
    ConstraintMark,
    Correction,
    Document,
    ItemSettlement,
    ReadCell,
    ReadConstraint,
    ReadField,
    Reading,
    now,
)
from store.queue import next_document
from store.state import (
    Operated,
    blockers,
    checked,
    constraint_rows,
    document,
    document_items,
    neighbours,
    operated,
    refresh_status,
    set_status,
    stored_value,
    write_audit,
)
from store.views import AuditRow, Outcome

_DASHES = frozenset("-‐‑‒–—―−ー一")
IDENTITY = ("identity:agency", "identity:year")


# ---------------------------------------------------------------- targets and values


@dataclass(frozen=True)
class Target:
    id: str
    kind: str  # field | cell | identity
    value_type: str | None  # integer | decimal | text | year; None: a cell outside the template (any text)
    read: str  # the machine's value as text ("" for blank)
    suggestion: str | None
    table: int | None
    what: str  # "cell" or "value", for messages


def _target(session: Session, doc: Document, target: str) -> Target:
    reading_id = doc.current_reading_id
    if target.startswith("f:"):
        f = session.scalars(select(ReadField).where(ReadField.reading_id == reading_id,
                                                    ReadField.key == target[2:])).first()
        if f is None:
            raise NotFound(f"no field {target[2:]!r} in document {doc.sha256}")
        return Target(target, "field", f.value_type or "text", f.value or "", f.suggestion, f.table_index, "cell")
    if target.startswith("c:"):
        try:
            page, table, row, col = (int(x) for x in target.split(":")[1:])
        except ValueError as exc:
            raise NotFound(f"no target {target!r}: a cell is c:<page>:<table>:<row>:<col>") from exc
        c = session.scalars(select(ReadCell).where(ReadCell.reading_id == reading_id, ReadCell.page == page,
                                                   ReadCell.table_index == table, ReadCell.row == row,
                                                   ReadCell.col == col)).first()
        if c is None:
            raise NotFound(f"no cell {target!r} in document {doc.sha256}")
        if c.field_key is not None:
            raise StoreError(f"cell {target!r} holds field {c.field_key!r}: correct it as f:{c.field_key}")
        return Target(target, "cell", None, c.text.strip(), None, table, "cell")
    if target in IDENTITY:
        reading = session.get(Reading, reading_id)
        assert reading is not None
        if target == "identity:agency":
            return Target(target, "identity", "text", reading.agency or "", None, None, "value")
        return Target(target, "identity", "year", "" if reading.year is None else str(reading.year), None, None,
                      "value")
    raise NotFound(f"no target {target!r}: it is f:<field key>, c:<page>:<table>:<row>:<col>, identity:agency "
                   "or identity:year")


def canonical(value: str, value_type: str | None) -> str:
    """An operator's value in the store's form: digits (thousands separators and full-width forms undone),
    "-" for a printed dash, "" for blank; InvalidValue when it is not of the cell's type. Unlike OCR text,
    a typed letter is never read as a digit."""
    raw = value.strip()
    if value_type is None:
        return " ".join(raw.split())
    if value_type == "text":
        return " ".join(unicodedata.normalize("NFKC", raw).split())
    compact = "".join(unicodedata.normalize("NFKC", raw).split())
    if compact == "":
        return ""
    if value_type == "year":
        if compact.isdigit() and len(compact) == 4 and 1900 <= int(compact) <= 2100:
            return compact
        raise InvalidValue(f"'{value}' is not a year (four digits such as 2021, or blank)")
    what = ("a count (a whole number ≥ 0, '-' or blank)" if value_type == "integer"
            else "an amount (a number ≥ 0 such as 12.5, '-' or blank)")
    if len(compact) == 1 and compact in _DASHES:
        return "-"
    parsed = parse(compact, value_type)  # type: ignore[arg-type]
    if any(ch.isalpha() for ch in compact) or parsed.value is None or parsed.stripped or parsed.guessed:
        raise InvalidValue(f"'{value}' is not {what}")
    text = stored_value(parsed.value)
    assert text is not None
    return text


def _in_force(ops: Operated, t: Target) -> str:
    correction = ops.in_force.get(t.id)
    return correction.value if correction is not None else t.read


def _check_version(ops: Operated, t: Target, version: int) -> None:
    change = ops.changes.get(t.id)
    current = change.version if change is not None else 0
    if version != current:
        if change is None:
            raise Conflict(f"this {t.what} is at version {current}, not {version}; reload")
        raise Conflict(f"this {t.what} was changed by {change.by} at {change.at:%Y-%m-%d %H:%M:%S} UTC; reload")


def _set_identity(session: Session, doc: Document, ops: Operated, t: Target) -> None:
    value = _in_force(ops, t)
    if t.id == "identity:agency":
        doc.agency = value or None
    else:
        doc.year = int(value) if value else None


# ---------------------------------------------------------------- outcomes


def _outcome(session: Session, doc: Document, operator: str, target: str | None, table: int | None, *,
             settling: bool) -> Outcome:
    session.flush()
    ops = operated(session, doc.id)
    status = refresh_status(session, doc, ops, operator, settling=settling)
    assert doc.current_reading_id is not None
    views = (checked(session, doc, ops, constraint_rows(session, doc.current_reading_id, table=table))
             if table is not None else [])
    items = document_items(session, doc, ops)
    _, next_item = neighbours(items, target)
    if next_item is None:
        nxt = next_document(session, doc.sha256)
        nxt_doc = None if nxt == doc.sha256 else nxt
    else:
        nxt_doc = None
    value = None
    version = 0
    if target is not None:
        correction = ops.in_force.get(target)
        version = ops.version(target)
        value = correction.value if correction is not None else None
    return Outcome(value=value, version=version, constraints=views, document_status=status,  # type: ignore[arg-type]
                   next_item=next_item, next_document=nxt_doc)


def _record(session: Session, doc: Document, ops: Operated, t: Target, action: str, value: str, operator: str
            ) -> None:
    old = _in_force(ops, t)
    session.add(Correction(document_id=doc.id, target=t.id, action=action, value=value, active=True,
                           version=ops.version(t.id) + 1, operator=operator, at=now()))
    write_audit(session, doc, operator, action, t.id, old, value)
    session.flush()
    if t.kind == "identity":
        _set_identity(session, doc, operated(session, doc.id), t)


def _value_outcome(session: Session, doc: Document, operator: str, t: Target) -> Outcome:
    out = _outcome(session, doc, operator, t.id, t.table, settling=True)
    if out.value is None:  # nothing in force: the reading's value is what stands
        return Outcome(t.read, out.version, out.constraints, out.document_status, out.next_item, out.next_document)
    return out


# ---------------------------------------------------------------- the actions


def correct(store: Store, sha256: str, target: str, value: str, operator: str, version: int) -> Outcome:
    """Replace the value of a field, a cell outside the template, or the agency or year."""
    with store.session(write=True) as session:
        doc = document(session, sha256, lock=True)
        ops = operated(session, doc.id)
        t = _target(session, doc, target)
        _check_version(ops, t, version)
        _record(session, doc, ops, t, "correct", canonical(value, t.value_type), operator)
        return _value_outcome(session, doc, operator, t)


def confirm(store: Store, sha256: str, target: str, operator: str, version: int) -> Outcome:
    """The suggestion, if there is one, else the value read, is right (Enter on a card)."""
    with store.session(write=True) as session:
        doc = document(session, sha256, lock=True)
        ops = operated(session, doc.id)
        t = _target(session, doc, target)
        _check_version(ops, t, version)
        value = t.suggestion if t.suggestion is not None else t.read
        _record(session, doc, ops, t, "confirm", value, operator)
        return _value_outcome(session, doc, operator, t)


def undo(store: Store, sha256: str, target: str, operator: str) -> Outcome:
    """Revert the latest correction (or settlement) of the target; the audit keeps both rows."""
    with store.session(write=True) as session:
        doc = document(session, sha256, lock=True)
        ops = operated(session, doc.id)
        if target.startswith("d:"):
            settlement = session.scalars(select(ItemSettlement).where(ItemSettlement.document_id == doc.id,
                                                                      ItemSettlement.item_id == target)).first()
            if settlement is None:
                raise StoreError(f"nothing to undo on {target} of document {sha256}")
            session.delete(settlement)
            write_audit(session, doc, operator, "undo", target, "settled", None)
            table = next((i.table for i in document_items(session, doc, ops) if i.id == target), None)
            return _outcome(session, doc, operator, target, table, settling=False)
        t = _target(session, doc, target)
        latest = ops.in_force.get(target)
        if latest is None:
            raise StoreError(f"nothing to undo on {target} of document {sha256}")
        at = now()
        latest.active = False
        latest.undone_by, latest.undone_at = operator, at
        latest.version = ops.version(target) + 1
        session.flush()
        after = operated(session, doc.id)
        write_audit(session, doc, operator, "undo", target, latest.value, _in_force(after, t))
        if t.kind == "identity":
            _set_identity(session, doc, after, t)
        out = _outcome(session, doc, operator, target, t.table, settling=False)
        value = out.value if out.value is not None else t.read
        return Outcome(value, out.version, out.constraints, out.document_status, out.next_item, out.next_document)


def accept_table(store: Store, sha256: str, table: int, operator: str) -> Outcome:
    """Take every open suggestion of one table, after the operator looked at it in the table view."""
    with store.session(write=True) as session:
        doc = document(session, sha256, lock=True)
        ops = operated(session, doc.id)
        fields = session.scalars(select(ReadField).where(ReadField.reading_id == doc.current_reading_id,
                                                         ReadField.table_index == table,
                                                         ReadField.suggestion.is_not(None))
                                 .order_by(ReadField.id)).all()
        for f in fields:
            target = f"f:{f.key}"
            if ops.settled(target):
                continue
            t = Target(target, "field", f.value_type, f.value or "", f.suggestion, table, "cell")
            assert f.suggestion is not None
            _record(session, doc, ops, t, "accept", f.suggestion, operator)
        return _outcome(session, doc, operator, None, table, settling=True)


def settle_item(store: Store, sha256: str, item_id: str, operator: str) -> Outcome:
    """Acknowledge a document-level item (a second report kept, a missing table accepted as missing)."""
    with store.session(write=True) as session:
        doc = document(session, sha256, lock=True)
        ops = operated(session, doc.id)
        item = next((i for i in document_items(session, doc, ops) if i.id == item_id), None)
        if item is None:
            raise NotFound(f"no item {item_id!r} in document {sha256}")
        if item.kind != "document":
            raise StoreError(f"item {item_id!r} is a {item.kind}: settle it by correcting or confirming its value")
        if not item.settled:
            session.add(ItemSettlement(document_id=doc.id, item_id=item_id, operator=operator, at=now()))
            write_audit(session, doc, operator, "settle", item_id, None, "settled")
        return _outcome(session, doc, operator, item_id, item.table, settling=True)


def mark_source_inconsistent(store: Store, sha256: str, constraint: int, operator: str, on: bool = True) -> Outcome:
    """The report itself breaks this 勾稽关系 (every cell read right): it no longer blocks approval."""
    with store.session(write=True) as session:
        doc = document(session, sha256, lock=True)
        row = session.scalars(select(ReadConstraint).where(ReadConstraint.reading_id == doc.current_reading_id,
                                                           ReadConstraint.index == constraint)).first()
        if row is None:
            raise NotFound(f"no constraint {constraint} in document {sha256}")
        marked = session.scalars(select(ConstraintMark).where(ConstraintMark.document_id == doc.id,
                                                              ConstraintMark.name == row.name)).first()
        target = f"constraint:{constraint}"
        if on and marked is None:
            session.add(ConstraintMark(document_id=doc.id, name=row.name, operator=operator, at=now()))
            write_audit(session, doc, operator, "mark_source_inconsistent", target, None, row.name)
        elif not on and marked is not None:
            session.delete(marked)
            write_audit(session, doc, operator, "unmark_source_inconsistent", target, row.name, None)
        table = row.tables[0] if row.tables else None
        return _outcome(session, doc, operator, None, table, settling=on)


def approve(store: Store, sha256: str, operator: str) -> Outcome:
    """Approve a document whose items are all settled and whose 勾稽关系 hold or are marked."""
    with store.session(write=True) as session:
        doc = document(session, sha256, lock=True)
        open_items, bad = blockers(session, doc, operated(session, doc.id))
        if open_items or bad:
            parts = []
            if open_items:
                parts.append(f"{len(open_items)} items open (first {open_items[0].id})")
            if bad:
                parts.append(f"{len(bad)} constraints neither hold nor are marked source-inconsistent "
                             f"(first {bad[0].name}: {bad[0].text})")
            raise StoreError(f"document {sha256} cannot be approved: {'; '.join(parts)}")
        set_status(session, doc, "approved", operator, "approve")
        return _outcome(session, doc, operator, None, None, settling=False)


def reopen(store: Store, sha256: str, operator: str) -> Outcome:
    with store.session(write=True) as session:
        doc = document(session, sha256, lock=True)
        set_status(session, doc, "open", operator, "reopen")
        session.flush()
        ops = operated(session, doc.id)
        _, next_item = neighbours(document_items(session, doc, ops), None)
        return Outcome(value=None, version=0, constraints=[], document_status="open", next_item=next_item)


def audit(store: Store, sha256: str | None = None) -> list[AuditRow]:
    """Who did what, oldest first; one document's or the whole store's."""
    with store.session() as session:
        query = select(Audit).order_by(Audit.id)
        if sha256 is not None:
            query = query.where(Audit.sha256 == sha256)
        return [AuditRow(id=a.id, at=a.at, operator=a.operator, sha256=a.sha256, action=a.action, target=a.target,
                         old=a.old, new=a.new) for a in session.scalars(query)]


__all__ = [
    "AuditRow", "Outcome", "accept_table", "approve", "audit", "canonical", "confirm", "correct",
    "mark_source_inconsistent", "reopen", "settle_item", "undo",
]
