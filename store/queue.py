"""The review page's reads: the queue of documents with open work, one document's items, a card for an
item, a table with its grid and states, page images and cell crops.

The queue is a few aggregate queries over the items ingest precomputed (never one query per document);
a card or a table view reads one document's rows only.
"""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass

from PIL import Image
from sqlalchemy import and_, func, select, tuple_
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from store.db import NotFound, Store
from store.models import (
    Correction,
    Document,
    ItemSettlement,
    Page,
    ReadCell,
    ReadField,
    Reading,
    ReadItem,
    ReadTable,
    Snapshot,
)
from store.state import (
    checked,
    constraint_rows,
    document,
    document_items,
    neighbours,
    operated,
)
from store.views import (
    Card,
    CellView,
    ConstraintView,
    IdentityPart,
    Item,
    ItemReason,
    Progress,
    Queue,
    QueueDocument,
    TableView,
)


def _current() -> ColumnElement[bool]:
    """An item of a document's current reading (older readings' items stay, unused)."""
    return and_(Document.id == ReadItem.document_id, Document.current_reading_id == ReadItem.reading_id)


def _settled_sets(session: Session) -> set[tuple[int, str]]:
    """(document id, item id) of every settled item: targets with a correction in force, and document items
    acknowledged. Small next to the items (operators settle them one by one), so read whole."""
    done = {(d, t) for d, t in session.execute(select(Correction.document_id, Correction.target)
                                                .where(Correction.active).distinct())}
    done |= {(d, i) for d, i in session.execute(select(ItemSettlement.document_id, ItemSettlement.item_id))}
    return done


@dataclass
class _Work:
    total: int = 0
    settled: int = 0
    first_open: str | None = None


def _work(session: Session, done: set[tuple[int, str]]) -> dict[int, _Work]:
    """Per document: its items, how many are settled and its first open one, with the counting left to
    the database (one GROUP BY) and only the few settled items read back."""
    out: dict[int, _Work] = {}
    for doc_id, total in session.execute(select(ReadItem.document_id, func.count()).join(Document, _current())
                                         .group_by(ReadItem.document_id)):
        out[doc_id] = _Work(total=total)
    settled: dict[int, set[int]] = defaultdict(set)
    if done:
        for doc_id, item_id, ordinal in session.execute(
                select(ReadItem.document_id, ReadItem.item_id, ReadItem.ordinal).join(Document, _current())
                .where(ReadItem.document_id.in_({d for d, _ in done}))):
            if (doc_id, item_id) in done:
                settled[doc_id].add(ordinal)
    first: dict[int, int] = {}
    for doc_id, w in out.items():
        w.settled = len(settled[doc_id])
        if w.settled < w.total:  # ordinals run 0..n-1: the first open one is the least not settled
            first[doc_id] = next(o for o in range(w.total) if o not in settled[doc_id])
    if first:
        for doc_id, item_id in session.execute(
                select(ReadItem.document_id, ReadItem.item_id).join(Document, _current())
                .where(tuple_(ReadItem.document_id, ReadItem.ordinal).in_(list(first.items())))):
            out[doc_id].first_open = item_id
    return out


def _open_with_reason(session: Session, done: set[tuple[int, str]], reason: str) -> set[int]:
    return {d for d, item_id in session.execute(
        select(ReadItem.document_id, ReadItem.item_id).join(Document, _current())
        .where(ReadItem.reasons_text.like(f"% {reason} %"))) if (d, item_id) not in done}


def _duplicates(session: Session) -> dict[int, list[tuple[int, str]]]:
    """Documents sharing agency and year with another: id -> [(other id, other sha256)]."""
    pairs = select(Document.agency, Document.year).where(Document.agency.is_not(None), Document.year.is_not(None)
                                                         ).group_by(Document.agency, Document.year
                                                                    ).having(func.count() > 1).subquery()
    rows = session.execute(select(Document.id, Document.sha256, Document.agency, Document.year)
                           .join(pairs, and_(pairs.c.agency == Document.agency, pairs.c.year == Document.year))
                           .order_by(Document.first_seen, Document.id)).all()
    groups: dict[tuple[str, int], list[tuple[int, str]]] = defaultdict(list)
    for doc_id, sha, agency, year in rows:
        groups[agency, year].append((doc_id, sha))
    out: dict[int, list[tuple[int, str]]] = {}
    for members in groups.values():
        for doc_id, _ in members:
            out[doc_id] = [(o, sha) for o, sha in members if o != doc_id]
    return out


