"""Stage 3: find ruled tables, their rules, and their cells with row/column spans.

Morphology pulls long horizontal and vertical runs out of the binarised page (healing small breaks),
each run is fitted as a straight rule (so residual skew and mild perspective do not matter), and the
rules are grouped into tables. The table's atomic grid is every row rule x every column rule; two
neighbouring slots belong to one merged cell where the rule between them is missing. All lengths
scale with the page's resolution (`scale` = dpi / 300).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import groupby
from operator import attrgetter, itemgetter

import cv2
import numpy as np

from ocr.faint_rules import faint_rule, faint_rules, sample
from ocr.glyphs import digit_like, tight
from ocr.model import Grid, GridCell, Rule

_SEPARATOR_COVERAGE = 0.5  # a rule counts as present between two slots over half its length
_MIN_FIGURE = 12  # px at 300 dpi (1 mm): ink less tall is a speck, not a figure (`_figures_apart`)
_RULE_DASH = 9  # px at 300 dpi: an upright stroke no wider, twice as tall, alone between figures: a rule's dash
# Two figures a lost column rule parts stand each in its own column, far apart: the channel between them is
# at least this share of the two columns' width (two 0s in 97 px columns: 40%; '11  11' in a cell: 15%).
_FIGURE_CHANNEL = 0.25
_FIGURE_RUN = 0.5  # a column rule told by figures alone runs through at least half the table's rows
# Grey levels by which a rule's line must be darker inside its table than where it runs on, to be the table's
# rule along a band of dirty rollers rather than a streak (`_cut_to_print`); a drum streak is as dark all along.
_PRINT_STEP = 40
_SPECK_SHARE = 0.2  # ink beside a figure under this share of its largest glyph's area is a speck
_FIGURE_LINE = 1.3  # a figure's ink is no taller than this many times its largest glyph: one line
_REGION_SHRINK = 4
_SPECKLE_INK = 4  # paper between stacked tables holds no more than this many times `stack_ink` of speckle


@dataclass(frozen=True)
class GridParams:
    """Lengths in pixels at 300 dpi; multiplied by the page's scale."""

    min_rule: int = 70  # a run shorter than this is ink, not a rule (a CJK glyph is ~44 px at 10.5 pt)
    heal_gap: int = 45  # breaks in a rule up to this long are bridged
    rule_tol: int = 10  # segments this close across their direction are one rule
    min_table_w: int = 150
    min_table_h: int = 60
    margin: int = 6  # ignore this much next to a crossing rule when measuring a separator
    contrast: int = 12  # local-mean threshold offset for rule pixels (lower finds fainter rules)
    faint_dip: int = 5  # grey levels a faint rule lies below the paper beside it
    faint_share: float = 0.7  # ... along this share of a stretch, reaching into its ends
    broken_share: float = 0.4  # ... or along this share, whole over one end fifth (a worn rule)
    broken_rule_share: float = 0.5  # the same, for a rule that no mask found at all
    faint_side: int = 8  # px beyond the rule's tolerance where the paper is sampled
    faint_run: float = 0.3  # a whole faint rule runs through this share of the table's slots (at least 2)
    min_cell: int = 30  # a whole faint rule is looked for no closer than this to a rule already found
    # No row or column is narrower than this: the smallest print a table holds (6 pt) is ~25 px tall and
    # a figure as wide with its padding. Two rules closer than it are one rule printed twice, or a thick
    # one whose light core binarised away (issue 13: a 3-12 px sliver column shifted the rest by one).
    min_slot: int = 20
    # A table's rules end at its border: a rule runs on past the table's outermost rules across it by no
    # more than this, unless another rule ends where it does (the edge of a table printed without that
    # border). A long straight line that runs on alone, or to the page's edge, is a photocopier's drum
    # streak (issue 13: they crossed tables as rules, split their cells and joined stacked tables).
    streak_overrun: int = 140
    # Two tables printed one close under the other (二 as four small tables, a sub-section printed as a
    # table of its own) join into one tangle when the rule mask's healing (`heal_gap`) bridges their
    # collinear column rules across the gap. The gap is a band between two rules that no vertical rule's
    # ink (or faint line) crosses and no text fills; a table's own rows have one or the other. It is no
    # taller than this (twice `heal_gap`): a wider gap is healed over by nothing, so the tables were found
    # apart already.
    stack_gap: int = 90
    stack_ink: float = 0.01  # share of a band's paper that may be ink (speckle) and the band still empty
    # A rule printed at under this share of its table's print (`_drop_pale`, the lighter side's level)
    # must end where rules across it are, and its line stop there, or it is a line of the paper's texture,
    # a dirty drum or rollers: augraphy's lines measured 0.10-0.15 (one 0.27); the faded and broken rules of
    # our deviations family 0.28-0.40, and they stop nowhere near a joint when broken, so they must not be
    # judged so.
    pale_share: float = 0.25


def _odd(n: float) -> int:
    n = max(3, int(round(n)))
    return n if n % 2 else n + 1


def binarize(gray: np.ndarray, scale: float, p: GridParams = GridParams()) -> np.ndarray:
    """Ink = 255. Local mean thresholding copes with uneven light and faint rules."""
    return cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV,
                                 _odd(41 * scale), p.contrast)


def rule_mask(binary: np.ndarray, scale: float, horizontal: bool, p: GridParams = GridParams(),
              short: bool = False) -> np.ndarray:
    """Horizontal or vertical rule mask, with breaks of up to `heal_gap` bridged.

    `short` keeps runs down to 40% of `min_rule`: a one-row cell's vertical rule is only ~60 px tall.
    Such runs are too easily glyph strokes to stand alone; they only extend rules found without them.
    """
    length = p.min_rule * scale * (0.4 if short else 1.0)

    def kernel(n: float) -> np.ndarray:
        n = max(1, int(round(n)))
        return cv2.getStructuringElement(cv2.MORPH_RECT, (n, 1) if horizontal else (1, n))

    # heal salt noise inside a rule; at low dpi a 3 px close would also join the glyphs of a text line
    m = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, kernel(3 * min(1.0, scale)))
    m = cv2.morphologyEx(m, cv2.MORPH_OPEN, kernel(length))
    return cv2.morphologyEx(m, cv2.MORPH_CLOSE, kernel(p.heal_gap * scale))


@dataclass
class _Cluster:
    xs: list[np.ndarray]
    ys: list[np.ndarray]
    rule: Rule


def _fit(ts: np.ndarray, ps: np.ndarray) -> tuple[float, float]:
    if np.ptp(ts) < 2:
        return float(np.mean(ps)), 0.0
    b, a = np.polyfit(ts, ps, 1)
    return float(a), float(b)


