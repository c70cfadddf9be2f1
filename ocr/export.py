"""Records out as tables an analyst opens: one row per report (wide) and one per field (long).

The wide table is for reading the numbers across reports; the long one is for reviewing them: it carries
the printed text, the flags and the operator reasons next to every value, and the rows the template did
not know (`unmapped`), so nothing a record holds is lost on the way out. Amounts stay exact decimals in
every format that can hold one; pyarrow and openpyxl are imported only by the format that needs them.

Each field also says where its value comes from (`value_source`: read, repaired or corrected, and
`corrected_by`). A record alone knows read and repaired; corrections live in the store, whose export passes
them in per record (`sources`), so this module never imports the store.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from pydantic import ValidationError

from ocr.model import Record
from ocr.records import write_atomic

if TYPE_CHECKING:
    import pyarrow as pa

Format = Literal["jsonl", "csv", "xlsx", "parquet"]
FORMATS: tuple[Format, ...] = ("jsonl", "csv", "xlsx", "parquet")

@dataclass(frozen=True)
class ConstraintLink:
    """A field's 勾稽关系 in the fields table: which (`id`, an index in the record's `constraints`), whether it
    holds, and its arithmetic with the record's numbers."""

    id: int
    name: str
    status: str
    text: str

    def __str__(self) -> str:
        return f"{self.status} #{self.id} {self.name}：{self.text}"


Value = bool | int | float | Decimal | str | list[int] | list[ConstraintLink] | None
"""One table cell: a count, an exact amount, a confidence, text, a flag, a box or a field's constraint links
(nested in jsonl and parquet, compact text in csv and xlsx), or nothing."""

REPORT_COLUMNS = ("source", "sha256", "template", "agency", "year", "date", "agency_confidence",
                  "year_confidence", "date_confidence", "fields_needing_review", "unmapped_rows")
FIELD_COLUMNS = ("source", "sha256", "field", "label", "value", "value_source", "corrected_by", "text",
                 "confidence", "needs_review", "source_inconsistent", "flags", "reasons", "suggestion", "page",
                 "table", "row", "col", "bbox", "constraints")
_FIXED_TYPES = {  # the fixed columns' arrow types, so a parquet schema does not change with the data
    "source": "string", "sha256": "string", "template": "string", "agency": "string", "year": "int64",
    "date": "string", "agency_confidence": "float64", "year_confidence": "float64", "date_confidence": "float64",
    "fields_needing_review": "int64", "unmapped_rows": "int64", "field": "string",
    "label": "string", "value_source": "string", "corrected_by": "string",
    "text": "string", "confidence": "float64", "needs_review": "bool",
    "source_inconsistent": "bool", "flags": "string", "reasons": "string", "page": "int64", "table": "int64",
    "row": "int64", "col": "int64", "bbox": "bbox", "constraints": "constraints",
}
FLAG_SEPARATOR = ","
REASON_SEPARATOR = "; "
BBOX_SEPARATOR = ","
SUMMARY_NAME = "_summary.json"

_INT64 = 2**63
_MAX_DECIMAL_PRECISION = 76  # pyarrow's decimal256


ValueSource = Literal["read", "repaired", "corrected"]


class FieldProvenance(Protocol):
    """Where a field's value in force comes from: the store's `FieldSource` is one (read by attribute)."""

    @property
    def source(self) -> ValueSource: ...

    @property
    def by(self) -> str | None: ...


Sources = Mapping[str, FieldProvenance]
"""One record's provenance by field key; a key it lacks is judged from the record itself."""


@dataclass(frozen=True)
class Sheet:
    """One output table: its name (file stem, or xlsx sheet) and its rows in column order."""

    name: str
    columns: list[str]
    rows: list[list[Value]]
    types: dict[str, str] = field(default_factory=dict)  # arrow type alias of the fixed columns, by name


# ---------------------------------------------------------------- reading the records


def record_files(out_dir: Path) -> list[Path]:
    """The records of an `ingest` output folder, by name; skips the summary and dot-named files, which
    are `write_atomic`'s temp files of a run still writing (or killed mid-write)."""
    return sorted(p for p in out_dir.glob("*.json")
                  if p.name != SUMMARY_NAME and not p.name.startswith(".") and p.is_file())


