"""The data every stage passes on: pages -> tables -> cells -> records.

In-flight structures (carrying numpy arrays) are dataclasses; what is written to disk is a pydantic
model, so the JSON Schema in docs/ is generated from the same classes that write the records.
Every leaf carries its value, its confidence and its box, as in docTR's result tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

BBox = tuple[int, int, int, int]
"""x0, y0, x1, y1 in pixels of the page as rasterized, origin top-left."""

SCHEMA_VERSION = 3
"""2: fields carry their cell's box and links to `Record.constraints`; the report's identity its confidences.
3: a label cell may carry the template's wording in `text` and its reading in `read_text` (`label_repaired`)."""


# ---------------------------------------------------------------- in-flight (numpy) structures


@dataclass
class PageImage:
    """One rasterized page, before any rotation or deskew."""

    number: int  # from 1
    rgb: np.ndarray  # H x W x 3 uint8; colour kept so a red stamp can be told from black ink
    dpi: int | None

    @property
    def size(self) -> tuple[int, int]:
        return int(self.rgb.shape[1]), int(self.rgb.shape[0])


@dataclass
class Orientation:
    """How a page was turned upright: `rotation` (clockwise, 0/90/180/270) then `skew` removed."""

    rotation: int
    skew: float  # degrees, positive = the content is turned counter-clockwise on the page
    matrix: np.ndarray  # 3x3 homogeneous map from the rasterized page to the upright working image

    @cached_property
    def inverse(self) -> np.ndarray:
        """The map back to the rasterized page, inverted once: every cell's corners go through it."""
        return np.linalg.inv(self.matrix)


@dataclass
class Rule:
    """A ruling line of a table fitted as `pos = a + b * t` (t = x for horizontal, y for vertical rules).

    `spread` is how far either side of that centre a rule's ink may lie beyond a single rule's: a rule
    printed twice a few pixels apart, or a thick one binarised into its two edges, is one rule.
    """

    a: float
    b: float
    t0: float
    t1: float
    spread: float = 0.0

    def at(self, t: float) -> float:
        return self.a + self.b * t

    def middle(self) -> float:
        """Its position across, halfway along it."""
        return self.at((self.t0 + self.t1) / 2)

    def crossing(self, other: Rule) -> tuple[float, float]:
        """Where `other` (a rule of the other direction) crosses this one: (along this, across this).

        Solves p = a1 + b1 t, t = a2 + b2 p.
        """
        denom = 1.0 - self.b * other.b
        t = (other.a + other.b * self.a) / (denom if abs(denom) > 1e-9 else 1e-9)
        return t, self.at(t)


@dataclass
class GridCell:
    """A cell of a detected grid: its slot, spans and four corners in the working image."""

    row: int
    col: int
    row_span: int
    col_span: int
    corners: np.ndarray  # 4 x 2 float: top-left, top-right, bottom-right, bottom-left
    uncertain: bool = False  # split out of a merged group that was not a rectangle


@dataclass
class Grid:
    """One ruled table found on a page (in the upright working image)."""

    bbox: BBox
    h_rules: list[Rule]  # horizontal rules, top to bottom (n_rows + 1)
    v_rules: list[Rule]  # vertical rules, left to right (n_cols + 1)
    cells: list[GridCell]

    @property
    def n_rows(self) -> int:
        return len(self.h_rules) - 1

    @property
    def n_cols(self) -> int:
        return len(self.v_rules) - 1


@dataclass
class CellImage:
    """A cell's cleaned crop, ready for OCR: black text on white, rules removed, padded."""

    image: np.ndarray | None  # None when the cell holds no ink
    lines: int  # text lines seen in the crop
    numeric_shape: bool  # glyphs look like digits (narrow, full height), a hint for routing
    dash: bool = False  # the only ink is one short horizontal bar: a printed "-" (Tesseract misses these)
    # The same figure binarised from its smoothed grey, for a cell on grainy paper: a second look, which
    # must read the same figure (`ocr.recognize.read_cell`)
    second: np.ndarray | None = None
    ring: bool = False  # the only ink is one closed oval about the cell's middle: the shape of a '0'


@dataclass
class Reading:
    """What an OCR engine read in one crop."""

    text: str
    confidence: float  # 0..1, from the lowest word confidence
    mode: Literal["number", "label"]


@dataclass(frozen=True)
class PageSnapshot:
    """A compressed grey image of a page that holds a table, kept for the operators' review page.

    The PDF may be moved after a batch; the review page cuts its cell crops from this instead. `scale` maps
    the record's pixels (the rasterized page, before rotation) to this image's: image = record * scale.
    """

    data: bytes
    media_type: Literal["image/webp", "image/jpeg"]
    width: int
    height: int
    scale: float


@dataclass
class PageResult:
    """Everything a page contributes to its document's record; small, so it crosses processes cheaply."""

    number: int
    width: int
    height: int
    rotation: int = 0
    skew: float = 0.0
    error: str | None = None
    tables: list[Table] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # prose lines kept for the record's identity (title, closing)
    line_confidences: list[float] = field(default_factory=list)  # each of `lines`' OCR confidence; empty: exact
    seconds: float = 0.0
    snapshot: PageSnapshot | None = None  # kept only when the page holds a table: the review page shows it


