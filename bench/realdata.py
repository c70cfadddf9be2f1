"""reportscan and img2table on the real cTDaR pages: tables found and cell adjacency-relation F1.

    .venv/bin/python bench/realdata.py [--realdata ../shared/realdata] [--json FILE] [--keep DIR]

The 19 JPEG pages (ICDAR 2019 cTDaR modern, Chinese; see the set's README) are linked into a temp
folder under unique names (two pages share the stem cTDaR_t10084) and run through each tool in one
batch: ``reportscan ingest`` (defaults, start-up included) and bench/img2table_runner.py in
bench/.venv-img2table. Nothing from the set is copied into the repository.

Measures (per GT table and in total; the 3 tables with horizontal rules only are listed apart):

* found: a GT table polygon's box matched by a predicted table box on the same page, IoU >= 0.5
  (one predicted table per GT table). Predicted tables matching no GT table are "false tables".
* adjacency-relation F1 (ICDAR 2013 / cTDaR): GT relations are the ``neighbors`` pairs, as unordered
  left-right or top-bottom pairs. GT cell boxes are text boxes (smaller than the ruled cell), so a GT
  cell maps to the predicted cell that holds the most of its box (>= 50 % of the GT box inside);
  a predicted cell takes the GT cell that has most of its area inside it. Predicted relations link
  each *content* cell to the nearest content cell to its right in each row it spans and below it in
  each column it spans (blank cells are skipped, as the GT skips cells without text). A predicted
  relation is right when its two ends map to two GT cells that the GT lists as neighbours in that
  direction. Two ways of saying which predicted cells are content cells:
    - "geometry": a predicted cell holds a GT text box (structure alone, OCR left out);
    - "text": a predicted cell's text is non-empty (what a user of the output sees; the issue's
      "on text").
  Precision = right predicted relations / predicted relations (a relation of a false table counts
  against precision); recall = GT relations found / GT relations. Totals are micro-averaged.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]

import proctree  # noqa: E402

I2T_PYTHON = HERE / ".venv-img2table" / "bin" / "python"
I2T_RUNNER = HERE / "img2table_runner.py"
RS_CLI = ROOT / ".venv" / "bin" / "reportscan"
DEFAULT_REALDATA = ROOT.parent / "shared" / "realdata"
IOU_MATCH = 0.5
INSIDE = 0.5
Box = tuple[float, float, float, float]


@dataclass
class GTTable:
    page: str
    index: int
    bbox: Box
    ruled: str  # full | partial (manifest.csv)
    cells: dict[str, Box] = field(default_factory=dict)
    relations: set[tuple[str, str, str]] = field(default_factory=set)  # (a, b, "H"|"V"): b right of/below a


def _poly(el: ET.Element) -> Box:
    pts = [tuple(map(float, p.split(","))) for p in el.find("Coords").get("points").split()]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return (min(xs), min(ys), max(xs), max(ys))


def page_name(image: Path) -> str:
    return f"{image.parent.parent.name}-{image.stem}"  # testB2-cTDaR_t10003


def load_truth(realdata: Path) -> tuple[list[Path], list[GTTable]]:
    images: list[Path] = []
    tables: list[GTTable] = []
    with (realdata / "manifest.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            image = realdata / row["file"]
            images.append(image)
            ruled = row["ruled_per_table"].split(";")
            doc = ET.parse(realdata / row["annotation"]).getroot()
            for ti, tel in enumerate(doc.findall("table")):
                t = GTTable(page_name(image), ti, _poly(tel), ruled[ti] if ti < len(ruled) else "?")
                for cel in tel.findall("cell"):
                    t.cells[cel.get("id")] = _poly(cel)
                for cel in tel.findall("cell"):
                    a = cel.get("id")
                    for nb in (cel.get("neighbors") or "").split():
                        b, d = nb.split(":")
                        if b not in t.cells:
                            continue
                        rel = {"R": (a, b, "H"), "L": (b, a, "H"), "B": (a, b, "V"), "T": (b, a, "V")}[d]
                        t.relations.add(rel)
                tables.append(t)
    return images, tables


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def inside(small: Box, big: Box) -> float:
    """Share of `small`'s area that lies inside `big`."""
    ix = max(0.0, min(small[2], big[2]) - max(small[0], big[0]))
    iy = max(0.0, min(small[3], big[3]) - max(small[1], big[1]))
    area = (small[2] - small[0]) * (small[3] - small[1])
    return ix * iy / area if area > 0 else 0.0


