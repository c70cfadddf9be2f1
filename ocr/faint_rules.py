"""Rules faded into the paper, found as steady thin dips in the grey page.

The rule mask (`ocr.grid`) sees only rules that binarise as ink. Faded print and JPEG leave a rule a few
grey levels darker than the paper, which binarisation drops; here such a rule is looked for directly in
the grey page, where the table's structure expects one: along a known rule between two crossings (a
separator the mask missed), or as a whole rule between two found ones (`faint_rules`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ocr.model import Rule

if TYPE_CHECKING:  # grid.py imports this module; its parameters are only annotations here
    from ocr.grid import GridParams

ALONG = 9  # px a faint rule's grey is averaged over along its length, to beat the noise down
LONG = 4 * ALONG  # a stretch shorter than this may be spanned by a glyph's stroke


def sample(gray: np.ndarray, rule: Rule, t_a: float, t_b: float, horizontal: bool, lo: int, hi: int,
           step: float = 1.0, towards: Rule | None = None) -> np.ndarray:
    """Grey values along `rule` from t_a to t_b, one row per offset lo..hi across it (1 px apart, or
    `step` of the way to `towards` each, for offsets measured between two rules): (offsets, positions)."""
    ts = np.arange(int(np.ceil(t_a)), int(np.floor(t_b)) + 1)
    base = rule.at(ts)
    across = np.ones_like(base) if towards is None else (towards.at(ts) - base) * step
    pp = np.rint(base[None, :] + np.arange(lo, hi + 1)[:, None] * across[None, :]).astype(int)
    limit = gray.shape[0] if horizontal else gray.shape[1]
    t_limit = gray.shape[1] if horizontal else gray.shape[0]
    pp = np.clip(pp, 0, limit - 1)
    tt = np.clip(np.broadcast_to(ts, pp.shape), 0, t_limit - 1)
    return (gray[pp, tt] if horizontal else gray[tt, pp]).astype(np.float32)


# Bert Dobbelaere's optimal sorting network for six inputs (12 comparators).
_SORT6 = ((0, 5), (1, 3), (2, 4), (1, 2), (3, 4), (0, 3), (2, 5), (0, 1), (2, 3), (4, 5), (1, 2), (3, 4))


def median6(arrays: list[np.ndarray]) -> np.ndarray:
    """Elementwise median of six arrays, as np.median gives it (the mean of the middle two)."""
    if len(arrays) != 6:  # faint_side changed: the general (slower) way
        return np.median(np.stack(arrays), axis=0).astype(arrays[0].dtype)
    s = list(arrays)
    for a, b in _SORT6:
        s[a], s[b] = np.minimum(s[a], s[b]), np.maximum(s[a], s[b])
    return (s[2] + s[3]) / 2  # a Python 2 keeps float32 samples float32


def thin_dips(samples: np.ndarray, tol: int, p: GridParams, candidate: bool = False) -> np.ndarray:
    """Which rows of `samples` (rows: offsets across a rule, 1 px apart; columns: positions along it)
    have a faint rule running through them, for every row with `tol + faint_side` rows on both sides.

    Averaging along the rule (`ALONG`) beats the noise down. A rule is a narrow dip: the darkest point
    within `tol` of the row, against the paper a few px further out on both sides, that stays put
    (glyph strokes wander), with no other stroke beside it, and darker than the paper at large. It runs
    along most of the stretch and into both its ends (a glyph's stroke stops short of the cell's
    padding); a worn rule may have lost stretches and one end, but it runs whole into the other.
    `candidate` rows are the positions of a rule no mask found: the dip must lie on the row itself
    (give or take the rule's width), and a worn one must show more of itself.
    """
    reach = tol + p.faint_side
    if samples.shape[1] < 8 or samples.shape[0] < 2 * reach + 1:
        return np.zeros(max(0, samples.shape[0] - 2 * reach), dtype=bool)
    smooth = cv2.blur(samples, (ALONG, 1))
    # Row i's window is smooth[i : i + 2*reach + 1]; every statistic over it is taken across shifted
    # row slices (views), not over a materialised (rows, along, window) array: ~5x less time, the
    # same values.
    rows = smooth.shape[0] - 2 * reach

    def at(j: int) -> np.ndarray:
        return smooth[j:j + rows]

    centre = at(reach - tol).copy()
    where = np.zeros(centre.shape, dtype=np.intp)  # a rule's darkest point stays put; strokes wander
    for k in range(1, 2 * tol + 1):
        row = at(reach - tol + k)
        darker = row < centre
        where[darker] = k
        np.minimum(centre, row, out=centre)
    left = [at(j) for j in range(reach - tol - 2)]
    right = [at(j) for j in range(reach + tol + 3, 2 * reach + 1)]
    paper = np.minimum(median6(left), median6(right))
    dip = paper - centre
    settled = tol if candidate else np.median(where, axis=1, keepdims=True)  # where the rule would lie
    steady = np.abs(where - settled) <= (2 if candidate else 1)
    # A glyph's strokes cross its upright one; a speck of noise beside a rule may be allowed.
    bar = paper - p.faint_dip
    strokes = np.zeros(centre.shape, dtype=np.uint8)
    for side in (*left, *right):
        strokes += side < bar
    clear = strokes <= 2
    # A seal turns white in the ink channel, so the paper between two of its strokes is a dip too.
    dark = centre <= np.median(smooth) - p.faint_dip
    good = (dip >= p.faint_dip) & steady & clear & dark
    fifth = max(1, good.shape[1] // 5)
    head, tail = good[:, :fifth].mean(axis=1) >= 0.5, good[:, -fifth:].mean(axis=1) >= 0.5
    share = good.mean(axis=1)
    if good.shape[1] < LONG:  # small print or low dpi: a glyph's stroke may span the slot
        return (share >= p.faint_share) & head & tail
    whole_end = good[:, :fifth].all(axis=1) | good[:, -fifth:].all(axis=1)
    worn = p.broken_rule_share if candidate else p.broken_share
    return (share >= p.faint_share) & (head & tail | whole_end) | (share >= worn) & whole_end


def faint_rule(gray: np.ndarray, rule: Rule, t_a: float, t_b: float, horizontal: bool, tol: int,
               p: GridParams) -> bool:
    """Is there a thin dark line along `rule` between t_a and t_b, however faint?

    Used where the rule mask saw too little: faded print and JPEG leave a rule only a few grey levels
    darker than the paper.
    """
    if t_b - t_a < 8:
        return False
    reach = tol + p.faint_side
    return bool(thin_dips(sample(gray, rule, t_a, t_b, horizontal, -reach, reach), tol, p)[0])


def faint_rules(rules: list[Rule], across: list[Rule], gray: np.ndarray, horizontal: bool, scale: float,
                p: GridParams, avoid: Sequence[Rule] = ()) -> list[Rule]:
    """Whole rules of one direction that faded below the rule mask, found between the rules that were not.

    A table's column rules run down to its last row (headers span above them, not below) and its row
    rules run out to its last column, so a candidate is a rule between two neighbouring rules (sharing
    their slant) that is a faint rule (`thin_dips`) in every slot from the last one back, for at least
    `faint_run` of the slots and never fewer than two. Gaps between words are no dip; glyph strokes stop
    short of a slot's ends; a stroke or smudge in one slot is not a run. Nor is a line along one of the
    rules to `avoid` (of this direction: drum streaks, which run through every slot as a rule would).
    """
    tol = max(2, int(round(p.rule_tol * scale * 0.6)))
    reach = tol + p.faint_side
    m = p.margin * scale
    least = p.min_cell * scale
    slots = len(across) - 1
    need = max(2, int(np.ceil(p.faint_run * slots)))
    if slots < need:
        return []
    mid = (across[0].middle() + across[-1].middle()) / 2  # along `rules`
    # An outer rule may have faded too: where rules of the other direction run on past the outermost
    # rule, the space up to their ends is searched as well. Two of them at least: a faded border leaves
    # every rule that met it ending there, while one rule alone runs on where a glyph of a note printed
    # under the table touches it, and below low-resolution text the glyphs' lower strokes line up like a
    # faint rule (a real page's note line became a row of its table at 96 dpi).
    starts, ends = sorted(a.t0 for a in across), sorted(a.t1 for a in across)
    first, last = starts[1], ends[-2]
    slack = least + 2 * tol
    bounds = [Rule(rules[0].a + first - slack - rules[0].at(mid), rules[0].b, rules[0].t0, rules[0].t1), *rules,
              Rule(rules[-1].a + last + slack - rules[-1].at(mid), rules[-1].b, rules[-1].t0, rules[-1].t1)]
    found: list[Rule] = []
    for r0, r1 in zip(bounds, bounds[1:], strict=False):
        width = r1.at(mid) - r0.at(mid)
        if width < 2 * least:
            continue
        alive = np.ones(int(width) + 1, dtype=bool)  # offsets from r0 still in an unbroken run
        alive[:int(least)] = alive[int(width - least) + 1:] = False
        for r in avoid:
            k = int(round(r.at(mid) - r0.at(mid)))
            alive[max(0, k - int(least)):max(0, k + int(least) + 1)] = False
        run, start, end = 0, 0.0, 0.0
        for k in range(slots - 1, -1, -1):
            t_a = (r0.crossing(across[k])[0] + r1.crossing(across[k])[0]) / 2 + m
            t_b = (r0.crossing(across[k + 1])[0] + r1.crossing(across[k + 1])[0]) / 2 - m
            ok = np.zeros_like(alive)
            if t_b - t_a >= LONG:
                samples = sample(gray, r0, t_a, t_b, horizontal, -reach, len(alive) - 1 + reach, 1 / width, r1)
                ok = thin_dips(samples, tol, p, candidate=True)
                ok = ok | np.roll(ok, 1) | np.roll(ok, -1)  # the rule may wander a pixel between slots
            if not (alive & ok).any():
                break
            alive &= ok
            end = end if run else t_b + m
            run, start = run + 1, t_a - m
        if run < need:
            continue
        offsets = np.flatnonzero(alive)
        for group in np.split(offsets, np.flatnonzero(np.diff(offsets) > least) + 1):
            u = float(np.median(group)) / width
            found.append(Rule((1 - u) * r0.a + u * r1.a, (1 - u) * r0.b + u * r1.b, start, end))
    return found
