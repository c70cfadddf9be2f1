"""The review page's reads: the queue of documents with open work, one document's items, a card for an
item, a table with its grid and states, page images and cell crops.

The queue is a few aggregate queries over the items ingest precomputed (never one query per document);
a card or a table view reads one document's rows only.
"""

from __future__ import annotations

import io
from collections import defaultdict
from datetime import datetime

from PIL import Image
from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.orm import Session

from store.db import NotFound, Store
from store.models import Correction, Document, ItemSettlement, Page, ReadCell, ReadField, ReadItem, ReadTable, Snapshot
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
    Item,
    ItemReason,
    Progress,
    Queue,
    QueueDocument,
    TableView,
)

_settled = or_(
    exists().where(Correction.document_id == ReadItem.document_id, Correction.target == ReadItem.item_id,
                   Correction.active),
    exists().where(ItemSettlement.document_id == ReadItem.document_id, ItemSettlement.item_id == ReadItem.item_id))


def _current() -> object:
    return and_(Document.id == ReadItem.document_id, Document.current_reading_id == ReadItem.reading_id)


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
        counts = {doc_id: (total, settled or 0) for doc_id, total, settled in session.execute(
            select(ReadItem.document_id, func.count(), func.sum(case((_settled, 1), else_=0)))
            .join(Document, _current()).group_by(ReadItem.document_id))}
        first_open = dict(session.execute(
            select(ReadItem.document_id, func.min(ReadItem.ordinal)).join(Document, _current())
            .where(~_settled).group_by(ReadItem.document_id)).all())
        first_ids: dict[int, str] = {}
        if first_open:
            first_ids = {d: i for d, o, i in session.execute(
                select(ReadItem.document_id, ReadItem.ordinal, ReadItem.item_id).join(Document, _current())
                .where(ReadItem.document_id.in_(list(first_open)), ReadItem.ordinal.in_(set(first_open.values()))))
                if first_open.get(d) == o}
        dupes = _duplicates(session)
        dupe_settled = {(d, i) for d, i in session.execute(
            select(ItemSettlement.document_id, ItemSettlement.item_id)
            .where(ItemSettlement.item_id.like("d:duplicate_report:%")))}
        with_reason: set[int] | None = None
        if reason is not None:
            with_reason = set(session.scalars(select(ReadItem.document_id).join(Document, _current()).where(
                ReadItem.reasons_text.like(f"% {reason} %"), ~_settled).distinct()))
            if reason == "duplicate_report":
                with_reason |= {d for d, others in dupes.items()
                                if any((d, f"d:duplicate_report:{sha}") not in dupe_settled for _, sha in others)}
        reasons_seen: set[str] = set()
        for text in session.scalars(select(ReadItem.reasons_text).join(Document, _current()).distinct()):
            reasons_seen.update(text.split())
        if dupes:
            reasons_seen.add("duplicate_report")
        docs = session.execute(select(Document.id, Document.sha256, Document.source, Document.agency, Document.year,
                                      Document.first_seen, Document.status)
                               .where(Document.current_reading_id.is_not(None))).all()
    out: list[QueueDocument] = []
    items_total = items_settled = approved = 0
    agencies: set[str] = set()
    years: set[int] = set()
    for doc_id, sha, source, doc_agency, doc_year, first_seen, status in docs:
        total, settled = counts.get(doc_id, (0, 0))
        dupe_ids = [f"d:duplicate_report:{o}" for _, o in dupes.get(doc_id, [])]
        dupe_open = [i for i in dupe_ids if (doc_id, i) not in dupe_settled]
        total += len(dupe_ids)
        settled += len(dupe_ids) - len(dupe_open)
        items_total += total
        items_settled += settled
        approved += status == "approved"
        if doc_agency is not None:
            agencies.add(doc_agency)
        if doc_year is not None:
            years.add(doc_year)
        if agency is not None and doc_agency != agency or year is not None and doc_year != year:
            continue
        if with_reason is not None and doc_id not in with_reason:
            continue
        first = first_ids.get(doc_id)
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
    """The document the queue lists after `after` that has open work (wrapping to the first)."""
    shas = [sha for sha, _ in _open_documents(session)]
    if not shas:
        return None
    if after in shas:
        i = shas.index(after)
        rest = shas[i + 1:] + shas[:i]
        return rest[0] if rest else None
    return shas[0]


def _open_documents(session: Session) -> list[tuple[str, datetime]]:
    """Documents with an unsettled stored item or an unsettled duplicate, in the queue's order."""
    rows = set(session.scalars(select(ReadItem.document_id).join(Document, _current()).where(~_settled).distinct()))
    dupes = _duplicates(session)
    if dupes:
        settled = {(d, i) for d, i in session.execute(
            select(ItemSettlement.document_id, ItemSettlement.item_id)
            .where(ItemSettlement.item_id.like("d:duplicate_report:%")))}
        rows |= {d for d, others in dupes.items()
                 if any((d, f"d:duplicate_report:{sha}") not in settled for _, sha in others)}
    if not rows:
        return []
    found = session.execute(select(Document.sha256, Document.first_seen, Document.status)
                            .where(Document.id.in_(list(rows)))).all()
    found.sort(key=lambda r: (r[2] == "approved", r[1], r[0]))
    return [(sha, at) for sha, at, _ in found]


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
        change = ops.changes.get(item_id)
        common = dict(sha256=sha256, item=item, prev_item=prev_item, next_item=next_item, next_document=nxt_doc,
                      version=ops.version(item_id), corrected_by=correction.operator if correction else None,
                      corrected_at=correction.at if correction else None)
        del change
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


def table_constraints(session: Session, doc: Document, table: int | None) -> list[ConstraintView]:
    assert doc.current_reading_id is not None
    return checked(session, doc, operated(session, doc.id), constraint_rows(session, doc.current_reading_id,
                                                                            table=table))


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
    "card", "crop", "items", "next_document", "page_image", "queue", "table_constraints", "table_view",
]
