"""A record into the store: one transaction per document, page images beside it, operator work untouched.

The queue's items are worked out here, once per reading (flagged fields and cells, tables missing or
unmatched, uncertain pages), so the review page lists work with one indexed query instead of re-reading
every record. The template's words for each field (its row and column labels, the short label constraint
texts use) are kept with the field for the same reason: a card never loads the YAML.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from ocr.model import PageSnapshot, Record
from ocr.template import Template, load_templates
from store.db import IMAGES_DIR_SETTING, Store, StoreError
from store.models import (
    Correction,
    Document,
    Page,
    ReadCell,
    ReadConstraint,
    ReadField,
    Reading,
    ReadItem,
    ReadTable,
    Snapshot,
    StoreSetting,
    now,
)
from store.state import INGEST_OPERATOR, operated, refresh_status, stored_value

_EXTENSIONS = {"image/webp": "webp", "image/jpeg": "jpg"}
PAGE_FLAGS = ("grid_uncertain", "grid_mismatch")  # a cell flag that makes its page's layout uncertain


@dataclass(frozen=True)
class SavedReading:
    document_id: int
    reading_id: int
    created: bool  # False: this (sha256, reportscan version, config hash) was stored already: nothing new


# ---------------------------------------------------------------- the template's words


@dataclass(frozen=True)
class Words:
    """What a template says about a record's keys and tables, for cards and constraint texts."""

    labels: dict[str, str]  # field key -> short printed words ("一、本年新收申请 总计")
    rows: dict[str, str | None]  # field key -> its row's words
    cols: dict[str, str | None]
    tables: dict[str, str]  # field key -> its table's short name ("三")
    table_shorts: dict[str, str]  # template table key -> short name
    table_titles: dict[str, str]


def words(template: Template | None) -> Words:
    w = Words({}, {}, {}, {}, {}, {})
    if template is None:
        return w
    w.labels.update(template.labels)
    for tt in template.tables:
        w.table_shorts[tt.key], w.table_titles[tt.key] = tt.short, tt.title
        for block in tt.blocks:
            for i, row in enumerate(block.rows):
                for j, col in enumerate(block.columns):
                    key = block.fields[i][j]
                    w.rows[key], w.cols[key], w.tables[key] = row.short or None, col.short or None, tt.short
    return w


# ---------------------------------------------------------------- items


@dataclass(frozen=True)
class ItemRow:
    item_id: str
    kind: str
    reasons: tuple[str, ...]
    summary: str
    table: int | None
    page: int | None
    order: tuple[int, int, int, int, int]


def _read(text: str, confidence: float) -> str:
    shown = " ".join(text.split())
    return f"read {shown if shown else 'blank'} ({confidence:.2f})"


def reading_items(record: Record, w: Words, template: Template | None) -> list[ItemRow]:
    """The work one reading leaves for operators, in reading order: document items, then (page, table,
    row, col). Cells of the template's tables that are labels are not items: the template matched them,
    their text is never a value."""
    out: list[ItemRow] = []
    found = {t.template_table for t in record.tables if t.template_table is not None}
    if template is not None:
        for n, tt in enumerate(template.tables):
            if tt.key not in found:
                out.append(ItemRow(f"d:table_missing:{tt.key}", "document", ("table_missing",),
                                   f"table {tt.short} ({tt.title}) not found", None, None, (0, 0, n, 0, 0)))
    for i, t in enumerate(record.tables):
        if t.template_table is None:
            out.append(ItemRow(f"d:table_unmatched:{i}", "document", ("table_unmatched",),
                               f"table {i + 1} on page {t.page} matches no template table", i, t.page,
                               (0, 1, i, 0, 0)))
    uncertain: dict[int, tuple[list[str], int | None]] = {}
    for p in record.page_info:
        if p.error:
            uncertain[p.page] = ([f"page {p.page}: {p.error}"], None)
    for i, t in enumerate(record.tables):
        bad = [c for c in t.cells if any(f in c.flags for f in PAGE_FLAGS)]
        if bad:
            texts, table = uncertain.setdefault(t.page, ([], i))
            texts.append(f"page {t.page} table {i + 1}: {len(bad)} cells on an uncertain grid")
            if table is None:
                uncertain[t.page] = (texts, i)
    for page, (texts, table) in sorted(uncertain.items()):
        out.append(ItemRow(f"d:page_uncertain:{page}", "document", ("page_uncertain",), "; ".join(texts), table,
                           page, (0, 2, page, 0, 0)))
    field_cells: set[tuple[int, int, int]] = set()
    for key, f in record.fields.items():
        if f.table is not None and f.row is not None and f.col is not None:
            field_cells.add((f.table, f.row, f.col))
        if not f.needs_review:
            continue
        where = " × ".join(x for x in (w.rows.get(key), w.cols.get(key)) if x) or w.labels.get(key) or key
        head = f"{w.tables[key]} {where}" if key in w.tables else where
        summary = f"{head}: {_read(f.text, f.confidence)}"
        if f.suggestion is not None:
            summary += f", suggested {stored_value(f.suggestion)}"
        out.append(ItemRow(f"f:{key}", "field", tuple(f.flags) or ("needs_review",), summary, f.table, f.page,
                           (1, f.page or 0, f.table if f.table is not None else -1, f.row or 0, f.col or 0)))
    for i, t in enumerate(record.tables):
        for c in t.cells:
            if not c.needs_review or (i, c.row, c.col) in field_cells:
                continue
            if c.kind == "label" and t.template_table is not None:
                continue
            out.append(ItemRow(f"c:{t.page}:{i}:{c.row}:{c.col}", "cell", tuple(c.flags) or ("needs_review",),
                               f"table {i + 1} row {c.row + 1} col {c.col + 1}: {_read(c.text, c.confidence)}",
                               i, t.page, (1, t.page, i, c.row, c.col)))
    return sorted(out, key=lambda r: r.order)