def predicted_relations(cells: list[dict[str, Any]], content: list[bool]) -> set[tuple[int, int, str]]:
    """(i, j, H|V) between content cells: j is the nearest content cell right of i in a row i spans
    (H), or below i in a column i spans (V)."""
    rels: set[tuple[int, int, str]] = set()
    idx = [i for i, ok in enumerate(content) if ok]
    for i in idx:
        a = cells[i]
        for r in range(a["row"], a["row"] + a["row_span"]):
            right = [j for j in idx if cells[j]["row"] <= r < cells[j]["row"] + cells[j]["row_span"]
                     and cells[j]["col"] >= a["col"] + a["col_span"]]
            if right:
                rels.add((i, min(right, key=lambda j: cells[j]["col"]), "H"))
        for c in range(a["col"], a["col"] + a["col_span"]):
            below = [j for j in idx if cells[j]["col"] <= c < cells[j]["col"] + cells[j]["col_span"]
                     and cells[j]["row"] >= a["row"] + a["row_span"]]
            if below:
                rels.add((i, min(below, key=lambda j: cells[j]["row"]), "V"))
    return rels


@dataclass
class Counts:
    gt: int = 0
    found: int = 0
    predicted: int = 0
    right: int = 0

    def add(self, o: Counts) -> None:
        self.gt += o.gt
        self.found += o.found
        self.predicted += o.predicted
        self.right += o.right

    def f1(self) -> tuple[float, float, float]:
        p = self.right / self.predicted if self.predicted else 0.0
        r = self.found / self.gt if self.gt else 0.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def evaluate(records: dict[str, dict[str, Any]], gt_tables: list[GTTable]) -> dict[str, Any]:
    """Per GT table: matched predicted table (IoU) and relation counts in both modes; plus totals."""
    by_page: dict[str, list[GTTable]] = defaultdict(list)
    for t in gt_tables:
        by_page[t.page].append(t)
    per_table: dict[tuple[str, int], dict[str, Any]] = {}
    false_tables = 0
    unassigned = {"geometry": Counts(), "text": Counts()}
    for page, gts in by_page.items():
        rec = records.get(page, {"tables": []})
        preds = rec.get("tables", [])
        # table matching, greedy by IoU
        pairs = sorted(((iou(g.bbox, tuple(p["bbox"])), gi, pi) for gi, g in enumerate(gts)
                        for pi, p in enumerate(preds)), reverse=True)
        g_match: dict[int, tuple[int, float]] = {}
        used: set[int] = set()
        for v, gi, pi in pairs:
            if v >= IOU_MATCH and gi not in g_match and pi not in used:
                g_match[gi] = (pi, v)
                used.add(pi)
        false_tables += len(preds) - len(used)
        best_iou = {gi: max((iou(g.bbox, tuple(p["bbox"])) for p in preds), default=0.0) for gi, g in enumerate(gts)}
        # cell mapping across the whole page: GT cell -> predicted cell holding most of it
        flat = [(pi, ci, c) for pi, p in enumerate(preds) for ci, c in enumerate(p["cells"])]
        gt_cells = [(gi, cid, box) for gi, g in enumerate(gts) for cid, box in g.cells.items()]
        holder: dict[tuple[int, int], list[tuple[float, int, str]]] = defaultdict(list)
        for gi, cid, box in gt_cells:
            best = max(((inside(box, tuple(c["bbox"])), pi, ci) for pi, ci, c in flat), default=(0.0, -1, -1))
            if best[0] >= INSIDE:
                holder[(best[1], best[2])].append((best[0] * _area(box), gi, cid))
        pmap = {k: max(v)[1:] for k, v in holder.items()}  # predicted cell -> (gi, cid)
        counts = {(gi, mode): Counts(gt=len(g.relations)) for gi, g in enumerate(gts) for mode in ("geometry", "text")}
        table_owner = {mp: gi for gi, (mp, _) in g_match.items()}
        hit: dict[str, set[tuple[int, str, str, str]]] = {"geometry": set(), "text": set()}
        for pi, p in enumerate(preds):
            cells = p["cells"]
            for mode in ("geometry", "text"):
                content = [((pi, ci) in pmap) if mode == "geometry" else bool("".join(c["text"].split()))
                           for ci, c in enumerate(cells)]
                for i, j, d in predicted_relations(cells, content):
                    a, b = pmap.get((pi, i)), pmap.get((pi, j))
                    owner = a[0] if a else b[0] if b else table_owner.get(pi)
                    ok = a is not None and b is not None and a[0] == b[0] and (a[1], b[1], d) in gts[a[0]].relations
                    bucket = counts[(owner, mode)] if owner is not None else unassigned[mode]
                    bucket.predicted += 1
                    if ok:
                        bucket.right += 1
                        hit[mode].add((a[0], a[1], b[1], d))
        for mode in ("geometry", "text"):
            for gi, _, _, _ in hit[mode]:
                counts[(gi, mode)].found += 1
        for gi, g in enumerate(gts):
            m = g_match.get(gi)
            per_table[(page, g.index)] = {
                "page": page, "table": g.index, "ruled": g.ruled, "gt_cells": len(g.cells),
                "gt_relations": len(g.relations), "found": m is not None, "iou": round(m[1] if m else best_iou[gi], 3),
                "n_rows": preds[m[0]]["n_rows"] if m else None, "n_cols": preds[m[0]]["n_cols"] if m else None,
                "geometry": counts[(gi, "geometry")], "text": counts[(gi, "text")]}
    totals: dict[str, Any] = {}
    for subset, keep in (("full", lambda t: t["ruled"] == "full"), ("all", lambda t: True)):
        for mode in ("geometry", "text"):
            c = Counts()
            for t in per_table.values():
                if keep(t):
                    c.add(t[mode])
            if subset == "all":
                c.add(unassigned[mode])
            else:
                c.predicted += unassigned[mode].predicted  # a relation nowhere near a GT table is wrong anyway
            p, r, f = c.f1()
            totals[f"{subset}_{mode}"] = {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4),
                                          "gt": c.gt, "predicted": c.predicted, "right": c.right, "found": c.found}
    full = [t for t in per_table.values() if t["ruled"] == "full"]
    partial = [t for t in per_table.values() if t["ruled"] != "full"]
    totals["full_found"] = sum(t["found"] for t in full)
    totals["full_tables"] = len(full)
    totals["partial_found"] = sum(t["found"] for t in partial)
    totals["partial_tables"] = len(partial)
    totals["false_tables"] = false_tables
    return {"tables": list(per_table.values()), "totals": totals}