def load_records(out_dir: Path) -> tuple[list[Record], list[str]]:
    """Every record that parses, and one line per file that does not (naming it and why), so one bad
    file does not keep the others from being exported."""
    records: list[Record] = []
    errors: list[str] = []
    for path in record_files(out_dir):
        try:
            records.append(Record.model_validate_json(path.read_bytes()))
        except ValidationError as exc:
            errors.append(f"{path}: {_validation_reason(exc)}")
        except OSError as exc:
            errors.append(f"{path}: cannot read ({exc.strerror or exc})")
    return records, errors


def _validation_reason(exc: ValidationError) -> str:
    errs = exc.errors(include_url=False)
    first = errs[0]
    if first["type"] == "json_invalid":
        return f"not valid JSON ({first['msg'].removeprefix('Invalid JSON: ')})"
    loc = ".".join(map(str, first["loc"])) or "record"
    more = f" (and {len(errs) - 1} more)" if len(errs) > 1 else ""
    return f"not a valid record: {loc}: {first['msg']}{more}".replace("\n", " ")


# ---------------------------------------------------------------- the two tables


def field_keys(records: Iterable[Record]) -> list[str]:
    """Union of the records' field keys in template order: a key one record lacks is placed after the
    key it follows in the records that have it, not at the end."""
    keys: list[str] = []
    seen: set[str] = set()
    for record in records:
        prev: str | None = None
        for key in record.fields:
            if key not in seen:
                keys.insert(keys.index(prev) + 1 if prev is not None else 0, key)
                seen.add(key)
            prev = key
    return keys


def report_rows(records: Sequence[Record]) -> Sheet:
    """Wide: one row per report, one column per field key, value only."""
    keys = field_keys(records)
    rows: list[list[Value]] = []
    for r in records:
        review = sum(f.needs_review for f in r.fields.values())
        info = r.report
        head: list[Value] = [r.source, r.sha256, r.template, info.agency, info.year, info.date,
                             info.agency_confidence, info.year_confidence, info.date_confidence, review,
                             len(r.unmapped)]
        rows.append(head + [f.value if (f := r.fields.get(k)) is not None else None for k in keys])
    return Sheet("reports", [*REPORT_COLUMNS, *keys], rows, {c: _FIXED_TYPES[c] for c in REPORT_COLUMNS})


def field_rows(records: Sequence[Record], sources: Sequence[Sources] | None = None) -> Sheet:
    """Long: one row per report x field, then one per cell of each unmapped row (`field` empty, `label`
    the printed row label; a row with no cells still gets one line). `needs_review`, `flags` and
    `reasons` stay empty for unmapped cells: nothing has judged them. `bbox` is the cell's box on its page;
    `constraints` the 勾稽关系 the field takes part in, each with its status and numbers. `value_source` is
    the field's entry in `sources` (one mapping per record, from the store), else repaired when a repair
    set the value, else read; unmapped cells are as read."""
    if sources is not None and len(sources) != len(records):
        raise ValueError(f"field_rows: {len(sources)} provenance mappings for {len(records)} records")
    rows: list[list[Value]] = []
    for ri, r in enumerate(records):
        known = sources[ri] if sources is not None else {}
        for key, f in r.fields.items():
            links = [ConstraintLink(i, r.constraints[i].name, r.constraints[i].status, r.constraints[i].text)
                     for i in f.constraints]
            given = known.get(key)
            origin: ValueSource = (given.source if given is not None
                                   else "repaired" if "repaired" in f.flags else "read")
            by = given.by if given is not None and given.source == "corrected" else None
            rows.append([r.source, r.sha256, key, None, f.value, origin, by, f.text, f.confidence, f.needs_review,
                         "source_inconsistent" in f.flags, FLAG_SEPARATOR.join(f.flags),
                         REASON_SEPARATOR.join(f.reasons), f.suggestion, f.page, f.table, f.row, f.col,
                         list(f.bbox) if f.bbox is not None else None, links])
        for u in r.unmapped:
            boxes = {(c.row, c.col): c.bbox for c in r.tables[u.table].cells} if u.table < len(r.tables) else {}
            for v in u.values or [None]:
                box = boxes.get((u.row, v.col)) if v else None
                rows.append([r.source, r.sha256, None, u.label, v.value if v else None, "read" if v else None, None,
                             v.text if v else None, v.confidence if v else None, None, None, None, None, None,
                             u.page, u.table, u.row, v.col if v else None, list(box) if box is not None else None,
                             []])
    return Sheet("fields", list(FIELD_COLUMNS), rows,
                 {c: _FIXED_TYPES[c] for c in FIELD_COLUMNS if c in _FIXED_TYPES})