def queue(store: Store, *, agency: str | None = None, year: int | None = None, reason: str | None = None) -> Queue:
    """Documents with open items first, oldest ingest first, approved ones last; progress over the whole store."""
    with store.session() as session:
        done = _settled_sets(session)
        work = _work(session, done)
        dupes = _duplicates(session)
        with_reason = _open_with_reason(session, done, reason) if reason is not None else set()
        reasons_seen: set[str] = {"duplicate_report"} if dupes else set()
        for text in session.scalars(select(ReadItem.reasons_text).join(Document, _current()).distinct()):
            reasons_seen.update(text.split())
        docs = session.execute(select(Document.id, Document.sha256, Document.source, Document.agency, Document.year,
                                      Document.first_seen, Document.status)
                               .where(Document.current_reading_id.is_not(None))).all()
    out: list[QueueDocument] = []
    items_total = items_settled = approved = 0
    agencies: set[str] = set()
    years: set[int] = set()
    for doc_id, sha, source, doc_agency, doc_year, first_seen, status in docs:
        w = work.get(doc_id, _Work())
        dupe_ids = [f"d:duplicate_report:{o}" for _, o in dupes.get(doc_id, [])]
        dupe_open = [i for i in dupe_ids if (doc_id, i) not in done]
        total = w.total + len(dupe_ids)
        settled = w.settled + len(dupe_ids) - len(dupe_open)
        items_total += total
        items_settled += settled
        approved += status == "approved"
        if doc_agency is not None:
            agencies.add(doc_agency)
        if doc_year is not None:
            years.add(doc_year)
        if agency is not None and doc_agency != agency or year is not None and doc_year != year:
            continue
        if reason is not None and doc_id not in with_reason and not (reason == "duplicate_report" and dupe_open):
            continue
        first = w.first_open
        if dupe_open and (first is None or not first.startswith("d:")):
            first = dupe_open[0]  # document items come first, then duplicates, then cells (see document_items)
        out.append(QueueDocument(sha256=sha, source=source, agency=doc_agency, year=doc_year, ingested_at=first_seen,
                                 status=status, open_items=total - settled, total_items=total,
                                 first_open_item=first))
    out.sort(key=lambda d: (d.status == "approved", d.open_items == 0, d.ingested_at, d.sha256))
    return Queue(documents=out, progress=Progress(items_total, items_settled, len(docs), approved),
                 agencies=sorted(agencies), years=sorted(years), reasons=sorted(reasons_seen))


def items(store: Store, sha256: str) -> list[Item]:
    """A document's items in reading order (page, table, row, col), document items first."""
    with store.session() as session:
        doc = document(session, sha256)
        return document_items(session, doc, operated(session, doc.id))


def next_document(session: Session, after: str) -> str | None:
    """The document after `after` in the queue's order that has open work (wrapping around), checking the
    candidates a few at a time: usually the very next one has."""
    docs = session.execute(select(Document.id, Document.sha256, Document.first_seen, Document.status)
                           .where(Document.current_reading_id.is_not(None))).all()
    docs.sort(key=lambda r: (r[3] == "approved", r[2], r[1]))
    shas = [r[1] for r in docs]
    here = shas.index(after) if after in shas else -1
    order = [(r[0], r[1]) for r in docs[here + 1:] + docs[:max(here, 0)]]
    if not order:
        return None
    done = _settled_sets(session)
    dupes = _duplicates(session)
    for start in range(0, len(order), 8):
        chunk = order[start:start + 8]
        ids = [d for d, _ in chunk]
        open_docs = {d for d, item_id in session.execute(
            select(ReadItem.document_id, ReadItem.item_id).join(Document, _current())
            .where(ReadItem.document_id.in_(ids))) if (d, item_id) not in done}
        open_docs |= {d for d in ids if any((d, f"d:duplicate_report:{o}") not in done for _, o in dupes.get(d, []))}
        for d, sha in chunk:
            if d in open_docs:
                return sha
    return None


# ---------------------------------------------------------------- a card


def _bbox(value: object) -> tuple[int, int, int, int] | None:
    if not isinstance(value, list | tuple) or len(value) != 4:
        return None
    return int(value[0]), int(value[1]), int(value[2]), int(value[3])


def _image_id(session: Session, reading_id: int, page: int | None) -> int | None:
    if page is None:
        return None
    return session.scalars(select(Page.snapshot_id).where(Page.reading_id == reading_id, Page.number == page)).first()


def _parse_cell_id(item_id: str) -> tuple[int, int, int, int]:
    try:
        page, table, row, col = (int(x) for x in item_id.split(":")[1:])
    except ValueError as exc:
        raise NotFound(f"no item {item_id!r}: a cell item is c:<page>:<table>:<row>:<col>") from exc
    return page, table, row, col