def _area(b: Box) -> float:
    return (b[2] - b[0]) * (b[3] - b[1])


def run_tools(images: list[Path], work: Path, workers: int, threads: int) -> dict[str, Any]:
    """Both tools on the same linked pages, one batch each; records, wall time, peak RSS."""
    pages = work / "pages"
    pages.mkdir(parents=True, exist_ok=True)
    linked = []
    for im in images:
        link = pages / (page_name(im) + im.suffix.lower())
        if not link.exists():
            link.symlink_to(im.resolve())
        linked.append(link)
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    out: dict[str, Any] = {}
    for tool, cmd in (
        ("reportscan", [str(RS_CLI), "ingest", *map(str, linked), "--out", str(work / "rs"),
                        "--workers", str(workers)]),
        ("img2table", [str(I2T_PYTHON), str(I2T_RUNNER), *map(str, linked), "--out", str(work / "i2t"),
                       "--threads", str(threads)]),
    ):
        run = proctree.run(cmd, env=env, cwd=ROOT)
        if run.returncode not in (0, 1):
            raise SystemExit(f"{tool} failed ({run.returncode}):\n{run.stderr[-3000:]}")
        folder = work / ("rs" if tool == "reportscan" else "i2t")
        records = {}
        for link in linked:
            f = folder / (link.stem + ".json")
            records[link.stem] = json.loads(f.read_text(encoding="utf-8")) if f.exists() else {"tables": []}
        out[tool] = {"records": records, "seconds": run.seconds, "peak_rss_mb": run.peak_rss_mb,
                     "peak_pss_mb": run.peak_pss_mb, "returncode": run.returncode, "pages": len(linked)}
    return out


