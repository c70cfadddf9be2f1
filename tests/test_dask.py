"""Page tasks on a real Dask cluster (prefect-dask's DaskTaskRunner): the same records as our own pool, each
document its own subflow, bad input reported, one Tesseract engine per worker process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pikepdf
import pytest
from conftest import SAMPLES
from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import WorkerPlugin
from reportlab.pdfgen import canvas

REPORTSCAN = [sys.executable, "-m", "flows.cli"]
DOCS = [SAMPLES / "clean-s1-001.pdf", SAMPLES / "hard-s3-000.pdf"]  # 4 + 4 pages

_COUNTS = {"engines_opened": 0, "pages": 0}  # in a worker process: what the plugin below saw there


class CountInWorker(WorkerPlugin):
    """Counts, in each worker process, the Tesseract engines opened and the pages read. Registered before
    reportscan's own plugin, so the engine its warm-up opens is counted too. The real engine and the real
    page function run: each is only wrapped to count its calls."""

    def setup(self, worker: object) -> None:
        import ocr.pipeline
        import ocr.recognize

        engine_init, process_page = ocr.recognize.TesserocrEngine.__init__, ocr.pipeline.process_page

        def counted_init(engine: object, *args: object, **kwargs: object) -> None:
            _COUNTS["engines_opened"] += 1
            engine_init(engine, *args, **kwargs)

        def counted_page(*args: object, **kwargs: object) -> object:
            _COUNTS["pages"] += 1
            return process_page(*args, **kwargs)

        ocr.recognize.TesserocrEngine.__init__ = counted_init
        ocr.pipeline.process_page = counted_page


def _counts() -> dict[str, int]:
    return dict(_COUNTS)


@pytest.fixture(scope="module")
def cluster():
    """A real LocalCluster of two single-threaded worker processes, as a user's scheduler would be."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc, \
            Client(lc.scheduler_address, set_as_default=False) as client:
        client.register_plugin(CountInWorker(), name="test-count")
        yield lc.scheduler_address, client


def run(*args: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    return subprocess.run([*REPORTSCAN, *map(str, args)], capture_output=True, text=True, env=env, timeout=600,
                          cwd=Path(__file__).parent.parent, check=False)


def _records(out: Path) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in out.glob("*.json") if p.name != "_summary.json"}


def _one_page(src: Path, page: int, dest: Path) -> Path:
    with pikepdf.open(src) as pdf, pikepdf.new() as one:
        one.pages.append(pdf.pages[page - 1])
        one.save(dest)
    return dest


@pytest.mark.slow
def test_an_attached_cluster_reads_as_our_pool_with_one_engine_per_worker(cluster, tmp_path):
    address, client = cluster
    ours, dask = tmp_path / "pool", tmp_path / "dask"
    r = run("ingest", *DOCS, "--out", ours, "--workers", "2")
    assert r.returncode == 0, r.stderr
    r = run("ingest", *DOCS, "--out", dask, "--dask-address", address)
    assert r.returncode == 0, r.stderr
    mine, theirs = _records(ours), _records(dask)
    assert sorted(mine) == ["clean-s1-001.json", "hard-s3-000.json"] == sorted(theirs)
    for name, rec in mine.items():
        for key in ("sha256", "pages", "page_info", "tables", "template", "report", "fields", "constraints",
                    "unmapped", "producer"):
            assert theirs[name][key] == rec[key], (name, key)
    summary = json.loads((dask / "_summary.json").read_text(encoding="utf-8"))
    assert (summary["documents"], summary["pages"], summary["stored"], summary["failed"]) == (2, 8, 2, 0)

    counts = client.run(_counts)  # {worker address: its process's counts}
    assert len(counts) == 2
    assert sum(c["pages"] for c in counts.values()) == 8  # every page ran on the cluster, none in the CLI
    assert all(c["pages"] >= 1 for c in counts.values())  # on both workers
    # Opened once at the worker's start (the plugin's warm-up), never again by the pages that followed,
    # though the CLI registered its plugin twice (its check of the address, then the run).
    assert [c["engines_opened"] for c in counts.values()] == [1, 1]


