"""The batch over an inbox: every file read once or skipped, moved to done/ or failed/ with its reason, a lock."""

from __future__ import annotations

import contextlib
import fcntl
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
from test_cli import run
from test_rasterize import make_pdf

from flows.batch import BatchLocked, BatchUsageError, check_unlocked, layout, scan


def _errors(folder):
    return {p.name.removesuffix(".error.json"): json.loads(p.read_text()) for p in folder.rglob("*.error.json")}


# ---------------------------------------------------------------- at start, before any file is touched


def test_outputs_inside_the_inbox_are_refused(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with pytest.raises(BatchUsageError, match="--out .* is inside the inbox"):
        layout(inbox, inbox / "out")
    (inbox / "done").mkdir()
    with pytest.raises(BatchUsageError, match=r"holds a done/ folder"):
        layout(inbox, tmp_path / "out")
    (inbox / "done").rmdir()
    (inbox / "old" / "out").mkdir(parents=True)
    (inbox / "old" / "out" / "_summary.json").write_text("{}")
    r = run("batch", "--inbox", inbox)
    assert r.returncode == 2 and "holds an output folder" in r.stderr and "_summary.json" in r.stderr
    r = run("batch", "--inbox", inbox, "--out", inbox / "records")
    assert r.returncode == 2 and "is inside the inbox" in r.stderr
    assert r.returncode == 2 and not (tmp_path / "done").exists() and not (inbox / "records").exists()
    assert run("batch", "--inbox", tmp_path / "missing").returncode == 2


def test_a_second_batch_on_the_inbox_exits_1_while_the_lock_is_held(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.pdf").write_bytes(b"")
    lay = layout(inbox, tmp_path / "out")
    with open(lay.lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fh.write("4242\n")
        fh.flush()
        r = run("batch", "--inbox", inbox)
        with pytest.raises(BatchLocked):
            check_unlocked(lay)
    assert r.returncode == 1, r.stderr
    assert f"another batch is running on {inbox} (its lock {lay.lock} is held by process 4242)" in r.stderr
    assert (inbox / "a.pdf").exists() and not (tmp_path / "failed").exists()  # nothing was done


def test_the_lock_dies_with_its_holder(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    lay = layout(inbox, tmp_path / "out")
    code = ("import sys, time; from pathlib import Path; from flows.batch import inbox_lock, layout\n"
            f"with inbox_lock(layout(Path({str(inbox)!r}), Path({str(tmp_path / 'out')!r}))):\n"
            "    print('held', flush=True); time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(BatchLocked, match=f"by process {holder.pid}"):
            check_unlocked(lay)
    finally:
        holder.kill()
        holder.wait()
    check_unlocked(lay)  # SIGKILL freed it: no stale lock to clear by hand


def test_the_scan_refuses_what_is_not_a_regular_file_without_following_it(tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "sub").mkdir(parents=True)
    (inbox / "sub" / "a.PDF").write_bytes(b"x")
    os.symlink(tmp_path, inbox / "dirlink")
    os.mkfifo(inbox / "pipe.png")
    (inbox / ".upload.pdf.part").write_bytes(b"x")
    files, refused = scan(inbox)
    assert files == [inbox / "sub" / "a.PDF"]
    assert {p.name: r.split(":")[0] for p, r in refused} == {"dirlink": f"a symbolic link (-> {tmp_path})",
                                                             "pipe.png": "a fifo"}


# ---------------------------------------------------------------- real batches, real store, real Prefect


@pytest.fixture(scope="module")
def nightly(tmp_path_factory):
    """A first batch over good and bad files, then a second over a renamed copy and a copy of the same scan."""
    d = tmp_path_factory.mktemp("nightly")
    inbox = d / "inbox"
    (inbox / "sub").mkdir(parents=True)
    page = Image.fromarray(draw([simple_table()]))
    page.save(inbox / "sub" / "table.png", dpi=(300, 300))
    shutil.copy(inbox / "sub" / "table.png", d / "table.png")
    (inbox / "empty.pdf").write_bytes(b"")
    (inbox / "notes.PDF").write_text("this is not a pdf\n")
    buf = io.BytesIO()
    page.save(buf, "JPEG")
    (inbox / "cut.jpg").write_bytes(buf.getvalue()[:5000])
    src = make_pdf(d / "src.pdf", pages=1)
    with pikepdf.open(src) as pdf:
        pdf.save(inbox / "locked.pdf", encryption=pikepdf.Encryption(user="u", owner="o"))
    make_pdf(inbox / "huge.pdf", pages=1, size=(14400, 14400))  # its page fails; the document has a record
    target = d / "target.pdf"
    target.write_bytes(b"%PDF-1.4 not to be touched\n")
    os.symlink(target, inbox / "link.pdf")
    os.mkfifo(inbox / "pipe.pdf")
    first = run("batch", "--inbox", inbox, "--workers", "1")
    shutil.copy(d / "table.png", inbox / "renamed.png")
    shutil.copy(d / "table.png", inbox / "sub" / "table.png")
    second = run("batch", "--inbox", inbox, "--workers", "1")
    return d, inbox, target, first, second


def test_bad_files_are_moved_to_failed_with_their_reason(nightly):
    d, inbox, target, first, _ = nightly
    assert first.returncode == 1, first.stderr
    errors = _errors(d / "failed")
    for name, stage, reason in [("empty.pdf", "read", "empty file"), ("notes.PDF", "read", "not a PDF"),
                                ("cut.jpg", "read", "truncated"), ("locked.pdf", "read", "user password"),
                                ("link.pdf", "scan", "a symbolic link"), ("pipe.pdf", "scan", "a fifo")]:
        assert name in errors, sorted(errors)
        e = errors[name]
        assert e["stage"] == stage and reason in e["error"] and e["time"].endswith("+00:00"), e
        assert (d / "failed" / name).exists() or (d / "failed" / name).is_symlink()
        assert f"{inbox / name}: " in first.stderr
        assert (e["sha256"] is None) == (stage == "scan")
    assert len(errors["empty.pdf"]["sha256"]) == 64
    assert (d / "failed" / "link.pdf").is_symlink() and os.readlink(d / "failed" / "link.pdf") == str(target)
    assert target.read_bytes() == b"%PDF-1.4 not to be touched\n"  # the link moved, never its target
    assert sorted(p.name for p in (d / "failed").iterdir() if not p.name.endswith(".error.json")) == [
        "cut.jpg", "empty.pdf", "link.pdf", "locked.pdf", "notes.PDF", "pipe.pdf"]


def test_read_documents_go_to_done_a_failed_page_included(nightly):
    d, inbox, _, first, _ = nightly
    assert sorted(str(p.relative_to(d / "done")) for p in (d / "done").rglob("*") if p.is_file()) == [
        "huge.pdf", "renamed.png", "sub/table.1.png", "sub/table.png"]
    batches = sorted((d / "out" / "batches").iterdir())
    assert len(batches) == 2
    ledger = json.loads((batches[0] / "_batch.json").read_text())
    by_name = {o["name"]: o for o in ledger["outcomes"]}
    assert by_name["sub/table.png"]["outcome"] == "read" and by_name["sub/table.png"]["reason"] is None
    assert by_name["huge.pdf"]["outcome"] == "read" and "megapixel" in by_name["huge.pdf"]["reason"]
    assert {json.loads(p.read_text())["source"].rsplit("/", 1)[-1] for p in batches[0].glob("[!_]*.json")} == {
        "table.png", "huge.pdf"}
    assert ledger["files"] == 8 and ledger["read"] == 2 and ledger["pages"] == 2 and ledger["fields"] >= 0
    assert "## Failures" in first.stdout and "`huge.pdf`" in first.stdout and "review queue" in first.stdout
    assert not [p for p in inbox.rglob("*") if not p.is_dir()]  # nothing left behind


def test_a_rerun_skips_what_the_store_holds_also_under_another_name(nightly):
    d, inbox, _, _, second = nightly
    assert second.returncode == 0, second.stderr
    batches = sorted((d / "out" / "batches").iterdir())
    ledger = json.loads((batches[1] / "_batch.json").read_text())
    assert {o["name"]: o["outcome"] for o in ledger["outcomes"]} == {"renamed.png": "skipped",
                                                                     "sub/table.png": "skipped"}
    assert ledger["read"] == 0 and ledger["pages"] == 0
    assert not list(batches[1].glob("[!_]*.json"))  # nothing read again
    assert (d / "done" / "sub" / "table.1.png").exists()  # the name was taken: a suffix, nothing overwritten
    assert "0 read, 2 skipped" in second.stdout


def test_the_store_keeps_each_batch_and_each_file_outcome_beside_its_readings(nightly):
    import store as S

    d = nightly[0]
    st = S.open_store(f"sqlite:///{d / 'out' / 'reportscan.db'}", None)
    try:
        newest, oldest = S.batches(st)
        assert (oldest.state, newest.state) == ("failed", "completed")
        assert oldest.counts.files == 8 and oldest.counts.read == 2 and newest.counts.skipped == 2
        for row in (oldest, newest):
            ledger = json.loads((Path(row.records) / "_batch.json").read_text())
            files = S.batch_files(st, row.id)
            assert {f.name: (f.outcome, f.moved_to) for f in files} == {
                o["name"]: (o["outcome"], o["moved_to"]) for o in ledger["outcomes"]}
        fifo = next(f for f in S.batch_files(st, oldest.id) if f.name == "pipe.pdf")
        assert fifo.outcome == "refused" and fifo.stage == "scan" and "fifo" in fifo.reason
        table = next(f for f in S.batch_files(st, oldest.id) if f.name == "sub/table.png")
        history = S.file_history(st, table.sha256)  # read once, then skipped under two names
        assert [(h.outcome, h.name) for h in history] == [("read", "sub/table.png"), ("skipped", "renamed.png"),
                                                          ("skipped", "sub/table.png")]
        assert history[0].reading_id is not None and {h.reading_id for h in history} == {history[0].reading_id}
    finally:
        st.close()


def test_the_flow_run_fails_and_leaves_both_summary_artifacts(prefect_harness, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    from flows.batch import batch_flow
    from ocr.config import Config

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "empty.pdf").write_bytes(b"")
    os.symlink("/etc/hostname", inbox / "host.png")
    state = batch_flow(str(inbox), str(tmp_path / "out"), Config(workers=1), return_state=True)
    assert state.is_failed()
    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])))
    kinds = {a.key: a for a in arts if a.key is not None}  # Prefect adds its own result artifact, unkeyed
    assert set(kinds) == {"reportscan-batch-files", "reportscan-batch-summary"}
    assert kinds["reportscan-batch-files"].type == "table" and "host.png" in str(kinds["reportscan-batch-files"].data)
    md = kinds["reportscan-batch-summary"].data
    assert "## Failures" in md and "`empty.pdf` (failed): empty file" in md and "`host.png` (refused)" in md
    assert sorted(p.name for p in (tmp_path / "failed").iterdir()) == [
        "empty.pdf", "empty.pdf.error.json", "host.png", "host.png.error.json"]


# ---------------------------------------------------------------- a batch killed at any point, run again


def _inbox(d):
    inbox = d / "inbox"
    inbox.mkdir(parents=True)
    Image.fromarray(draw([simple_table()])).save(inbox / "a.png", dpi=(300, 300))
    Image.fromarray(draw([simple_table(origin=(200, 150))])).save(inbox / "b.png", dpi=(300, 300))
    (inbox / "empty.pdf").write_bytes(b"")
    os.mkfifo(inbox / "pipe.pdf")
    return inbox


def _state(d):
    """What a batch leaves: the files in done/ and failed/ (error files included), the store's documents
    with their readings, the inbox's leftovers; every JSON whole."""
    import sqlite3

    with sqlite3.connect(d / "out" / "reportscan.db") as db:
        docs = sorted(db.execute("SELECT d.sha256, count(r.id) FROM documents d JOIN readings r "
                                 "ON r.document_id = d.id GROUP BY d.sha256"))
    for p in d.rglob("*.json"):  # a temp file a kill left (hidden, ".name.tmp.json") is no output
        if not p.name.startswith("."):
            json.loads(p.read_text(encoding="utf-8"))
    return {"done": sorted(p.name for p in (d / "done").rglob("*")),
            "failed": sorted(p.name for p in (d / "failed").rglob("*")),
            "inbox": sorted(p.name for p in (d / "inbox").rglob("*")), "documents": docs}


def _reached(d, point):
    import sqlite3

    if point == "started":
        return (d / "out" / "reportscan.db").exists()
    if point == "refused":  # the fifo is moved before any page is read
        return os.path.lexists(d / "failed" / "pipe.pdf")
    try:
        with sqlite3.connect(d / "out" / "reportscan.db", timeout=0.1) as db:
            return db.execute("SELECT count(*) FROM readings").fetchone()[0] >= 1
    except sqlite3.Error:
        return False


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    d = tmp_path_factory.mktemp("whole")
    r = run("batch", "--inbox", _inbox(d), "--workers", "1")
    assert r.returncode == 1, r.stderr  # empty.pdf and the fifo fail
    return _state(d)


@pytest.mark.slow
@pytest.mark.parametrize("point", ["started", "refused", "stored"])
def test_a_batch_killed_mid_way_and_run_again_ends_as_an_uninterrupted_one(tmp_path, uninterrupted, point):
    import signal
    import time

    from test_cli import REPORTSCAN, _children

    inbox = _inbox(tmp_path)
    proc = subprocess.Popen([*REPORTSCAN, "batch", "--inbox", str(inbox), "--workers", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
    deadline = time.monotonic() + 300
    while not _reached(tmp_path, point) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    kids = _children(proc.pid)
    proc.kill()  # SIGKILL: no handler runs, nothing is cleaned up
    proc.wait()
    for k in kids:  # its Prefect server was killed with it, as a crash of the machine would
        with contextlib.suppress(ProcessLookupError):
            os.kill(k, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL, f"the batch ended before {point} was reached"
    r = run("batch", "--inbox", inbox, "--workers", "1")  # the lock died with the killed run
    assert r.returncode == 1, r.stderr
    assert _state(tmp_path) == uninterrupted
    assert len(uninterrupted["documents"]) == 2 and all(n == 1 for _, n in uninterrupted["documents"])
    import store as S

    st = S.open_store(f"sqlite:///{tmp_path / 'out' / 'reportscan.db'}", None)
    try:  # the killed batch, if it got as far as its row, is interrupted; the rerun settled every file
        last, *killed = S.batches(st)
        assert last.state == "failed" and all(b.state == "interrupted" for b in killed) and len(killed) <= 1
        assert sorted(f.name for f in S.batch_files(st, last.id) if f.superseded_by is None) <= [
            "a.png", "b.png", "empty.pdf", "pipe.pdf"]
        settled = {f.name for b in (last, *killed) for f in S.batch_files(st, b.id) if f.superseded_by is None}
        assert settled == {"a.png", "b.png", "empty.pdf", "pipe.pdf"}
    finally:
        st.close()