# ---------------------------------------------------------------- images


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_image(images_dir: Path, data: bytes, media_type: str) -> tuple[str, str]:
    """Content-addressed: (sha256, file name relative to the folder). Written to a temp file, synced and
    renamed, so the name never points at half an image; a file already there is the same bytes."""
    if media_type not in _EXTENSIONS:
        raise StoreError(f"page image of type {media_type!r}: the store keeps image/webp or image/jpeg")
    sha = hashlib.sha256(data).hexdigest()
    name = f"{sha[:2]}/{sha}.{_EXTENSIONS[media_type]}"
    target = images_dir / name
    if target.exists() and target.stat().st_size == len(data):
        return sha, name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"cannot write page image under {images_dir}: {exc.strerror or exc}") from exc
    _fsync_dir(target.parent)
    return sha, name


def _snapshot_ids(session: Session, store: Store, snapshots: Mapping[int, PageSnapshot]) -> dict[int, int]:
    out: dict[int, int] = {}
    for page, snap in sorted(snapshots.items()):
        sha, name = write_image(store.images_dir, snap.data, snap.media_type)
        row = session.scalars(select(Snapshot).where(Snapshot.sha256 == sha)).first()
        if row is None:
            row = Snapshot(sha256=sha, media_type=snap.media_type, size=len(snap.data), width=snap.width,
                           height=snap.height, scale=snap.scale, file_name=name)
            session.add(row)
            session.flush()
        out[page] = row.id
    return out


# ---------------------------------------------------------------- saving


def _template(record: Record, templates: Sequence[Template] | None) -> Template | None:
    if record.template is None:
        return None
    pool = load_templates() if templates is None else templates
    return next((t for t in pool if t.id == record.template), None)


def _identity(session: Session, doc: Document, reading: Reading) -> None:
    """The queue's agency and year: a correction of either wins over the reading."""
    forced = {c.target: c.value for c in session.scalars(
        select(Correction).where(Correction.document_id == doc.id, Correction.active,
                                 Correction.target.in_(("identity:agency", "identity:year")))
        .order_by(Correction.id))}
    doc.agency = forced.get("identity:agency", reading.agency)
    year = forced.get("identity:year")
    doc.year = int(year) if year else (None if "identity:year" in forced else reading.year)


def _type_of(value: object) -> str | None:
    """A field's type when no template names it: what its value is (a count, an amount, text)."""
    if isinstance(value, bool) or value is None:
        return None
    return "integer" if isinstance(value, int) else "decimal" if isinstance(value, Decimal) else "text"


