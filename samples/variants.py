"""Ways real reports deviate from the template, which matching and repair must survive (issue 4).

An option of the generator (``generate_samples(..., variants=True)``, ``python -m samples --variants``).
Variants are drawn from RNG streams of their own, tagged ``STREAM``: the document's own stream draws
exactly what it draws without variants, so a seed without variants renders exactly as before, and with
variants it is the same report plus its variants.

Which documents get a variant is drawn per block of ``BLOCK`` consecutive indices (seeded from seed,
tier, block): each variant falls on one document of every block, so any batch of 10 documents holds
2 or 3 of each, where independent draws at the same rate would leave a variant out of a batch every
few tiers.  How it applies (where labels break, which total is misprinted) comes from the document's
variant stream (seed, tier, index).  Either way a document depends only on (seed, tier, index).

- ``label_breaks``: the typist forced line breaks inside some labels (``行政规范`` / ``性文件``).
- ``partial_without_note``: （二）部分公开 printed without （区分处理的，只计这一情形，不计其他情形）.
- ``straight_quotes``: ``"三安全一稳定"`` instead of “三安全一稳定” (prose too).
- ``split_active``: 二 printed as four small tables, one per 第二十条 block.
- ``procurement_row``: the old template's 政府集中采购 row under 二 (listed whenever printed, also when
  the report itself drew it).
- ``broken_arithmetic``: a published total that does not add up; the truth lists its key in
  ``source_inconsistent`` and its ``fields`` hold the value as printed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from samples import template as T
from samples.content import Block, Report

STREAM = 0x76617269  # "vari": tags the variants' seed sequences apart from the document's own
BLOCK = 4
"""Each variant falls on one document of every BLOCK consecutive indices (a probability of 1/BLOCK)."""

LABEL_BREAKS = "label_breaks"
PARTIAL_WITHOUT_NOTE = "partial_without_note"
STRAIGHT_QUOTES = "straight_quotes"
SPLIT_ACTIVE = "split_active"
PROCUREMENT_ROW = "procurement_row"
BROKEN_ARITHMETIC = "broken_arithmetic"
NAMES: tuple[str, ...] = (LABEL_BREAKS, PARTIAL_WITHOUT_NOTE, STRAIGHT_QUOTES, SPLIT_ACTIVE, PROCUREMENT_ROW,
                          BROKEN_ARITHMETIC)

BREAK_PROBABILITY = 0.2
"""Per label cell (of at least 3 characters) in a document with label breaks; at least one breaks."""

GAP_LEADINGS = 0.8
"""Space between the four small tables of a split 二, in table-text leadings."""

BreakAt = tuple[str, int, int, int]
"""(template table, row, col, character index): a forced line break before that character of a label."""


@dataclass(frozen=True)
class Variants:
    """The variants of one document and what each needs to print."""

    names: frozenset[str] = frozenset()
    breaks: tuple[BreakAt, ...] = ()
    source_inconsistent: tuple[str, ...] = ()

    @property
    def applied(self) -> list[str]:
        """Names in the order of ``NAMES``, as the truth lists them."""
        return [n for n in NAMES if n in self.names]

    def specs(self, procurement: bool) -> list[T.TableSpec]:
        """The three tables as this document prints them: label variants and forced breaks applied."""
        specs = template_specs(self.names, procurement)
        return [_with_breaks(spec, {(r, c): at for key, r, c, at in self.breaks if key == spec.key})
                for spec in specs]


def template_specs(names: frozenset[str] | set[str], procurement: bool) -> list[T.TableSpec]:
    """The three tables with the label texts the variants ``names`` print (no forced breaks: truth text)."""
    apps = T.applications(partial_note=PARTIAL_WITHOUT_NOTE not in names, straight_quotes=STRAIGHT_QUOTES in names)
    return [T.active_disclosure(procurement), apps, T.review_litigation()]


def _with_breaks(spec: T.TableSpec, breaks: dict[tuple[int, int], int]) -> T.TableSpec:
    def broken(c: T.CellSpec) -> T.CellSpec:
        at = breaks.get((c.row, c.col))
        return c if at is None else dataclasses.replace(c, text=c.text[:at] + "\n" + c.text[at:])

    cells = tuple(broken(c) for c in spec.cells)
    return dataclasses.replace(spec, cells=cells)


def chosen(seed: int, tier_code: int, index: int) -> set[str]:
    """The variants document ``index`` gets: each variant takes one slot of the index's block."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, tier_code, index // BLOCK, STREAM, BLOCK]))
    slots = rng.integers(0, BLOCK, len(NAMES))
    return {name for name, slot in zip(NAMES, slots, strict=True) if slot == index % BLOCK}