@pytest.mark.slow
def test_each_document_is_a_subflow_of_the_ingest_run(cluster, tmp_path, prefect_harness):
    import asyncio

    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    from flows.ingest import run_batch
    from flows.runners import page_runner
    from ocr.config import Config

    address, _ = cluster
    docs = [_one_page(SAMPLES / "typical-s2-000.pdf", 3, tmp_path / "first.pdf"),
            _one_page(SAMPLES / "typical-s2-001.pdf", 1, tmp_path / "second.pdf")]
    out = tmp_path / "out"
    cfg = Config(workers=1)
    with page_runner(cfg, dask_address=address) as runner:  # as the CLI and the batch flow attach
        assert runner.slots == 2
        summary = run_batch([str(d) for d in docs], str(out), cfg, dask_address=address, dask_slots=runner.slots)
    assert (summary.documents, summary.pages, summary.failed) == (2, 2, 0)

    async def children() -> tuple[list, list]:
        async with get_client() as api:
            parents = [r for r in await api.read_flow_runs() if r.parameters.get("out_dir") == str(out)]
            assert len(parents) == 1
            kids = await api.read_flow_runs(flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parents[0].id])))
            for _ in range(100):  # task runs reach the API as events, handled a moment later
                runs = [t for t in await api.read_task_runs() if t.flow_run_id in {k.id for k in kids}]
                pages = [t for t in runs if t.name.startswith("page")]
                if len(pages) >= 2:
                    break
                await asyncio.sleep(0.1)
            return kids, pages

    kids, pages = asyncio.run(children())
    assert sorted(k.name for k in kids) == ["first.pdf", "second.pdf"]
    assert all(k.state is not None and k.state.is_completed() for k in kids)
    assert len(pages) == 2  # a task per page, in its document (and a second reading's task for some)


def _page_too_large(dest: Path) -> Path:
    """Page 1 is small; page 2 would be 156 MP at 300 dpi, over the default 100 MP limit: it fails alone."""
    c = canvas.Canvas(str(dest), pagesize=(300, 300))
    c.rect(40, 40, 220, 220)
    c.showPage()
    c.setPageSize((3000, 3000))
    c.drawString(72, 720, "too large")
    c.showPage()
    c.save()
    return dest


@pytest.mark.slow
def test_a_batch_on_a_local_dask_cluster_reports_bad_files_and_reads_the_rest(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _one_page(SAMPLES / "typical-s2-000.pdf", 3, inbox / "good.pdf")
    _page_too_large(inbox / "half.pdf")
    (inbox / "empty.pdf").write_bytes(b"")
    (inbox / "cut.pdf").write_bytes((SAMPLES / "clean-s1-000.pdf").read_bytes()[:5000])
    r = run("batch", "--inbox", inbox, "--dask-local", "2")
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    failed = {line.split(":")[0] for line in r.stderr.splitlines() if line.startswith(str(inbox))}
    assert failed == {str(inbox / "empty.pdf"), str(inbox / "cut.pdf")}
    assert "`half.pdf`: page 2" in r.stdout  # read, with its failed page named
    done, bad = tmp_path / "done", tmp_path / "failed"
    # a document with a failed page still has its record and goes to done/; files with none go to failed/
    assert sorted(p.name for p in done.iterdir()) == ["good.pdf", "half.pdf"]
    assert {"empty.pdf", "empty.pdf.error.json", "cut.pdf", "cut.pdf.error.json"} == {p.name for p in bad.iterdir()}
    records = next((tmp_path / "out" / "batches").iterdir())
    half = json.loads((records / "half.json").read_text(encoding="utf-8"))
    assert half["page_info"][0]["error"] is None and "megapixel" in (half["page_info"][1]["error"] or "").lower()
    good = json.loads((records / "good.json").read_text(encoding="utf-8"))
    assert good["tables"] and good["page_info"][0]["error"] is None


@pytest.mark.slow
def test_an_unreachable_scheduler_is_one_line_and_nothing_is_written(tmp_path):
    out = tmp_path / "out"
    r = run("ingest", DOCS[0], "--out", out, "--dask-address", "tcp://127.0.0.1:9")
    assert r.returncode == 3
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and "tcp://127.0.0.1:9" in r.stderr
    assert not out.exists()


def test_dask_options_are_checked_before_anything_starts(tmp_path):
    r = run("ingest", DOCS[0], "--out", tmp_path / "out", "--dask-local", "0")
    assert r.returncode == 2 and "--dask-local" in r.stderr
    r = run("ingest", DOCS[0], "--out", tmp_path / "out", "--dask-local", "2", "--dask-address", "tcp://x:1")
    assert r.returncode == 2 and "not allowed with" in r.stderr
