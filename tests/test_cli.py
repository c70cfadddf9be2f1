"""The command line as a user runs it: exit codes, one line per bad file, nothing half-written."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pikepdf
import pytest
from PIL import Image
from synth import draw, simple_table
from test_rasterize import make_pdf

from ocr.schema import record_schema

REPORTSCAN = [sys.executable, "-m", "flows.cli"]


def run(*args, env=None, cwd=None):
    full_env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", **(env or {})}
    return subprocess.run([*REPORTSCAN, *map(str, args)], capture_output=True, text=True, env=full_env,
                          cwd=cwd, timeout=600, check=False)


def test_usage_errors_exit_2():
    assert run().returncode == 2
    assert run("ingest", "--out", "x").returncode == 2  # no path
    assert run("ingest", "x", "--out", "y", "--bogus").returncode == 2
    r = run("ingest", "x", "--out", "y", "--workers", "0")
    assert r.returncode == 2 and "workers" in r.stderr


def test_missing_paths_and_empty_folders_exit_1(tmp_path):
    r = run("ingest", tmp_path / "nope.pdf", "--out", tmp_path / "out")
    assert r.returncode == 1 and "nope.pdf: no such file or folder" in r.stderr
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("not an input")
    r = run("ingest", tmp_path / "empty", "--out", tmp_path / "out")
    assert r.returncode == 1 and "folder holds no" in r.stderr
    assert not (tmp_path / "out").exists()


def test_missing_dependency_exits_3_saying_what_to_install(tmp_path):
    png = tmp_path / "a.png"
    Image.new("RGB", (10, 10), "white").save(png)
    r = run("ingest", png, "--out", tmp_path / "out", env={"TESSDATA_PREFIX": str(tmp_path)})
    assert r.returncode == 3 and "tesseract-ocr-chi-sim" in r.stderr
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(sys.executable, bin_dir / "python")
    r = run("ingest", png, "--out", tmp_path / "out", env={"PATH": str(bin_dir)})
    assert r.returncode == 3 and "poppler-utils" in r.stderr


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """One run over good and bad files together (each run starts Prefect's ephemeral server)."""
    d = tmp_path_factory.mktemp("batch")
    inp = d / "in"
    (inp / "a").mkdir(parents=True)
    (inp / "b").mkdir()
    page = Image.fromarray(draw([simple_table()]))
    page.save(inp / "a" / "table.png", dpi=(300, 300))
    page.save(inp / "b" / "table.png", dpi=(300, 300))  # same stem, other content below
    Image.fromarray(draw([simple_table(origin=(200, 150))])).save(inp / "b" / "table.png", dpi=(300, 300))
    (inp / "empty.pdf").write_bytes(b"")
    (inp / "notes.PDF").write_text("this is not a pdf\n")
    buf = io.BytesIO()
    page.save(buf, "JPEG")
    (inp / "cut.jpg").write_bytes(buf.getvalue()[:5000])
    src = make_pdf(d / "src.pdf", pages=1)
    with pikepdf.open(src) as pdf:
        pdf.save(inp / "locked.pdf", encryption=pikepdf.Encryption(user="u", owner="o"))
    pikepdf.new().save(inp / "zero.pdf")
    Image.new("1", (12000, 12000)).save(inp / "bomb.png")
    make_pdf(inp / "huge.pdf", pages=2, size=(14400, 14400))
    out = d / "out"
    r = run("ingest", inp, "--out", out, "--workers", "2")
    return inp, out, r


def test_batch_with_bad_files(batch):
    inp, out, r = batch
    assert r.returncode == 1, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    for name, reason in [("empty.pdf", "empty file"), ("notes.PDF", "not a PDF"), ("cut.jpg", "truncated"),
                         ("locked.pdf", "user password"), ("zero.pdf", ""), ("bomb.png", "megapixel"),
                         ("huge.pdf", "megapixel limit")]:
        hits = [ln for ln in lines if f"{name}:" in ln and reason in ln]
        assert hits, f"no error line for {name} in:\n{r.stderr}"
    names = sorted(p.name for p in out.iterdir())
    assert not [n for n in names if n.endswith(".tmp") or n.startswith(".")], names
    assert "reportscan.db" in names and (out / "images").is_dir()  # the store, beside the records
    # refused files have no record; the good ones and the document with bad pages do
    stems = {n.split(".")[0].rsplit("-", 1)[0] for n in names if n.endswith(".json") and n != "_summary.json"}
    assert stems == {"table", "huge"}
    tables = sorted(n for n in names if n.startswith("table"))
    assert len(tables) == 2 and all(len(n) == len("table-12345678.json") for n in tables)
    huge = json.loads((out / "huge.json").read_text())
    assert [p["error"] is not None for p in huge["page_info"]] == [True, True]
    summary = json.loads((out / "_summary.json").read_text())
    assert summary["documents"] == 3 and summary["failed"] == 7
    assert summary["stored"] == 3 and summary["store_failed"] == 0  # a document with bad pages is stored too
    assert "documents" in r.stdout and "needing review" in r.stdout and "stored" in r.stdout
    assert f"reportscan review --db sqlite:///{out.resolve()}/reportscan.db" in r.stderr


def test_records_follow_the_contract(batch):
    import jsonschema

    _, out, _ = batch
    schema = record_schema()
    for path in out.glob("table-*.json"):
        rec = json.loads(path.read_text())
        jsonschema.validate(rec, schema)
        assert rec["producer"]["tesseract"].startswith("5.")
        assert rec["dpi"] == 300 and rec["pages"] == 1 and rec["template"] is None
        assert len(rec["tables"]) == 1 and rec["tables"][0]["n_rows"] == 4
        texts = {(c["row"], c["col"]): c["text"] for c in rec["tables"][0]["cells"]}
        assert texts[(2, 1)] == "12"


def test_committed_schema_is_current():
    committed = json.loads((Path(__file__).parent.parent / "docs" / "record.schema.json").read_text())
    assert committed == record_schema(), "regenerate: python -m ocr.schema > docs/record.schema.json"


def test_good_batch_exits_0(tmp_path):
    Image.fromarray(draw([simple_table()])).save(tmp_path / "ok.png", dpi=(300, 300))
    shutil.copy(tmp_path / "ok.png", tmp_path / "ok2.png")
    r = run("ingest", tmp_path / "ok.png", tmp_path / "ok2.png", "--out", tmp_path / "out", "--workers", "1")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "ok.json").exists() and (tmp_path / "out" / "ok2.json").exists()


