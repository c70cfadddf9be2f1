"""How fast the review page answers with 100 documents in the store, on SQLite and on PostgreSQL.

    .venv/bin/python bench/review_speed.py [--sample samples/data/hard-s3-000.pdf] [--docs 100] [--repeat 30]
                                           [--no-postgres] [--json OUT]

The issue's one absolute target: the queue page and a card render in under 100 ms each, and a correction
round-trip takes under 100 ms. The store is filled without the OCR (one real ingest of the sample gives a
record; its pages are rasterized once for the snapshots; `save_reading` stores 100 copies with distinct
sha256 and agencies, so the queue holds 100 reports, none a duplicate of another). A real uvicorn server in
its own process is asked over HTTP by httpx, as a browser would: the queue page, a card page, and a
correction (the htmx POST a keyboard Enter sends, answered by the next card). Each timing is repeated and
the median reported (the machine is shared: p90 shows the noise). PostgreSQL is the tests' throwaway cluster
(tests/pgcluster.py: fsync and synchronous_commit off), so its write times are a lower bound for a durable server.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ocr.config import Config  # noqa: E402
from ocr.model import PageSnapshot, Record  # noqa: E402
from ocr.rasterize import probe, render_page  # noqa: E402
from ocr.snapshot import snapshot  # noqa: E402

TARGET_MS = 100.0
SERVER = """
import sys
from pathlib import Path
from review.app import serve
from review.settings import ReviewSettings
serve(ReviewSettings(db_url=sys.argv[1], port=int(sys.argv[2]), operator="bench", images_dir=Path(sys.argv[3])))
"""


def seed(sample: Path, tmp: Path) -> tuple[Record, dict[int, PageSnapshot]]:
    """One real reading of `sample` (the CLI's JSON record) and the review snapshots of its table pages."""
    out = tmp / "seed"
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    proc = subprocess.run([sys.executable, "-m", "flows.cli", "ingest", str(sample), "--out", str(out),
                           "--workers", "1"], capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"bench/review_speed: reportscan ingest {sample} failed ({proc.returncode}):\n{proc.stderr}")
    record = Record.model_validate_json((out / f"{sample.stem}.json").read_text(encoding="utf-8"))
    cfg = Config(workers=1)
    info = probe(sample, cfg)
    pages = sorted({t.page for t in record.tables})
    return record, {n: snapshot(render_page(info, n, cfg).rgb, info.dpi) for n in pages}


def fill(url: str, images: Path, record: Record, snapshots: dict[int, PageSnapshot], docs: int) -> float:
    """`docs` copies of the reading, each its own report; returns the seconds the saving took."""
    from store import open_store, save_reading

    store = open_store(url, images, create=True)
    start = time.perf_counter()
    try:
        for i in range(docs):
            sha = hashlib.sha256(f"{record.sha256}:{i}".encode()).hexdigest()
            agency = f"{record.report.agency or '某机关'}·{i:03d}"
            copy = record.model_copy(update={"sha256": sha, "source": f"copy-{i:03d}-{record.source}",
                                             "report": record.report.model_copy(update={"agency": agency})})
            save_reading(store, copy, snapshots)
    finally:
        store.close()
    return time.perf_counter() - start


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, images: Path, stack: ExitStack) -> str:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, url, str(port), str(images)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()

    stack.callback(stop)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300  # a slow first queue page is a result to report, not a failure to start
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"bench/review_speed: the review server exited ({proc.returncode}):\n"
                             f"{proc.stderr.read() if proc.stderr else ''}")
        try:
            answer = httpx.get(base + "/", timeout=120)
            if answer.status_code == 200:
                return base
            last = f"{answer.status_code}: {answer.text[:300]}"
        except httpx.TransportError as exc:
            last = repr(exc)
        time.sleep(0.2)
    raise SystemExit(f"bench/review_speed: the review server did not answer 200 within 300 s ({last})")


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"median_ms": round(statistics.median(ordered) * 1000, 2),
            "p90_ms": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))] * 1000, 2),
            "runs": len(ordered)}


def _timed(client: httpx.Client, method: str, path: str, **kwargs: Any) -> tuple[float, httpx.Response]:
    start = time.perf_counter()
    response = client.request(method, path, **kwargs)
    response.read()
    took = time.perf_counter() - start
    if response.status_code != 200:
        raise SystemExit(f"bench/review_speed: {method} {path} answered {response.status_code}: {response.text[:300]}")
    return took, response


