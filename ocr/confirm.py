"""Stage 7: a second, independent reading of the figures nothing but their first reading vouches for.

Table 二 has no arithmetic, and a 三 or 四 value whose every 勾稽关系 is left open by blank or unreadable
cells is checked by none: a confident misread there ('6' read '8' at 0.96 on a clean augraphy page) would
pass unflagged. Such a field is read once more, by the label reader (chi_sim, not the digit reader that
read it first) from the page's own grey, cut at the field's box, with none of the first reading's clean-ups:
an error of the first reading is unlikely to repeat there. A second reading that reads as many digits,
and other ones, contradicts the first and sends the field to review; so does any figure but 0 where the
first reading was a dash judged by its shape (a warped page's amount whose remnant was one bar). One that
reads more or fewer glyphs (a rule remnant, a speck, a figure half lost) says nothing either way and changes
nothing: on the fitted-on tiers (seeds 7720-7722) the label reader read a different figure of the same
length for none of 156 such fields, and on three families fitting never read (seeds 7704-7706) for 6 of 219
right ones, while it caught both wrong ones.

The same reading also serves the other way. A field sent to review for its reading alone (`low_confidence`,
`unconfirmed_reading`: nothing else in doubt) whose second reading reads the very same figure has two
independent readings that agree; at or above `repair_accept_from` (the confidence at which two sums that
confirm a doubtful reading let it skip review) it does not go to review, its flags and a reason saying so,
as a reading two sums confirm. On the fitted-on tiers (seeds 7720-7722) one agreeing pair was wrong, a
figure half under a seal read '4' by both at 0.0; none at 0.7 or above.

A task is a page: the document's record says which fields of which pages need it, the page is rendered
again (a scan's embedded JPEG is only decoded), and only those cells are read.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ocr.config import Config
from ocr.model import BBox, FieldResult, Record

if TYPE_CHECKING:
    import numpy as np

    from ocr.recognize import Engine

_VOUCHED = ("holds", "repaired")  # a 勾稽关系 in one of these states checked its fields
_INSET = 0.08  # share of the cell's shorter side cut from each edge: the rules and their ghosts
_MIN_INSET = 5  # px at 300 dpi
_SPECK = 6  # px² at 300 dpi: a smaller component is dust
_PAD = 10
_FIGURE = re.compile(r"[0-9][0-9.,]*")


_HELD_FOR_READING = frozenset({"low_confidence", "unconfirmed_reading"})  # a review only a reading can lift


def unvouched(record: Record, cfg: Config) -> dict[int, dict[str, BBox]]:
    """Per page, the fields (key -> cell box) a second reading can speak for: a number read by OCR that
    only its reading vouches for (not sent to review, in no 勾稽关系 that holds as read or as repaired),
    or that was sent to review for its reading alone at `repair_accept_from` or above."""
    todo: dict[int, dict[str, BBox]] = {}
    for key, f in record.fields.items():
        if f.value is None or f.page is None or f.bbox is None or not _read_by_ocr(record, f):
            continue
        if f.needs_review and not _held_for_reading(f, cfg):
            continue
        if not f.needs_review and any(record.constraints[i].status in _VOUCHED for i in f.constraints):
            continue
        todo.setdefault(f.page, {})[key] = f.bbox
    return todo


def _held_for_reading(f: FieldResult, cfg: Config) -> bool:
    return f.needs_review and bool(f.flags) and set(f.flags) <= _HELD_FOR_READING and \
        f.confidence >= cfg.repair_accept_from


def _read_by_ocr(record: Record, f: FieldResult) -> bool:
    if f.table is None or f.table >= len(record.tables):
        return False
    cell = next((c for c in record.tables[f.table].cells if (c.row, c.col) == (f.row, f.col)), None)
    return cell is not None and cell.read_by == "tesseract"


def read_again(gray: np.ndarray, boxes: Mapping[str, BBox], rotation: int, scale: float,
               engine: Engine) -> dict[str, str]:
    """The label reader's text for each box of the page's grey (the record's pixels, before `rotation`,
    the page's clockwise quarter turn to upright). Runs where the pages are read; the flow process, which
    only decides what to read again and applies the verdicts, keeps OpenCV and the readers out (~36 MB)."""
    from ocr.recognize import clean_text

    out: dict[str, str] = {}
    for key, box in boxes.items():
        crop = _crop(gray, box, rotation, scale)
        out[key] = "" if crop is None else clean_text(engine.read(crop, "label").text, "label")
    return out


def _crop(gray: np.ndarray, box: BBox, rotation: int, scale: float) -> np.ndarray | None:
    """The box without its rules, binarised for glyphs, black on white; None when nothing is left."""
    import cv2
    import numpy as np

    from ocr.cells import binarize_text
    from ocr.deskew import rotate_quarter

    x0, y0, x1, y1 = (int(round(v)) for v in box)
    inset = max(int(round(_MIN_INSET * scale)), int(_INSET * min(x1 - x0, y1 - y0)))
    x0, y0 = max(0, x0 + inset), max(0, y0 + inset)
    x1, y1 = min(gray.shape[1], x1 - inset), min(gray.shape[0], y1 - inset)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    ink = binarize_text(rotate_quarter(np.ascontiguousarray(gray[y0:y1, x0:x1]), rotation), scale)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    h, w = ink.shape
    x, y, cw, ch, area = (stats[:, i] for i in range(5))
    # what touches the crop's edge is a rule's remnant, not print the inset left whole
    drop = (x == 0) | (y == 0) | (x + cw >= w) | (y + ch >= h) | (area < _SPECK * scale * scale)
    drop[0] = True
    if drop.all():
        return None
    ink = np.where(drop[labels], 0, 255).astype(np.uint8)
    return cv2.copyMakeBorder(255 - ink, _PAD, _PAD, _PAD, _PAD, cv2.BORDER_CONSTANT, value=255)


def _figure(second: str) -> str | None:
    """The second reading as a figure's digits, or None when it is no clean figure."""
    text = unicodedata.normalize("NFKC", second).strip(" .。")
    return re.sub(r"\D", "", text) if _FIGURE.fullmatch(text) else None


def contradicts(value: object, second: str, dash: bool = False) -> bool:
    """Does `second` read the same count of digits as `value`, and other ones? A reading with more or fewer
    glyphs, or with words in it, lost or gained something and is no evidence either way. A value read as a
    printed dash (`dash`: its shape alone said so) is contradicted by any figure other than 0: a dash has no
    digits to lose, and a figure read where it stands means the shape was a figure's remnant."""
    read, want = _figure(second), re.sub(r"\D", "", str(value))
    if read is None:
        return False
    if dash:
        return read.strip("0") != ""
    return len(read) == len(want) and read != want


def agrees(value: object, second: str) -> bool:
    """Does `second` read exactly the figure `value` is (its digits, with nothing else)?"""
    return _figure(second) == re.sub(r"\D", "", str(value)) != ""


def confirm(record: Record, seconds: Mapping[str, str], cfg: Config) -> Record:
    """The record with each field a second reading contradicts sent to review (flag `readers_disagree`), and
    each one held for its reading alone that it reads the same (`unvouched`) let through; their cells
    follow. The record itself when nothing changes."""
    fields = dict(record.fields)
    verdicts: dict[tuple[int, int, int], FieldResult] = {}
    for key, second in seconds.items():
        f = fields.get(key)
        if f is None:
            continue
        if not f.needs_review and contradicts(f.value, second, "dash" in f.flags):
            why = f"第二次识别（另一识别器）读作「{second}」，与「{f.text}」不一致，此项无可核对的勾稽关系，请核对"
            f = f.model_copy(update={"needs_review": True, "flags": list(dict.fromkeys([*f.flags, "readers_disagree"])),
                                     "reasons": [*f.reasons, why]})
        elif _held_for_reading(f, cfg) and agrees(f.value, second):
            why = (f"识别置信度 {f.confidence:.2f}，另一识别器第二次识别读作相同的「{second}」，两次独立识别一致，"
                   f"已采纳")
            f = f.model_copy(update={"needs_review": False, "reasons": [why]})
        else:
            continue
        fields[key] = f
        if f.table is not None and f.row is not None and f.col is not None:
            verdicts[f.table, f.row, f.col] = f
    if not verdicts:
        return record
    tables = []
    for ti, table in enumerate(record.tables):
        if not any(t == ti for t, _, _ in verdicts):
            tables.append(table)
            continue
        new = [c.model_copy(update={"needs_review": verdicts[ti, c.row, c.col].needs_review,
                                    "flags": list(dict.fromkeys([*c.flags, *verdicts[ti, c.row, c.col].flags]))})
               if (ti, c.row, c.col) in verdicts else c for c in table.cells]
        tables.append(table.model_copy(update={"cells": new}))
    return record.model_copy(update={"fields": fields, "tables": tables})