def _segments(mask: np.ndarray, horizontal: bool, min_len: float) -> list[tuple[np.ndarray, np.ndarray, float, float]]:
    """Each connected run as (positions along, positions across, start, end), longest first.

    Labelled within the box around the mask's ink only: a page's rules fill its tables, not the page.
    """
    bx, by, bw, bh = cv2.boundingRect(mask)
    if bw == 0 or bh == 0:
        return []
    # even offsets keep OpenCV's 2x2-block labelling aligned as on the whole page
    bw, bh, bx, by = bw + bx % 2, bh + by % 2, bx - bx % 2, by - by % 2
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask[by:by + bh, bx:bx + bw], connectivity=8)
    segs = []
    for i in range(1, n):
        x, y, w, h, _area = stats[i]
        if (w if horizontal else h) < min_len:
            continue
        sub = labels[y:y + h, x:x + w] == i
        yy, xx = np.nonzero(sub)
        step = max(1, len(xx) // 4000)
        xx, yy = xx[::step] + x + bx, yy[::step] + y + by
        ts, ps = (xx, yy) if horizontal else (yy, xx)
        segs.append((ts, ps, float(ts.min()), float(ts.max())))
    segs.sort(key=lambda s: s[3] - s[2], reverse=True)
    return segs


def _fit_rules(mask: np.ndarray, horizontal: bool, tol: float, min_len: float,
               short_mask: np.ndarray | None = None, reach: float = 0.0) -> list[Rule]:
    """Fit each connected run, then join collinear runs into one rule each.

    Runs from `short_mask` may lengthen a rule found in `mask`, when they start within `reach` of its
    end, but never start one (glyph strokes in a column of text line up too).
    """
    clusters: list[_Cluster] = []
    passes = [(_segments(mask, horizontal, min_len), True)]
    if short_mask is not None:
        passes.append((_segments(short_mask, horizontal, min_len * 0.4), False))
    for segs, may_start in passes:
        for ts, ps, t0, t1 in segs:
            mid_t, mid_p = (t0 + t1) / 2.0, float(np.median(ps))
            for c in clusters:
                if abs(c.rule.at(mid_t) - mid_p) <= tol:
                    if not may_start and (c.rule.t0 - tol <= t0 and t1 <= c.rule.t1 + tol
                                          or t0 > c.rule.t1 + reach or t1 < c.rule.t0 - reach):
                        continue  # inside the rule already, or too far from its end to extend it
                    c.xs.append(ts)
                    c.ys.append(ps)
                    all_t, all_p = np.concatenate(c.xs), np.concatenate(c.ys)
                    a, b = _fit(all_t, all_p)
                    c.rule = Rule(a, b, min(c.rule.t0, t0), max(c.rule.t1, t1))
                    break
            else:
                if may_start:
                    a, b = _fit(ts, ps)
                    clusters.append(_Cluster([ts], [ps], Rule(a, b, t0, t1)))
    return [c.rule for c in clusters]


def _merge_close(rules: list[Rule], min_slot: float) -> list[Rule]:
    """One rule for each group of rules closer than `min_slot` across: no text fits between them.

    Closeness is measured halfway along the stretch two rules share (or between them when they share
    none), where a slant matters least. The merged rule is their mean, weighted by length (nearly
    parallel rules: the fit through both); its `spread` says how far from it their ink lies, so a
    separator is still seen along either copy.
    """
    out = sorted(rules, key=Rule.middle)
    i = 0
    while i < len(out) - 1:
        r, q = out[i], out[i + 1]
        t = (max(r.t0, q.t0) + min(r.t1, q.t1)) / 2
        if abs(r.at(t) - q.at(t)) >= min_slot:
            i += 1
            continue
        wr, wq = max(1.0, r.t1 - r.t0), max(1.0, q.t1 - q.t0)
        a, b = (wr * r.a + wq * q.a) / (wr + wq), (wr * r.b + wq * q.b) / (wr + wq)
        spread = max(abs(m.middle() - (a + b * (m.t0 + m.t1) / 2)) + m.spread for m in (r, q))
        out[i:i + 2] = [Rule(a, b, min(r.t0, q.t0), max(r.t1, q.t1), spread)]
        i = max(0, i - 1)  # the merged rule may now be close to the one before
    return out


def _drop_beside(rules: list[Rule], near: float, tol: float, mask: np.ndarray, horizontal: bool) -> list[Rule]:
    """Without the short rules that lie wholly beside a rule a third longer or more, closer than `near`
    across (`min_cell`: no text fits between), where that rule is printed too (`_both_inked`): a pen
    stroke or a scratch along a column rule, which would make a sliver column of a few rows. Issue 13: 三
    of an augraphy-heavy page came out 11 columns wide, a 27 px column over three rows beside 自然人's
    rule."""
    out = sorted(rules, key=Rule.middle)
    gone: set[int] = set()
    for r, q in zip(out, out[1:], strict=False):
        short, long_ = (r, q) if r.t1 - r.t0 < q.t1 - q.t0 else (q, r)
        t = (short.t0 + short.t1) / 2
        if (abs(short.at(t) - long_.at(t)) < near and 4 * (short.t1 - short.t0) <= 3 * (long_.t1 - long_.t0)
                and long_.t0 - tol <= short.t0 and short.t1 <= long_.t1 + tol
                and _both_inked(short, long_, mask, horizontal, tol)):
            gone.add(id(short))
    return [r for r in out if id(r) not in gone]


def _both_inked(r: Rule, q: Rule, mask: np.ndarray, horizontal: bool, tol: float) -> bool:
    """Are both rules printed along the stretch they share? A rule printed with a jog (a real page's
    column rule stepping a few px aside for one row) leaves a gap in one where the other runs: those are
    one rule's two pieces, and both bound cells."""
    t0, t1 = max(r.t0, q.t0), min(r.t1, q.t1)
    ink = max(2, int(round(0.6 * tol)))
    return min(_coverage(mask, r, t0, t1, horizontal, ink), _coverage(mask, q, t0, t1, horizontal, ink)) \
        >= _SEPARATOR_COVERAGE


def _crossings(rule: Rule, others: list[Rule], tol: float) -> list[float]:
    """Where along `rule` the perpendicular rules cross it (within `tol` of both their extents)."""
    at = []
    for o in others:
        t, s = rule.crossing(o)  # position along `rule`, along `o`
        if rule.t0 - tol <= t <= rule.t1 + tol and o.t0 - tol <= s <= o.t1 + tol:
            at.append(t)
    return at


def _keep_crossed(hs: list[Rule], vs: list[Rule], tol: float) -> tuple[list[Rule], list[Rule]]:
    """A rule meets at least two rules of the other direction; glyph strokes and underlines do not."""
    for _ in range(3):
        nh = [h for h in hs if len(_crossings(h, vs, tol)) >= 2]
        nv = [v for v in vs if len(_crossings(v, nh, tol)) >= 2]
        if len(nh) == len(hs) and len(nv) == len(vs):
            break
        hs, vs = nh, nv
    return hs, vs


def _drop_streaks(hs: list[Rule], vs: list[Rule], tol: float, edges: tuple[tuple[float, float], tuple[float, float]],
                  overrun: float, masks: tuple[np.ndarray, np.ndarray], gray: np.ndarray | None = None,
                  fitted: tuple[list[Rule], list[Rule]] = ([], [])
                  ) -> tuple[list[Rule], list[Rule], tuple[list[Rule], list[Rule]]]:
    """Take the photocopier's drum streaks out of a table's rules: horizontal and vertical rules left, and
    the horizontal and vertical streaks.

    A streak is straight and long like a rule, and may be as dark, but it does not belong to the table:
    it runs on far past the table's border (`_overruns`). Without the streaks some rules may cross fewer
    than two others; they go too, and the rest are judged again. `edges` are the page's extent along
    horizontal and along vertical rules, in the rules' coordinates; `masks` their rule masks.

    With the region's `gray`, a horizontal rule whose print is much darker inside the table than where its
    line runs on is the table's rule lying along a band of dirty rollers, which made the mask's line run
    on: it is cut back to the table (`_cut_to_print`), not dropped. Issue 13: a horizontal DirtyRollers band along
    a row rule lost the rule, and with it a table part of augraphy-heavy pages.

    `fitted` are every horizontal and vertical rule fitted in the region, those crossing too few others
    included: a rule that ends where one of them crosses it ends at a corner of the table's print.
    """
    h_streaks: list[Rule] = []
    v_streaks: list[Rule] = []
    while True:
        sh = [h for h in hs if _overruns(h, hs, vs, tol, edges[0], overrun, masks[0], True, fitted[1])]
        sv = [v for v in vs if _overruns(v, vs, hs, tol, edges[1], overrun, masks[1], False, fitted[0])]
        if gray is not None and (sh or sv):
            columns = [v for v in vs if not any(v is s for s in sv)]  # not this round's streaks
            rows = [h for h in hs if not any(h is s for s in sh)]
            kept: dict[int, Rule] = {}
            for found, siblings, across, edge, mask, horizontal in ((sh, hs, columns, edges[0], masks[0], True),
                                                                    (sv, vs, rows, edges[1], masks[1], False)):
                for r in found:
                    # only a rule of the table's beside it makes its line's darkness that rule's
                    beside = [s for s in siblings if not any(s is f for f in found)]
                    cut = _cut_to_print(r, across, tol, gray, horizontal, beside)
                    if cut is not None and not _overruns(cut[0], siblings, across, tol, edge, overrun, mask,
                                                         horizontal):
                        kept[id(r)] = cut[0]
                        _drop_band(mask, gray, cut[0], tol, cut[1], horizontal)
                        # what runs on past the print is the band's: a streak, which may join tables
                        runs_on = [Rule(r.a, r.b, r.t0, cut[0].t0 - tol, r.spread),
                                   Rule(r.a, r.b, cut[0].t1 + tol, r.t1, r.spread)]
                        (h_streaks if horizontal else v_streaks).extend(x for x in runs_on if x.t1 - x.t0 >= 2 * tol)
            hs = [kept.get(id(h), h) for h in hs]
            vs = [kept.get(id(v), v) for v in vs]
            sh = [h for h in sh if id(h) not in kept]
            sv = [v for v in sv if id(v) not in kept]
        if not sh and not sv:
            return hs, vs, (h_streaks, v_streaks)
        h_streaks += sh
        v_streaks += sv
        hs = [h for h in hs if not any(h is s for s in sh)]
        vs = [v for v in vs if not any(v is s for s in sv)]
        hs, vs = _keep_crossed(hs, vs, 2 * tol)


def _cut_to_print(rule: Rule, across: list[Rule], tol: float, gray: np.ndarray, horizontal: bool = True,
                  siblings: Sequence[Rule] = ()) -> tuple[Rule, float] | None:
    """`rule` cut back to its table's frame (its first and last crossing of `across`), and the grey level
    between the rule's print and the band it lies along, when its line is printed much darker all along
    inside the frame than where it runs on past it at either end; else None. A streak crossing a table is
    darker inside it only where it crosses print.

    A tangle may hold two tables a stripe joined: a column rule of the lower one that a drum stripe
    carries up through the upper one is printed dark across its own table's rows only. Then the longest
    run of such rows (two at least) is its frame, and the band is the line everywhere else; unless one of
    `siblings` (rules of its direction) runs beside it there, whose print that is.
    """
    if len(across) < 2:
        return None
    reach = max(1, int(round(tol)))
    t0, t1 = max(rule.t0, 0.0), min(rule.t1, float(gray.shape[1 if horizontal else 0] - 1))
    # the frame as far as the rule reaches into it
    at = sorted(t for t in (rule.crossing(o)[0] for o in across) if t0 - reach <= t <= t1 + reach)
    if len(at) < 2:
        return None

    def line(a: float, b: float) -> np.ndarray:
        return sample(gray, rule, a, b, horizontal, -reach, reach).min(axis=0) if b - a >= 2 else np.zeros(0)

    def cut(first: float, last: float) -> tuple[Rule, float] | None:
        if last - first < 4 * reach or (first - t0 < 4 * reach and t1 - last < 4 * reach):
            return None
        inside = line(first + reach, last - reach)
        outside = np.concatenate([line(t0, first - 2 * reach), line(last + 2 * reach, t1)])
        if inside.size == 0 or outside.size < 4 * reach:
            return None
        band = float(np.median(outside))
        # the line's lighter quarter inside: a rule is print all along it, a streak only where it crosses print
        if band - float(np.percentile(inside, 75)) < _PRINT_STEP:
            return None
        kept = Rule(rule.a, rule.b, max(rule.t0, first - reach), min(rule.t1, last + reach), rule.spread)
        return kept, (band + float(np.percentile(inside, 25))) / 2

    whole = cut(at[0], at[-1])
    if whole is not None or len(at) < 3:
        return whole
    beyond = np.concatenate([line(t0, at[0] - 2 * reach), line(at[-1] + 2 * reach, t1)])
    if beyond.size < 4 * reach:
        return None
    level = float(np.median(beyond)) - _PRINT_STEP
    dark = [bool(seg.size) and float(np.percentile(seg, 75)) <= level
            for seg in (line(a + reach, b - reach) for a, b in zip(at, at[1:], strict=False))]
    runs, start = [], 0  # (length, first slot) of each run of dark slots
    for is_dark, group in groupby(dark):
        n = len(list(group))
        if is_dark:
            runs.append((n, -start))
        start += n
    if not runs or max(runs)[0] < 2:
        return None
    n, first_slot = max(runs)  # the longest, the first of equals
    first, last = at[-first_slot], at[-first_slot + n]
    middle = rule.at((first + last) / 2)
    if any(s is not rule and abs(s.at((first + last) / 2) - middle) <= 2 * reach and s.t0 < last and first < s.t1
           for s in siblings):
        return None
    return cut(first, last)


def _drop_band(mask: np.ndarray, gray: np.ndarray, rule: Rule, tol: float, level: float,
               horizontal: bool = True) -> None:
    """Take the band of dirty rollers (or drum stripe) a cut-back rule lies along out of the region's rule
    `mask` (which `detect_tables` owns), along the rule inside its table: only pixels darker than `level`
    stay, so a merged cell the rule does not cross is not cut by the band's grey."""
    reach = max(1, int(round(tol))) + int(np.ceil(rule.spread)) + 2
    length, width = (gray.shape[1], gray.shape[0]) if horizontal else (gray.shape[0], gray.shape[1])
    ts = np.arange(max(0, int(np.ceil(rule.t0))), min(length - 1, int(np.floor(rule.t1))) + 1)
    ps = np.rint(rule.at(ts)[None, :] + np.arange(-reach, reach + 1)[:, None]).astype(int)
    ps = np.clip(ps, 0, width - 1)
    tt = np.broadcast_to(ts, ps.shape)
    ys, xs = (ps, tt) if horizontal else (tt, ps)
    mask[ys, xs] = np.where(gray[ys, xs] < level, mask[ys, xs], 0)


def _overruns(rule: Rule, siblings: list[Rule], across: list[Rule], tol: float, edge: tuple[float, float],
              overrun: float, mask: np.ndarray, horizontal: bool, corners: Sequence[Rule] = ()) -> bool:
    """Does `rule` run on where the table is not: past its outermost rules of the other direction
    (`across`) by more than `overrun` at an end no sibling shares, or across a gap longer than that
    between them that no sibling spans?

    The table's frame, not the rule's own last crossing: a worn rule that starts late inside the table is
    no streak. A table printed without an outer border has its rules end together at the table's edge,
    so an end other rules share is an edge; the page's own edge is not one (two streaks both run to it).
    A gap no rule across fills is the paper between two tables a streak joined: the tables' own rules
    stop at their borders, a tall row's rules all span it (with ink: collinear rules of two tables are
    one fitted rule, but not one line of ink).

    An end where one of `corners` (rules across, however few others they cross, within the table's
    frame) crosses it is a corner of print, not a streak's run-on. Issue 13: worn header rules of table
    三 were lost but for their stretches across one column rule; that rule, running up to them past the
    last rules kept, had been dropped as a streak, and the first value column went with it.
    """
    if not across:
        return False
    at = sorted(rule.crossing(o)[0] for o in across)
    start, stop = attrgetter("t0"), attrgetter("t1")
    for end, past, t_of in ((rule.t0, at[0] - rule.t0, start), (rule.t1, rule.t1 - at[-1], stop)):
        if past <= overrun:
            continue
        if min(abs(end - edge[0]), abs(edge[1] - end)) <= 2 * tol:
            return True
        if not any(s is not rule and abs(t_of(s) - end) <= 2 * tol for s in siblings) and \
                not _cornered(rule, end, corners, siblings, tol):
            return True
    ink = max(2, round(0.6 * tol))

    def spans(r: Rule, g0: float, g1: float) -> bool:
        return (r.t0 <= g0 + 2 * tol and g1 - 2 * tol <= r.t1
                and _coverage(mask, r, g0 + tol, g1 - tol, horizontal, ink) >= _SEPARATOR_COVERAGE)

    crossed = sorted(((rule.crossing(o)[0], o) for o in across), key=itemgetter(0))
    for (g0, lo), (g1, hi) in zip(crossed, crossed[1:], strict=False):
        if g1 - g0 > overrun and spans(rule, g0, g1) and (
                _frames_apart(lo, hi, siblings, tol, lambda s, g0=g0, g1=g1: spans(s, g0, g1))
                or not any(s is not rule and spans(s, g0, g1) for s in siblings)):
            return True
    return False


def _frames_apart(lo: Rule, hi: Rule, siblings: list[Rule], tol: float, spans: Callable[[Rule], bool]) -> bool:
    """Are `lo` and `hi` (rules across, `lo` first) the facing outer rules of two framed tables: each
    closed at both its ends by a rule of `siblings` on its own table's side that does not `span` the
    paper between them?

    A tall row of one table has its borders run on through it; the paper between two tables has each
    table's borders end at its own frame. Whatever spans that paper is a streak however many others do:
    issue 13, four drum streaks crossed the title between 二 and 三, each sparing the others, and the
    two tables were read as one 29x17 grid.
    """
    def closed(edge: Rule, before: bool) -> bool:
        for end in (edge.t0, edge.t1):
            if not any(abs(t - end) <= 2 * tol and s.t0 - 2 * tol <= at <= s.t1 + 2 * tol
                       and (s.t0 < at - 2 * tol if before else s.t1 > at + 2 * tol) and not spans(s)
                       for s in siblings for t, at in (edge.crossing(s),)):
                return False
        return True

    return closed(lo, True) and closed(hi, False)


def _cornered(rule: Rule, end: float, corners: Sequence[Rule], siblings: list[Rule], tol: float) -> bool:
    """Does a rule of `corners` run on both sides of `rule` at its `end` (a position along it), a T of
    print, lying within the frame of `siblings` (the rules of `rule`'s direction) as a rule of the
    table's print does? A streak that ends where another crosses it is crossed by a line running on past
    the table; the connector of an organisation chart meets its line at an L, and is no table's rule."""
    if len(siblings) < 2:
        return False
    lo, hi = min(s.middle() for s in siblings) - 2 * tol, max(s.middle() for s in siblings) + 2 * tol
    for o in corners:
        t, s = rule.crossing(o)
        if abs(t - end) <= 2 * tol and o.t0 + 2 * tol < s < o.t1 - 2 * tol and lo <= o.t0 and o.t1 <= hi:
            return True
    return False


def _open_borders(hs: list[Rule], vs: list[Rule], scale: float) -> tuple[list[Rule], list[Rule]]:
    """Add the outer rule a table leaves out (many have no left and right border, some no top).

    When most rules of one direction run well past the outermost rule of the other, the table's edge is
    where they end: a virtual rule there closes the outer cells.
    """
    overhang = 30 * scale
    found_h, found_v = list(hs), list(vs)  # judge both directions on the rules actually printed
    hs, vs = list(hs), list(vs)
    for rules, across, out in ((found_h, found_v, vs), (found_v, found_h, hs)):
        if len(rules) < 2 or len(across) < 2:
            continue
        ordered = sorted(across, key=Rule.middle)
        first, last = ordered[0].middle(), ordered[-1].middle()
        lo, hi = min(r.middle() for r in rules), max(r.middle() for r in rules)
        starts = np.array([r.t0 for r in rules])
        ends = np.array([r.t1 for r in rules])
        if np.mean(starts < first - overhang) >= 0.6:
            out.append(Rule(float(np.median(starts[starts < first - overhang])), 0.0, lo, hi))
        if np.mean(ends > last + overhang) >= 0.6:
            out.append(Rule(float(np.median(ends[ends > last + overhang])), 0.0, lo, hi))
    return hs, vs


def _coverage(mask: np.ndarray, rule: Rule, t_a: float, t_b: float, horizontal: bool, tol: int) -> float:
    """Share of positions between t_a and t_b where the rule's mask has ink within `tol` (and its spread)
    of its centre."""
    if t_b - t_a < 2:
        return 1.0
    tol += int(np.ceil(rule.spread))
    return float((sample(mask, rule, t_a, t_b, horizontal, -tol, tol) > 0).any(axis=0).mean())


class _RuleCoverage:
    """`_coverage` for the many slots along each rule of one grid: the rule's whole length is sampled
    once and a slot's share read off a slice of it (the same pixels, ~10x fewer samplings)."""

    def __init__(self, tol: int) -> None:
        self.tol = tol
        self._inked: dict[int, np.ndarray] = {}  # per rule (the grid's rules outlive it): ink within tol, along it

    def __call__(self, mask: np.ndarray, rule: Rule, t_a: float, t_b: float, horizontal: bool) -> float:
        length = mask.shape[1] if horizontal else mask.shape[0]
        a, b = int(np.ceil(t_a)), int(np.floor(t_b))
        if t_b - t_a < 2 or a < 0 or b >= length:
            return _coverage(mask, rule, t_a, t_b, horizontal, self.tol)
        row = self._inked.get(id(rule))
        if row is None:
            tol = self.tol + int(np.ceil(rule.spread))
            row = self._inked[id(rule)] = (sample(mask, rule, 0, length - 1, horizontal, -tol, tol) > 0
                                           ).any(axis=0)
        return float(row[a:b + 1].mean())


def _ink_tol(p: GridParams, scale: float) -> int:
    """How far (px) from a rule's fitted line its own ink may lie, when a separator's ink is looked for."""
    return max(2, int(round(p.rule_tol * scale * 0.6)))


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def _build_grid(hs: list[Rule], vs: list[Rule], hmask: np.ndarray, vmask: np.ndarray,
                scale: float, p: GridParams, gray: np.ndarray | None = None, faint: list[Rule] | None = None,
                text: np.ndarray | None = None) -> Grid | None:
    """`faint` rules (from `faint_rules`) separate every slot within the stretch they were verified on.
    With the region's `text` ink (rules taken out), two figures standing apart across a rule the print
    lost separate their slots too (`_figures_apart`)."""
    nr, nc = len(hs) - 1, len(vs) - 1
    if nr < 1 or nc < 1:
        return None
    corner = np.zeros((nr + 1, nc + 1, 2))
    for i, h in enumerate(hs):
        for j, v in enumerate(vs):
            x, y = h.crossing(v)
            corner[i, j] = (x, y)
    tol = _ink_tol(p, scale)
    m = p.margin * scale
    parent = list(range(nr * nc))

    coverage = _RuleCoverage(tol)

    def present(rule: Rule, t_a: float, t_b: float, horizontal: bool, mask: np.ndarray) -> bool:
        if any(rule is f for f in faint or ()) and rule.t0 - m <= t_a and t_b <= rule.t1 + m:
            return True
        return coverage(mask, rule, t_a, t_b, horizontal) >= _SEPARATOR_COVERAGE or (
            gray is not None and faint_rule(gray, rule, t_a, t_b, horizontal, tol, p))

    def union(a: int, b: int) -> None:
        ra, rb = _find(parent, a), _find(parent, b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    def apart(rule: Rule, t_a: float, t_b: float, lo: Rule, hi: Rule, horizontal: bool) -> bool:
        return text is not None and _figures_apart(text, rule, (t_a, t_b), (lo, hi), horizontal, scale, p)

    across: set[tuple[int, int]] = set()  # (r, c) joined to (r, c + 1): no rule between them
    down: set[tuple[int, int]] = set()  # (r, c) joined to (r + 1, c)
    for r in range(nr):
        for c in range(nc):
            if c + 1 < nc:  # vertical rule vs[c+1] between (r, c) and (r, c+1), along y
                ya, yb = corner[r, c + 1, 1] + m, corner[r + 1, c + 1, 1] - m
                if not present(vs[c + 1], ya, yb, False, vmask) and not apart(vs[c + 1], ya, yb, vs[c],
                                                                              vs[c + 2], False):
                    union(r * nc + c, r * nc + c + 1)
                    across.add((r, c))
            if r + 1 < nr:  # horizontal rule hs[r+1] between (r, c) and (r+1, c), along x
                xa, xb = corner[r + 1, c, 0] + m, corner[r + 1, c + 1, 0] - m
                if not present(hs[r + 1], xa, xb, True, hmask) and not apart(hs[r + 1], xa, xb, hs[r],
                                                                             hs[r + 2], True):
                    union(r * nc + c, (r + 1) * nc + c)
                    down.add((r, c))
    groups: dict[int, list[tuple[int, int]]] = {}
    for r in range(nr):
        for c in range(nc):
            groups.setdefault(_find(parent, r * nc + c), []).append((r, c))
    cells = []
    taken = np.zeros((nr, nc), dtype=bool)
    for slots in sorted(groups.values(), key=lambda s: (min(s), len(s))):
        r0, r1 = min(r for r, _ in slots), max(r for r, _ in slots)
        c0, c1 = min(c for _, c in slots), max(c for _, c in slots)
        if len(slots) < (r1 - r0 + 1) * (c1 - c0 + 1) and 2 * len(slots) <= nr * nc:
            # Not a rectangle: rules lost in a few slots joined cells that are not one (a group label's
            # column, faded, joined every label beside it into one cell, and their texts were lost). Not
            # so when it holds most of the grid: boxes drawn inside a box (an organisation chart) are no
            # table, and taken whole they make one cell, which is none either (`_table_sized`).
            for b0, a0, b1, a1 in _rectangles(slots, across, down):
                taken[b0:b1 + 1, a0:a1 + 1] = True
                cells.append(_cell(corner, b0, a0, b1, a1, uncertain=True))
            continue
        if taken[r0:r1 + 1, c0:c1 + 1].any():
            # A non-rectangular group (noise made a rule vanish in one slot only): keep its own slots
            # as single cells rather than overlap a neighbour.
            for r, c in slots:
                if not taken[r, c]:
                    taken[r, c] = True
                    cells.append(_cell(corner, r, c, r, c, uncertain=True))
            continue
        taken[r0:r1 + 1, c0:c1 + 1] = True
        cells.append(_cell(corner, r0, c0, r1, c1))
    cells.sort(key=lambda g: (g.row, g.col))
    xs, ys = corner[..., 0], corner[..., 1]
    bbox = (int(np.floor(xs.min())), int(np.floor(ys.min())), int(np.ceil(xs.max())), int(np.ceil(ys.max())))
    return Grid(bbox=bbox, h_rules=hs, v_rules=vs, cells=cells)


def _figure_rules(vs: list[Rule], hs: list[Rule], text: np.ndarray, scale: float, p: GridParams) -> list[Rule]:
    """Column rules the print lost down the whole table, where the figures tell them: between two found
    column rules, a column of slots that each hold as many figures apart (two or more), with white
    channels between them common to them all, from the last row up over most of the table's rows.

    A broken, faint rule printed twice (issue 13's deviations) was found neither by the mask nor as a faint
    line: 三 came out 9 columns wide where it has 10, two value columns one, and its 56 fields unmapped. The
    rule stands in the middle of the common channel; its rows are those the run covers.
    """
    slots = len(hs) - 1
    need = max(3, int(np.ceil(_FIGURE_RUN * slots)))
    if slots < need or len(vs) < 2:
        return []
    least = p.min_cell * scale
    m = int(round(p.margin * scale))
    found: list[Rule] = []
    for r0, r1 in zip(vs, vs[1:], strict=False):
        common: list[tuple[int, int]] | None = None
        run, missed = 0, 0
        top: float | None = None
        bottom: float | None = None
        for k in range(slots - 1, -1, -1):
            ya, yb = r0.crossing(hs[k])[0], r0.crossing(hs[k + 1])[0]  # along the column rule (y)
            mid = (ya + yb) / 2
            x0, x1 = int(np.ceil(r0.at(mid))) + m, int(np.floor(r1.at(mid))) - m
            y0, y1 = int(np.ceil(hs[k].at((x0 + x1) / 2))) + m, int(np.floor(hs[k + 1].at((x0 + x1) / 2))) - m
            if x1 - x0 < 2 * least or y1 - y0 < 4 or x0 < 0 or y0 < 0:
                break
            gaps = _figure_gaps(text[y0:y1, x0:x1], scale)
            # each of k figures a column of its own: a channel at least _FIGURE_CHANNEL of a two-column
            # slot's width, scaled to k columns (figures a word space apart in one cell, '11  11', are one)
            if gaps is not None and any(b - a < _FIGURE_CHANNEL * (x1 - x0) * 2 / (len(gaps) + 1) for a, b in gaps):
                gaps = None
            joined = None
            if gaps is not None and (common is None or len(common) == len(gaps)):
                shifted = [(a + x0, b + x0) for a, b in gaps]
                joined = shifted if common is None else [(max(c[0], g[0]), min(c[1], g[1]))
                                                         for c, g in zip(common, shifted, strict=True)]
            if joined is None or any(b - a < 2 for a, b in joined):
                # one row may be spoilt (a pen mark, a seal); two in turn end the run (the header)
                missed += 1
                if missed > 1:
                    break
                continue
            common, missed = joined, 0
            run, top = run + 1, ya
            bottom = yb if bottom is None else bottom
        if run < need or common is None or top is None or bottom is None:
            continue
        mid = (top + bottom) / 2
        for a, b in common:
            u = ((a + b) / 2 - r0.at(mid)) / max(1.0, r1.at(mid) - r0.at(mid))
            found.append(Rule((1 - u) * r0.a + u * r1.a, (1 - u) * r0.b + u * r1.b, top, bottom))
    return found


def _figure_gaps(ink: np.ndarray, scale: float) -> list[tuple[int, int]] | None:
    """The channels (first and last column of each) between figures side by side in `ink`, left to
    right, when it holds exactly that once specks are gone: runs of inked columns, two or more, each a
    figure (`_figure`), and between them nothing, or only the lost rules' own dashes (thin upright
    strokes, which make runs of their own)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    h, w = ink.shape
    # rule remnants first: pieces of the rules around the slot (printed twice, they reach inside it) and
    # of the lost rule, as tall or as wide as the slot
    body = (stats[1:, cv2.CC_STAT_HEIGHT] < 0.8 * h) & (stats[1:, cv2.CC_STAT_WIDTH] < 0.8 * w)
    areas = np.where(body, stats[1:, cv2.CC_STAT_AREA], 0)
    if n <= 2 or not areas.any():
        return None
    kept, big = _unspecked(labels, areas)
    cols = np.flatnonzero(kept.any(axis=0))
    glyph = int(stats[1:, cv2.CC_STAT_HEIGHT][big].max())
    # a figure's digits stand apart by their own spacing, under half a glyph's height
    runs = np.split(cols, np.flatnonzero(np.diff(cols) > 1 + glyph // 2) + 1)
    part = kept.astype(np.uint8) * 255
    figures = []
    for i, run in enumerate(runs):
        inner = part[:, run[0]:run[-1] + 1]
        if 0 < i < len(runs) - 1:  # between two others: the lost rule's dashes, or a figure
            m, _, pieces, _ = cv2.connectedComponentsWithStats(inner, connectivity=8)
            if all(_dash(pw, ph, _RULE_DASH * scale) for _x, _y, pw, ph, _a in pieces[1:m]):
                continue
        if not _figure(inner, scale):
            return None
        figures.append((int(run[0]), int(run[-1])))
    if len(figures) < 2:
        return None
    return [(a[1] + 1, b[0] - 1) for a, b in zip(figures, figures[1:], strict=False)]


def _dash(across: int, along: int, widest: float) -> bool:
    """A piece of a lost rule's ink: no wider across the rule than `widest`, at least twice as long along it."""
    return across <= widest and along >= 2 * across


def _rectangles(slots: list[tuple[int, int]], across: set[tuple[int, int]], down: set[tuple[int, int]]
                ) -> list[tuple[int, int, int, int]]:
    """A group of slots that is no rectangle, cut into rectangles (r0, c0, r1, c1) along its rules: first
    each column's runs of slots joined downwards (a group label's column stays whole), then runs side by
    side over the same rows and joined across all along (a label spanning the label columns)."""
    inside = set(slots)
    runs: list[list[int]] = []  # [r0, c0, r1, c1]
    for c in sorted({c for _, c in slots}):
        rows = sorted(r for r, cc in slots if cc == c)
        start = rows[0]
        for a, b in zip(rows, [*rows[1:], None], strict=True):
            if b is None or b != a + 1 or (a, c) not in down:
                runs.append([start, c, a, c])
                if b is not None:
                    start = b
    merged: list[list[int]] = []
    for run in runs:  # columns in order: a run's left neighbour, if any, is already in `merged`
        left = next((m for m in merged if m[0] == run[0] and m[2] == run[2] and m[3] == run[1] - 1
                     and all((r, m[3]) in across and (r, run[1]) in inside for r in range(run[0], run[2] + 1))),
                    None)
        if left is not None:
            left[3] = run[3]
        else:
            merged.append(run)
    return [(r0, c0, r1, c1) for r0, c0, r1, c1 in merged]


def _figures_apart(text: np.ndarray, rule: Rule, stretch: tuple[float, float], sides: tuple[Rule, Rule],
                   horizontal: bool, scale: float, p: GridParams) -> bool:
    """A figure on each side of `rule` along `stretch`, and no ink near the rule between them but on its
    line (within `tol`: the dots left of it): the rule was printed there and damage took it (broken into
    dots, faded into the paper, worn by the rollers).

    Without this the two slots are one cell: two zeros read as '00' or '0 0', and every field of the row
    goes to review as straddling two columns (issue 13, augraphy-heavy: 72 fields of one report). Only
    figures are split so: a merged header's words may stand apart across a rule's place, a printed
    table's figures never share a cell. `sides` are the rules beyond each slot.
    """
    margin = p.margin * scale
    tol = _ink_tol(p, scale)
    t_a, t_b = stretch
    mid_t = (t_a + t_b) / 2
    at, lo, hi = rule.at(mid_t), sides[0].at(mid_t), sides[1].at(mid_t)
    # Across the rule, the space the figures leave clear about its place: a quarter of the narrower slot
    # on each side (two figures a table column apart stand half a column or more off its rules).
    clear = 0.25 * min(at - lo, hi - at)
    a, b = int(np.ceil(t_a)), int(np.floor(t_b))
    if b - a < 4 or clear < 2:
        return False
    bounds = (int(np.ceil(lo + margin)), int(np.floor(at - clear)), int(np.ceil(at + clear)),
              int(np.floor(hi - margin)))
    limit = text.shape[0] if horizontal else text.shape[1]
    if bounds[0] < 0 or bounds[3] > limit or bounds[0] >= bounds[1] or bounds[2] >= bounds[3]:
        return False

    def part(p0: int, p1: int) -> np.ndarray:
        return text[p0:p1, a:b] if horizontal else text[a:b, p0:p1]

    heights = [_figure(part(*ends), scale) for ends in ((bounds[0], bounds[1]), (bounds[2], bounds[3]))]
    if not all(heights):
        return False
    # Between them only what damage leaves: specks under 0.6 of a figure's height, and the rule's own dots
    # and dashes along its line.
    line = (at - tol - rule.spread - bounds[1], at + tol + rule.spread - bounds[1])
    n, _, stats, _ = cv2.connectedComponentsWithStats(part(bounds[1], bounds[2]), connectivity=8)
    for x, y, w, h, _area in stats[1:n]:
        start, size = (y, h) if horizontal else (x, w)
        if line[0] <= start and start + size <= line[1] + 1:
            continue
        across_w, along_h = (h, w) if horizontal else (w, h)
        if _dash(across_w, along_h, 2 * _RULE_DASH * scale) and start <= line[1] and start + size >= line[0]:
            continue  # the lost rule's own ink, wider than its fitted line where its dots spread
        if max(w, h) >= 0.6 * min(heights):
            return False  # a glyph's stroke: ink crosses the rule's place
    return True


def _figure(ink: np.ndarray, scale: float) -> int:
    """The height of the figure `ink` holds once the specks around it are gone (under `_SPECK_SHARE` of
    its largest part), or 0 when it holds none: one line of a figure's height, every part of it a figure's
    body or its point (`digit_like`). A cell of words is not one: its glyphs, judged against the height
    of all its ink, would pass for points."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    if n <= 1:
        return 0
    areas = stats[1:, cv2.CC_STAT_AREA]
    largest = int(np.argmax(areas))
    body = int(stats[1 + largest, cv2.CC_STAT_HEIGHT])
    if body < _MIN_FIGURE * scale:
        return 0
    kept = tight(_unspecked(labels, areas)[0].astype(np.uint8) * 255)
    return kept.shape[0] if kept.shape[0] <= _FIGURE_LINE * body and digit_like(kept) else 0


def _unspecked(labels: np.ndarray, areas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pixels of the components (of `labels`, their `areas` in order) that are no specks, at least
    `_SPECK_SHARE` of the largest; and which components those are."""
    big = areas >= _SPECK_SHARE * areas.max()
    return np.isin(labels, 1 + np.flatnonzero(big)), big


def _cell(corner: np.ndarray, r0: int, c0: int, r1: int, c1: int, uncertain: bool = False) -> GridCell:
    pts = np.array([corner[r0, c0], corner[r0, c1 + 1], corner[r1 + 1, c1 + 1], corner[r1 + 1, c0]])
    return GridCell(row=r0, col=c0, row_span=r1 - r0 + 1, col_span=c1 - c0 + 1, corners=pts, uncertain=uncertain)


def detect_tables(binary: np.ndarray, scale: float = 1.0, p: GridParams = GridParams(),
                  gray: np.ndarray | None = None) -> tuple[list[Grid], np.ndarray]:
    """All ruled tables on an upright binarised page (see `binarize`), top to bottom, and their rules' mask.

    With the page's `gray` too, a separator the rule mask misses is looked for as a faint rule. A drum
    streak's ink inside a table is part of the returned mask (the cells take it out like a rule's).
    """
    hmask, vmask = rule_mask(binary, scale, True, p), rule_mask(binary, scale, False, p)
    vshort = rule_mask(binary, scale, False, p, short=True)  # short horizontal runs are never needed
    tol = p.rule_tol * scale
    page_h, page_w = binary.shape
    grids: list[Grid] = []
    ruled = np.zeros_like(binary)
    streaked: np.ndarray | None = None  # the streaks' ink, once there is any
    h_streaks: list[Rule] = []  # on the page: whatever looks like a rule along them is a streak's grey
    v_streaks: list[Rule] = []
    todo = _regions(hmask, vmask, vshort, (0, 0, page_w, page_h), None, scale, p)
    while todo:
        (x0, y0, x1, y1), region = todo.pop(0)
        hsub = np.where(region, hmask[y0:y1, x0:x1], 0).astype(np.uint8)
        vsub = np.where(region, vmask[y0:y1, x0:x1], 0).astype(np.uint8)
        hs = _fit_rules(hsub, True, tol, p.min_rule * scale)
        vs = _fit_rules(vsub, False, tol, p.min_rule * scale * 0.6,
                        np.where(region, vshort[y0:y1, x0:x1], 0).astype(np.uint8), p.heal_gap * scale)
        fitted = (hs, vs)
        hs, vs = _keep_crossed(hs, vs, 2 * tol)
        hs, vs, streaks = _drop_streaks(hs, vs, tol, ((-x0, page_w - x0), (-y0, page_h - y0)),
                                        p.streak_overrun * scale, (hsub, vsub),
                                        None if gray is None else gray[y0:y1, x0:x1], fitted)
        if streaks[0] or streaks[1]:
            # A streak may join tables it crosses into one tangle: take it out of the masks and part
            # what is left of this tangle again (each time the masks lose ink, so this ends).
            if streaked is None:
                streaked = np.zeros_like(binary)
            h_streaks += [_moved(r, x0, y0, True) for r in streaks[0]]
            v_streaks += [_moved(r, x0, y0, False) for r in streaks[1]]
            if _erase(streaks, (hmask, vmask, vshort), streaked, (x0, y0, x1, y1), region, tol):
                todo[:0] = _regions(hmask, vmask, vshort, (x0, y0, x1, y1), region, scale, p)
                continue
        if gray is not None:
            hs, vs, pale = _drop_pale(hs, vs, gray, (x0, y0), tol, scale, p)
            h_streaks += [_moved(r, x0, y0, True) for r in pale[0]]
            v_streaks += [_moved(r, x0, y0, False) for r in pale[1]]
        # after the streaks: a streak beside a rule is no copy of it
        hs, vs = _merge_close(hs, p.min_slot * scale), _merge_close(vs, p.min_slot * scale)
        hs = _drop_beside(hs, p.min_cell * scale, tol, hsub, True)
        vs = _drop_beside(vs, p.min_cell * scale, tol, vsub, False)
        hs, vs = _open_borders(hs, vs, scale)
        if len(hs) < 2 or len(vs) < 2:
            continue
        hs.sort(key=Rule.middle)
        vs.sort(key=Rule.middle)
        sub = None if gray is None else gray[y0:y1, x0:x1]
        fv: list[Rule] = []
        fh: list[Rule] = []
        # The whole box's ink, not the tangle's alone: the tangle holds the rules, and a row's text lies
        # between them, outside it.
        text = np.where((hsub | vsub) > 0, 0, binary[y0:y1, x0:x1]).astype(np.uint8)
        vs = _without_hollow(vs, text, vsub, False, scale, p)
        if gray is not None and sub is not None:  # (one implies the other; both for the type checker)
            fv = faint_rules(vs, hs, sub, False, scale, p, [_moved(r, -x0, -y0, False) for r in v_streaks])
            frame = (hs[0].middle() + y0, hs[-1].middle() + y0)
            fv = [r for r in fv if not _runs_past(gray, _moved(r, x0, y0, False), frame, False, scale, p)
                  and not _hollow_beside(r, vs, text, False, scale, p)]
            vs = sorted(vs + fv, key=Rule.middle)
            fh = faint_rules(hs, vs, sub, True, scale, p, [_moved(r, -x0, -y0, True) for r in h_streaks])
            frame = (vs[0].middle() + x0, vs[-1].middle() + x0)
            fh = [r for r in fh if not _runs_past(gray, _moved(r, x0, y0, True), frame, True, scale, p)
                  and not _hollow_beside(r, hs, text, True, scale, p)]
            hs = sorted(hs + fh, key=Rule.middle)
        found = False
        lost = _figure_rules(vs, hs, text, scale, p)
        if lost:
            fv += lost
            vs = sorted(vs + lost, key=Rule.middle)
        for part_hs, part_vs in _unstack(hs, vs, binary[y0:y1, x0:x1], sub, scale, p, vsub):
            grid = _build_grid(part_hs, part_vs, hsub, vsub, scale, p, sub, fv + fh, text)
            if grid is None or not _table_sized(grid, scale, p):
                continue
            grid = _shift(grid, x0, y0)
            grids.append(grid)
            found = True
            if streaked is not None:
                gx0, gy0, gx1, gy1 = grid.bbox
                ruled[gy0:gy1, gx0:gx1] |= streaked[gy0:gy1, gx0:gx1]
        if found:
            ruled[y0:y1, x0:x1] |= hsub | vsub
    grids.sort(key=lambda g: (g.bbox[1], g.bbox[0]))
    return grids, ruled


def _line_contrast(gray: np.ndarray, rule: Rule, horizontal: bool, scale: float, t_a: float, t_b: float
                   ) -> np.ndarray:
    """At each position from t_a to t_b along `rule` (page coordinates), how much darker its line is than
    the paper on both sides of it: the lighter side's level 9-14 px away less the darkest pixel within 3 px.
    A line has paper on both sides; the edge of a shaded band (a dirty roller) has it on one only."""
    near, far0, far1 = (max(1, int(round(k * scale))) for k in (3, 9, 14))
    spread = int(np.ceil(rule.spread))
    centre = sample(gray, rule, t_a, t_b, horizontal, -near - spread, near + spread).min(axis=0)
    before = np.median(sample(gray, rule, t_a, t_b, horizontal, -far1 - spread, -far0 - spread), axis=0)
    after = np.median(sample(gray, rule, t_a, t_b, horizontal, far0 + spread, far1 + spread), axis=0)
    return np.minimum(before, after) - centre


def _line_level(gray: np.ndarray, rule: Rule, horizontal: bool, scale: float, t_a: float, t_b: float,
                q: float) -> float:
    """The `q`th percentile of `_line_contrast` from t_a to t_b along `rule` (0 for a stretch too short)."""
    if t_b - t_a < 2:
        return 0.0
    return float(np.percentile(_line_contrast(gray, rule, horizontal, scale, t_a, t_b), q))


def _goes_on(gray: np.ndarray, rule: Rule, horizontal: bool, end: float, outward: int, inside: float,
             scale: float, p: GridParams) -> bool:
    """Does the line of `rule` (page coordinates, `inside` its `_line_contrast` level along the table) go on
    past its `end` on the page, `outward` (-1 before, +1 after), at a good part of that level? A table's
    rule stops at its border; a line of the paper runs on. Looked for from `min_slot` past the end (the
    border rule's own ink) to half `streak_overrun`."""
    start = end + outward * p.min_slot * scale
    stop = start + outward * p.streak_overrun * scale / 2
    limit = (gray.shape[1] if horizontal else gray.shape[0]) - 1.0
    lo, hi = max(0.0, min(start, stop)), min(limit, max(start, stop))
    if hi - lo < p.streak_overrun * scale / 4:
        return False  # the page ends there: nothing to tell by
    # Along most of the way (its lower quartile: a title's or a note's glyph strokes cross it here and there).
    # Past a table's own rule the paper is blank (a line level of -15 to +1 there on augraphy's rollers page,
    # against 11 for a band's edge whose level inside was 22): a third of the inside level, and clear of
    # the paper's own noise (`faint_dip`), is a line going on.
    return _line_level(gray, rule, horizontal, scale, lo, hi, 25) >= max(0.35 * inside, p.faint_dip)


def _runs_past(gray: np.ndarray, rule: Rule, frame: tuple[float, float], horizontal: bool, scale: float,
               p: GridParams) -> bool:
    """Does a faint rule the structure of a table suggested (page coordinates) go on past an end of it that
    is on the table's `frame` (its outermost rules across, along the rule)? Then it is the edge of a shaded
    band of the paper (dirty rollers: augraphy's bands made a 4-column table 9), not a rule of the table,
    which stops at its border. An end inside the table (under a header spanning columns) is not asked."""
    inside = _line_level(gray, rule, horizontal, scale, rule.t0, rule.t1, 75)
    reach = 2 * p.rule_tol * scale
    return any(abs(end - edge) <= reach and _goes_on(gray, rule, horizontal, end, outward, inside, scale, p)
               for end, edge, outward in ((rule.t0, frame[0], -1), (rule.t1, frame[1], 1)))


def _drop_pale(hs: list[Rule], vs: list[Rule], gray: np.ndarray, origin: tuple[int, int], tol: float, scale: float,
               p: GridParams) -> tuple[list[Rule], list[Rule], tuple[list[Rule], list[Rule]]]:
    """Take out the lines of a textured paper, a dirty drum or dirty rollers that pass for rules inside a
    table (rules in the coordinates of the box at `origin` on the `gray` page): the horizontal and vertical
    rules left, and the pale ones taken out.

    Paper texture and a photocopier's drum and rollers leave long grey lines and shaded bands; the
    sensitive rule mask (it must find faded rules) picks up the stretches that cross a table, and each
    becomes a column rule that splits cells and shifts every later column (issue 13: 三 read 13 columns
    wide on an augraphy-heavy page). Such a line is pale against the table's print (`pale_share` of it, the
    upper quartile along each rule of `_line_contrast`) and pays no heed to the table: an end of it lies
    nowhere near a rule across or an end its siblings share (a table open at the sides), or the line goes
    on past where the rule mask lost it, through the joint and beyond (the mask stops where the paper's
    line fades a little; a table's rule stops at the joint, a merged cell or the border). A table's own
    faded rule, pale too, ends where the rules it joins are (give or take a faded stretch: `heal_gap`)
    and nothing of it lies beyond.
    """
    if not hs or not vs:
        return hs, vs, ([], [])
    x0, y0 = origin
    on_page = {id(r): _moved(r, x0, y0, horizontal) for rules, horizontal in ((hs, True), (vs, False)) for r in rules}

    shift = {True: x0, False: y0}  # along a horizontal rule t is x, along a vertical one y
    contrast = {id(r): _line_level(gray, on_page[id(r)], horizontal, scale, r.t0 + shift[horizontal],
                                   r.t1 + shift[horizontal], 75)
                for rules, horizontal in ((hs, True), (vs, False)) for r in rules}
    print_level = float(np.percentile(list(contrast.values()), 75))
    reach = 2 * tol
    # A faded rule may have lost the last stretch before a joint, as much as the rule mask heals over (on
    # our typical tier: 21 px); the paper's lines end 48-214 px from the nearest joint at one end at least.
    gap = max(reach, p.heal_gap * scale)

    def paper_line(r: Rule, siblings: list[Rule], across: list[Rule], horizontal: bool) -> bool:
        if not p.faint_dip <= contrast[id(r)] < p.pale_share * print_level:
            return False  # printed like the table's rules, or no line where it was fitted (a thick rule's edge)
        if any(s is not r and abs(s.middle() - r.middle()) < p.min_slot * scale for s in siblings):
            return False  # one edge of a thick or doubled rule (`_merge_close` makes them one): its own line
        at = _crossings(r, across, gap)
        for end, t_of, outward in ((r.t0, attrgetter("t0"), -1), (r.t1, attrgetter("t1"), 1)):
            if not any(abs(t - end) <= gap for t in at) and not any(
                    s is not r and abs(t_of(s) - end) <= gap for s in siblings):
                return True
            if _goes_on(gray, on_page[id(r)], horizontal, end + shift[horizontal], outward, contrast[id(r)], scale,
                        p):
                return True  # the line goes on past where the rule mask lost it
        return False

    pale_h = [h for h in hs if paper_line(h, hs, vs, True)]
    pale_v = [v for v in vs if paper_line(v, vs, hs, False)]
    if not pale_h and not pale_v:
        return hs, vs, ([], [])
    hs = [h for h in hs if not any(h is q for q in pale_h)]
    vs = [v for v in vs if not any(v is q for q in pale_v)]
    hs, vs = _keep_crossed(hs, vs, reach)
    return hs, vs, (pale_h, pale_v)


def _hollow_beside(faint: Rule, found: list[Rule], text: np.ndarray, horizontal: bool, scale: float,
                   p: GridParams) -> bool:
    """Would `faint` part from a rule found beside it a slot under two `min_cell` wide that holds no print
    along it? A faded rule bounds a column of text; a stripe of the paper or drum a little way beside a
    rule bounds nothing (issue 13: one 33 px beside a column rule of 四 on an augraphy-heavy page made it
    16 columns wide)."""
    return any(_hollow_slot(faint, f, text, horizontal, scale, p) for f in found)


def _hollow_slot(r: Rule, q: Rule, text: np.ndarray, horizontal: bool, scale: float, p: GridParams) -> bool:
    """Do parallel rules `r` and `q` stand under two `min_cell` apart along a shared stretch, with no
    print between them there: no column (or row), which holds a glyph in one row at least?"""
    if q is r or q.t1 < r.t0 or r.t1 < q.t0:
        return False
    t = (max(r.t0, q.t0) + min(r.t1, q.t1)) / 2
    lo, hi = sorted((r.at(t), q.at(t)))
    if hi - lo >= 2 * p.min_cell * scale:
        return False
    m = p.margin * scale
    a, b = int(np.ceil(lo + m)), int(np.floor(hi - m))
    t0, t1 = int(max(r.t0, q.t0)), int(min(r.t1, q.t1))
    if b - a < 2 or t1 - t0 < 2:
        return True
    band = text[t0:t1, a:b] if not horizontal else text[a:b, t0:t1]
    _, _, stats, _ = cv2.connectedComponentsWithStats(band if not horizontal else band.T, connectivity=8)
    # a glyph, a figure's height at least, that the slot holds whole across (a blotch runs on past it)
    x, w, h = stats[1:, cv2.CC_STAT_LEFT], stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT]
    glyphs = (np.maximum(w, h) >= _MIN_FIGURE * scale) & (x > 0) & (x + w < band.shape[1 if not horizontal else 0])
    return not glyphs.any()


def _without_hollow(rules: list[Rule], text: np.ndarray, mask: np.ndarray, horizontal: bool, scale: float,
                    p: GridParams) -> list[Rule]:
    """Column rules (`horizontal` False) without the one of each two neighbours that part a hollow slot
    (`_hollow_slot`) whose ink along the shared stretch is the sparser: a line of the paper's blotches or
    stripes beside a column rule (issue 13: on an augraphy-heavy page blotches lined up 44 px beside a
    column rule of 三 for a 72 px stretch, and the table came out 11 columns wide). The sparser goes only
    when it is a quarter shorter or more: when it is the longer, the two are one rule printed with a jog
    (a real page's, cTDaR t10094); as long, a warped page's border beside a rule (augraphy-geometry s7707-001
    lost 二's label column with it). Both stay."""
    out = sorted(rules, key=Rule.middle)
    tol = _ink_tol(p, scale)
    i = 0
    while i < len(out) - 1:
        r, q = out[i], out[i + 1]
        if not _hollow_slot(r, q, text, horizontal, scale, p):  # cheap first: most neighbours stand apart
            i += 1
            continue
        t0, t1 = max(r.t0, q.t0), min(r.t1, q.t1)
        sparse_r = _coverage(mask, r, t0, t1, horizontal, tol) < _coverage(mask, q, t0, t1, horizontal, tol)
        weak, strong = (r, q) if sparse_r else (q, r)
        # the sparser there yet the longer: a rule printed with a jog aside, whose two pieces bound cells;
        # as long as the other, near enough: no blotches' line (a warped page's border beside a rule)
        if 4 * (weak.t1 - weak.t0) > 3 * (strong.t1 - strong.t0):
            i += 1
            continue
        out.remove(weak)
        i = max(0, i - 1)
    return out


def _unstack(hs: list[Rule], vs: list[Rule], binary: np.ndarray, gray: np.ndarray | None, scale: float,
             p: GridParams, vmask: np.ndarray | None = None) -> list[tuple[list[Rule], list[Rule]]]:
    """The horizontal and vertical rules of each table in a tangle of tables printed one under another,
    top to bottom (the tangle's own rules when it is one table).

    Stacked tables join into one tangle when the healing of their outer rules bridges the paper between
    them (`_stack_gap` tells that paper from a row: issue 13, 二 printed as four small tables ~36 px
    apart was found as one 17x4 table and its parts missed). Each table keeps the column rules of the others
    that stand within its width: the template reads a stack as one table's columns (二's four blocks
    share its four), and a rule without ink in a table only joins its cells into a span there, as the
    template prints them.
    """
    tol = _ink_tol(p, scale)
    cuts = [r for r in range(1, len(hs) - 2)
            if _stack_gap(hs[r], hs[r + 1], vs, binary, gray, tol, scale, p, vmask)]
    if not cuts:
        return [(hs, vs)]
    bounds = [0, *(r + 1 for r in cuts), len(hs)]
    out = []
    for a, b in zip(bounds, bounds[1:], strict=False):
        part = hs[a:b]
        if len(part) < 2:  # a lone rule between two gaps: an underline, not a table
            continue
        lo, hi = min(h.t0 for h in part) - 2 * tol, max(h.t1 for h in part) + 2 * tol
        mid = (part[0].crossing(vs[0])[0] + part[0].crossing(vs[-1])[0]) / 2
        centre = (part[0].at(mid) + part[-1].at(mid)) / 2
        kept = [v for v in vs if lo <= v.at(centre) <= hi]
        if len(kept) >= 2:
            out.append((part, kept))
    return out


def _stack_gap(upper: Rule, lower: Rule, vs: list[Rule], binary: np.ndarray, gray: np.ndarray | None,
               tol: int, scale: float, p: GridParams, vmask: np.ndarray | None = None) -> bool:
    """Is the band between two neighbouring horizontal rules the paper between two stacked tables?

    A table's row has text in it or rules crossing it: its outer border at least, or column rules when
    it is open at the sides. Paper between two tables has neither, and is short (`stack_gap`): the rule
    mask's healing, not ink, carried the outer rules across it, so rules are read on the binarised page
    (and as faint lines on the grey one), not on the mask.
    """
    xa, xb = max(upper.t0, lower.t0), min(upper.t1, lower.t1)
    if xb - xa < p.min_table_w * scale:
        return False
    m = p.margin * scale
    if any(lower.at(x) - upper.at(x) > p.stack_gap * scale for x in (xa, xb)):
        return False
    reach = 2 * p.min_cell * scale

    def ruled(v: Rule, ya: float, yb: float) -> bool:  # on the rule mask: a glyph's stroke is no rule
        return _coverage(binary if vmask is None else vmask, v, ya, yb, False, tol) >= _SEPARATOR_COVERAGE

    for v in vs:
        ya, yb = v.crossing(upper)[0] + m, v.crossing(lower)[0] - m
        if yb - ya < 2:
            return False  # too thin a band to tell a rule through it from a rule's own ends
        if _coverage(binary, v, ya, yb, False, tol) >= _SEPARATOR_COVERAGE:
            return False
        # A faint line counts as a rule through the band only where the rule goes on above and below it
        # and is no stripe of the paper: a table's faded rule crosses its empty row, while the paper
        # between two tables may show a stripe of its texture, or the upper table's rule blurred past its
        # end, where the lower table has no rule (issue 13: augraphy-medium and -heavy stacks of 二).
        if gray is not None and ruled(v, ya - 2 * m - reach, ya - 2 * m) \
                and ruled(v, yb + 2 * m, yb + 2 * m + reach) and faint_rule(gray, v, ya, yb, False, tol, p) \
                and not _paper_lines(gray, v, ya, yb, tol, p):
            return False
    top = int(np.ceil(max(upper.at(xa), upper.at(xb)) + upper.spread + m))
    bottom = int(np.floor(min(lower.at(xa), lower.at(xb)) - lower.spread - m))
    left, right = int(np.ceil(xa + m)), int(np.floor(xb - m))
    if bottom - top < 2 or right - left < 2:
        return False
    band = binary[max(0, top):bottom, max(0, left):right]
    if band.size == 0 or cv2.countNonZero(band) > _SPECKLE_INK * p.stack_ink * band.size:
        return False
    # what a row holds is print, a glyph or a dash as long as two figures are tall; speckle is smaller
    n, _, stats, _ = cv2.connectedComponentsWithStats(band, connectivity=8)
    big = np.maximum(stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT]) >= 2 * _MIN_FIGURE * scale
    return int(stats[1:, cv2.CC_STAT_AREA][big].sum()) <= p.stack_ink * band.size