def card(store: Store, sha256: str, item_id: str) -> Card:
    """Everything an operator needs to settle one item, with its 勾稽关系 re-checked with the values in force."""
    with store.session() as session:
        doc = document(session, sha256)
        ops = operated(session, doc.id)
        all_items = document_items(session, doc, ops)
        item = next((i for i in all_items if i.id == item_id), None)
        if item is None:
            raise NotFound(f"no item {item_id!r} in document {sha256}")
        prev_item, next_item = neighbours(all_items, item_id)
        reading_id = doc.current_reading_id
        assert reading_id is not None
        nxt_doc = next_document(session, sha256)
        nxt_doc = None if nxt_doc == sha256 else nxt_doc
        correction = ops.in_force.get(item_id)
        common = dict(sha256=sha256, item=item, prev_item=prev_item, next_item=next_item, next_document=nxt_doc,
                      version=ops.version(item_id), corrected_by=correction.operator if correction else None,
                      corrected_at=correction.at if correction else None)
        if item.kind == "field":
            key = item_id[2:]
            f = session.scalars(select(ReadField).where(ReadField.reading_id == reading_id,
                                                        ReadField.key == key)).one()
            views = checked(session, doc, ops, constraint_rows(session, reading_id, indexes=f.constraints))
            read = f.value if f.value is not None else ""
            return Card(**common, field_key=key, page=f.page, table=f.table_index, row=f.row, col=f.col,
                        bbox=_bbox(f.bbox), image_id=_image_id(session, reading_id, f.page),
                        row_label=f.row_label, col_label=f.col_label,
                        value_type=f.value_type,  # type: ignore[arg-type]
                        text=f.text, confidence=f.confidence, reasons=tuple(f.reasons), flags=tuple(f.flags),
                        read_value=read, suggestion=f.suggestion,
                        current=correction.value if correction else read, constraints=views)
        if item.kind == "cell":
            page, table, row, col = _parse_cell_id(item_id)
            c = session.scalars(select(ReadCell).where(ReadCell.reading_id == reading_id,
                                                       ReadCell.table_index == table, ReadCell.row == row,
                                                       ReadCell.col == col)).first()
            if c is None:
                raise NotFound(f"no cell {item_id!r} in document {sha256}")
            return Card(**common, field_key=None, page=page, table=table, row=row, col=col, bbox=_bbox(c.bbox),
                        image_id=_image_id(session, reading_id, page), row_label=None, col_label=None,
                        value_type=None, text=c.text, confidence=c.confidence, reasons=(), flags=tuple(c.flags),
                        read_value=c.text.strip(), suggestion=None,
                        current=correction.value if correction else c.text.strip(), constraints=[])
        table_bbox = None
        if item.table is not None:
            table_bbox = session.scalars(select(ReadTable.bbox).where(ReadTable.reading_id == reading_id,
                                                                      ReadTable.index == item.table)).first()
        views = checked(session, doc, ops, constraint_rows(session, reading_id, table=item.table)
                        ) if item.table is not None else []
        settled_by = session.execute(select(ItemSettlement.operator, ItemSettlement.at).where(
            ItemSettlement.document_id == doc.id, ItemSettlement.item_id == item_id)).first()
        common.update(corrected_by=settled_by[0] if settled_by else None,
                      corrected_at=settled_by[1] if settled_by else None)
        return Card(**common, field_key=None, page=item.page, table=item.table, row=None, col=None,
                    bbox=_bbox(table_bbox), image_id=_image_id(session, reading_id, item.page), row_label=None,
                    col_label=None, value_type=None, text=item.summary, confidence=None, reasons=(item.summary,),
                    flags=item.reasons, read_value=None, suggestion=None, current=None, constraints=views)


def identity(store: Store, sha256: str) -> list[IdentityPart]:
    """The report's agency and year, read and in force, with the versions their corrections need."""
    with store.session() as session:
        doc = document(session, sha256)
        ops = operated(session, doc.id)
        reading = session.get(Reading, doc.current_reading_id)
        assert reading is not None
        parts = (("identity:agency", reading.agency or "", reading.agency_confidence),
                 ("identity:year", "" if reading.year is None else str(reading.year), reading.year_confidence))
        out = []
        for target, read, confidence in parts:
            correction = ops.in_force.get(target)
            out.append(IdentityPart(target=target, read=read, confidence=confidence,
                                    current=correction.value if correction else read,
                                    corrected_by=correction.operator if correction else None,
                                    version=ops.version(target)))
        return out


# ---------------------------------------------------------------- a table