# ---------------------------------------------------------------- between template matching and repair

ValueType = Literal["integer", "decimal", "text"]


@dataclass(frozen=True)
class Constraint:
    """One arithmetic rule of a template: sum(lhs) == sum(rhs), over field keys."""

    name: str  # words an operator understands, e.g. "三 （七）总计 自然人列：总计 = 各办理结果之和"
    lhs: tuple[str, ...]
    rhs: tuple[str, ...]


@dataclass
class MappedCell:
    """A template field found in a document: the cell read for it and where that cell is."""

    key: str  # canonical field key, e.g. "applications.disclosed.natural_person"
    cell: Cell
    page: int
    table: int  # index in the record's `tables`
    value_type: ValueType
    label: str  # short printed words for reasons, e.g. "总计" or "自然人"
    # (flag, reason) the template's matching casts on the placement (not the reading): reviewed, except a
    # misaligned row's value that every sum down its column checks (`repair._columns_vouch`)
    doubts: tuple[tuple[str, str], ...] = ()


# ---------------------------------------------------------------- the record written to disk


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


CellFlag = Literal[
    "low_confidence", "normalized", "repaired", "suggested", "constraint_failed",
    "source_inconsistent", "blank", "unreadable", "dash",
    "readers_disagree",  # the digit and the label readers read different numbers: always reviewed
    "grid_uncertain",  # the cell's rules could not be made into a rectangle: its extent is a guess
    "column_unconfirmed",  # its column was placed by order alone, or its header and its position disagree
    "grid_mismatch",  # the table's columns disagree with the template's in a way nothing reconciled
    "row_misaligned",  # its row's cells do not line up with the column grid (a cell across two columns)
    "row_unconfirmed",  # its row was placed by order alone, between rows as unsure
    "unconfirmed_reading",  # no 勾稽关系 can check it along one of its axes: held to a stricter confidence
    "label_repaired",  # a label cell's reading given the template's wording: the reading is in `read_text`
]


class DigitReading(_Strict):
    """What the digit reader saw in a cell whose label reading was kept instead."""

    text: str
    confidence: float = Field(ge=0, le=1)


class Cell(_Strict):
    """One cell of a table part as read: the leaf of the record."""

    row: int = Field(ge=0)
    col: int = Field(ge=0)
    row_span: int = Field(1, ge=1)
    col_span: int = Field(1, ge=1)
    bbox: BBox
    text: str
    confidence: float = Field(ge=0, le=1)
    needs_review: bool
    flags: list[CellFlag] = Field(default_factory=list)
    kind: Literal["number", "label", "blank"] = Field(
        description="how the cell was read: digits engine, label engine, or no ink at all")
    read_by: Literal["tesseract", "text_layer", "none"] = "tesseract"
    digits: DigitReading | None = Field(
        None, description="the digit reader's figure when the label reader's text was kept (a 0 read as 全): "
                          "the template falls back on it where it expects a number, and reviews it")
    read_text: str | None = Field(
        None, description="what OCR read, where `text` is the template's label that reading could only be "
                          "(flag `label_repaired`); null when `text` is the reading")


class Table(_Strict):
    """One printed table, or one page's part of a table split across pages."""

    page: int = Field(ge=1)
    bbox: BBox
    template_table: str | None = None
    continued_from: int | None = Field(None, ge=0, description="index in `tables` of the part this continues")
    n_rows: int = Field(ge=1)
    n_cols: int = Field(ge=1)
    cells: list[Cell]


class PageInfo(_Strict):
    page: int = Field(ge=1)
    rotation: int = Field(description="clockwise degrees (0/90/180/270) applied to turn the page upright")
    skew: float = Field(description="degrees the content was turned counter-clockwise, removed before grid detection")
    error: str | None = None


class Producer(_Strict):
    reportscan: str
    tesseract: str
    traineddata: dict[str, str] = Field(description="sha256 of each traineddata file used")
    config: str = Field(description="hash of the settings that change results")


FieldValue = int | Decimal | str | None
"""An integer count, an exact decimal amount (written to JSON as its digits in a string), text, or nothing."""


class FieldResult(_Strict):
    """One named value of the template (e.g. `applications.total.total`), traced to the cell it came from."""

    value: FieldValue = Field(description="integer, or an exact decimal as a string of digits; null when blank "
                                          "or unreadable (a blank is not 0)")
    text: str = Field(description="the cell's text as read, before normalising")
    confidence: float = Field(ge=0, le=1)
    needs_review: bool
    flags: list[CellFlag] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list, description="why it needs review, for an operator")
    suggestion: FieldValue = Field(None, description="a value the arithmetic proposes but does not confirm")
    page: int | None = Field(None, ge=1)
    table: int | None = Field(None, ge=0, description="index in the record's `tables`")
    row: int | None = Field(None, ge=0)
    col: int | None = Field(None, ge=0)
    bbox: BBox | None = Field(None, description="the cell's box on the page (the record's pixels, as the cell's "
                                                "`bbox`); null when no cell was found for the field")
    constraints: list[int] = Field(
        default_factory=list, description="indexes in the record's `constraints` of every 勾稽关系 this field "
                                          "takes part in, in template order")


