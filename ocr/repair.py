"""Template stage, part two: typed values from mapped cells, the 勾稽关系 checked, and what fails explained.

Every field's text is normalised to an `int` or an exact `Decimal` (`ocr.values`, never through a
float). The template's arithmetic is then solved exactly (rational Gaussian elimination over the fields
a reading may not be trusted for) so that a failure is explained by the fewest cells the arithmetic itself pins
down, and nothing is guessed when it does not pin them down. A repaired value must be confirmed by two
independent 勾稽关系 (it stays determined when any one of them is dropped); one alone only suggests it.
Trusted readings that still disagree are the report's own inconsistency, which an operator must see.
The thresholds are the `repair_*` fields of `Config`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from itertools import combinations
from typing import get_args

from ocr.config import Config
from ocr.model import (
    CellFlag,
    Constraint,
    ConstraintCheck,
    ConstraintStatus,
    FieldResult,
    FieldValue,
    MappedCell,
    ValueType,
)
from ocr.values import Parsed, parse

_FLAG_ORDER = {flag: i for i, flag in enumerate(get_args(CellFlag))}
_KEPT_CELL_FLAGS = ("dash", "low_confidence", "readers_disagree", "grid_uncertain")


# ---------------------------------------------------------------- per-field state


@dataclass
class _Field:
    key: str
    value_type: ValueType
    mc: MappedCell | None
    value: FieldValue
    confidence: float
    review: bool
    doubtful: bool  # the arithmetic may overrule this reading
    blank: bool = False
    flags: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    suggestion: FieldValue = None
    repaired: FieldValue = None

    @property
    def label(self) -> str:
        return self.mc.label if self.mc is not None else self.key.rsplit(".", 1)[-1]

    @property
    def text(self) -> str:
        return self.mc.cell.text if self.mc is not None else ""

    @property
    def known(self) -> bool:
        """Has a number the arithmetic can use as read."""
        return isinstance(self.value, int | Decimal)

    @property
    def explained(self) -> bool:
        return "repaired" in self.flags or "suggested" in self.flags

    @property
    def effective(self) -> FieldValue:
        """The value the arithmetic settled on: repaired, suggested, or as read."""
        if self.repaired is not None:
            return self.repaired
        return self.suggestion if self.suggestion is not None else self.value

    def flag(self, *flags: str) -> None:
        self.flags.extend(f for f in flags if f not in self.flags)

    def result(self) -> FieldResult:
        mc = self.mc
        return FieldResult(
            value=self.repaired if self.repaired is not None else self.value,
            text=self.text, confidence=round(min(1.0, max(0.0, self.confidence)), 4), needs_review=self.review,
            flags=sorted(self.flags, key=_FLAG_ORDER.__getitem__), reasons=self.reasons, suggestion=self.suggestion,
            page=mc.page if mc else None, table=mc.table if mc else None,
            row=mc.cell.row if mc else None, col=mc.cell.col if mc else None, bbox=mc.cell.bbox if mc else None,
        )


def _read(key: str, value_type: ValueType, mc: MappedCell | None, cfg: Config) -> _Field:
    """A field as recognition left it: typed value, the flags that matter, and whether it is doubtful."""
    if mc is None:
        return _Field(key, value_type, None, None, 0.0, True, True, flags=["unreadable"], reasons=["表中未找到此项"])
    cell = mc.cell
    kept = [f for f in _KEPT_CELL_FLAGS if f in cell.flags]
    if cell.kind == "blank":
        numeric = value_type != "text"
        return _Field(key, value_type, mc, None, cell.confidence, numeric, True, blank=True, flags=["blank"],
                      reasons=["空白（空白不等于 0）"] if numeric else [])
    parsed = parse(cell.text, value_type)
    if parsed.value is None and cell.digits is not None and value_type != "text":
        return _digit_fallback(key, value_type, mc, kept, cfg) or _read_unreadable(key, value_type, mc, kept)
    if parsed.value is None:
        return _read_unreadable(key, value_type, mc, kept)
    f = _Field(key, value_type, mc, parsed.value, cell.confidence,
               cell.needs_review or parsed.guessed or parsed.stripped, False, flags=kept)
    if parsed.dash:
        f.flag("dash")
    if parsed.changed:
        f.flag("normalized")
    f.reasons = _doubt_reasons(f, parsed)
    if f.review and not f.reasons:
        f.reasons.append("识别结果需核对")
    f.doubtful = f.review or cell.confidence < cfg.repair_doubtful_below
    return f


def _read_unreadable(key: str, value_type: ValueType, mc: MappedCell, kept: list[str]) -> _Field:
    text = mc.cell.text
    return _Field(key, value_type, mc, None, mc.cell.confidence, True, True, flags=["unreadable", *kept],
                  reasons=[f"无法识别为数字：「{text}」" if text.strip() else "无法识别"])


def _digit_fallback(key: str, value_type: ValueType, mc: MappedCell, kept: list[str], cfg: Config) -> _Field | None:
    """The digit reader's figure for a number cell whose label reading is no number: always doubtful and
    reviewed (the two readers disagree), so only the arithmetic can vouch for it."""
    digits = mc.cell.digits
    assert digits is not None
    parsed = parse(digits.text, value_type)
    if parsed.value is None:
        return None
    flags = [k for k in kept if k not in ("readers_disagree", "low_confidence")]  # those judged the label reading
    if digits.confidence < cfg.review_threshold_number:
        flags.insert(0, "low_confidence")
    f = _Field(key, value_type, mc, parsed.value, digits.confidence, True, True, flags=flags)
    f.reasons = [f"文字识别为「{mc.cell.text}」，数字识别为 {parsed.value}", *_doubt_reasons(f, parsed)]
    f.flag("readers_disagree")
    return f


def _doubt_reasons(f: _Field, parsed: Parsed) -> list[str]:
    out = []
    if "low_confidence" in f.flags:
        out.append(f"识别置信度低 ({f.confidence:.2f})")
    if "readers_disagree" in f.flags:
        out.append("数字与文字两种识别结果不一致")
    if "grid_uncertain" in f.flags:
        out.append("单元格边界不确定")
    if parsed.guessed:
        out.append(f"未识别出数字，按字形读作 {parsed.value}（原文「{f.text}」）")
    if parsed.stripped:
        out.append(f"去掉数字旁的杂点，读作 {parsed.value}（原文「{f.text}」）")
    return out


# ---------------------------------------------------------------- exact linear algebra


Equation = dict[str, int]
"""sum(coefficient * field) == 0 over field keys: +1 for the left side of a 勾稽关系, -1 for the right."""


def _equation(c: Constraint) -> Equation:
    eq: Equation = {}
    for sign, keys in ((1, c.lhs), (-1, c.rhs)):
        for k in keys:
            eq[k] = eq.get(k, 0) + sign
    return {k: v for k, v in eq.items() if v}


Pivots = dict[str, tuple[dict[str, Fraction], Fraction]]
"""Reduced row echelon form: pivot field -> (row with row[pivot] == 1 and no other pivot in it, right side)."""


def _subtract(row: dict[str, Fraction], coef: Fraction, other: Mapping[str, Fraction], skip: str) -> None:
    """row -= coef * other over every field but `skip` (eliminated by the caller), dropping what cancels."""
    for w, a in other.items():
        if w != skip:
            nv = row.get(w, 0) - coef * a
            if nv:
                row[w] = nv
            else:
                row.pop(w, None)


def _reduce(eqs: Iterable[Equation], known: Mapping[str, Fraction], free: Set[str]) -> Pivots | None:
    """The equations over `free` (the rest as read) in reduced form, or None when they cannot all hold.

    Sparse Gauss-Jordan over Fractions: exact, and cheap because each 勾稽关系 touches few free fields.
    """
    pivots: Pivots = {}
    for eq in eqs:
        row: dict[str, Fraction] = {}
        rhs = Fraction(0)
        for k, c in eq.items():
            if k in free:
                row[k] = Fraction(c)
            else:
                rhs -= c * known[k]
        for var in [v for v in row if v in pivots]:
            coef = row.pop(var)
            prow, prhs = pivots[var]
            _subtract(row, coef, prow, var)
            rhs -= coef * prhs
        if not row:
            if rhs:
                return None
            continue
        var = min(row)
        lead = row[var]
        row = {w: a / lead for w, a in row.items()}
        rhs /= lead
        for u, (prow, prhs) in list(pivots.items()):
            coef = prow.get(var)
            if coef:
                new = dict(prow)
                del new[var]
                _subtract(new, coef, row, var)
                pivots[u] = (new, prhs - coef * rhs)
        pivots[var] = (row, rhs)
    return pivots


def _determined(pivots: Pivots) -> dict[str, Fraction]:
    """The fields the reduced equations pin to one value."""
    return {v: rhs for v, (row, rhs) in pivots.items() if len(row) == 1}


class _Linked:
    """Union-find over field keys: which fields an equation ties together."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def root(self, k: str) -> str:
        while self.parent.setdefault(k, k) != k:
            self.parent[k] = self.parent[self.parent[k]]
            k = self.parent[k]
        return k

    def link(self, keys: Iterable[str]) -> None:
        first, *rest = keys
        for k in rest:
            self.parent[self.root(k)] = self.root(first)