def report(results: dict[str, Any], console: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console(width=160)
    rs, it = results["reportscan"], results["img2table"]
    t = Table(title="real pages (cTDaR 2019 modern, Chinese): per GT table; adjacency F1 on text / on geometry")
    for c in ("page", "#", "ruled", "GT cells", "rs found (IoU)", "rs grid", "rs F1 text", "rs F1 geom",
              "i2t found (IoU)", "i2t grid", "i2t F1 text", "i2t F1 geom"):
        t.add_column(c, justify="right")
    rows = sorted(zip(rs["eval"]["tables"], it["eval"]["tables"], strict=True),
                  key=lambda p: (p[0]["ruled"] != "full", p[0]["page"], p[0]["table"]))
    for a, b in rows:
        def fmt(x: dict[str, Any]) -> list[str]:
            grid = f"{x['n_rows']}x{x['n_cols']}" if x["found"] else "-"
            return [("yes" if x["found"] else "NO") + f" ({x['iou']:.2f})", grid,
                    f"{x['text'].f1()[2]:.2f}", f"{x['geometry'].f1()[2]:.2f}"]
        t.add_row(a["page"].replace("cTDaR_t", ""), str(a["table"]), a["ruled"], str(a["gt_cells"]), *fmt(a), *fmt(b))
    console.print(t)
    s = Table(title="real pages: totals (issue 13's targets: every table found, no false one, adjacency F1 on text "
                    ">= 0.95 on the 26 fully ruled tables)")
    for c in ("measure", "reportscan", "img2table", "target"):
        s.add_column(c, justify="right")
    ra, ia = rs["eval"]["totals"], it["eval"]["totals"]
    s.add_row("fully ruled tables found", f"{ra['full_found']}/{ra['full_tables']}",
              f"{ia['full_found']}/{ia['full_tables']}", _pm(ra["full_found"] == ra["full_tables"], "all"))
    s.add_row("rules-only tables found", f"{ra['partial_found']}/{ra['partial_tables']}",
              f"{ia['partial_found']}/{ia['partial_tables']}", _pm(ra["partial_found"] == ra["partial_tables"], "all"))
    s.add_row("false tables", str(ra["false_tables"]), str(ia["false_tables"]), _pm(ra["false_tables"] == 0, "0"))
    labels = (("full_text", "adjacency F1 on text, 26 full"), ("full_geometry", "adjacency F1 geometry, 26 full"),
              ("all_text", "adjacency F1 on text, all 29"), ("all_geometry", "adjacency F1 geometry, all 29"))
    for key, label in labels:
        a, b = ra[key], ia[key]
        target = _pm(a["f1"] >= 0.95, ">= 0.95") if key == "full_text" else ""
        s.add_row(label, f"{a['f1']:.3f} (P {a['precision']:.3f} R {a['recall']:.3f})",
                  f"{b['f1']:.3f} (P {b['precision']:.3f} R {b['recall']:.3f})", target)
    s.add_row("pages per second (one batch, start-up incl.)", f"{rs['pages'] / rs['seconds']:.3f}",
              f"{it['pages'] / it['seconds']:.3f}", "")
    s.add_row("wall time, s", f"{rs['seconds']:.1f}", f"{it['seconds']:.1f}", "")
    s.add_row("peak RSS of the tree, MB (PSS)", f"{rs['peak_rss_mb']:.0f} ({rs['peak_pss_mb']:.0f})",
              f"{it['peak_rss_mb']:.0f} ({it['peak_pss_mb']:.0f})", "")
    console.print(s)


def _pm(ok: bool, target: str) -> str:
    return f"{target}: {'pass' if ok else 'MISS'}"


def run_realdata(realdata: Path, workers: int, threads: int, keep: Path | None = None) -> dict[str, Any]:
    images, gt = load_truth(realdata)
    with tempfile.TemporaryDirectory(prefix="bench-realdata-") as tmp:
        work = keep or Path(tmp)
        results = run_tools(images, work, workers, threads)
    for tool in ("reportscan", "img2table"):
        results[tool]["eval"] = evaluate(results[tool].pop("records"), gt)
    return results


def to_json(results: dict[str, Any]) -> dict[str, Any]:
    def conv(x: Any) -> Any:
        if isinstance(x, Counts):
            p, r, f = x.f1()
            return {**vars(x), "precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4)}
        if isinstance(x, dict):
            return {k: conv(v) for k, v in x.items()}
        if isinstance(x, list):
            return [conv(v) for v in x]
        return x
    return conv(results)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--realdata", type=Path, default=DEFAULT_REALDATA)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="reportscan --workers")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="img2table Tesseract threads")
    ap.add_argument("--keep", type=Path, help="keep the records here instead of a temp folder")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if not I2T_PYTHON.exists():
        raise SystemExit("bench/.venv-img2table is missing: run bench/setup-img2table first")
    results = run_realdata(args.realdata, args.workers, args.threads, args.keep)
    report(results)
    if args.json:
        args.json.write_text(json.dumps(to_json(results), indent=1, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
