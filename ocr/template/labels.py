"""Label text compared as OCR leaves it, and printed labels paired with a template's in order.

Labels are compared fuzzily (OCR garbles them) and row and column order is the prior that places a
label too damaged to read between two that were read. A printed label may also stand for several of
the template's run together, where the rules between them were lost.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rapidfuzz import fuzz

if TYPE_CHECKING:
    from ocr.template.spec import Node

# Label similarity is 0..100 (rapidfuzz). A pair this similar is an anchor on its own; between two
# anchors, leftover rows pair up in order when they are as many on both sides and not unlike.
ANCHOR = 50.0
GAP_ANCHOR = 30.0  # a second, looser pass inside a gap where the counts differ
GAP_FLOOR = 25.0  # an order-only pairing still needs this much likeness (or an empty label)


def normalize(text: str) -> str:
    """Label text as compared: NFKC, no whitespace, no punctuation or symbols (quote and bracket
    variants, line breaks and stray spaces from OCR all fold away)."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in text if unicodedata.category(ch)[0] not in "PSZC")


def squash(text: str) -> str:
    """A line as the title/closing regexes see it: NFKC, whitespace removed, punctuation kept."""
    return "".join(unicodedata.normalize("NFKC", text).split())


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


def merged_likeness(texts: Sequence[str], paths: Sequence[str], nodes: Sequence[Node]) -> Merged:
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