def _open_clusters(pivots: Pivots, free: Set[str]) -> list[set[str]]:
    """Free fields left open, grouped so that no equation links two groups: each can be settled on its own."""
    linked = _Linked()
    for row, _ in pivots.values():
        if len(row) > 1:
            linked.link(row)
    out: dict[str, set[str]] = {}
    for k in sorted(free - _determined(pivots).keys()):
        out.setdefault(linked.root(k), set()).add(k)
    return list(out.values())


def _as_value(x: Fraction, value_type: ValueType) -> FieldValue:
    """A solved value as the field's type, or None when no printed figure could be it."""
    if x < 0:
        return None
    if value_type == "integer":
        return int(x) if x.denominator == 1 else None
    d = x.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    return Decimal(x.numerator) / Decimal(x.denominator) if d == 1 else None


def _fraction(v: FieldValue) -> Fraction:
    assert isinstance(v, int | Decimal)
    return Fraction(v)


def _fmt(v: FieldValue) -> str:
    return "?" if v is None else str(v)


def arithmetic(lhs: Sequence[tuple[str, FieldValue]], rhs: Sequence[tuple[str, FieldValue]], op: str) -> str:
    """A 勾稽关系 with its numbers, as operators read it: `总计 12 ≠ 3 + 4 + 0` (a lone total named)."""
    left = f"{lhs[0][0]} {_fmt(lhs[0][1])}" if len(lhs) == 1 else " + ".join(_fmt(v) for _, v in lhs)
    return f"{left} {op} {' + '.join(_fmt(v) for _, v in rhs)}"


