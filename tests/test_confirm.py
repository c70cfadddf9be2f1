"""The second reading (`ocr.confirm`): a figure no 勾稽关系 checks is read again by the other reader, and a
reading of as many digits, other ones, sends it to review."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from ocr.config import Config
from ocr.confirm import agrees, confirm, contradicts, read_again, unvouched
from ocr.model import Cell, ConstraintCheck, FieldResult, PageInfo, Producer, Record, Table
from ocr.recognize import engine_for

SIX = Path(__file__).parent / "data" / "second" / "augraphy-medium-s7704-001-p2-six.png"
SIX_BOX = (149, 118, 510, 194)  # the cell of `normative_documents.repealed`, printed 6 (tests/data/second)


@pytest.fixture(scope="module")
def engine():
    return engine_for(Config(workers=1))


def test_the_label_reader_reads_the_six_the_digit_reader_read_as_eight(engine):
    gray = cv2.imread(str(SIX), cv2.IMREAD_GRAYSCALE)
    assert read_again(gray, {"k": SIX_BOX}, 0, 1.0, engine) == {"k": "6"}
    assert contradicts(8, "6")


def test_the_second_reading_turns_the_crop_as_the_page_was_turned(engine):
    """The record's boxes are in the page's pixels before its turn; the crop is turned upright to be read."""
    gray = cv2.imread(str(SIX), cv2.IMREAD_GRAYSCALE)
    w = gray.shape[1]
    turned = cv2.rotate(gray, cv2.ROTATE_90_COUNTERCLOCKWISE)  # scanned a quarter turn the wrong way
    x0, y0, x1, y1 = SIX_BOX
    assert read_again(turned, {"k": (y0, w - x1, y1, w - x0)}, 90, 1.0, engine) == {"k": "6"}


@pytest.mark.parametrize(("value", "second", "expected"), [
    (8, "6", True),
    (69339, "65339", True),  # a deviations page: 6 read as 9 by the digit reader
    (65339, "65339", False),
    (90, "0-", False),  # a glyph lost: no evidence
    (13, "1", False),
    (0, "0 1", False),  # a rule remnant read as a 1
    (7, ". 7。", False),
    (0, "“人“、:. es 0 LA 1。", False),  # words: no figure at all
    ("114.0777", "0777", False),
    ("380.94", "380.91", True),
    (1234, "1,284", True),  # thousands separators are not digits
    (5, "", False),
])
def test_only_a_figure_of_as_many_digits_contradicts(value, second, expected):
    assert contradicts(value, second) is expected


@pytest.mark.parametrize(("second", "expected"), [
    ("380.94", True),  # an amount whose remnant read as a dash by its shape
    ("7", True),
    ("0", False), ("0.00", False),  # a dash is 0
    ("-", False), ("一", False), ("", False), ("人", False),
])
def test_a_dash_is_contradicted_by_any_figure_but_zero(second, expected):
    assert contradicts(0, second, dash=True) is expected


def _cell(row: int, col: int, text: str, read_by: str = "tesseract") -> Cell:
    return Cell(row=row, col=col, bbox=(col * 100, row * 50, col * 100 + 100, row * 50 + 50), text=text,
                confidence=0.96, needs_review=False, kind="number", read_by=read_by)


def _field(col: int, value: int, constraints: list[int], review: bool = False, table: int = 0,
           flags: tuple[str, ...] = (), confidence: float = 0.96, row: int = 0) -> FieldResult:
    return FieldResult(value=value, text=str(value), confidence=confidence, needs_review=review, page=1, table=table,
                       row=row, col=col, bbox=(col * 100, row * 50, col * 100 + 100, row * 50 + 50),
                       constraints=constraints, flags=list(flags), reasons=["why"] if review else [])


CFG = Config(workers=1)


def _record() -> Record:
    cells = [_cell(0, c, str(v)) for c, v in enumerate([8, 3, 4, 7, 9])] + \
        [_cell(1, c, str(v)) for c, v in enumerate([12, 13, 14, 15])]
    layer = Table(page=1, bbox=(0, 0, 100, 50), n_rows=1, n_cols=1, cells=[_cell(0, 0, "5", "text_layer")])
    checks = [ConstraintCheck(name="a", status="holds", lhs=["b"], rhs=["c"], text="3 = 3"),
              ConstraintCheck(name="b", status="open", lhs=["e"], rhs=["x"], text="9 =?")]
    fields = {
        "a": _field(0, 8, []),  # 二: no arithmetic
        "b": _field(1, 3, [0]),  # a sum that holds checks it
        "c": _field(2, 4, [0]),
        "d": _field(3, 7, [], review=True, flags=("grid_mismatch",)),  # in doubt for more than its reading
        "e": _field(4, 9, [1]),  # its only sum is open
        "f": _field(0, 5, [], table=1),  # exact text from the file's text layer
        # sent to review for their reading alone: sure enough to be confirmed by a second, and not
        "g": _field(0, 12, [], review=True, flags=("low_confidence",), confidence=0.75, row=1),
        "h": _field(1, 13, [1], review=True, flags=("unconfirmed_reading",), confidence=0.9, row=1),
        "i": _field(2, 14, [], review=True, flags=("low_confidence",), confidence=0.3, row=1),
        "j": _field(3, 15, [], review=True, flags=("low_confidence", "suggested"), confidence=0.8, row=1),
    }
    return Record(producer=Producer(reportscan="t", tesseract="t", traineddata={}, config="t"), source="x.pdf",
                  sha256="0" * 64, pages=1, dpi=300, page_info=[PageInfo(page=1, rotation=0, skew=0.0)],
                  tables=[Table(page=1, bbox=(0, 0, 500, 100), n_rows=2, n_cols=5, cells=cells), layer],
                  fields=fields, constraints=checks)


def test_a_second_reading_is_asked_of_fields_only_their_reading_vouches_for_or_holds_back():
    todo = unvouched(_record(), CFG)
    assert list(todo) == [1] and sorted(todo[1]) == ["a", "e", "g", "h"]
    assert todo[1]["a"] == (0, 0, 100, 50)


def test_a_contradicted_field_and_its_cell_go_to_review_and_nothing_else_changes():
    record = _record()
    out = confirm(record, {"a": "6", "e": "9"}, CFG)
    a = out.fields["a"]
    assert a.needs_review and a.flags == ["readers_disagree"] and "「6」" in a.reasons[0]
    assert a.value == 8  # the reading stands, for the operator to judge
    cell = out.tables[0].cells[0]
    assert cell.needs_review and "readers_disagree" in cell.flags
    assert not out.fields["e"].needs_review and not out.tables[0].cells[4].needs_review
    assert record.fields["a"].needs_review is False and not record.tables[0].cells[0].needs_review  # input kept
    assert confirm(record, {"a": "8", "e": "0 9"}, CFG) is record


def test_a_field_held_for_its_reading_alone_is_let_through_when_the_second_reads_the_same_figure():
    record = _record()
    out = confirm(record, {"g": "12", "h": "1 3", "i": "14", "j": "15"}, CFG)
    g = out.fields["g"]
    assert not g.needs_review and g.flags == ["low_confidence"] and "「12」" in g.reasons[0]
    assert not out.tables[0].cells[5].needs_review
    assert out.fields["h"].needs_review  # "1 3" is no clean figure
    assert out.fields["i"].needs_review  # under `repair_accept_from`: readers mostly read noise there
    assert out.fields["j"].needs_review  # a suggestion is in doubt for more than its reading
    assert confirm(record, {"g": "72"}, CFG).fields["g"].needs_review  # another figure: still reviewed


@pytest.mark.parametrize(("value", "second", "expected"), [
    (12, "12", True), (12, "12。", True), ("1234", "1,234", True), (12, "12a", False), (12, "", False),
    (0, "O", False), (12, "13", False),
])
def test_agreement_is_the_very_same_figure(value, second, expected):
    assert agrees(value, second) is expected


def test_a_dash_a_figure_is_read_under_goes_to_review():
    record = _record()
    dash = record.fields["a"].model_copy(update={"value": 0, "text": "-", "flags": ["dash"]})
    record = record.model_copy(update={"fields": {**record.fields, "a": dash}})
    out = confirm(record, {"a": "380.94"}, CFG)
    assert out.fields["a"].needs_review and "readers_disagree" in out.fields["a"].flags
    assert confirm(record, {"a": "0"}, CFG) is record
