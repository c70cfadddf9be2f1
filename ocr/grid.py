"""Stage 3: find ruled tables, their rules, and their cells with row/column spans.

Morphology pulls long horizontal and vertical runs out of the binarised page (healing small breaks),
each run is fitted as a straight line (so residual skew and mild perspective do not matter), and the
lines are grouped into tables. The table's atomic grid is every row rule x every column rule; two
neighbouring slots belong to one merged cell where the rule between them is missing. All lengths
scale with the page's resolution (`scale` = dpi / 300).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ocr.model import Grid, GridCell, Line

_SEPARATOR_COVERAGE = 0.5  # a rule counts as present between two slots over half its length
_REGION_SHRINK = 4


@dataclass(frozen=True)
class GridParams:
    """Lengths in pixels at 300 dpi; multiplied by the page's scale."""

    min_rule: int = 70  # a run shorter than this is ink, not a rule (a CJK glyph is ~44 px at 10.5 pt)
    heal_gap: int = 45  # breaks in a rule up to this long are bridged
    line_tol: int = 10  # segments this close across their direction are one rule
    min_table_w: int = 150
    min_table_h: int = 60
    margin: int = 6  # ignore this much next to a crossing rule when measuring a separator
    contrast: int = 12  # local-mean threshold offset for rule pixels (lower finds fainter rules)
    faint_dip: int = 5  # grey levels a faint rule lies below the paper beside it
    faint_share: float = 0.7  # ... along this share of the stretch
    faint_side: int = 8  # px beyond the line's tolerance where the paper is sampled


def _odd(n: float) -> int:
    n = max(3, int(round(n)))
    return n if n % 2 else n + 1


def binarize(gray: np.ndarray, scale: float, p: GridParams = GridParams()) -> np.ndarray:
    """Ink = 255. Local mean thresholding copes with uneven light and faint rules."""
    return cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV,
                                 _odd(41 * scale), p.contrast)


def line_mask(binary: np.ndarray, scale: float, horizontal: bool, p: GridParams = GridParams(),
              short: bool = False) -> np.ndarray:
    """Horizontal or vertical rule mask, with breaks of up to `heal_gap` bridged.

    `short` keeps runs down to 40% of `min_rule`: a one-row cell's vertical rule is only ~60 px tall.
    Such runs are too easily glyph strokes to stand alone; they only extend rules found without them.
    """
    length = p.min_rule * scale * (0.4 if short else 1.0)

    def kernel(n: float) -> np.ndarray:
        n = max(1, int(round(n)))
        return cv2.getStructuringElement(cv2.MORPH_RECT, (n, 1) if horizontal else (1, n))

    m = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, kernel(3))  # heal salt noise inside a rule
    m = cv2.morphologyEx(m, cv2.MORPH_OPEN, kernel(length))
    return cv2.morphologyEx(m, cv2.MORPH_CLOSE, kernel(p.heal_gap * scale))


@dataclass
class _Cluster:
    xs: list[np.ndarray]
    ys: list[np.ndarray]
    line: Line


def _fit(ts: np.ndarray, ps: np.ndarray) -> tuple[float, float]:
    if np.ptp(ts) < 2:
        return float(np.mean(ps)), 0.0
    b, a = np.polyfit(ts, ps, 1)
    return float(a), float(b)


def _segments(mask: np.ndarray, horizontal: bool, min_len: float) -> list[tuple[np.ndarray, np.ndarray, float, float]]:
    """Each connected run as (positions along, positions across, start, end), longest first."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    segs = []
    for i in range(1, n):
        x, y, w, h, _area = stats[i]
        if (w if horizontal else h) < min_len:
            continue
        sub = labels[y:y + h, x:x + w] == i
        yy, xx = np.nonzero(sub)
        step = max(1, len(xx) // 4000)
        xx, yy = xx[::step] + x, yy[::step] + y
        ts, ps = (xx, yy) if horizontal else (yy, xx)
        segs.append((ts, ps, float(ts.min()), float(ts.max())))
    segs.sort(key=lambda s: s[3] - s[2], reverse=True)
    return segs


def _lines(mask: np.ndarray, horizontal: bool, tol: float, min_len: float,
           short_mask: np.ndarray | None = None, reach: float = 0.0) -> list[Line]:
    """Fit each connected run, then join collinear runs into one line per rule.

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
                if abs(c.line.at(mid_t) - mid_p) <= tol:
                    if not may_start and (c.line.t0 - tol <= t0 and t1 <= c.line.t1 + tol
                                          or t0 > c.line.t1 + reach or t1 < c.line.t0 - reach):
                        continue  # inside the rule already, or too far from its end to extend it
                    c.xs.append(ts)
                    c.ys.append(ps)
                    all_t, all_p = np.concatenate(c.xs), np.concatenate(c.ys)
                    a, b = _fit(all_t, all_p)
                    c.line = Line(a, b, min(c.line.t0, t0), max(c.line.t1, t1))
                    break
            else:
                if may_start:
                    a, b = _fit(ts, ps)
                    clusters.append(_Cluster([ts], [ps], Line(a, b, t0, t1)))
    return [c.line for c in clusters]