# ---------------------------------------------------------------- one group of linked 勾稽关系


class _Group:
    """Constraints that share fields, settled together; different groups (三, each block of 四) are independent."""

    def __init__(self, constraints: Sequence[Constraint], fields: dict[str, _Field], cfg: Config) -> None:
        self.constraints = list(constraints)
        self.fields = fields
        self.cfg = cfg
        self.eqs = [_equation(c) for c in self.constraints]
        keys = sorted({k for c in self.constraints for k in (*c.lhs, *c.rhs)})
        self.known = {k: _fraction(fields[k].value) for k in keys if fields[k].known}
        self.unknown = {k for k in keys if not fields[k].known}
        self.doubtful = {k for k in keys if fields[k].known and fields[k].doubtful}
        self.moved: dict[str, str] = {}  # set by settle: see _moved

    def reduce(self, free: Set[str], skip: int | None = None) -> Pivots | None:
        """Reduced equations over `free`, or None when inconsistent or a pinned value is no possible figure."""
        pivots = _reduce((eq for i, eq in enumerate(self.eqs) if i != skip), self.known, free)
        if pivots is None or any(_as_value(x, self.fields[k].value_type) is None
                                 for k, x in _determined(pivots).items()):
            return None
        return pivots

    def solve(self, free: Set[str], skip: int | None = None) -> dict[str, Fraction] | None:
        """The values of `free` the arithmetic pins down, or None (see `reduce`)."""
        pivots = self.reduce(free, skip)
        return None if pivots is None else _determined(pivots)

    def confirmed(self, free: Set[str], sol: Mapping[str, Fraction]) -> dict[str, list[int]]:
        """Pinned fields that stay pinned when any one 勾稽关系 is dropped, with the ones that contain them."""
        keep = set(sol)
        for i, eq in enumerate(self.eqs):
            if keep and not free.isdisjoint(eq):
                again = self.solve(free, skip=i)
                keep &= set(again or ())
        return {k: [i for i, eq in enumerate(self.eqs) if k in eq] for k in keep}

    def failing(self, free: Set[str] = frozenset()) -> list[int]:
        """Constraints whose every field has a value, none in `free`, and whose sides differ as read."""
        return [i for i, eq in enumerate(self.eqs)
                if all(k in self.known and k not in free for k in eq)
                and sum(c * self.known[k] for k, c in eq.items())]

    def settle(self) -> None:
        free = self.unknown | self.doubtful
        pinned: str | None = None
        pivots = self.reduce(free)
        if pivots is None:
            pinned = self._pinpoint(free)
            if pinned is None:
                self._unexplained(free)
                self._check()  # a 勾稽关系 failing as read that the disagreement's search did not implicate
                return
            free = free | {pinned}
            pivots = self.reduce(free)
            assert pivots is not None
        free = self._smallest(free, pivots)
        sol = self.solve(free)
        assert sol is not None
        confirmed = self.confirmed(free, sol)
        self.moved = self._moved(sol)
        for k in sorted(free):
            if k in sol:
                self._conclude(self.fields[k], sol[k], confirmed.get(k), k == pinned)
        self._check()

    def _moved(self, sol: Mapping[str, Fraction]) -> dict[str, str]:
        """Fields whose solved value is what another field of one of their 勾稽关系 read, where that field
        changes too: the arithmetic moves or swaps readings between cells (a misplaced column or row),
        which an operator must see, not a misread it could fix. Key -> label of the cell it came from."""
        solved = {k: _as_value(x, self.fields[k].value_type) for k, x in sol.items()}
        changes = {k: v for k, v in solved.items() if v != self.fields[k].value}
        out: dict[str, str] = {}
        for k, v in changes.items():
            for eq in self.eqs:
                if k in eq:
                    src = next((o for o in eq if o != k and o in changes and self.fields[o].known
                                and self.fields[o].value == v), None)
                    if src is not None:
                        out[k] = self.fields[src].label
                        break
        return out

    def _pinpoint(self, free: set[str]) -> str | None:
        """Trusted readings disagree: the one trusted cell the arithmetic singles out, if exactly one does."""
        candidates = set(self.known) - self.doubtful
        for i in self.failing(free):  # what the doubtful cells cannot explain, the one cell must
            candidates &= set(self.eqs[i])
        hits = [(k, s) for k in sorted(candidates) if (s := self.solve(free | {k})) is not None]
        return hits[0][0] if len(hits) == 1 and hits[0][0] in hits[0][1] else None

    def _smallest(self, free: set[str], pivots: Pivots) -> set[str]:
        """Freeing every doubtful cell left some open: in each independent knot of them keep as many as read
        as the arithmetic allows, freeing the fewest that explain the rest, when exactly one such choice exists.
        Returns the fields left free."""
        for cluster in _open_clusters(pivots, free):
            doubtful = sorted(cluster & self.doubtful)
            base = free - set(doubtful)
            for size in range(min(self.cfg.repair_max_search, len(doubtful)) + 1):
                found = [set(c) for c in combinations(doubtful, size) if self.solve(base | set(c)) is not None]
                if len(found) == 1:
                    free = base | found[0]
                    break
                if found:  # several explanations as small: the arithmetic cannot choose, so nobody guesses
                    break
        return free

    def _derived_confidence(self, k: str, via: Sequence[int]) -> float:
        """How sure a value computed from other cells is: it is wrong only if every derivation of it is."""
        per = sorted((min((self.fields[o].confidence if self.fields[o].known else 0.0 for o in self.eqs[i] if o != k),
                          default=1.0) for i in via), reverse=True)[:2]
        miss = 1.0
        for c in per:
            miss *= 1.0 - c
        return 1.0 - miss

    def _names(self, via: Sequence[int]) -> str:
        return "；".join(self.constraints[i].name for i in via)

    def _conclude(self, f: _Field, x: Fraction, via: list[int] | None, pinned: bool) -> None:
        v = _as_value(x, f.value_type)
        around = [i for i, eq in enumerate(self.eqs) if f.key in eq]
        if f.value is not None and v == f.value:
            if via and f.review and f.confidence >= self.cfg.repair_accept_from:
                f.review = False
                doubt = "；".join(f.reasons) or f"识别置信度低 ({f.confidence:.2f})"
                f.reasons = [f"{doubt}，但 {len(via)} 项合计核对无误，已采纳（{self._names(via)}）"]
            return
        read = "空白" if f.blank else (f"读作 {f.text}" if f.known else (f"无法识别「{f.text}」" if f.text else "缺失"))
        if pinned:
            f.suggestion = v
            f.flag("source_inconsistent", "suggested")
            f.review = True
            f.reasons.append(f"报告自身前后不一致，或高置信度误读：{read}（置信度 {f.confidence:.2f}），"
                             f"按合计应为 {v}（{self._names(around)}）")
            return
        confidence = self._derived_confidence(f.key, via) if via else 0.0
        moved = self.moved.get(f.key)
        if moved is not None or (f.known and not f.review):
            # A value moved between cells, or a reading recognition passed (a confident digit), is never
            # overwritten: the arithmetic may point at the wrong cell of a misplaced row or column.
            f.suggestion = v
            f.flag("suggested")
            f.review = True
            why = (f"与「{moved}」格的读数疑似错位或互换" if moved is not None
                   else f"识别置信度 {f.confidence:.2f} 不低，不自动改动")
            f.reasons.append(f"{read}，按合计应为 {v}，{why}，请核对（{self._names(via or around)}）")
            return
        if via and not f.blank and f.mc is not None and confidence >= self.cfg.repair_doubtful_below:
            f.repaired = v
            f.confidence = confidence
            f.flag("repaired")
            f.review = False
            f.reasons = [f"按 {len(via)} 项合计修复：{read}，应为 {v}（{self._names(via)}）"]
            return
        f.suggestion = v
        f.flag("suggested")
        f.review = True
        basis = (f"{len(via)} 项合计推算，但所依据的读数不够可靠：{self._names(via)}" if via
                 else f"仅一项合计可推算，无第二项印证：{self._names(around)}")
        f.reasons.append(f"{read}，按合计应为 {v}，请核对（{basis}）")

    def _arith(self, i: int) -> str:
        c = self.constraints[i]
        terms = [[(self.fields[k].label, self.fields[k].value) for k in side] for side in (c.lhs, c.rhs)]
        return f"{c.name}：{arithmetic(*terms, '≠')}"

    def _blame(self, i: int, keys: Iterable[str] | None = None) -> None:
        """Flag the cells of a 勾稽关系 nothing explains: the report's fault if all read surely, else unresolved."""
        eq = self.eqs[i]
        sure = all(k in self.known and k not in self.doubtful for k in eq)
        flag = "source_inconsistent" if sure else "constraint_failed"
        why = (f"报告自身前后不一致（各格识别置信度均高）：{self._arith(i)}" if sure
               else f"合计不符，无法确定哪一格有误：{self._arith(i)}")
        for k in eq if keys is None else keys:
            f = self.fields[k]
            if f.explained or not f.known:
                continue
            f.flag(flag)
            f.review = True
            if why not in f.reasons:
                f.reasons.append(why)

    def _check(self) -> None:
        """After settling, a 勾稽关系 that still fails holds open doubtful cells (the system was solvable with
        them free): they are the ones to look at, not the sure cells beside them, when other counts of 0 or
        more in them could mend it. When none could, a sure cell must be wrong and every cell of it is
        reviewed (augraphy-heavy: a '0' read '9' at 0.90 in a row whose doubtful '0's, read right, would
        have had to come to -9 between them; only they were reviewed, and the '9' passed)."""
        for i, eq in enumerate(self.eqs):
            if self._fails(eq):
                # every doubtful reading the arithmetic did not settle, reviewed already or not: a reading
                # between the review and the doubt thresholds may be the wrong one
                unsettled = [k for k in eq if k in self.doubtful and not self.fields[k].explained]
                self._blame(i, unsettled if self._mends(eq, unsettled) else None)

    def _mends(self, eq: Equation, keys: Sequence[str]) -> bool:
        """Whether `keys`, given other values of 0 or more (the 勾稽关系's fields are counts and amounts),
        can make the 勾稽关系 hold with its other fields as they stand."""
        if not keys:
            return False
        need = -sum(c * _fraction(self.fields[k].effective) for k, c in eq.items() if k not in keys)
        signs = {eq[k] > 0 for k in keys}
        return need == 0 or (need > 0 and True in signs) or (need < 0 and False in signs)

    def _fails(self, eq: Equation) -> bool:
        """Whether a 勾稽关系 fails with the values the arithmetic settled on (open, when one has no number,
        is no failure)."""
        values = {k: self.fields[k].effective for k in eq}
        return (all(isinstance(v, int | Decimal) for v in values.values())
                and bool(sum(c * _fraction(values[k]) for k, c in eq.items())))

    def _unexplained(self, free: set[str]) -> None:
        """No single explanation: flag every 勾稽关系 that is part of the disagreement."""
        implicated = set(self.failing())
        for i, eq in enumerate(self.eqs):
            if i not in implicated and not free.isdisjoint(eq) and self.solve(free, skip=i) is not None:
                implicated.add(i)
        for i in sorted(implicated):
            self._blame(i)