ConstraintStatus = Literal["holds", "fails", "open", "repaired"]
"""`holds` as read; `repaired` holds only with a value repair set; `fails` as the record's values stand (a
suggestion is not applied); `open` cannot be evaluated: a field of it has no number (blank, unreadable, missing)."""


class ConstraintCheck(_Strict):
    """One 勾稽关系 of the template as it stands in this record: sum(lhs) == sum(rhs)."""

    name: str = Field(description="words an operator understands, e.g. 三 （七）总计列：（七）总计 = 各办理结果之和")
    status: ConstraintStatus
    lhs: list[str] = Field(description="field keys on the left; the values the check used are their `fields` "
                                       "values (repaired where repaired)")
    rhs: list[str] = Field(description="field keys on the right")
    text: str = Field(description="its arithmetic with this record's values, e.g. 总计 12 ≠ 3 + 4 + 0 + 0 + 0 + 0 "
                                  "(? for a missing value, =? when open)")


class UnmappedValue(_Strict):
    col: int = Field(ge=0)
    text: str
    value: FieldValue
    confidence: float = Field(ge=0, le=1)


class UnmappedRow(_Strict):
    """A row the template does not know (e.g. 政府集中采购 from the older template): kept, never dropped."""

    label: str
    page: int = Field(ge=1)
    table: int = Field(ge=0)
    row: int = Field(ge=0)
    values: list[UnmappedValue]


_IDENTITY_CONFIDENCE = ("how sure the value is: the OCR confidence of the line it came from, raised when the title "
                        "and the closing line agree on it; null when the value is null")


class ReportInfo(_Strict):
    """Who published the report and for which year, from the title and the closing line."""

    agency: str | None = None
    year: int | None = None
    date: str | None = Field(None, description="ISO date of the closing line, e.g. 2022-02-10")
    agency_confidence: float | None = Field(None, ge=0, le=1, description=_IDENTITY_CONFIDENCE)
    year_confidence: float | None = Field(None, ge=0, le=1, description=_IDENTITY_CONFIDENCE)
    date_confidence: float | None = Field(None, ge=0, le=1, description=_IDENTITY_CONFIDENCE)


class Record(_Strict):
    """One input document, as written to `<out>/<stem>.json`."""

    schema_version: Literal[3] = SCHEMA_VERSION
    producer: Producer
    source: str
    sha256: str
    pages: int = Field(ge=1)
    dpi: int | None
    template: str | None = None
    page_info: list[PageInfo]
    tables: list[Table]
    report: ReportInfo = Field(default_factory=ReportInfo)
    fields: dict[str, FieldResult] = Field(default_factory=dict)
    constraints: list[ConstraintCheck] = Field(
        default_factory=list, description="the template's 勾稽关系 as they stand in this record, in template order; "
                                          "a field's `constraints` are indexes into this list")
    unmapped: list[UnmappedRow] = Field(default_factory=list)

    @field_validator("schema_version", mode="before")
    @classmethod
    def _readable_version(cls, version: object) -> object:
        """Version-1 and -2 records still read (bench and export read old output folders): what later
        versions added takes its defaults (no constraint links, no identity confidences, no label
        repaired: not known, nothing invents them)."""
        if version in (1, 2):
            return SCHEMA_VERSION
        if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
            raise ValueError(f"schema_version {version} was written by a newer reportscan; this one reads "
                             f"versions 1 to {SCHEMA_VERSION}")
        return version

    @field_validator("fields")
    @classmethod
    def _field_boxes(cls, fields: dict[str, FieldResult], info: ValidationInfo) -> dict[str, FieldResult]:
        """A field without its box (a version-1 record) takes its cell's: the box is the cell's either way."""
        missing = [k for k, f in fields.items() if f.bbox is None and f.table is not None]
        if not missing or not info.data.get("tables"):
            return fields
        boxes = {(ti, c.row, c.col): c.bbox for ti, t in enumerate(info.data["tables"]) for c in t.cells}
        out = dict(fields)
        for k in missing:
            f = fields[k]
            if (box := boxes.get((f.table, f.row, f.col))) is not None:
                out[k] = f.model_copy(update={"bbox": box})
        return out

    @model_validator(mode="after")
    def _links_in_range(self) -> Record:
        """A field's link is an index into `constraints`: one past its end is a broken record, said at once."""
        for key, f in self.fields.items():
            if any(not 0 <= i < len(self.constraints) for i in f.constraints):
                raise ValueError(f"fields.{key}.constraints {f.constraints} point past the record's "
                                 f"{len(self.constraints)} constraints")
        return self