def _rows(record: Record, reading_id: int, document_id: int, w: Words, template: Template | None,
          snapshot_ids: Mapping[int, int], snapshots: Mapping[int, PageSnapshot]) -> dict[type, list[dict[str, Any]]]:
    field_at = {(f.table, f.row, f.col): k for k, f in record.fields.items() if f.table is not None}
    pages = []
    for p in record.page_info:
        snap = snapshots.get(p.page)
        size = ((round(snap.width / snap.scale), round(snap.height / snap.scale)) if snap and snap.scale
                else (None, None))
        pages.append({"reading_id": reading_id, "number": p.page, "rotation": p.rotation, "skew": p.skew,
                      "error": p.error, "width": size[0], "height": size[1], "snapshot_id": snapshot_ids.get(p.page)})
    tables = [{"reading_id": reading_id, "index": i, "page": t.page, "bbox": list(t.bbox),
               "template_table": t.template_table, "template_short": w.table_shorts.get(t.template_table or ""),
               "continued_from": t.continued_from, "n_rows": t.n_rows, "n_cols": t.n_cols}
              for i, t in enumerate(record.tables)]
    cells = [{"reading_id": reading_id, "table_index": i, "page": t.page, "row": c.row, "col": c.col,
              "row_span": c.row_span, "col_span": c.col_span, "bbox": list(c.bbox), "text": c.text,
              "confidence": c.confidence, "needs_review": c.needs_review, "flags": list(c.flags), "kind": c.kind,
              "field_key": field_at.get((i, c.row, c.col))}
             for i, t in enumerate(record.tables) for c in t.cells]
    value_types = template.value_types if template is not None else {}
    fields = [{"reading_id": reading_id, "key": k, "value_type": value_types.get(k) or _type_of(f.value),
               "value": stored_value(f.value),
               "text": f.text, "confidence": f.confidence, "needs_review": f.needs_review, "flags": list(f.flags),
               "reasons": list(f.reasons), "suggestion": stored_value(f.suggestion), "page": f.page,
               "table_index": f.table, "row": f.row, "col": f.col,
               "bbox": list(f.bbox) if f.bbox is not None else None, "constraints": list(f.constraints),
               "label": w.labels.get(k), "row_label": w.rows.get(k), "col_label": w.cols.get(k)}
              for k, f in record.fields.items()]
    constraints = []
    for i, c in enumerate(record.constraints):
        keys = list(dict.fromkeys((*c.lhs, *c.rhs)))
        labels = {k: w.labels.get(k, k.rsplit(".", 1)[-1]) for k in keys}
        tables_of = sorted({record.fields[k].table for k in keys  # type: ignore[type-var]
                            if k in record.fields and record.fields[k].table is not None})
        constraints.append({"reading_id": reading_id, "index": i, "name": c.name, "status": c.status,
                            "lhs": list(c.lhs), "rhs": list(c.rhs), "labels": labels, "text": c.text,
                            "tables": tables_of})
    items = [{"reading_id": reading_id, "document_id": document_id, "ordinal": n, "item_id": it.item_id,
              "kind": it.kind, "reasons": list(it.reasons), "reasons_text": f" {' '.join(it.reasons)} ",
              "summary": it.summary, "table_index": it.table, "page": it.page}
             for n, it in enumerate(reading_items(record, w, template))]
    return {Page: pages, ReadTable: tables, ReadCell: cells, ReadField: fields, ReadConstraint: constraints,
            ReadItem: items}


def save_reading(store: Store, record: Record, snapshots: Mapping[int, PageSnapshot], *,
                 templates: Sequence[Template] | None = None) -> SavedReading:
    """Store one document's reading in one transaction; the same reading again writes nothing new.

    A reading is (document, reportscan version, config hash); a new one goes beside the old and becomes
    current. Page images are written before the commit and are content-addressed, so a crash leaves at
    worst an unreferenced file, never a reference to a missing one. `templates`: the ones the run loaded
    (default: the shipped ones, loaded for this call).
    """
    template = _template(record, templates)
    w = words(template)
    at = now()
    with store.session(write=True) as session:
        doc = session.scalars(select(Document).where(Document.sha256 == record.sha256).with_for_update()).first()
        if doc is not None:
            existing = session.scalars(select(Reading.id).where(
                Reading.document_id == doc.id, Reading.reportscan_version == record.producer.reportscan,
                Reading.config_hash == record.producer.config)).first()
            if existing is not None:
                doc.last_seen = at
                return SavedReading(doc.id, existing, created=False)
        else:
            doc = Document(sha256=record.sha256, source=record.source, first_seen=at, last_seen=at, status="open")
            session.add(doc)
            session.flush()
        if session.get(StoreSetting, IMAGES_DIR_SETTING) is None:
            session.add(StoreSetting(key=IMAGES_DIR_SETTING, value=str(store.images_dir)))
        snapshot_ids = _snapshot_ids(session, store, snapshots)
        reading = Reading(document_id=doc.id, reportscan_version=record.producer.reportscan,
                          config_hash=record.producer.config, created_at=at, source=record.source,
                          template=record.template, agency=record.report.agency, year=record.report.year,
                          agency_confidence=record.report.agency_confidence,
                          year_confidence=record.report.year_confidence, record=record.model_dump(mode="json"))
        session.add(reading)
        session.flush()
        for model, rows in _rows(record, reading.id, doc.id, w, template, snapshot_ids, snapshots).items():
            if rows:
                session.execute(insert(model), rows)
        doc.current_reading_id = reading.id
        doc.source = record.source
        doc.last_seen = at
        _identity(session, doc, reading)
        session.flush()
        # nothing to review and every 勾稽关系 holding: approved as it stands (the audit says by ingest); an
        # approved document whose new reading brings work is reopened
        refresh_status(session, doc, operated(session, doc.id), INGEST_OPERATOR, settling=True)
        return SavedReading(doc.id, reading.id, created=True)


def reading_of(store: Store, sha256: str, reportscan_version: str, config_hash: str) -> int | None:
    """The id of the store's reading of the document with these bytes by this pipeline version and config, or
    None: what a batch asks before reading a file again (the document is keyed by content, so a renamed copy
    of a file read before is found too)."""
    with store.session() as session:
        return session.scalars(select(Reading.id).join(Document, Reading.document_id == Document.id).where(
            Document.sha256 == sha256, Reading.reportscan_version == reportscan_version,
            Reading.config_hash == config_hash)).first()


__all__ = ["ItemRow", "SavedReading", "Words", "reading_items", "reading_of", "save_reading", "words", "write_image"]