def _groups(constraints: Sequence[Constraint]) -> list[list[Constraint]]:
    """Constraints linked through shared fields, in their given order."""
    linked = _Linked()
    sides = [(*c.lhs, *c.rhs) for c in constraints]
    for keys in sides:
        if keys:
            linked.link(keys)
    out: dict[str, list[Constraint]] = {}
    for c, keys in zip(constraints, sides, strict=True):
        if keys:
            out.setdefault(linked.root(keys[0]), []).append(c)
    return list(out.values())


ROW_PLACED_BY_LABEL = 0.5  # a row confidence this high: the row was placed by its own label (`match._row_confidence`)


def repair(mapped: Mapping[str, MappedCell], expected: Mapping[str, ValueType], constraints: Sequence[Constraint],
           cfg: Config, row_confidence: Mapping[str, float] | None = None) -> dict[str, FieldResult]:
    """Every expected field's value, checked against the template's arithmetic, in `expected` order.

    Promise: no number that the arithmetic or the reading casts doubt on passes without `needs_review`,
    and operators are spared the doubtful readings two independent sums confirm. `row_confidence` (field
    key -> how sure its row's placement is, `Alignment.row_confidence`) tells which values could have moved
    between rows; without it any could.
    """
    fields = {key: _read(key, vt, mapped.get(key), cfg) for key, vt in expected.items()}
    for c in constraints:
        for k in (*c.lhs, *c.rhs):
            if k not in fields:  # a key the template sums but does not list: used, not reported
                mc = mapped.get(k)
                fields[k] = _read(k, mc.value_type if mc else "integer", mc, cfg)
    for group in _groups(constraints):
        _Group(group, fields, cfg).settle()
    # A sum checks its cells only when every cell of it has a number (as read, or repaired by two sums):
    # one blank or unreadable cell absorbs any misread beside it.
    along: dict[str, dict[str, bool]] = {}  # field -> axis of its 勾稽关系 -> whether one of them checks it
    for c in constraints:
        evaluable = all(fields[x].known or fields[x].repaired is not None for x in (*c.lhs, *c.rhs))
        for k in (*c.lhs, *c.rhs):
            axes = along.setdefault(k, {})
            axes[_axis(c)] = axes.get(_axis(c), False) or evaluable
    for key in expected:
        f = fields[key]
        if not f.known or f.review:
            continue
        if key not in along:
            if f.confidence < cfg.review_threshold_unchecked:
                # No sum can catch a misread here (二 has no arithmetic): the reading alone must be sure.
                f.review = True
                f.flag("low_confidence")
                limit = cfg.review_threshold_unchecked
                f.reasons.append(f"此项无勾稽关系可核对，识别置信度 {f.confidence:.2f} 低于 {limit}")
            continue
        why = _unconfirmed(key, fields, constraints, along, row_confidence)
        if why is not None and f.confidence < cfg.review_threshold_open:
            f.review = True
            f.flag("unconfirmed_reading")
            f.reasons.append(f"{why}，识别置信度 {f.confidence:.2f} 低于 {cfg.review_threshold_open}")
    for key in expected:
        f = fields[key]
        for flag, why in f.mc.doubts if f.mc is not None else ():
            # Where the template placed it is in doubt (its column or row unconfirmed): no sum can clear that,
            # since a whole column or row moved keeps its own sums. A row whose cells do not line up with the
            # columns is the exception: its values could only have moved along it, between columns, and every
            # sum down its column holding, with every cell read, says this one did not.
            if flag == "row_misaligned" and _columns_vouch(key, fields, constraints):
                continue
            f.review = True
            f.flag(flag)
            if why not in f.reasons:
                f.reasons.append(why)
    return {key: fields[key].result() for key in expected}


