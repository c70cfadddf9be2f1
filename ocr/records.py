"""Stage 6: assemble a document's pages into its record and write it atomically.

A record is written to a temp file in the output folder and renamed into place, so a reader (or a
crash) never sees half a record.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from ocr import __version__
from ocr.config import Config
from ocr.model import Cell, PageInfo, PageResult, Producer, Record, Table
from ocr.rasterize import DocumentInfo
from ocr.recognize import tessdata_dir, tesseract_version, traineddata_sha256
from ocr.repair import link_constraints, repair
from ocr.template import Template, TemplateTable, align, identify, report_info
from ocr.template.relabel import relabel

ALWAYS_REVIEWED = ("unreadable", "readers_disagree", "grid_uncertain")
_CONTINUE_BOTTOM = 0.80  # a part ending below this share of its page may continue on the next one
_CONTINUE_TOP = 0.25  # ... when the next page's first table starts above this share


def needs_review(kind: str, confidence: float, flags: Sequence[str], cfg: Config) -> tuple[bool, list[str]]:
    """The one decision operators act on, from the calibrated thresholds; returns it and the flags."""
    out = list(flags)
    if kind == "blank":
        return False, out
    if any(f in out for f in ALWAYS_REVIEWED):
        return True, out
    limit = cfg.review_threshold_number if kind == "number" else cfg.review_threshold_label
    if confidence < limit:
        out.append("low_confidence")
        return True, out
    return False, out


RECOGNITION_FLAGS = ("blank", "unreadable", "dash", "readers_disagree", "grid_uncertain")
"""Flags the reading itself sets; the others come from the thresholds or the template's arithmetic."""


def recognition_review(cell: Cell, cfg: Config) -> bool:
    """The verdict on a cell from its reading alone, before the template had its say (for benchmarks and
    re-calibration: a record's cells carry their field's final verdict)."""
    return needs_review(cell.kind, cell.confidence, [f for f in cell.flags if f in RECOGNITION_FLAGS], cfg)[0]


def producer(cfg: Config) -> Producer:
    langs = sorted({cfg.label_lang, cfg.number_lang} | ({"osd"} if cfg.detect_orientation else set()))
    data = {lang: traineddata_sha256(lang) for lang in langs if (tessdata_dir() / f"{lang}.traineddata").exists()}
    return Producer(reportscan=__version__, tesseract=tesseract_version(), traineddata=data, config=cfg.digest())


Frame = tuple[int, int, int]
"""A page's rotation (clockwise, applied to make it upright) and its width and height as rasterized."""


def upright_span(bbox: tuple[int, int, int, int], frame: Frame) -> tuple[float, float, float]:
    """Top and bottom of a box on the upright page, and the upright page's height.

    Boxes are recorded in the page's frame as scanned; "bottom of the page" means the upright page's.
    """
    rotation, w, h = frame
    x0, y0, x1, y1 = bbox
    if rotation == 90:  # (x, y) -> (h - 1 - y, x)
        return x0, x1, w
    if rotation == 180:
        return h - y1, h - y0, h
    if rotation == 270:  # (x, y) -> (y, w - 1 - x)
        return w - x1, w - x0, w
    return y0, y1, h


def link_continuations(tables: Sequence[Table], frames: dict[int, Frame]) -> list[Table]:
    """The tables, a page's first one marked as the continuation of the previous page's last one when it
    looks so."""
    by_page: dict[int, list[int]] = {}
    for i, t in enumerate(tables):
        by_page.setdefault(t.page, []).append(i)
    out = list(tables)
    for page, idxs in by_page.items():
        prev = by_page.get(page - 1)
        if not prev:
            continue
        last, first = tables[prev[-1]], tables[idxs[0]]
        _, last_bottom, last_h = upright_span(last.bbox, frames[page - 1])
        first_top, _, first_h = upright_span(first.bbox, frames[page])
        if (last_bottom >= _CONTINUE_BOTTOM * last_h and first_top <= _CONTINUE_TOP * first_h
                and last.n_cols == first.n_cols):
            out[idxs[0]] = first.model_copy(update={"continued_from": prev[-1]})
    return out


def build_record(info: DocumentInfo, pages: Sequence[PageResult], cfg: Config,
                 templates: Sequence[Template] = ()) -> Record:
    """The document's record: its tables and cells, and, when a template matches, its named fields."""
    pages = sorted(pages, key=lambda p: p.number)
    tables = link_continuations([t for p in pages for t in p.tables],
                                {p.number: (p.rotation, p.width, p.height) for p in pages})
    record = Record(
        producer=producer(cfg), source=info.path.name, sha256=info.sha256, pages=info.pages, dpi=info.dpi,
        page_info=[PageInfo(page=p.number, rotation=p.rotation, skew=p.skew, error=p.error) for p in pages],
        tables=tables,
    )
    lines = [line for p in pages for line in p.lines]
    confidences = [c for p in pages for c in (p.line_confidences or [1.0] * len(p.lines))]
    return apply_template(record, lines, templates, cfg, confidences)


