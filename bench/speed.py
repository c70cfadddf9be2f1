"""Start-up and throughput of the real CLI on the committed samples, against peers in the same run.

    .venv/bin/python bench/speed.py [--pages-from samples/data] [--repeat 1]

Peers: the same CLI with one worker vs all cores, and the tesserocr engine vs the pytesseract backend
on the same table pages (in-process, so start-up does not blur the ratio). The machine is shared and
noisy: read the ratios, not the absolute seconds. Prints a table and optionally writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "flows.cli"]


def _run(args: list[str]) -> float:
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    start = time.perf_counter()
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"reportscan {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return took


def startup_seconds(tmp: Path) -> float:
    """A run over one blank page: Prefect's import and ephemeral server, engines, one cheap page."""
    blank = tmp / "blank.png"
    Image.new("L", (850, 1100), 255).save(blank, dpi=(100, 100))
    return _run(["ingest", str(blank), "--out", str(tmp / "o-blank"), "--workers", "1"])


def table_pages(folder: Path) -> list[tuple[Path, int]]:
    out = []
    for truth in sorted(folder.glob("*.truth.json")):
        data = json.loads(truth.read_text(encoding="utf-8"))
        for page in sorted({t["page"] for t in data["tables"]}):
            out.append((folder / data["source"], page))
    return out


def per_page_seconds(pages: list[tuple[Path, int]], backend: str) -> float:
    from ocr.config import Config
    from ocr.pipeline import analyse_page
    from ocr.rasterize import probe, render_page
    from ocr.recognize import engine_for

    cfg = Config(workers=1, backend=backend)
    engine_for(cfg)  # engine start-up is paid once per worker, not per page
    total = 0.0
    for path, n in pages:
        page = render_page(probe(path, cfg), n, cfg)
        start = time.perf_counter()
        analyse_page(page, cfg)
        total += time.perf_counter() - start
    return total / len(pages)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages-from", type=Path, default=ROOT / "samples" / "data")
    ap.add_argument("--peer-pages", type=int, default=1, help="table pages read by the slow pytesseract peer")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    pdfs = sorted(args.pages_from.glob("*.pdf"))
    n_pages = sum(json.loads(p.with_name(p.stem + ".truth.json").read_text(encoding="utf-8"))["pages"] for p in pdfs)
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        startup = startup_seconds(tmp)
        one = _run(["ingest", *map(str, pdfs), "--out", str(tmp / "o1"), "--workers", "1"])
        many = _run(["ingest", *map(str, pdfs), "--out", str(tmp / "oN"), "--workers", str(cores)])
    pages = table_pages(args.pages_from)
    fast = per_page_seconds(pages, "tesserocr")
    slow = per_page_seconds(pages[: args.peer_pages], "pytesseract")
    result = {
        "pages": n_pages, "documents": len(pdfs), "cores": cores,
        "startup_s": round(startup, 2),
        "cli_1_worker_s": round(one, 2), "cli_1_worker_pages_per_s": round(n_pages / one, 3),
        f"cli_{cores}_workers_s": round(many, 2), f"cli_{cores}_workers_pages_per_s": round(n_pages / many, 3),
        "workers_speedup": round(one / many, 2),
        "table_page_s_tesserocr": round(fast, 3), "table_page_s_pytesseract": round(slow, 3),
        "tesserocr_speedup": round(slow / fast, 2),
    }
    table = Table(title=f"reportscan speed: {len(pdfs)} documents, {n_pages} pages, {cores} cores")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for k, v in result.items():
        table.add_row(k, str(v))
    Console().print(table)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