_AXIS_WORDS = {"column": "列", "row": "行", "other": "合计"}


def _columns_vouch(key: str, fields: Mapping[str, _Field], constraints: Sequence[Constraint]) -> bool:
    """Is `key` read with no doubt of its own and checked down its column: it takes part in a column's
    勾稽关系, and every one it takes part in has every cell read as printed (none repaired or suggested)
    and holds? A value moved along a misaligned row breaks the sum down the column it landed in, unless the
    value it displaced was equal, and then it is right anyway."""
    f = fields[key]
    if not f.known or f.review or f.explained:
        return False
    down = [c for c in constraints if key in (*c.lhs, *c.rhs) and _axis(c) == "column"]
    if not down:
        return False
    for c in down:
        terms = [fields[k] for k in (*c.lhs, *c.rhs)]
        if not all(t.known and not t.explained for t in terms):
            return False
        if sum(_fraction(fields[k].value) for k in c.lhs) != sum(_fraction(fields[k].value) for k in c.rhs):
            return False
    return True


def _unconfirmed(key: str, fields: Mapping[str, _Field], constraints: Sequence[Constraint],
                 along: Mapping[str, Mapping[str, bool]],
                 row_confidence: Mapping[str, float] | None = None) -> str | None:
    """Why no evaluable 勾稽关系 vouches for a field, or None when one does.

    Its sums exist but blank or unreadable cells leave them open. Either all of them are open (nothing
    would see a misread), or all along one axis are, and so are those of a field it shares a sum of
    the other axis with: the two could have been swapped (two values of a row between their columns),
    which keeps every sum still evaluable, since a row sum does not care which column holds what; two
    equal values swapped change nothing.

    Two values of one column swapped between rows (row sums open, the column sum kept) need a row placed
    wrong: when both rows were placed by their own labels (`row_confidence`), which pair with the
    template's rows in order, neither can hold the other's value, and that swap is ruled out. A swap
    between columns is not: a column's identity is checked apart (`column_unconfirmed`), but nothing
    here says it was read."""
    axes = along[key]
    if not any(axes.values()):
        return "此项所在的勾稽关系均因空白或无法识别的单元格无法核对"

    def by_label(k: str) -> bool:
        return row_confidence is not None and row_confidence.get(k, 0.0) >= ROW_PLACED_BY_LABEL

    for axis in (a for a, ok in axes.items() if not ok):
        for c in constraints:
            keys = (*c.lhs, *c.rhs)
            if key not in keys or _axis(c) == axis:
                continue
            if _axis(c) == "column" and axis == "row" and by_label(key):
                keys = tuple(g for g in keys if not by_label(g))  # a partner from another row placed by label
            partner = next((g for g in keys if g != key and fields[g].known and not along[g].get(axis, True)
                            and fields[g].value != fields[key].value), None)  # equal values swapped are no error
            if partner is not None:
                return (f"此项与「{fields[partner].label}」所在{_AXIS_WORDS[axis]}的勾稽关系均因空白或无法识别的"
                        f"单元格无法核对，两者互换不会被发现")
    return None