def tables(records: Sequence[Record], sources: Sequence[Sources] | None = None) -> list[Sheet]:
    return [report_rows(records), field_rows(records, sources)]


# ---------------------------------------------------------------- writing


def output_paths(fmt: Format, to_dir: Path) -> list[Path]:
    """The files `write` replaces: xlsx is one workbook holding both tables as sheets."""
    if fmt == "xlsx":
        return [to_dir / "reports.xlsx"]
    return [to_dir / f"reports.{fmt}", to_dir / f"fields.{fmt}"]


def write(records: Sequence[Record], fmt: Format, to_dir: Path, sources: Sequence[Sources] | None = None
          ) -> list[Path]:
    """Write both tables in `fmt` under `to_dir` (`sources`: per record, see `field_rows`); returns the
    paths written.

    Every file is filled as a temp file beside its target, and all of them are filled before any is
    renamed into place: a failure (disk full, a folder in the way) leaves the previous export whole.
    """
    sheets = tables(records, sources)
    paths = output_paths(fmt, to_dir)
    if fmt == "xlsx":
        _write_together([(paths[0], lambda tmp: _write_xlsx(sheets, tmp))])
    else:
        writer = {"jsonl": _write_jsonl, "csv": _write_csv, "parquet": _write_parquet}[fmt]
        _write_together([(p, lambda tmp, s=s: writer(s, tmp)) for p, s in zip(paths, sheets, strict=True)])
    return paths


def _write_together(outputs: Sequence[tuple[Path, Callable[[Path], None]]]) -> None:
    """Nest `write_atomic`s so each rename happens only once every later file is written and renamed."""
    if not outputs:
        return
    (path, fill), rest = outputs[0], outputs[1:]

    def write_then_rest(tmp: Path) -> None:
        fill(tmp)
        _fsync(tmp)
        _write_together(rest)

    write_atomic(path, write_then_rest)


def _fsync(path: Path) -> None:
    with path.open("rb") as fh:
        os.fsync(fh.fileno())


def _digits(d: Decimal) -> str:
    """A decimal's exact digits, never in exponent notation (`1E+2` -> `100`)."""
    return format(d, "f")


def _text(v: Value) -> str:
    """A value as CSV text: exact digits for decimals, empty for nothing, a box as `x0,y0,x1,y1`, links
    one after another (`fails #3 <name>：总计 12 ≠ 3 + 4`)."""
    if v is None:
        return ""
    if isinstance(v, list):
        return (BBOX_SEPARATOR if all(isinstance(x, int) for x in v) else REASON_SEPARATOR).join(map(str, v))
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Decimal):
        return _digits(v) if v.is_finite() else str(v)
    return str(v)


def _json(v: Value) -> str:
    """A value as a JSON literal; a decimal as a number literal of its digits, which
    `json.loads(parse_float=Decimal)` reads back exactly (the json module has no hook to write one)."""
    if isinstance(v, Decimal):
        return _digits(v) if v.is_finite() else json.dumps(str(v))
    if isinstance(v, list):
        return json.dumps([asdict(x) if isinstance(x, ConstraintLink) else x for x in v], ensure_ascii=False)
    return json.dumps(v, ensure_ascii=False)


def _write_jsonl(sheet: Sheet, path: Path) -> None:
    keys = [json.dumps(c, ensure_ascii=False) for c in sheet.columns]
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for row in sheet.rows:
            fh.write("{" + ", ".join(f"{k}: {_json(v)}" for k, v in zip(keys, row, strict=True)) + "}\n")


def _write_csv(sheet: Sheet, path: Path) -> None:
    """UTF-8 with a BOM: without it Excel reads the file in the local code page and garbles the Chinese."""
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(sheet.columns)
        out.writerows([_csv_safe(_text(v)) if isinstance(v, str) else _text(v) for v in row] for row in sheet.rows)


_FORMULA_START = ("=", "+", "@", "\t", "\r")


def _csv_safe(text: str) -> str:
    """Text from a scan opened in Excel must not run as a formula: '=...' is kept as text with a quote.

    A lone '-' (a printed dash) or a negative figure stays as it is.
    """
    risky = text.startswith(_FORMULA_START) or (text.startswith("-") and len(text) > 1
                                                and not text[1:].replace(".", "", 1).isdigit())
    return "'" + text if risky else text