def test_out_that_is_a_file_is_bad_usage(tmp_path):
    png = tmp_path / "a.png"
    Image.new("RGB", (10, 10), "white").save(png)
    (tmp_path / "out").write_text("a file, not a folder")
    r = run("ingest", png, "--out", tmp_path / "out")
    assert r.returncode == 2 and "--out" in r.stderr and "Traceback" not in r.stderr
    r = run("inspect", png, "--out", tmp_path / "o2", "--dpi", "10")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_a_bad_store_url_fails_before_any_page_is_read(tmp_path):
    png = tmp_path / "a.png"
    Image.fromarray(draw([simple_table()])).save(png, dpi=(300, 300))
    for url, reason in [("mysql://u@h/db", "only sqlite and postgresql"), ("not a url", "not a database URL"),
                        ("postgresql+psycopg://nobody@127.0.0.1:1/none", "cannot")]:
        r = run("ingest", png, "--out", tmp_path / "out", "--db", url)
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("reportscan: error: --db") and reason in lines[0], lines
        assert not list((tmp_path / "out").glob("*.json"))  # no page was read, no summary written
    r = run("ingest", png, "--out", tmp_path / "out", "--db", "postgresql+psycopg://u:s3cret@127.0.0.1:1/x")
    assert r.returncode == 2 and "s3cret" not in r.stderr  # the password is never shown


