"""Stage 7: document templates as data, and matching a record's tables to one.

A template (YAML under `ocr/templates/`) declares a document type: how to recognise it, its tables and
their row and column labels, the value type of every number and the arithmetic between them, so a new
report type is a new file, not new code. Matching never trusts positions alone, nor labels alone:
labels are compared fuzzily (OCR garbles them) and row and column order is the prior that places a
label too damaged to read between two that were read.
"""

from __future__ import annotations

import datetime as dt
import re
import statistics
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rapidfuzz import fuzz

from ocr.errors import TemplateError
from ocr.model import (
    Cell,
    Constraint,
    FieldValue,
    MappedCell,
    ReportInfo,
    Table,
    UnmappedRow,
    UnmappedValue,
    ValueType,
)
from ocr.repair import normalize as normalize_value

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

# Label similarity is 0..100 (rapidfuzz). A pair this similar is an anchor on its own; between two
# anchors, leftover rows pair up in order when they are as many on both sides and not unlike.
ANCHOR = 50.0
GAP_ANCHOR = 30.0  # a second, looser pass inside a gap where the counts differ
GAP_FLOOR = 25.0  # an order-only pairing still needs this much likeness (or an empty label)
BLOCK_MIN = 45.0  # a printed block scoring under this against every template block is not the template's
TITLE_WORDS_MIN = 85.0
RECOGNISE_WORD_MIN = 80.0
RECOGNISE_SHARE = 0.5  # share of a template table's words found in the record's tables to recognise it
HEADER_LABEL_MIN = 80.0  # a label cell this like a template label is a label, never a number


# ---------------------------------------------------------------- the file format (validated on load)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_Label = Field(min_length=1, pattern=r"\S")


class _NodeSpec(_Spec):
    key: str | None = Field(None, pattern=r"^[a-z][a-z0-9_]*$")
    label: str = _Label
    short: str | None = None
    variants: list[str] = Field(default_factory=list)
    type: ValueType | None = None


class ColumnSpec(_NodeSpec):
    columns: list[ColumnSpec] = Field(default_factory=list)


class RowSpec(_NodeSpec):
    rows: list[RowSpec] = Field(default_factory=list)


class BlockSpec(_Spec):
    heading: str | None = None
    heading_variants: list[str] = Field(default_factory=list)
    stub: str | None = None
    type: ValueType | None = None
    columns: list[ColumnSpec] = Field(min_length=1)
    rows: list[RowSpec] = Field(default_factory=list)


class TableSpec(_Spec):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str = _Label
    short: str = _Label
    recognise: list[str] = Field(min_length=1)
    header_rows: int = Field(ge=0)
    prefix: str = Field("", pattern=r"^([a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*)?$")
    type: ValueType = "integer"
    stub: str | None = None
    columns: list[ColumnSpec] = Field(default_factory=list)
    rows: list[RowSpec] = Field(default_factory=list)
    blocks: list[BlockSpec] = Field(default_factory=list)


class IdentifySpec(_Spec):
    title: str
    title_words: str = _Label
    closing: str | None = None


class ConstraintSpec(_Spec):
    table: str
    each: Literal["row", "column", "row_group", "column_group"] | None = None
    lhs: list[str] = Field(min_length=1)
    rhs: list[str] = Field(min_length=1)
    name: str | None = None


class TemplateSpec(_Spec):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str = _Label
    identify: IdentifySpec
    tables: list[TableSpec] = Field(min_length=1)
    constraints: list[ConstraintSpec] = Field(default_factory=list)


# ---------------------------------------------------------------- the loaded template


@dataclass(frozen=True)
class Node:
    """A leaf row or column of a block, as matching sees it."""

    key: str  # keys along its path, e.g. "withheld.state_secret"; "" for the unlabelled row of a block
    texts: tuple[str, ...]  # normalised label and variants
    groups: tuple[str, ...]  # normalised labels of its ancestors, outermost first
    short: str  # operator words along its path, e.g. "（三）不予公开 1.属于国家秘密"
    own: str  # its own operator words, e.g. "1.属于国家秘密": a term in a constraint's name
    type: ValueType | None


@dataclass(frozen=True)
class Group:
    """An inner node of a label tree, for constraints that repeat in every group."""

    key: str
    short: str
    children: tuple[tuple[str, str], ...]  # (key relative to the group, key within the table)


@dataclass(frozen=True)
class Block:
    """A part of a template table with its own column header (table 二 has four)."""

    heading: tuple[str, ...]  # normalised heading and variants; () when the block has none
    stub: str  # normalised header over the row labels; "" when none
    columns: tuple[Node, ...]
    rows: tuple[Node, ...]
    column_groups: tuple[Group, ...]
    row_groups: tuple[Group, ...]
    fields: tuple[tuple[str, ...], ...]  # field key of [row][column]


@dataclass(frozen=True)
class TemplateTable:
    key: str
    title: str
    short: str
    recognise: tuple[str, ...]  # normalised
    header_rows: int
    blocks: tuple[Block, ...]

    def label_texts(self) -> tuple[str, ...]:
        """Every normalised header text of the table: what is a label and never a number."""
        out: list[str] = []
        for b in self.blocks:
            out += [*b.heading, b.stub, *(t for n in b.columns for t in (*n.texts, *n.groups))]
            out += [t for n in b.rows for t in (*n.texts, *n.groups)]
        return tuple(t for t in out if t)


@dataclass(frozen=True, eq=False)
class Template:
    """A document type: what the record's `template` names, and everything matching and repair need."""

    id: str
    name: str
    path: Path
    title: re.Pattern[str]
    title_words: str
    closing: re.Pattern[str] | None
    tables: tuple[TemplateTable, ...]
    value_types: dict[str, ValueType]  # every field key, in template order
    labels: dict[str, str]  # short printed words per field key, for reasons
    constraints: list[Constraint]

    def table(self, key: str) -> TemplateTable:
        return next(t for t in self.tables if t.key == key)