def _crossings(line: Line, others: list[Line], tol: float) -> int:
    """How many perpendicular lines cross `line` (within `tol` of both their extents)."""
    count = 0
    for o in others:
        t = _intersect(line, o)[0]  # position along `line`
        s = line.at(t)  # position along `o`
        if line.t0 - tol <= t <= line.t1 + tol and o.t0 - tol <= s <= o.t1 + tol:
            count += 1
    return count


def _intersect(line: Line, other: Line) -> tuple[float, float]:
    """Solve p = a1 + b1 t, t = a2 + b2 p (the other is perpendicular): returns (t, p)."""
    denom = 1.0 - line.b * other.b
    t = (other.a + other.b * line.a) / (denom if abs(denom) > 1e-9 else 1e-9)
    return t, line.at(t)


def _keep_crossed(hs: list[Line], vs: list[Line], tol: float) -> tuple[list[Line], list[Line]]:
    """A rule meets at least two rules of the other direction; glyph strokes and underlines do not."""
    for _ in range(3):
        nh = [h for h in hs if _crossings(h, vs, tol) >= 2]
        nv = [v for v in vs if _crossings(v, nh, tol) >= 2]
        if len(nh) == len(hs) and len(nv) == len(vs):
            break
        hs, vs = nh, nv
    return hs, vs


def _open_borders(hs: list[Line], vs: list[Line], scale: float) -> tuple[list[Line], list[Line]]:
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
        ordered = sorted(across, key=lambda ln: ln.at((ln.t0 + ln.t1) / 2))
        first = ordered[0].at((ordered[0].t0 + ordered[0].t1) / 2)
        last = ordered[-1].at((ordered[-1].t0 + ordered[-1].t1) / 2)
        lo, hi = min(r.at((r.t0 + r.t1) / 2) for r in rules), max(r.at((r.t0 + r.t1) / 2) for r in rules)
        starts = np.array([r.t0 for r in rules])
        ends = np.array([r.t1 for r in rules])
        if np.mean(starts < first - overhang) >= 0.6:
            out.append(Line(float(np.median(starts[starts < first - overhang])), 0.0, lo, hi))
        if np.mean(ends > last + overhang) >= 0.6:
            out.append(Line(float(np.median(ends[ends > last + overhang])), 0.0, lo, hi))
    return hs, vs


def _coverage(mask: np.ndarray, line: Line, t_a: float, t_b: float, horizontal: bool, tol: int) -> float:
    """Share of positions between t_a and t_b where the rule's mask has ink within `tol` of the line."""
    if t_b - t_a < 2:
        return 1.0
    ts = np.arange(int(np.ceil(t_a)), int(np.floor(t_b)) + 1)
    ps = np.rint(line.at(ts)).astype(int)
    offs = np.arange(-tol, tol + 1)
    pp = ps[None, :] + offs[:, None]
    limit = mask.shape[0] if horizontal else mask.shape[1]
    tt_limit = mask.shape[1] if horizontal else mask.shape[0]
    pp = np.clip(pp, 0, limit - 1)
    tt = np.clip(np.broadcast_to(ts, pp.shape), 0, tt_limit - 1)
    hits = mask[pp, tt] if horizontal else mask[tt, pp]
    return float((hits > 0).any(axis=0).mean())


