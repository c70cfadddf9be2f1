"""A template file and what loading it makes: the document type as data matching and repair work from.

The YAML is checked twice: pydantic for the shape of every entry, then `_Builder` for what a schema
cannot say (keys unique along a path, regexes with the groups identity needs, every constraint item
found in its table). Any fault names the file and the entry, so a new template is fixed from the
message alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ocr.errors import TemplateError
from ocr.model import Constraint, ValueType
from ocr.template.labels import normalize

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


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
    printed: tuple[str, ...] = ()  # every label, heading and stub as the template prints it, variants too

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
                             header_rows=t.header_rows, blocks=blocks, printed=_printed(t))

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


def _printed(t: TableSpec) -> tuple[str, ...]:
    """Every text the table prints in its cells, in the template's spelling, once each."""
    out: list[str] = []

    def walk(nodes: Sequence[_NodeSpec]) -> None:
        for node in nodes:
            out.extend((node.label, *node.variants))
            walk(getattr(node, "columns", []) or getattr(node, "rows", []))

    for b in t.blocks or [BlockSpec(stub=t.stub, columns=t.columns, rows=t.rows)]:
        out.extend((*((b.heading, *b.heading_variants) if b.heading else ()), b.stub or ""))
        walk(b.columns)
        walk(b.rows)
    return tuple(dict.fromkeys(x for x in out if x.strip()))


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