def _scale(d: Decimal) -> int:
    exponent = d.as_tuple().exponent
    return max(-exponent, 0) if isinstance(exponent, int) else 0


def _write_xlsx(sheets: Sequence[Sheet], path: Path) -> None:
    """Amounts as numbers whose format shows the printed digits (`267.9503` -> `0.0000`, so Excel does not
    show 267.95 or drop a trailing zero); text always as text, never a formula."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font

    wb = Workbook(write_only=True)
    bold = Font(bold=True)
    for sheet in sheets:
        ws = wb.create_sheet(sheet.name)
        ws.freeze_panes = "A2"

        def cell(v: Value, ws: object = ws) -> object:
            if isinstance(v, list):
                v = _text(v)
            if isinstance(v, Decimal) and v.is_finite():
                c = WriteOnlyCell(ws, value=v)
                scale = _scale(v)
                c.number_format = "0." + "0" * scale if scale else "0"
                return c
            if isinstance(v, str):
                c = WriteOnlyCell(ws, value=ILLEGAL_CHARACTERS_RE.sub("\ufffd", v))
                c.data_type = "s"  # OCR text starting with "=" is not a formula
                return c
            return _text(v) if isinstance(v, Decimal) else v

        header = []
        for name in sheet.columns:
            h = WriteOnlyCell(ws, value=name)
            h.font = bold
            header.append(h)
        ws.append(header)
        for row in sheet.rows:
            ws.append([cell(v) for v in row])
    wb.save(path)


def _write_parquet(sheet: Sheet, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = []
    for i, name in enumerate(sheet.columns):
        values = [row[i] for row in sheet.rows]
        fixed = sheet.types.get(name)
        if fixed == "constraints":
            values = [None if v is None else [asdict(x) for x in v] for v in values]  # type: ignore[union-attr]
        arrays.append(pa.array(values, type=_arrow_type(fixed)) if fixed else _arrow_array(values))
    pq.write_table(pa.Table.from_arrays(arrays, names=sheet.columns), path)


def _arrow_type(alias: str) -> pa.DataType:
    """An arrow type alias, or one of the nested columns': a box, a field's constraint links."""
    import pyarrow as pa

    if alias == "bbox":
        return pa.list_(pa.int64())
    if alias == "constraints":
        return pa.list_(pa.struct([("id", pa.int64()), ("name", pa.string()), ("status", pa.string()),
                                   ("text", pa.string())]))
    return pa.type_for_alias(alias)


def _arrow_array(values: list[Value]) -> pa.Array:
    """A column typed by what it holds: int64 counts, decimals with a precision and scale that hold every
    value exactly (ints beside them become decimals too), float, bool; anything mixed as text."""
    import pyarrow as pa

    present = [v for v in values if v is not None]
    if not present:
        return pa.array(values, type=pa.string())
    if all(isinstance(v, bool) for v in present):
        return pa.array(values, type=pa.bool_())
    numeric = all(isinstance(v, int | Decimal) and not isinstance(v, bool) for v in present)
    if numeric and all(isinstance(v, int) and -_INT64 <= v < _INT64 for v in present):
        return pa.array(values, type=pa.int64())
    if numeric and (dtype := _decimal_type([Decimal(v) for v in present])) is not None:  # type: ignore[arg-type]
        return pa.array([None if v is None else Decimal(v) for v in values], type=dtype)  # type: ignore[arg-type]
    if all(isinstance(v, float) for v in present):
        return pa.array(values, type=pa.float64())
    return pa.array([None if v is None else _text(v) for v in values], type=pa.string())


def _decimal_type(values: Sequence[Decimal]) -> pa.DataType | None:
    """The smallest decimal type holding every value exactly, or None when none can (NaN, > 76 digits)."""
    import pyarrow as pa

    int_digits, scale = 1, 0
    for d in values:
        if not d.is_finite():
            return None
        digits, exponent = d.as_tuple().digits, int(d.as_tuple().exponent)
        scale = max(scale, -exponent)
        int_digits = max(int_digits, len(digits) + exponent)
    precision = int_digits + scale
    if precision > _MAX_DECIMAL_PRECISION:
        return None
    return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