def _faint_rule(gray: np.ndarray, line: Line, t_a: float, t_b: float, horizontal: bool, tol: int,
                p: GridParams) -> bool:
    """Is there a thin dark line along `line` between t_a and t_b, however faint?

    Used where the rule mask saw too little: faded print and JPEG leave a rule only a few grey levels
    darker than the paper. Averaging along the line (9 px) beats the noise down; a rule is a narrow dip
    (the darkest point within `tol` of the line, against the paper a few px further out on both sides)
    along most of the stretch and at both its ends, where glyph strokes give dips here and there, or a
    steady one (a vertical stroke) that stops short of the cell's edges.
    """
    if t_b - t_a < 8:
        return False
    ts = np.arange(int(np.ceil(t_a)), int(np.floor(t_b)) + 1)
    ps = line.at(ts)
    reach = tol + p.faint_side
    offs = np.arange(-reach, reach + 1)
    pp = np.rint(ps[None, :] + offs[:, None]).astype(int)
    limit = gray.shape[0] if horizontal else gray.shape[1]
    t_limit = gray.shape[1] if horizontal else gray.shape[0]
    pp = np.clip(pp, 0, limit - 1)
    tt = np.clip(np.broadcast_to(ts, pp.shape), 0, t_limit - 1)
    samples = (gray[pp, tt] if horizontal else gray[tt, pp]).astype(np.float32)
    smooth = cv2.blur(samples, (9, 1))  # along the line
    inner = np.abs(offs) <= tol
    centre = smooth[inner].min(axis=0)
    where = offs[inner][smooth[inner].argmin(axis=0)]  # a rule's darkest point stays put; strokes wander
    near = np.abs(offs) >= tol + 3
    left = np.median(smooth[near & (offs < 0)], axis=0)
    right = np.median(smooth[near & (offs > 0)], axis=0)
    dip = np.minimum(left, right) - centre
    steady = np.abs(where - np.median(where)) <= 1
    good = (dip >= p.faint_dip) & steady
    # A rule runs into the rules it meets; a glyph's stroke stops short of the cell's padding.
    fifth = max(1, len(good) // 5)
    return bool(good.mean() >= p.faint_share and good[:fifth].mean() >= 0.5 and good[-fifth:].mean() >= 0.5)


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def _build_grid(hs: list[Line], vs: list[Line], hmask: np.ndarray, vmask: np.ndarray,
                scale: float, p: GridParams, gray: np.ndarray | None = None) -> Grid | None:
    nr, nc = len(hs) - 1, len(vs) - 1
    if nr < 1 or nc < 1:
        return None
    corner = np.zeros((nr + 1, nc + 1, 2))
    for i, h in enumerate(hs):
        for j, v in enumerate(vs):
            x, y = _intersect(h, v)
            corner[i, j] = (x, y)
    tol = max(2, int(round(p.line_tol * scale * 0.6)))
    m = p.margin * scale
    parent = list(range(nr * nc))

    def union(a: int, b: int) -> None:
        ra, rb = _find(parent, a), _find(parent, b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    for r in range(nr):
        for c in range(nc):
            if c + 1 < nc:  # vertical rule vs[c+1] between (r, c) and (r, c+1), along y
                ya, yb = corner[r, c + 1, 1] + m, corner[r + 1, c + 1, 1] - m
                if _coverage(vmask, vs[c + 1], ya, yb, False, tol) < _SEPARATOR_COVERAGE and not (
                        gray is not None and _faint_rule(gray, vs[c + 1], ya, yb, False, tol, p)):
                    union(r * nc + c, r * nc + c + 1)
            if r + 1 < nr:  # horizontal rule hs[r+1] between (r, c) and (r+1, c), along x
                xa, xb = corner[r + 1, c, 0] + m, corner[r + 1, c + 1, 0] - m
                if _coverage(hmask, hs[r + 1], xa, xb, True, tol) < _SEPARATOR_COVERAGE and not (
                        gray is not None and _faint_rule(gray, hs[r + 1], xa, xb, True, tol, p)):
                    union(r * nc + c, (r + 1) * nc + c)
    groups: dict[int, list[tuple[int, int]]] = {}
    for r in range(nr):
        for c in range(nc):
            groups.setdefault(_find(parent, r * nc + c), []).append((r, c))
    cells = []
    taken = np.zeros((nr, nc), dtype=bool)
    for slots in sorted(groups.values(), key=lambda s: (min(s), len(s))):
        r0, r1 = min(r for r, _ in slots), max(r for r, _ in slots)
        c0, c1 = min(c for _, c in slots), max(c for _, c in slots)
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
    return Grid(bbox=bbox, rows=hs, cols=vs, cells=cells)


def _cell(corner: np.ndarray, r0: int, c0: int, r1: int, c1: int, uncertain: bool = False) -> GridCell:
    pts = np.array([corner[r0, c0], corner[r0, c1 + 1], corner[r1 + 1, c1 + 1], corner[r1 + 1, c0]])
    return GridCell(row=r0, col=c0, row_span=r1 - r0 + 1, col_span=c1 - c0 + 1, corners=pts, uncertain=uncertain)


def detect_tables(binary: np.ndarray, scale: float = 1.0, p: GridParams = GridParams(),
                  gray: np.ndarray | None = None) -> tuple[list[Grid], np.ndarray]:
    """All ruled tables on an upright binarised page (see `binarize`), top to bottom, and their rules' mask.

    With the page's `gray` too, a separator the rule mask misses is looked for as a faint line.
    """
    hmask, vmask = line_mask(binary, scale, True, p), line_mask(binary, scale, False, p)
    vshort = line_mask(binary, scale, False, p, short=True)  # short horizontal runs are never needed
    joined = cv2.bitwise_or(cv2.bitwise_or(hmask, vmask), vshort)
    cv2.dilate(joined, cv2.getStructuringElement(cv2.MORPH_RECT, (_odd(9 * scale), _odd(9 * scale))), dst=joined)
    # Tables are found on a quarter-size copy: a full-page int32 label image alone is 35 MB at 300 dpi.
    f = max(1, int(_REGION_SHRINK * scale))  # at low resolution a few px already part two tables
    jh, jw = joined.shape
    joined = cv2.copyMakeBorder(joined, 0, -jh % f, 0, -jw % f, cv2.BORDER_CONSTANT, value=0)
    small = cv2.resize(joined, (joined.shape[1] // f, joined.shape[0] // f), interpolation=cv2.INTER_AREA)
    del joined
    n, labels, stats, _ = cv2.connectedComponentsWithStats((small > 0).astype(np.uint8), connectivity=8)
    stats = stats * np.array([f, f, f, f, f * f])
    tol = p.line_tol * scale
    grids: list[Grid] = []
    rule_mask = np.zeros_like(binary)
    for i in range(1, n):
        x, y, w, h, _ = stats[i]
        if w < p.min_table_w * scale or h < p.min_table_h * scale:
            continue
        pad = int(3 * tol)
        x0, y0 = max(0, x - pad), max(0, y - pad)
        x1, y1 = min(binary.shape[1], x + w + pad), min(binary.shape[0], y + h + pad)
        block = (labels[y0 // f:(y1 - 1) // f + 1, x0 // f:(x1 - 1) // f + 1] == i).astype(np.uint8)
        region = np.repeat(np.repeat(block, f, axis=0), f, axis=1)[y0 % f:y0 % f + y1 - y0, x0 % f:x0 % f + x1 - x0] > 0
        hsub = np.where(region, hmask[y0:y1, x0:x1], 0).astype(np.uint8)
        vsub = np.where(region, vmask[y0:y1, x0:x1], 0).astype(np.uint8)
        hs = _lines(hsub, True, tol, p.min_rule * scale)
        vs = _lines(vsub, False, tol, p.min_rule * scale * 0.6,
                    np.where(region, vshort[y0:y1, x0:x1], 0).astype(np.uint8), p.heal_gap * scale)
        hs, vs = _keep_crossed(hs, vs, 2 * tol)
        hs, vs = _open_borders(hs, vs, scale)
        if len(hs) < 2 or len(vs) < 2:
            continue
        hs.sort(key=lambda ln: ln.at((ln.t0 + ln.t1) / 2))
        vs.sort(key=lambda ln: ln.at((ln.t0 + ln.t1) / 2))
        grid = _build_grid(hs, vs, hsub, vsub, scale, p, None if gray is None else gray[y0:y1, x0:x1])
        if grid is None or not _table_sized(grid, scale, p):
            continue
        grids.append(_shift(grid, x0, y0))
        rule_mask[y0:y1, x0:x1] |= hsub | vsub
    grids.sort(key=lambda g: (g.bbox[1], g.bbox[0]))
    return grids, rule_mask


def _table_sized(grid: Grid, scale: float, p: GridParams) -> bool:
    """A framed box, or a tangle of strokes a few glyphs wide, is not a table."""
    x0, y0, x1, y1 = grid.bbox
    return len(grid.cells) >= 2 and x1 - x0 >= p.min_table_w * scale and y1 - y0 >= p.min_table_h * scale


def _shift(grid: Grid, dx: int, dy: int) -> Grid:
    """Move a grid found in a sub-image back to page coordinates."""
    def hline(ln: Line) -> Line:  # y = a + b x  ->  y + dy = a' + b (x + dx)
        return Line(ln.a + dy - ln.b * dx, ln.b, ln.t0 + dx, ln.t1 + dx)

    def vline(ln: Line) -> Line:
        return Line(ln.a + dx - ln.b * dy, ln.b, ln.t0 + dy, ln.t1 + dy)

    cells = [GridCell(c.row, c.col, c.row_span, c.col_span, c.corners + np.array([dx, dy]), c.uncertain)
             for c in grid.cells]
    x0, y0, x1, y1 = grid.bbox
    return Grid((x0 + dx, y0 + dy, x1 + dx, y1 + dy), [hline(h) for h in grid.rows],
                [vline(v) for v in grid.cols], cells)