def test_db_upgrade_makes_an_empty_file_a_store(tmp_path):
    empty = tmp_path / "empty.db"
    empty.touch()
    url = f"sqlite:///{empty}"
    r = run("db", "upgrade", "--db", url)
    assert r.returncode == 0, r.stderr
    assert "newest schema" in r.stdout
    from store.db import open_store

    open_store(url, create=False).close()  # at head now: a store review and export accept
    assert run("db", "upgrade", "--db", url).returncode == 0  # and again: nothing to do
    r = run("db", "upgrade", "--db", "mysql://x/y")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_users_add_and_disable(tmp_path):
    from store.db import open_store
    from store.operators import operator_enabled, verify_operator

    url = f"sqlite:///{tmp_path}/s.db"
    r = run("users", "add", "alice", "--db", url)
    assert r.returncode == 2 and "db upgrade" in r.stderr  # no store there yet: said, not created
    assert run("db", "upgrade", "--db", url).returncode == 0

    r = subprocess.run([*REPORTSCAN, "users", "add", "alice", "--db", url], input="horse battery\n",
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    r = run("users", "add", "bob", "--db", url, env={"REPORTSCAN_PASSWORD": "staple 42"})
    assert r.returncode == 0, r.stderr
    r = subprocess.run([*REPORTSCAN, "users", "add", "carol", "--db", url], input="\n",
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 2 and "password is empty" in r.stderr
    r = run("users", "add", "alice", "--db", url, env={"REPORTSCAN_PASSWORD": "again"})
    assert r.returncode == 1 and "alice" in r.stderr and "Traceback" not in r.stderr  # already there

    store = open_store(url, create=False)
    try:
        assert verify_operator(store, "alice", "horse battery") and not verify_operator(store, "alice", "horse")
        assert verify_operator(store, "bob", "staple 42")
        assert not operator_enabled(store, "carol")
        assert run("users", "disable", "alice", "--db", url).returncode == 0
        assert not verify_operator(store, "alice", "horse battery") and not operator_enabled(store, "alice")
        assert verify_operator(store, "bob", "staple 42")
    finally:
        store.close()
    r = run("users", "disable", "nobody", "--db", url)
    assert r.returncode == 1 and "nobody" in r.stderr and "Traceback" not in r.stderr


def test_review_serves_the_store_and_refuses_a_missing_one(tmp_path):
    import signal
    import socket
    import time
    import urllib.request

    r = run("review", "--db", f"sqlite:///{tmp_path}/none.db")
    assert r.returncode == 2 and "db upgrade" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert run("review", "--db", f"sqlite:///{tmp_path}/none.db", "--port", "70000").returncode == 2
    url = f"sqlite:///{tmp_path}/s.db"
    assert run("db", "upgrade", "--db", url).returncode == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([*REPORTSCAN, "review", "--db", url, "--port", str(port), "--operator", "tester"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline, page = time.monotonic() + 60, None
        while page is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
                    page = (resp.status, resp.read().decode())
            except OSError:
                time.sleep(0.3)
        assert page is not None and page[0] == 200, proc.stderr.read() if proc.poll() is not None else "no answer"
        assert "<html" in page[1]
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err


def test_review_that_cannot_start_safely_says_why_in_one_line(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    assert run("db", "upgrade", "--db", url).returncode == 0
    key = tmp_path / "reportscan-secret.key"
    key.write_bytes(b"k" * 40)
    key.chmod(0o644)
    r = run("review", "--db", url, "--port", "1")
    assert r.returncode == 2 and "readable by others" in r.stderr and "Traceback" not in r.stderr
    key.chmod(0o600)
    r = run("review", "--db", url, "--port", "1", env={"REPORTSCAN_OPERATOR": "ana"})
    assert r.returncode == 2 and "REPORTSCAN_OPERATOR_PASSWORD" in r.stderr and "Traceback" not in r.stderr


def _running(pid: int) -> bool:
    """Alive and not a zombie (an exited child nobody reaped yet: this sandbox's pid 1 may not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2:].split()[0] != "Z"


def _children(pid: int) -> set[int]:
    """Every live descendant of `pid` (from /proc)."""
    parents: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
                parents[int(d.name)] = int(stat[stat.rindex(")") + 2:].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        out.update(kids)
        todo.extend(kids)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_an_interrupted_run_stops_its_workers_and_server_and_leaves_no_half_record(tmp_path, sig):
    import signal
    import time

    from conftest import SAMPLES

    out = tmp_path / "out"
    proc = subprocess.Popen([*REPORTSCAN, "ingest", str(SAMPLES), "--out", str(out)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, cwd=Path(__file__).parent.parent,
                            env={**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    while not list(out.glob("*.json")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)  # the first record is written: the server and the workers are busy
    kids = _children(proc.pid)
    assert kids, "the run should have its server and workers by now"
    proc.send_signal(getattr(signal, sig))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "interrupted" in err and "Traceback" not in err
    time.sleep(1)
    assert not {k for k in kids if _running(k)}  # nothing left running
    for rec in out.glob("*.json"):  # whatever was written is whole, and none is built of refused pages
        record = json.loads(rec.read_text(encoding="utf-8"))
        assert rec.name == "_summary.json" or not any(p["error"] for p in record["page_info"])
    assert not list(out.glob("*.tmp*")) and not list(out.glob(".*"))


def test_samples_command_offers_every_tier_and_family_the_generators_make() -> None:
    from flows.cli import SAMPLE_TIERS
    from samples.augment import FAMILIES
    from samples.generate import TIER_CODES

    assert set(SAMPLE_TIERS) == set(TIER_CODES) | set(FAMILIES)


def test_ingest_of_a_folder_names_the_links_it_does_not_read(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(draw([simple_table()])).save(folder / "ok.png", dpi=(300, 300))
    Image.fromarray(draw([simple_table(origin=(200, 150))])).save(tmp_path / "outside.png", dpi=(300, 300))
    os.symlink(tmp_path / "outside.png", folder / "linked.png")  # followed: read as linked.png
    os.symlink(folder / "ok.png", folder / "same.png")  # a duplicate of ok.png
    os.symlink(tmp_path / "gone.png", folder / "gone.png")  # dangling: a failed input
    r = run("ingest", folder, "--out", tmp_path / "out", "--workers", "1")
    assert r.returncode == 1, r.stderr
    assert f"{folder / 'same.png'}: duplicate of {folder / 'ok.png'}" in r.stderr
    assert f"{folder / 'gone.png'}: dangling or looping link" in r.stderr
    assert "not ingested: 1 duplicate read once, 1 dangling or looping link failed" in r.stderr
    assert sorted(p.name for p in (tmp_path / "out").glob("*.json")) == ["_summary.json", "linked.json", "ok.json"]