def apply_template(record: Record, lines: Sequence[str], templates: Sequence[Template], cfg: Config,
                   line_confidences: Sequence[float] | None = None) -> Record:
    """The record with its numbers named, repaired, flagged and linked to the 勾稽关系 they take part in,
    and each field's verdict carried back to its cell; the record as given when no template matches.

    The cell and its field are one thing to an operator: a reading two sums confirm is not sent to
    review as a cell either, and a repaired one says so where it is printed. `line_confidences` are the
    OCR confidences of `lines` (exact text when not given).
    """
    template = identify(record.tables, lines, templates)
    if template is None:
        return record
    alignment = align(record.tables, template)
    repaired = repair(alignment.mapped, template.value_types, template.constraints, cfg, alignment.row_confidence)
    fields, checks = link_constraints(repaired, template.constraints, alignment.mapped)
    verdicts: dict[int, dict[str, object]] = {}  # id of a mapped cell -> its field's verdict
    for key, mapped in alignment.mapped.items():
        result = fields.get(key)
        if result is None:
            continue
        cell = mapped.cell
        flags = verdicts.get(id(cell), {}).get("flags", cell.flags)
        verdicts[id(cell)] = {"needs_review": result.needs_review,
                              "flags": list(dict.fromkeys([*flags, *result.flags]))}
    tables: list[Table] = []
    for index, table in enumerate(record.tables):
        update: dict[str, object] = {}
        if index in alignment.table_keys:
            update["template_table"] = alignment.table_keys[index]
        if index in alignment.continued:  # joined by rule positions, e.g. a part a rule short
            update["continued_from"] = alignment.continued[index]
        values = {(c.row, c.col) for c in table.cells if id(c) in verdicts}
        if values:
            update["cells"] = [c.model_copy(update=verdicts[id(c)]) if id(c) in verdicts else c for c in table.cells]
        table = table.model_copy(update=update) if update else table
        spec = next((t for t in template.tables if t.key == table.template_table), None)
        tables.append(_relabelled(table, spec, values, cfg) if spec is not None else table)
    return record.model_copy(update={
        "tables": tables, "template": template.id, "report": report_info(lines, template, line_confidences),
        "fields": fields, "constraints": checks, "unmapped": alignment.unmapped})


def _relabelled(table: Table, spec: TemplateTable, values: set[tuple[int, int]], cfg: Config) -> Table:
    """The table with its misread labels in the template's wording, each judged again for review on
    the confidence that wording earned (a label the template confirms needs no operator)."""
    out = relabel(table, spec, values)
    if out is table:
        return table
    cells = []
    for cell in out.cells:
        if "label_repaired" in cell.flags:
            review, flags = needs_review(cell.kind, cell.confidence,
                                         [f for f in cell.flags if f != "low_confidence"], cfg)
            cell = cell.model_copy(update={"needs_review": review, "flags": flags})
        cells.append(cell)
    return out.model_copy(update={"cells": cells})


def output_names(infos: Sequence[DocumentInfo]) -> dict[Path, str]:
    """`<stem>.json`, or `<stem>-<sha8>.json` for every input whose stem another input shares."""
    stems = Counter(i.path.stem.casefold() for i in infos)
    names: dict[Path, str] = {}
    taken: set[str] = {"_summary.json"}
    for i in infos:
        stem = i.path.stem
        name = f"{stem}-{i.sha256[:8]}.json" if stems[stem.casefold()] > 1 or stem.startswith("_") else f"{stem}.json"
        base, n = name.removesuffix(".json"), 2
        while name.casefold() in taken:  # the same file twice, from two folders: number the copies
            name, n = f"{base}-{n}.json", n + 1
        taken.add(name.casefold())
        names[i.path] = name
    return names


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Let `write` fill a temp file beside `path`, then rename it into place: readers (and a crash) never
    see a partial file. The temp name keeps `path`'s suffix, for writers that go by it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs are for the team, as a plain open() would
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process umask, read without setting it (os.umask would change it for other threads meanwhile)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


def write_json_atomic(data: object, path: Path) -> None:
    def write(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, indent=1)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())

    write_atomic(path, write)


def write_record(record: Record, path: Path) -> None:
    write_json_atomic(record.model_dump(mode="json"), path)