def _draw_breaks(rng: np.random.Generator, specs: list[T.TableSpec]) -> tuple[BreakAt, ...]:
    labels = [(s.key, c.row, c.col, len(c.text)) for s in specs for c in s.cells
              if c.kind == T.LABEL and len(c.text) >= 3]
    chosen = [i for i in range(len(labels)) if rng.random() < BREAK_PROBABILITY]
    if not chosen:
        chosen = [int(rng.integers(len(labels)))]
    return tuple((key, row, col, int(rng.integers(1, n))) for key, row, col, n in (labels[i] for i in chosen))


_PRINTED_TOTALS: tuple[tuple[float, tuple[str, ...]], ...] = (
    (0.5, tuple(f"applications.{row}.total" for row in T.APPLICATION_ROWS)),  # a row's 总计 column
    (0.35, tuple(f"applications.total.{col}" for col in T.APPLICANT_COLS)),  # the （七）总计 row
    (0.15, tuple(f"review_litigation.{g}.total" for g in T.REVIEW_GROUPS)),  # 四's 总计
)


def _break_arithmetic(rng: np.random.Generator, fields: dict[str, str]) -> str:
    """Misprint one published total by a typo-sized amount (a non-zero one if there is); returns its key."""
    groups = [keys for _, keys in _PRINTED_TOTALS]
    keys = groups[int(rng.choice(len(groups), p=[w for w, _ in _PRINTED_TOTALS]))]
    keys = tuple(k for k in keys if fields[k] != "0") or keys
    key = keys[int(rng.integers(len(keys)))]
    old = int(fields[key])
    step = int(rng.integers(1, max(1, old // 10) + 2))
    new = old - step if old >= step and rng.random() < 0.5 else old + step
    fields[key] = str(new)
    return key


def draw_variants(report: Report, seed: int, tier_code: int, index: int) -> tuple[Report, Variants]:
    """This document's variants, and the report as printed with them (fields, 政府集中采购 row, prose).

    ``procurement_row`` is listed whenever the row is printed: reports outside the clean tier print it
    ~25 % of the time of their own accord, and the variant adds it to others.
    """
    names = chosen(seed, tier_code, index)
    rng = np.random.default_rng(np.random.SeedSequence([seed, tier_code, index, STREAM]))
    procurement = report.procurement
    if PROCUREMENT_ROW in names and procurement is None:
        procurement = str(int(rng.integers(0, 400)))
    if procurement is not None:
        names.add(PROCUREMENT_ROW)
    fields = dict(report.fields)
    inconsistent: tuple[str, ...] = ()
    if BROKEN_ARITHMETIC in names:
        key = _break_arithmetic(rng, fields)
        inconsistent = (key,)
        broken = T.broken_rules(fields)
        if not broken or any(key not in r.lhs + r.rhs for r in broken):  # pragma: no cover - a bug here
            raise AssertionError(f"misprinting {key} broke {broken}")
    blocks = report.blocks
    if STRAIGHT_QUOTES in names:
        blocks = tuple(Block(b.kind, T.straighten(b.text)) for b in blocks)
    breaks = _draw_breaks(rng, template_specs(names, procurement is not None)) if LABEL_BREAKS in names else ()
    printed = dataclasses.replace(report, fields=fields, procurement=procurement, blocks=blocks)
    return printed, Variants(frozenset(names), breaks, inconsistent)