def measure(base: str, url: str, images: Path, repeat: int) -> dict[str, dict[str, float]]:
    from store import card, items, open_store, queue

    store = open_store(url, images, create=False)
    try:
        documents = queue(store).documents
        # One flagged field per document to correct: the card an operator types a value into.
        targets = []
        for doc in documents:
            field = next((i for i in items(store, doc.sha256) if i.kind == "field" and not i.settled), None)
            if field is not None:
                c = card(store, doc.sha256, field.id)
                targets.append((doc.sha256, field.id, c.value_type, c.read_value))
    finally:
        store.close()
    if len(targets) < repeat:
        raise SystemExit(f"bench/review_speed: {len(targets)} documents have an open field, {repeat} runs asked")
    with httpx.Client(base_url=base, timeout=120) as client:
        home = client.get("/")
        token = re.search(r'name="csrf_token" value="([^"]+)"', home.text)
        if token is None:
            raise SystemExit("bench/review_speed: the queue page carries no CSRF token")
        for _ in range(3):  # warm: templates compiled, connections pooled
            _timed(client, "GET", "/")
        queue_times = [_timed(client, "GET", "/")[0] for _ in range(repeat)]
        card_times = []
        for i in range(repeat):
            sha, item, _, _ = targets[i % len(targets)]
            card_times.append(_timed(client, "GET", f"/doc/{sha}/item/{item}")[0])
        save_times = []
        headers = {"X-CSRF-Token": token.group(1), "HX-Request": "true"}
        for sha, item, value_type, read in targets[:repeat]:
            page = client.get(f"/doc/{sha}/item/{item}", headers={"HX-Request": "true"})
            version = re.search(r'name="version" value="(\d+)"', page.text)
            if version is None:
                raise SystemExit(f"bench/review_speed: the card of {item} carries no version")
            value = {"integer": "7", "decimal": "12.5"}.get(value_type or "", read or "x")
            took, _ = _timed(client, "POST", f"/doc/{sha}/item/{item}/save", headers=headers,
                             data={"value": value, "version": version.group(1)})
            save_times.append(took)
    return {"queue page GET": _ms(queue_times), "card GET": _ms(card_times),
            "correction POST round-trip": _ms(save_times)}


def run_backend(name: str, url: str, images: Path, record: Record, snapshots: dict[int, PageSnapshot],
                docs: int, repeat: int) -> dict[str, Any]:
    fill_s = fill(url, images, record, snapshots, docs)
    with ExitStack() as stack:
        base = start_server(url, images, stack)
        timings = measure(base, url, images, repeat)
    return {"backend": name, "documents": docs, "fill_seconds": round(fill_s, 2), "timings": timings}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=Path, default=ROOT / "samples" / "data" / "hard-s3-000.pdf")
    parser.add_argument("--docs", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.repeat > args.docs:
        parser.error(f"--repeat {args.repeat}: at most --docs ({args.docs}); each correction needs its own card")
    results = []
    with tempfile.TemporaryDirectory(prefix="review-speed-") as name, ExitStack() as stack:
        tmp = Path(name)
        record, snapshots = seed(args.sample, tmp)
        sqlite_dir = tmp / "sqlite"
        sqlite_dir.mkdir()
        results.append(run_backend("SQLite", f"sqlite:///{sqlite_dir}/reportscan.db", sqlite_dir / "images",
                                   record, snapshots, args.docs, args.repeat))
        if not args.no_postgres:
            sys.path.insert(0, str(ROOT / "tests"))
            from pgcluster import postgres_cluster

            # The cluster runs as the postgres user, who cannot enter our private temp folder.
            pg_url = stack.enter_context(postgres_cluster(Path(tempfile.gettempdir())))
            results.append(run_backend("PostgreSQL", pg_url, tmp / "pg-images", record, snapshots, args.docs,
                                       args.repeat))
    table = Table(title=f"review page, {args.docs} documents ({args.sample.name}), medians of {args.repeat} runs")
    for column in ("backend", "request", "median ms", "p90 ms", f"< {TARGET_MS:.0f} ms"):
        table.add_column(column, justify="left" if column in ("backend", "request") else "right")
    for result in results:
        for request, t in result["timings"].items():
            table.add_row(result["backend"], request, f"{t['median_ms']:.1f}", f"{t['p90_ms']:.1f}",
                          "yes" if t["median_ms"] < TARGET_MS else "NO")
    Console().print(table)
    if args.json:
        tmp_out = args.json.with_name(args.json.name + ".tmp")
        tmp_out.write_text(json.dumps({"target_ms": TARGET_MS, "sample": args.sample.name, "repeat": args.repeat,
                                       "results": results}, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        tmp_out.replace(args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