def _axis(c: Constraint) -> str:
    """Which way a 勾稽关系 runs: down a column (its keys share the column key, the last one), along a
    row (they share everything but it), or neither. A value moved along a row keeps every row sum."""
    keys = (*c.lhs, *c.rhs)
    if len({k.rsplit(".", 1)[-1] for k in keys}) == 1:
        return "column"
    if len({k.rsplit(".", 1)[0] for k in keys}) == 1:
        return "row"
    return "other"


# ---------------------------------------------------------------- provenance: each field's 勾稽关系


_OPERATOR: dict[ConstraintStatus, str] = {"holds": "=", "repaired": "=", "fails": "≠", "open": "=?"}


def link_constraints(fields: Mapping[str, FieldResult], constraints: Sequence[Constraint],
                     mapped: Mapping[str, MappedCell]) -> tuple[dict[str, FieldResult], list[ConstraintCheck]]:
    """Every 勾稽关系 as it stands with the fields' final values, and the fields linked to the ones they take
    part in (by index in the list returned, which is the order of `constraints`).

    Judged after repair, on what the record says: a constraint a repair made hold says `repaired`, one a
    suggestion would make hold still `fails` (suggestions are not values), and one with a field without a
    number (blank, unreadable, not found, or a key the template sums but does not report) is `open`.
    The fields are new objects; those given are left as they were.
    """
    checks: list[ConstraintCheck] = []
    links: dict[str, list[int]] = {}
    def term(k: str) -> tuple[str, FieldValue]:  # its printed label and its value in the record
        return (mapped[k].label if k in mapped else k.rsplit(".", 1)[-1]), (fields[k].value if k in fields else None)

    for i, c in enumerate(constraints):
        lhs, rhs = [term(k) for k in c.lhs], [term(k) for k in c.rhs]
        if not all(isinstance(v, int | Decimal) for _, v in (*lhs, *rhs)):
            status: ConstraintStatus = "open"
        elif sum(_fraction(v) for _, v in lhs) != sum(_fraction(v) for _, v in rhs):
            status = "fails"
        elif any("repaired" in fields[k].flags for k in (*c.lhs, *c.rhs)):
            status = "repaired"
        else:
            status = "holds"
        text = arithmetic(lhs, rhs, _OPERATOR[status])
        checks.append(ConstraintCheck(name=c.name, status=status, lhs=list(c.lhs), rhs=list(c.rhs), text=text))
        for k in dict.fromkeys((*c.lhs, *c.rhs)):
            links.setdefault(k, []).append(i)
    linked = {k: f.model_copy(update={"constraints": links[k]}) if k in links else f for k, f in fields.items()}
    return linked, checks


__all__ = ["arithmetic", "link_constraints", "repair"]