def _paper_lines(gray: np.ndarray, rule: Rule, t_a: float, t_b: float, tol: int, p: GridParams) -> bool:
    """Is the faint line along vertical `rule` one of many, the paper's striped texture (augraphy's
    dirty drums and line textures), rather than a rule? A rule's faint line stands alone: the paper
    within a few of its widths to either side (beyond its own reach) shows no other."""
    reach = tol + p.faint_side
    for d in range(2 * reach + 4, 5 * reach + 1, 4):
        for side in (-d, d):
            if faint_rule(gray, Rule(rule.a + side, rule.b, rule.t0, rule.t1), t_a, t_b, False, tol, p):
                return True
    return False


def _regions(hmask: np.ndarray, vmask: np.ndarray, vshort: np.ndarray, box: tuple[int, int, int, int],
             within: np.ndarray | None, scale: float, p: GridParams
             ) -> list[tuple[tuple[int, int, int, int], np.ndarray]]:
    """The tangles of rules in `box` (of the page; only its pixels `within`, when given) big enough to be a
    table: each as its own box on the page, padded, and which pixels of that box belong to it."""
    bx0, by0, bx1, by1 = box
    joined = cv2.bitwise_or(cv2.bitwise_or(hmask[by0:by1, bx0:bx1], vmask[by0:by1, bx0:bx1]),
                            vshort[by0:by1, bx0:bx1])
    cv2.dilate(joined, cv2.getStructuringElement(cv2.MORPH_RECT, (_odd(9 * scale), _odd(9 * scale))), dst=joined)
    if within is not None:
        joined[~within] = 0
    # Tables are found on a quarter-size copy: a full-page int32 label image alone is 35 MB at 300 dpi.
    f = max(1, int(_REGION_SHRINK * scale))  # at low resolution a few px already part two tables
    jh, jw = joined.shape
    joined = cv2.copyMakeBorder(joined, 0, -jh % f, 0, -jw % f, cv2.BORDER_CONSTANT, value=0)
    small = cv2.resize(joined, (joined.shape[1] // f, joined.shape[0] // f), interpolation=cv2.INTER_AREA)
    del joined
    n, labels, stats, _ = cv2.connectedComponentsWithStats((small > 0).astype(np.uint8), connectivity=8)
    stats = stats * np.array([f, f, f, f, f * f])
    pad = int(3 * p.rule_tol * scale)
    out = []
    for i in range(1, n):
        x, y, w, h, _ = stats[i]
        if w < p.min_table_w * scale or h < p.min_table_h * scale:
            continue
        x, y = x + bx0, y + by0
        x0, y0 = max(bx0, x - pad), max(by0, y - pad)
        x1, y1 = min(bx1, x + w + pad), min(by1, y + h + pad)
        lx, ly = x0 - bx0, y0 - by0
        block = (labels[ly // f:(ly + y1 - y0 - 1) // f + 1, lx // f:(lx + x1 - x0 - 1) // f + 1] == i).astype(np.uint8)
        region = np.repeat(np.repeat(block, f, axis=0), f, axis=1)[ly % f:ly % f + y1 - y0, lx % f:lx % f + x1 - x0] > 0
        out.append(((x0, y0, x1, y1), region))
    return out


def _erase(streaks: tuple[list[Rule], list[Rule]], masks: tuple[np.ndarray, np.ndarray, np.ndarray],
           streaked: np.ndarray, box: tuple[int, int, int, int], region: np.ndarray, tol: float) -> int:
    """Take the horizontal and vertical streaks (in `box`'s coordinates) out of the page's rule masks
    (horizontal, vertical, short vertical) within `region`, keeping their ink in `streaked`; returns how
    many mask pixels it cleared.

    Only detect_tables' own masks and its `streaked` are written to.
    """
    cleared = 0
    x0, y0, x1, y1 = box
    hmask, vmask, vshort = masks
    for rules, targets, horizontal in ((streaks[0], (hmask,), True), (streaks[1], (vmask, vshort), False)):
        if not rules:
            continue
        band = np.zeros((y1 - y0, x1 - x0), np.uint8)
        for r in rules:
            ends = [(t, r.at(t)) for t in (r.t0, r.t1)]
            pts = [(int(round(t)), int(round(q))) if horizontal else (int(round(q)), int(round(t))) for t, q in ends]
            cv2.line(band, pts[0], pts[1], 255, thickness=2 * int(np.ceil(0.6 * tol + r.spread)) + 1)
        band[~region] = 0
        for m in targets:
            sub = m[y0:y1, x0:x1]
            hit = cv2.bitwise_and(sub, band)
            streaked[y0:y1, x0:x1] |= hit
            sub -= hit
            cleared += cv2.countNonZero(hit)
    return cleared


def _table_sized(grid: Grid, scale: float, p: GridParams) -> bool:
    """A framed box, or a tangle of strokes a few glyphs wide, is not a table."""
    x0, y0, x1, y1 = grid.bbox
    return len(grid.cells) >= 2 and x1 - x0 >= p.min_table_w * scale and y1 - y0 >= p.min_table_h * scale


def _shift(grid: Grid, dx: int, dy: int) -> Grid:
    """Move a grid found in a sub-image back to page coordinates."""
    cells = [GridCell(c.row, c.col, c.row_span, c.col_span, c.corners + np.array([dx, dy]), c.uncertain)
             for c in grid.cells]
    x0, y0, x1, y1 = grid.bbox
    return Grid((x0 + dx, y0 + dy, x1 + dx, y1 + dy), [_moved(h, dx, dy, True) for h in grid.h_rules],
                [_moved(v, dx, dy, False) for v in grid.v_rules], cells)


def _moved(r: Rule, dx: float, dy: float, horizontal: bool) -> Rule:
    """The rule in coordinates moved by (dx, dy): y = a + b x  ->  y + dy = a' + b (x + dx) (or x, y swapped)."""
    along, across = (dx, dy) if horizontal else (dy, dx)
    return Rule(r.a + across - r.b * along, r.b, r.t0 + along, r.t1 + along, r.spread)