def table_view(store: Store, sha256: str, table: int) -> TableView:
    """A table's grid over its page image, each cell coloured by state, and its 勾稽关系 re-checked."""
    with store.session() as session:
        doc = document(session, sha256)
        reading_id = doc.current_reading_id
        assert reading_id is not None
        t = session.scalars(select(ReadTable).where(ReadTable.reading_id == reading_id,
                                                    ReadTable.index == table)).first()
        if t is None:
            raise NotFound(f"no table {table} in document {sha256}")
        ops = operated(session, doc.id)
        item_ids = set(session.scalars(select(ReadItem.item_id).where(ReadItem.reading_id == reading_id,
                                                                      ReadItem.table_index == table)))
        cells = session.scalars(select(ReadCell).where(ReadCell.reading_id == reading_id,
                                                       ReadCell.table_index == table)
                                .order_by(ReadCell.row, ReadCell.col)).all()
        fields = {f.key: f for f in session.scalars(select(ReadField).where(ReadField.reading_id == reading_id,
                                                                            ReadField.table_index == table))}
        views: list[CellView] = []
        for c in cells:
            target = f"f:{c.field_key}" if c.field_key is not None else f"c:{t.page}:{table}:{c.row}:{c.col}"
            correction = ops.in_force.get(target)
            f = fields.get(c.field_key) if c.field_key is not None else None
            review = f.needs_review if f is not None else c.needs_review
            flags = f.flags if f is not None else c.flags
            if correction is not None:
                state, text = "corrected", correction.value
            elif "repaired" in flags:
                state, text = "repaired", f.value if f is not None and f.value is not None else c.text
            elif review:
                state, text = "review", c.text
            else:
                state, text = "read", c.text
            bbox = _bbox(c.bbox)
            assert bbox is not None
            views.append(CellView(row=c.row, col=c.col, row_span=c.row_span, col_span=c.col_span, bbox=bbox,
                                  text=text, field_key=c.field_key, item_id=target if target in item_ids else None,
                                  state=state))  # type: ignore[arg-type]
        open_suggestions = sum(1 for f in fields.values()
                               if f.suggestion is not None and not ops.settled(f"f:{f.key}"))
        constraints = checked(session, doc, ops, constraint_rows(session, reading_id, table=table))
        snap = session.execute(select(Snapshot.id, Snapshot.scale, Snapshot.width, Snapshot.height)
                               .join(Page, Page.snapshot_id == Snapshot.id)
                               .where(Page.reading_id == reading_id, Page.number == t.page)).first()
        return TableView(sha256=sha256, index=table, page=t.page, template_table=t.template_table,
                         image_id=snap[0] if snap else None, image_scale=snap[1] if snap else None,
                         image_size=(snap[2], snap[3]) if snap else None, cells=views, constraints=constraints,
                         open_suggestions=open_suggestions)


# ---------------------------------------------------------------- images


def _snapshot(session: Session, image_id: int) -> Snapshot:
    snap = session.get(Snapshot, image_id)
    if snap is None:
        raise NotFound(f"no page image {image_id} in the store")
    return snap


def page_image(store: Store, image_id: int) -> tuple[bytes, str]:
    """The page image's bytes and media type, found by id only: a request never names a path."""
    with store.session() as session:
        snap = _snapshot(session, image_id)
        name, media_type = snap.file_name, snap.media_type
    path = store.images_dir / name
    try:
        return path.read_bytes(), media_type
    except OSError as exc:
        raise NotFound(f"page image {image_id} is missing from {store.images_dir} ({exc.strerror or exc})") from exc


def crop(store: Store, image_id: int, bbox: tuple[int, int, int, int], margin: int = 40) -> bytes:
    """A PNG of `bbox` (record pixels) with `margin` record pixels of context, cut from the page image."""
    with store.session() as session:
        scale = _snapshot(session, image_id).scale
    data, _ = page_image(store, image_id)
    with Image.open(io.BytesIO(data)) as image:
        x0, y0, x1, y1 = bbox
        box = (max(0, int((x0 - margin) * scale)), max(0, int((y0 - margin) * scale)),
               min(image.width, round((x1 + margin) * scale)), min(image.height, round((y1 + margin) * scale)))
        if box[2] <= box[0] or box[3] <= box[1]:
            raise NotFound(f"box {bbox} lies outside page image {image_id}")
        out = io.BytesIO()
        image.crop(box).save(out, format="PNG", optimize=False)
        return out.getvalue()


__all__ = [
    "Card", "CellView", "ConstraintView", "Item", "ItemReason", "Progress", "Queue", "QueueDocument", "TableView",
    "card", "crop", "items", "next_document", "page_image", "queue", "table_view",
]