def load_template(path: Path | str) -> Template:
    """Read and check one template file; any fault raises TemplateError naming the file and the entry."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TemplateError(path, "", f"cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise TemplateError(path, "", f"not UTF-8 text (byte {exc.start})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise TemplateError(path, "", f"not valid YAML: {problem}{where}") from exc
    if not isinstance(data, dict):
        raise TemplateError(path, "", "expected a mapping at the top level")
    try:
        spec = TemplateSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise TemplateError(path, *_pydantic_entry(err)) from exc
    return _Builder(path, spec).build()


def load_templates(directory: Path | str | None = None) -> list[Template]:
    """Every `*.yaml` template in `directory` (default: the shipped ones), sorted by file name."""
    folder = Path(directory) if directory is not None else TEMPLATES_DIR
    templates: list[Template] = []
    seen: dict[str, Path] = {}
    for path in sorted(folder.glob("*.yaml")):
        template = load_template(path)
        if template.id in seen:
            raise TemplateError(path, "id", f"duplicate template id '{template.id}' (also in {seen[template.id].name})")
        seen[template.id] = path
        templates.append(template)
    return templates


def _entry(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _pydantic_entry(err: Any) -> tuple[str, str]:
    """(entry, reason) in the file's own words for the first validation error."""
    loc = tuple(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        return _entry(loc[:-1]) or "(top level)", f"unknown key '{loc[-1]}'"
    if kind == "missing":
        return _entry(loc[:-1]) or "(top level)", f"missing '{loc[-1]}'"
    return _entry(loc), err["msg"]


def normalize(text: str) -> str:
    """Label text as compared: NFKC, no whitespace, no punctuation or symbols (quote and bracket
    variants, line breaks and stray spaces from OCR all fold away)."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in text if unicodedata.category(ch)[0] not in "PSZC")


def _squash(text: str) -> str:
    """A line as the title/closing regexes see it: NFKC, whitespace removed, punctuation kept."""
    return "".join(unicodedata.normalize("NFKC", text).split())


class _Builder:
    """Turns a validated spec into a Template, checking what pydantic cannot (keys, regexes, sums)."""

    def __init__(self, path: Path, spec: TemplateSpec) -> None:
        self.path = path
        self.spec = spec
        self.value_types: dict[str, ValueType] = {}
        self.labels: dict[str, str] = {}

    def fail(self, entry: str, reason: str) -> TemplateError:
        return TemplateError(self.path, entry, reason)

    def build(self) -> Template:
        spec = self.spec
        title = self.regex("identify.title", spec.identify.title, ("agency", "year"))
        closing = (self.regex("identify.closing", spec.identify.closing, ("year", "month", "day"))
                   if spec.identify.closing is not None else None)
        tables: list[TemplateTable] = []
        keys: set[str] = set()
        for i, t in enumerate(spec.tables):
            if t.key in keys:
                raise self.fail(f"tables[{i}].key", f"duplicate table key '{t.key}'")
            keys.add(t.key)
            tables.append(self.table(f"tables[{i}]", t))
        constraints: list[Constraint] = []
        for i, c in enumerate(spec.constraints):
            constraints += self.constraint(f"constraints[{i}]", c, tables)
        return Template(id=spec.id, name=spec.name, path=self.path, title=title,
                        title_words=normalize(spec.identify.title_words), closing=closing,
                        tables=tuple(tables), value_types=self.value_types, labels=self.labels,
                        constraints=constraints)

    def regex(self, entry: str, pattern: str, groups: tuple[str, ...]) -> re.Pattern[str]:
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise self.fail(entry, f"bad regex: {exc}") from exc
        missing = [g for g in groups if g not in compiled.groupindex]
        if missing:
            raise self.fail(entry, f"regex lacks the named group(s) {', '.join(missing)}")
        return compiled

    def table(self, entry: str, t: TableSpec) -> TemplateTable:
        single = bool(t.columns or t.rows or t.stub is not None)
        if t.blocks and single:
            raise self.fail(entry, "give either 'blocks' or 'stub'/'columns'/'rows', not both")
        if not t.blocks and not t.columns:
            raise self.fail(entry, "missing 'columns' (or 'blocks')")
        if t.blocks:
            specs = [(f"{entry}.blocks[{i}]", b) for i, b in enumerate(t.blocks)]
        else:
            specs = [(entry, BlockSpec(stub=t.stub, columns=t.columns, rows=t.rows))]
        blocks = tuple(self.block(e, t, b) for e, b in specs)
        return TemplateTable(key=t.key, title=t.title, short=t.short,
                             recognise=tuple(normalize(w) for w in t.recognise),
                             header_rows=t.header_rows, blocks=blocks)

    def block(self, entry: str, t: TableSpec, b: BlockSpec) -> Block:
        columns: list[Node] = []
        column_groups: list[Group] = []
        self.walk(f"{entry}.columns", b.columns, "columns", (), (), (), None, columns, column_groups)
        rows: list[Node] = []
        row_groups: list[Group] = []
        if b.rows:
            self.walk(f"{entry}.rows", b.rows, "rows", (), (), (), None, rows, row_groups)
        else:
            rows.append(Node(key="", texts=(), groups=(), short="", own="", type=None))
        fields: list[tuple[str, ...]] = []
        for row in rows:
            keys: list[str] = []
            for col in columns:
                key = ".".join(k for k in (t.prefix, row.key, col.key) if k)
                if key in self.value_types:
                    where = f"{entry}.rows" if b.rows else f"{entry}.columns"
                    raise self.fail(where, f"duplicate field key '{key}'")
                self.value_types[key] = row.type or col.type or b.type or t.type
                self.labels[key] = " ".join(s for s in (row.short, col.short) if s)
                keys.append(key)
            fields.append(tuple(keys))
        heading = (tuple(normalize(h) for h in (b.heading, *b.heading_variants) if normalize(h))
                   if b.heading else ())
        return Block(heading=heading, stub=normalize(b.stub or ""), columns=tuple(columns), rows=tuple(rows),
                     column_groups=tuple(column_groups), row_groups=tuple(row_groups), fields=tuple(fields))

    def walk(self, entry: str, nodes: Sequence[_NodeSpec], children: str, keys: tuple[str, ...],
             shorts: tuple[str, ...], groups: tuple[str, ...], inherited: ValueType | None,
             out: list[Node], out_groups: list[Group]) -> list[str]:
        """Flatten a label tree into leaves (in order); returns the leaves' keys within the table."""
        seen: set[str] = set()
        leaf_keys: list[str] = []
        for i, node in enumerate(nodes):
            where = f"{entry}[{i}]"
            if node.key is not None:
                if node.key in seen:
                    raise self.fail(where, f"duplicate key '{node.key}'")
                seen.add(node.key)
            short = node.label if node.short is None else node.short
            path_keys = (*keys, node.key) if node.key else keys
            path_shorts = (*shorts, short) if short else shorts
            kids: Sequence[_NodeSpec] = getattr(node, children)
            vtype = node.type or inherited
            if kids:
                below = self.walk(f"{where}.{children}", kids, children, path_keys, path_shorts,
                                  (*groups, normalize(node.label)), vtype, out, out_groups)
                if node.key:
                    prefix = ".".join(path_keys) + "."
                    out_groups.append(Group(key=".".join(path_keys), short=" ".join(path_shorts),
                                            children=tuple((k.removeprefix(prefix), k) for k in below)))
                leaf_keys += below
                continue
            if node.key is None:
                raise self.fail(where, f"'{node.label}' has no {children} below it, so it needs a key")
            texts = tuple(dict.fromkeys(t for t in (normalize(node.label), *map(normalize, node.variants)) if t))
            if not texts:
                raise self.fail(where, f"label '{node.label}' has no letters to match")
            key = ".".join(path_keys)
            out.append(Node(key=key, texts=texts, groups=groups, short=" ".join(path_shorts), own=short or key,
                            type=vtype))
            leaf_keys.append(key)
        return leaf_keys

    def constraint(self, entry: str, c: ConstraintSpec, tables: list[TemplateTable]) -> list[Constraint]:
        table = next((t for t in tables if t.key == c.table), None)
        if table is None:
            raise self.fail(f"{entry}.table", f"unknown table '{c.table}'")
        instances: list[Constraint] = []
        found: set[str] = set()  # items resolved somewhere in the table
        for block in table.blocks:
            for scope in _scopes(block, c.each, list(self.value_types)):
                names = [k for k, _ in scope.items]
                lhs = self.expand(entry, "lhs", c.lhs, names, found)
                rhs = self.expand(entry, "rhs", c.rhs, names, found)
                if lhs is None or rhs is None:
                    continue
                by = dict(scope.items)
                fmt = c.name or _default_name(c.each)
                values = {"table": table.short, "row": scope.row, "col": scope.col, "group": scope.group,
                          "lhs": " + ".join(scope.shorts[k] for k in lhs),
                          "rhs": " + ".join(scope.shorts[k] for k in rhs)}
                try:
                    name = fmt.format(**values)
                except (KeyError, IndexError, ValueError, AttributeError) as exc:
                    raise self.fail(f"{entry}.name", f"bad placeholder {exc} (use {{table}} {{row}} {{col}} "
                                                     "{group})") from exc
                instances.append(Constraint(name=" ".join(name.split()), lhs=tuple(by[k] for k in lhs),
                                            rhs=tuple(by[k] for k in rhs)))
        for side, items in (("lhs", c.lhs), ("rhs", c.rhs)):
            for i, item in enumerate(items):
                for part in item.split(".."):
                    if part.strip() not in found:
                        what = {"row": "column", "column": "row", "row_group": "row in a group",
                                "column_group": "column in a group", None: "field"}[c.each]
                        raise self.fail(f"{entry}.{side}[{i}]", f"unknown {what} '{part.strip()}' in table "
                                                                f"'{c.table}'")
        if not instances:
            raise self.fail(entry, f"no place in table '{c.table}' has all of its items")
        return instances

    def expand(self, entry: str, side: str, items: list[str], names: list[str],
               found: set[str]) -> list[str] | None:
        """Items with `a..b` ranges spelt out over `names`; None when one is not there."""
        out: list[str] = []
        ok = True
        for i, item in enumerate(items):
            if ".." in item:
                a, _, b = (s.strip() for s in item.partition(".."))
                if a in names and b in names:
                    found.update((a, b))
                    ia, ib = names.index(a), names.index(b)
                    if ia > ib:
                        raise self.fail(f"{entry}.{side}[{i}]", f"range '{item}' runs backwards")
                    out += names[ia:ib + 1]
                    continue
                found.update(x for x in (a, b) if x in names)
                ok = False
            elif item in names:
                found.add(item)
                out.append(item)
            else:
                ok = False
        return out if ok else None


@dataclass
class _Scope:
    """One place a constraint repeats: its items (relative key, field key), short words, and context."""

    items: list[tuple[str, str]]
    shorts: dict[str, str]
    row: str = ""
    col: str = ""
    group: str = ""


def _scopes(block: Block, each: str | None, all_keys: list[str]) -> Iterator[_Scope]:
    key = {(r.key, c.key): block.fields[i][j] for i, r in enumerate(block.rows) for j, c in enumerate(block.columns)}
    if each == "row":
        for r in block.rows:
            yield _Scope([(c.key, key[r.key, c.key]) for c in block.columns],
                         {c.key: c.own for c in block.columns}, row=r.short)
    elif each == "column":
        for c in block.columns:
            yield _Scope([(r.key, key[r.key, c.key]) for r in block.rows],
                         {r.key: r.own for r in block.rows}, col=c.short)
    elif each == "column_group":
        shorts = {c.key: c.own for c in block.columns}
        for g in block.column_groups:
            for r in block.rows:
                yield _Scope([(rel, key[r.key, full]) for rel, full in g.children],
                             {rel: shorts[full] for rel, full in g.children}, row=r.short, group=g.short)
    elif each == "row_group":
        shorts = {r.key: r.own for r in block.rows}
        for g in block.row_groups:
            for c in block.columns:
                yield _Scope([(rel, key[full, c.key]) for rel, full in g.children],
                             {rel: shorts[full] for rel, full in g.children}, col=c.short, group=g.short)
    else:
        own = set(key.values())
        yield _Scope([(k, k) for k in all_keys if k in own], {k: k for k in all_keys if k in own})


def _default_name(each: str | None) -> str:
    where = {"row": "{table} {row}：", "column": "{table} {col}列：", "row_group": "{table} {group} {col}列：",
             "column_group": "{table} {group}：", None: "{table}："}[each]
    return where + "{lhs} = {rhs}"


# ---------------------------------------------------------------- label similarity


def similarity(text: str, choices: Sequence[str]) -> float:
    """0..100: how much a normalised label read by OCR looks like any of the normalised `choices`.

    Whole-string likeness (Indel ratio), or, for a reading shorter than the label (truncated, a wrapped
    line lost, a note left out), its likeness to the best part of the label. Never the other way round:
    a reading much longer than a label is more likely two labels run together (a lost rule)."""
    best = 0.0
    for choice in choices:
        if not text or not choice:
            continue
        score = fuzz.ratio(text, choice)
        if 4 <= len(text) < len(choice):
            score = max(score, 0.9 * fuzz.partial_ratio(text, choice))
        best = max(best, score)
    return best


Merged = dict[tuple[int, int, int], float]
"""Likeness of printed item i to template items j..j+k-1 read as one, keyed (i, j, k), k >= 2."""

MAX_MERGED = 5  # template items one printed item may swallow when rules between them were lost


def _monotonic(sims: list[list[float]], floor: float, merged: Merged | None = None) -> list[tuple[int, int, int]]:
    """The order-preserving pairing (i, j, k) of printed item i with template items j..j+k-1 that
    maximises the sum of (similarity - floor); k > 1 only where `merged` offers it."""
    merged = merged or {}
    n = len(sims)
    m = len(sims[0]) if n else 0
    best = [[0.0] * (m + 1) for _ in range(n + 1)]
    step: dict[tuple[int, int], int] = {}  # 0: skip i, -1: skip j, k: pair with k template items
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            value, how = best[i + 1][j], 0
            if best[i][j + 1] > value:
                value, how = best[i][j + 1], -1
            for k in range(1, min(MAX_MERGED, m - j) + 1):
                gain = (sims[i][j] if k == 1 else merged.get((i, j, k), 0.0)) - floor
                if gain > 0 and gain + best[i + 1][j + k] > value:
                    value, how = gain + best[i + 1][j + k], k
            best[i][j] = value
            step[i, j] = how
    pairs: list[tuple[int, int, int]] = []
    i = j = 0
    while i < n and j < m:
        how = step[i, j]
        if how > 0:
            pairs.append((i, j, how))
            i, j = i + 1, j + how
        elif how == 0:
            i += 1
        else:
            j += 1
    return pairs


def align_sequence(sims: list[list[float]], empty: Sequence[bool], merged: Merged | None = None,
                   floor: float = ANCHOR) -> list[tuple[int, int, int]]:
    """Pair printed items (rows of `sims`) with template items (columns) keeping both orders; each pair
    is (printed, first template item, how many template items it covers: 1 unless merged).

    Clear matches anchor; between anchors, leftovers pair in order when they are as many on both sides
    (one damaged label between two good ones), else the gap is aligned again with looser anchors. When
    the counts differ and no label says where the odd one is, the gap stays unpaired: pairing by order
    there would guess, and a wrong guess shifts a whole run onto its neighbours (a skipped column whose
    numbers satisfy their own sums)."""
    anchors = _monotonic(sims, floor, merged)
    n = len(sims)
    m = len(sims[0]) if n else 0
    pairs: list[tuple[int, int, int]] = []
    bounds = [(-1, -1, 1), *anchors, (n, m, 1)]
    for (i0, j0, k0), (i1, j1, k1) in zip(bounds, bounds[1:], strict=False):
        gap_i, gap_j = list(range(i0 + 1, i1)), list(range(j0 + k0, j1))
        if gap_i and gap_j:
            if len(gap_i) > len(gap_j) and floor <= GAP_ANCHOR:
                # More printed than template items: a label read plainly and unlike them all is an extra
                # row (政府集中采购); when dropping those leaves as many, they pair in order.
                kept = [i for i in gap_i if empty[i] or max(sims[i][j] for j in gap_j) >= GAP_FLOOR]
                gap_i = kept if len(kept) == len(gap_j) else gap_i
            if len(gap_i) == len(gap_j):
                pairs += [(i, j, 1) for i, j in zip(gap_i, gap_j, strict=True) if empty[i] or sims[i][j] >= GAP_FLOOR]
            elif floor > GAP_ANCHOR:
                sub = align_sequence([[sims[i][j] for j in gap_j] for i in gap_i], [empty[i] for i in gap_i],
                                     floor=GAP_ANCHOR)
                pairs += [(gap_i[a], gap_j[b], 1) for a, b, _ in sub]
        if i1 < n:
            pairs.append((i1, j1, k1))
    return sorted(pairs)


def _run_likeness(text: str, joined: str) -> float:
    """Likeness of one reading to several labels joined: OCR reads side-by-side merged cells line by
    line, interleaving them, so the characters count as much as their order."""
    if not text or not joined:
        return 0.0
    common = sum((Counter(text) & Counter(joined)).values())
    return max(fuzz.ratio(text, joined), 200.0 * common / (len(text) + len(joined)))


def _merged(texts: Sequence[str], paths: Sequence[str], nodes: Sequence[Node]) -> Merged:
    """Likeness of each reading to runs of 2..MAX_MERGED consecutive template labels joined (with the
    whole header path too, when there is one, as for single columns)."""
    out: Merged = {}
    for i, text in enumerate(texts):
        if not text:
            continue
        for j in range(len(nodes)):
            for k in range(2, min(MAX_MERGED, len(nodes) - j) + 1):
                run = nodes[j:j + k]
                joined = "".join(n.texts[0] for n in run if n.texts)
                if len(text) < 0.6 * len(joined):
                    continue
                score = _run_likeness(text, joined)
                if paths[i] and run[0].groups:
                    score = (score + _run_likeness(paths[i], "".join(run[0].groups) + joined)) / 2
                out[i, j, k] = score
    return out


# ---------------------------------------------------------------- the record's tables, joined and parsed


_NUMERIC = re.compile(r"[\d.,OoIl|SB]*\d[\d.,OoIl|SB]*|[-—–−一]")


def _numeric_like(text: str) -> bool:
    """Text a number cell could hold, read by either reader (digits, separators, common confusions)."""
    squashed = _squash(text)
    return bool(squashed) and _NUMERIC.fullmatch(squashed) is not None


@dataclass
class _PCell:
    """A cell of a joined table: its row counted from the top of the first part, its columns on the
    chain's grid (a part printed with fewer rules is spread onto the grid of the others)."""

    cell: Cell
    table: int
    page: int
    row: int
    col: int
    end_col: int

    def covers(self, row: int) -> bool:
        return self.row <= row < self.row + self.cell.row_span

    def value_like(self) -> bool:
        return self.cell.kind == "number" or (self.cell.kind == "label" and _numeric_like(self.cell.text))


def _grid_lines(table: Table) -> list[float] | None:
    """Where a table's column rules run, left to right (n_cols + 1 of them), as shares of the span
    from its first rule to its last (a table's box can reach past its rules); None when its cells
    carry no usable geometry."""
    edges: dict[int, list[int]] = {}
    for c in table.cells:
        edges.setdefault(c.col, []).append(c.bbox[0])
        edges.setdefault(c.col + c.col_span, []).append(c.bbox[2])
    if set(edges) != set(range(table.n_cols + 1)):
        return None
    xs = [statistics.median(edges[b]) for b in range(table.n_cols + 1)]
    if not all(a < b for a, b in zip(xs, xs[1:], strict=False)):
        return None
    return [(x - xs[0]) / (xs[-1] - xs[0]) for x in xs]


SNAP_SHARE = 0.4  # a rule of one part stands on another's when nearer than this share of the columns beside it


def _snap(coarse: list[float], fine: list[float]) -> list[int] | None:
    """The fine grid line each coarse one stands on, or None when one stands on none.

    Page parts of one table differ in their column count when a label spans where the other part has
    a rule (三 cut after （一）予以公开 has no rule inside its label columns): the rules that are
    printed still stand where the other part's do."""
    out: list[int] = []
    for x in coarse:
        j = min(range(len(fine)), key=lambda k: abs(fine[k] - x))
        near = min(fine[k + 1] - fine[k] for k in (j - 1, j) if 0 <= k < len(fine) - 1)
        if abs(fine[j] - x) > SNAP_SHARE * near or (out and j <= out[-1]):
            return None
        out.append(j)
    return out if out[0] == 0 and out[-1] == len(fine) - 1 else None


@dataclass
class _Chain:
    """A printed table: its page parts joined top to bottom."""

    parts: list[int] = field(default_factory=list)
    n_cols: int = 0
    n_rows: int = 0
    cells: list[_PCell] = field(default_factory=list)
    offsets: dict[int, int] = field(default_factory=dict)  # part -> its first row in the chain
    lines: list[float] | None = None  # the grid's column rules, as shares of the width

    def fit(self, table: Table) -> tuple[list[int], list[int], list[float] | None] | None:
        """How `table` joins the chain's grid: (its rule -> joint rule, chain rule -> joint rule, joint
        rules), or None when its columns cannot be placed on the chain's."""
        same = list(range(self.n_cols + 1))
        if not self.parts or table.n_cols == self.n_cols:
            return list(range(table.n_cols + 1)), same, self.lines if self.parts else _grid_lines(table)
        lines = _grid_lines(table)
        if lines is None or self.lines is None:
            return None
        if len(lines) < len(self.lines):
            cols = _snap(lines, self.lines)
            return None if cols is None else (cols, same, self.lines)
        grid = _snap(self.lines, lines)
        return None if grid is None else (list(range(table.n_cols + 1)), grid, lines)

    def add(self, index: int, table: Table) -> None:
        fitted = self.fit(table)
        if fitted is None:  # linked by `continued_from` but not placeable: columns as numbered
            n = max(self.n_cols, table.n_cols)
            fitted = list(range(n + 1)), list(range(n + 1)), None
        cols, grid, self.lines = fitted
        for c in self.cells:
            c.col, c.end_col = grid[c.col], grid[c.end_col]
        self.parts.append(index)
        self.offsets[index] = self.n_rows
        self.cells += [_PCell(c, index, table.page, self.n_rows + c.row, cols[c.col], cols[c.col + c.col_span])
                       for c in table.cells]
        self.n_rows += table.n_rows
        self.n_cols = max(self.n_cols, grid[self.n_cols], cols[table.n_cols])

    def starting(self, row: int) -> list[_PCell]:
        return sorted((c for c in self.cells if c.row == row), key=lambda c: c.col)

    def covering(self, row: int) -> list[_PCell]:
        return sorted((c for c in self.cells if c.covers(row)), key=lambda c: c.col)


def _starts_with_values(table: Table) -> bool:
    first = [c for c in table.cells if c.row == 0]
    return any(c.kind == "number" or (c.kind == "label" and _numeric_like(c.text)) for c in first)


def _chains(tables: Sequence[Table]) -> list[_Chain]:
    """Join page parts by `continued_from`; a headerless part right at the top of the next page whose
    columns fit the previous page's last table is joined too (the link is a geometric guess that can
    miss, e.g. when a label spanning two columns leaves one part a rule short)."""
    chains: list[_Chain] = []
    chain_of: dict[int, _Chain] = {}
    for i, t in enumerate(tables):
        prev = t.continued_from
        if prev is None and i > 0 and tables[i - 1].page == t.page - 1 and _starts_with_values(t) \
                and not any(u.page == t.page for u in tables[:i]) and chain_of[i - 1].fit(t) is not None:
            prev = i - 1
        if prev is not None and 0 <= prev < i and prev in chain_of:
            chain = chain_of[prev]
        else:
            chain = _Chain()
            chains.append(chain)
        chain.add(i, t)
        chain_of[i] = chain
    return chains


@dataclass
class _PBlock:
    """A printed block: optional heading, header rows, body rows (rows of its chain)."""

    chain: _Chain
    heading: str = ""
    header_rows: list[int] = field(default_factory=list)
    body_rows: list[int] = field(default_factory=list)


def _blocks(chain: _Chain, table: TemplateTable) -> list[_PBlock]:
    """Cut a printed table into blocks: a heading, or a header after body rows, opens a new one."""
    headings = [h for b in table.blocks for h in b.heading]
    header_texts = [t for b in table.blocks for t in (b.stub, *(x for n in b.columns for x in (*n.texts, *n.groups)))
                    if t]
    row_texts = [t for b in table.blocks for n in b.rows for t in n.texts]
    firsts = [min(c.col for c in row if c.value_like()) for row in map(chain.starting, range(chain.n_rows))
              if any(c.value_like() for c in row)]
    value_start = _first_value_col(firsts) if firsts else chain.n_cols
    blocks: list[_PBlock] = [_PBlock(chain)]
    for r in range(chain.n_rows):
        starters = chain.starting(r)
        if not starters:
            continue
        labels = [c for c in starters if c.cell.kind == "label" and not c.value_like()]
        full = len(labels) == len(starters) == 1 and starters[0].col == 0 and starters[0].end_col >= chain.n_cols
        text = normalize("".join(c.cell.text for c in labels))
        if full:
            kind = "heading"
        elif any(c.value_like() for c in starters):
            kind = "body"
        elif any(c.col >= value_start for c in labels) and not _garbled_body(labels, value_start, header_texts,
                                                                             headings, row_texts):
            kind = "header"  # words over the number columns
        else:
            head = max((similarity(normalize(c.cell.text), header_texts + headings) for c in labels), default=0.0)
            body = max((similarity(normalize(c.cell.text), row_texts) for c in labels), default=0.0)
            blank = any(c.cell.kind == "blank" for c in starters)
            kind = "body" if (body > head and body >= ANCHOR) or (blank and head < ANCHOR) else "header"
        cur = blocks[-1]
        if kind == "heading":
            if cur.heading or cur.header_rows or cur.body_rows:
                cur = _PBlock(chain)
                blocks.append(cur)
            cur.heading = text
        elif kind == "header":
            if cur.body_rows:
                cur = _PBlock(chain)
                blocks.append(cur)
            cur.header_rows.append(r)
        else:
            cur.body_rows.append(r)
    return [b for b in blocks if b.body_rows]


def _garbled_body(labels: Sequence[_PCell], value_start: int, header_texts: list[str], headings: list[str],
                  row_texts: list[str]) -> bool:
    """A body row whose numbers were read as words ('179本', a lone 'O'): its own label reads as one of
    the template's rows, and nothing over the number columns reads as a column header."""
    left = [normalize(c.cell.text) for c in labels if c.col < value_start]
    over = [normalize(c.cell.text) for c in labels if c.col >= value_start]
    row = max((similarity(t, row_texts) for t in left), default=0.0)
    head = max((similarity(t, header_texts + headings) for t in left), default=0.0)
    return row >= ANCHOR and row > head and max((similarity(t, header_texts) for t in over), default=0.0) < ANCHOR


@dataclass
class _Slot:
    """A printed value column: grid columns [start, end) under one header cell."""

    start: int
    end: int
    leaf: str  # normalised text of the lowest header cell over it
    path: str  # normalised texts of all header cells over it, top to bottom
    leaf_cell: _PCell | None = None


@dataclass
class _BlockMatch:
    block: _PBlock
    template: Block
    score: float
    value_start: int
    rows: list[tuple[int, int]]  # (chain row, template row index)
    slots: list[tuple[_Slot, int]]  # (printed slot, template column index)
    merged_rows: set[int]  # chain rows that hold several template rows run together


def _first_value_col(firsts: list[int]) -> int:
    """The column most rows' first number is in; on a tie the leftmost, since a number garbled into
    words (first number further right) is likelier than a row label read as a number."""
    return min(statistics.multimode(firsts))


def _value_start(pb: _PBlock, template: Block) -> int:
    """First grid column holding numbers: where most body rows' first number is, else right of the stub."""
    labelled = bool(template.rows[0].texts)  # rows have labels, so column 0 holds no number
    firsts = []
    for r in pb.body_rows:
        cols = [c.col for c in pb.chain.starting(r) if c.value_like() and (c.col > 0 or not labelled)]
        if cols:
            firsts.append(min(cols))
    header = [c for r in pb.header_rows for c in pb.chain.starting(r) if c.col == 0]
    stub = header[0].end_col if template.stub and header else None
    if firsts:
        # A header over the row labels that reads as the template's bounds them: the first number
        # column of every row may have been read as words or nothing.
        if stub is not None and similarity(normalize(header[0].cell.text), [template.stub]) >= ANCHOR:
            return min(stub, _first_value_col(firsts))
        return _first_value_col(firsts)
    if stub is not None:
        return stub
    labels = [c.end_col for r in pb.body_rows for c in pb.chain.starting(r) if c.cell.kind == "label"]
    return max(labels, default=0)


def _slots(pb: _PBlock, start: int) -> list[_Slot]:
    chain = pb.chain
    header = [c for r in pb.header_rows for c in chain.starting(r) if c.end_col > start and c.col >= start]
    slots: list[_Slot] = []
    if header:
        for col in range(start, chain.n_cols):
            over = sorted((c for c in header if c.col <= col < c.end_col), key=lambda c: c.row)
            lowest = over[-1] if over else None
            if slots and lowest is not None and slots[-1].leaf_cell is lowest:
                slots[-1].end = col + 1
                continue
            slots.append(_Slot(col, col + 1, normalize(lowest.cell.text) if lowest else "",
                               "".join(normalize(c.cell.text) for c in over), lowest))
        return slots
    # No header (a table without one, or one lost, e.g. read as one cell): columns between the rules
    # the body rows have.
    cells = [c for r in pb.body_rows for c in chain.starting(r) if c.col >= start]
    if not cells:
        return slots
    ends = _body_rules(pb, min(c.col for c in cells), max(c.end_col for c in cells))
    return [_Slot(a, b, "", "") for a, b in zip(ends, ends[1:], strict=False)]


def _body_rules(pb: _PBlock, start: int, end: int) -> list[int]:
    """The column rules from `start` to `end` (both included) that the body rows mostly have: a cell
    across a rule in some row is that rule lost there (several numbers run together), not a wider
    column, and a header cell across it is a rule lost in the header."""
    cells = [c for r in pb.body_rows for c in pb.chain.starting(r) if c.end_col > start and c.col < end]
    rules = [start]
    for b in range(start + 1, end):
        rows_at = {c.row for c in cells if c.col == b or c.end_col == b}
        rows_across = {c.row for c in cells if c.col < b < c.end_col}
        if rows_at and len(rows_at) >= len(rows_across):
            rules.append(b)
    return [*rules, end]


def _column_sim(slot: _Slot, node: Node) -> float:
    leaf = similarity(slot.leaf, node.texts)
    if not node.groups:
        return leaf
    path = similarity(slot.path, ["".join((*node.groups, t)) for t in node.texts])
    return (leaf + path) / 2


def _row_label(pb: _PBlock, row: int, start: int) -> tuple[str, str]:
    """(own label, labels of the groups around it) of a body row: the label cells left of the numbers."""
    cells = [c for c in pb.chain.covering(row) if c.col < start]
    if not cells:
        return "", ""
    own = cells[-1]
    if sum(own.covers(r) for r in pb.body_rows) > 1:
        # A label beside several rows of numbers is theirs together: a group, or several labels read as
        # one cell when the rules between them were lost. No row's own label can be told from it.
        return "", "".join(normalize(c.cell.text) for c in cells)
    return normalize(own.cell.text), "".join(normalize(c.cell.text) for c in cells[:-1])


def _row_sim(label: tuple[str, str], node: Node) -> float:
    own, groups = label
    if not node.texts:  # the unlabelled single row of a block
        return 100.0 if not own else 60.0
    score = similarity(own, node.texts)
    if node.groups and groups:
        score = 0.85 * score + 0.15 * similarity(groups, ["".join(node.groups)])
    return score


def _match_block(pb: _PBlock, template: Block) -> _BlockMatch:
    start = _value_start(pb, template)
    slots = _slots(pb, start)
    col_sims = [[_column_sim(s, n) for n in template.columns] for s in slots]
    col_merged = _merged([s.leaf for s in slots], [s.path for s in slots], template.columns)
    col_pairs = align_sequence(col_sims, [not s.path for s in slots], col_merged) if slots else []
    labels = [_row_label(pb, r, start) for r in pb.body_rows]
    row_sims = [[_row_sim(lab, n) for n in template.rows] for lab in labels]
    row_merged = _merged([lab[0] for lab in labels], [""] * len(labels), template.rows)
    row_pairs = align_sequence(row_sims, [not lab[0] for lab in labels], row_merged)

    def total(pairs: list[tuple[int, int, int]], sims: list[list[float]], merged: Merged) -> float:
        return sum(sims[i][j] if k == 1 else k * merged[i, j, k] for i, j, k in pairs)

    parts: list[float] = []
    if template.heading and pb.heading:
        parts.append(similarity(pb.heading, template.heading))
    if any(s.path for s in slots):  # a block printed without its header is judged by its rows alone
        parts.append(total(col_pairs, col_sims, col_merged) / max(len(slots), len(template.columns)))
    parts.append(total(row_pairs, row_sims, row_merged) / max(len(labels), len(template.rows)))
    score = sum(parts) / len(parts)
    # A printed row or column that merged several of the template's (a lost rule) places them, but its
    # cells hold several numbers run together: those fields stay unmapped, for review.
    return _BlockMatch(pb, template, score, start, [(pb.body_rows[i], j) for i, j, k in row_pairs if k == 1],
                       [pair for i, j, k in col_pairs for pair in _split_slot(pb, slots[i], j, k)],
                       {pb.body_rows[i] for i, _, k in row_pairs if k > 1})


def _split_slot(pb: _PBlock, slot: _Slot, first: int, k: int) -> list[tuple[_Slot, int]]:
    """A printed column paired with template columns first..first+k-1. A header cell reading as k labels
    run together over k columns the body rows keep apart is a rule lost in the header only: each column
    takes its label in order. Otherwise its cells hold several numbers each, and none is mapped."""
    if k == 1:
        return [(slot, first)]
    rules = _body_rules(pb, slot.start, slot.end)
    if len(rules) != k + 1:
        return []
    return [(_Slot(a, b, "", slot.path), first + t) for t, (a, b) in enumerate(zip(rules, rules[1:], strict=False))]


# ---------------------------------------------------------------- identify, align, report_info


@dataclass
class Alignment:
    """Where a template's fields sit in a record's tables."""

    mapped: dict[str, MappedCell] = field(default_factory=dict)  # field key -> cell, in template order
    table_keys: dict[int, str] = field(default_factory=dict)  # record table index -> template table key
    unmapped: list[UnmappedRow] = field(default_factory=list)  # rows the template does not know
    # record table index -> the part it continues, for parts joined here that the page link missed
    continued: dict[int, int] = field(default_factory=dict)


def _table_text(table: Table) -> str:
    return normalize("".join(c.text for c in sorted(table.cells, key=lambda c: (c.row, c.col))
                             if c.kind == "label"))


def identify(tables: Sequence[Table], lines: Sequence[str], templates: Sequence[Template]) -> Template | None:
    """The template whose title is printed, or whose tables' words are found, best first; None if none."""
    texts = [_table_text(t) for t in tables]
    norm_lines = [normalize(x) for x in lines]
    best: Template | None = None
    best_score = 0.0
    for template in templates:
        title = any(template.title.search(_squash(x)) for x in lines) or any(
            len(x) >= len(template.title_words) // 2 and fuzz.partial_ratio(template.title_words, x) >= TITLE_WORDS_MIN
            for x in norm_lines)
        found = 0
        for t in template.tables:
            hits = sum(any(w in x or fuzz.partial_ratio(w, x) >= RECOGNISE_WORD_MIN for x in texts)
                       for w in t.recognise)
            found += hits / len(t.recognise) >= RECOGNISE_SHARE
        score = float(title) + found / len(template.tables)
        if (title or found) and score > best_score:
            best, best_score = template, score
    return best


def align(tables: Sequence[Table], template: Template) -> Alignment:
    """Map the template's fields to cells of `tables` (page parts joined), keep rows it does not know."""
    chains = _chains(tables)
    matches: list[tuple[float, int, TemplateTable, _BlockMatch]] = []
    for ci, chain in enumerate(chains):
        best: tuple[float, TemplateTable, list[_BlockMatch]] | None = None
        for tt in template.tables:
            found = []
            for pb in _blocks(chain, tt):
                scored = sorted((_match_block(pb, b) for b in tt.blocks), key=lambda m: -m.score)
                if scored and scored[0].score >= BLOCK_MIN:
                    found.append(scored[0])
            total = sum(m.score * len(m.block.body_rows) for m in found)
            if found and (best is None or total > best[0]):
                best = (total, tt, found)
        if best is not None:
            matches += [(m.score, ci, best[1], m) for m in best[2]]
    out = Alignment()
    taken: set[int] = set()  # template blocks already placed (by id)
    chosen: list[tuple[TemplateTable, _BlockMatch]] = []
    for _, ci, tt, m in sorted(matches, key=lambda x: -x[0]):
        if id(m.template) in taken:
            continue
        taken.add(id(m.template))
        chosen.append((tt, m))
        for part in chains[ci].parts:
            out.table_keys[part] = tt.key
        for before, after in zip(chains[ci].parts, chains[ci].parts[1:], strict=False):
            if tables[after].continued_from is None and tables[after].page == tables[before].page + 1:
                out.continued[after] = before
    cells: dict[str, MappedCell] = {}
    for tt, m in chosen:
        cells.update(_cells(m, tt, template))
        _unmapped_rows(m, out.unmapped)
    out.table_keys = dict(sorted(out.table_keys.items()))
    out.mapped = {k: cells[k] for k in template.value_types if k in cells}
    out.unmapped.sort(key=lambda u: (u.table, u.row))
    return out


def _value_cells(m: _BlockMatch, row: int, slot: _Slot) -> list[_PCell]:
    """Cells of a row inside one slot; a cell reaching into the next slot holds several numbers."""
    return [c for c in m.block.chain.starting(row)
            if slot.start <= c.col and c.end_col <= slot.end and c.col >= m.value_start]


def _is_label_cell(cell: Cell, labels: Sequence[str]) -> bool:
    """A header or row label that strayed into a value position: never a number."""
    if cell.kind != "label" or _numeric_like(cell.text):
        return False
    text = normalize(cell.text)
    return not any(ch.isdigit() for ch in text) and similarity(text, labels) >= HEADER_LABEL_MIN


def _cells(m: _BlockMatch, tt: TemplateTable, template: Template) -> dict[str, MappedCell]:
    out: dict[str, MappedCell] = {}
    labels = tt.label_texts()
    for row, i in m.rows:
        for slot, j in m.slots:
            cells = [c for c in _value_cells(m, row, slot) if not _is_label_cell(c.cell, labels)]
            if not cells:
                continue
            pick = next((c for c in cells if c.cell.kind != "blank"), cells[0])
            key = m.template.fields[i][j]
            out[key] = MappedCell(key=key, cell=pick.cell, page=pick.page, table=pick.table,
                                  value_type=template.value_types[key], label=template.labels[key])
    return out


def _plain_value(text: str) -> FieldValue:
    """The value of a cell in a row the template does not know, read as repair reads a field's."""
    value, _ = normalize_value(text, "integer")
    return value if value is not None else normalize_value(text, "decimal")[0]


def _unmapped_rows(m: _BlockMatch, out: list[UnmappedRow]) -> None:
    mapped_rows = {row for row, _ in m.rows} | m.merged_rows
    chain = m.block.chain
    for row in m.block.body_rows:
        if row in mapped_rows:
            continue
        values = [c for c in chain.starting(row) if c.col >= m.value_start]
        labels = [c for c in chain.covering(row) if c.col < m.value_start and c.cell.text.strip()]
        own = [c for c in labels if c.row == row] or labels[-1:]
        if not values or (not own and all(c.cell.kind == "blank" for c in values)):
            continue
        first = min(values, key=lambda c: c.col)
        out.append(UnmappedRow(
            label=" ".join(c.cell.text.strip() for c in own), page=first.page, table=first.table,
            row=row - chain.offsets[first.table],
            values=[UnmappedValue(col=c.cell.col, text=c.cell.text, value=_plain_value(c.cell.text),
                                  confidence=c.cell.confidence) for c in values]))


def report_info(lines: Sequence[str], template: Template) -> ReportInfo:
    """Agency and year from the title, ISO date from the closing line; None for what cannot be read."""
    agency: str | None = None
    year: int | None = None
    date: str | None = None
    squashed = [_squash(x) for x in lines]
    candidates = squashed + [a + b for a, b in zip(squashed, squashed[1:], strict=False)]  # a title wrapped
    for text in candidates:
        hit = template.title.search(text)
        if hit:
            agency = _clean_agency(hit.group("agency"))
            year = int(hit.group("year"))
            break
    if template.closing is not None:
        for text in reversed(squashed):
            hit = template.closing.search(text)
            if not hit:
                continue
            try:
                date = dt.date(int(hit.group("year")), int(hit.group("month")), int(hit.group("day"))).isoformat()
            except ValueError:
                continue
            if agency is None and "agency" in hit.re.groupindex:
                agency = _clean_agency(hit.group("agency") or "")
            break
    return ReportInfo(agency=agency, year=year, date=date)


def _clean_agency(text: str) -> str | None:
    """The agency name without stray marks OCR put around it."""
    text = text.strip("".join(ch for ch in set(text) if unicodedata.category(ch)[0] in "PSZ"))
    return text or None
