"""The batch over an inbox folder: every file in it ends up read once, in `done/`, or in `failed/` with its reason.

An inbox is a folder others write to, so it takes regular files only (as OCRmyPDF's hardened watcher does):
a symlink, fifo, socket or device in it is refused by name and the entry itself is moved to `failed/` (a
link is renamed, never followed: its target is not touched). Where things go, all beside the inbox so no
output is ever found in it again (the start refuses an `--out`, `done/` or `failed/` inside it):

    <inbox>/../done/<path in inbox>         a file the store holds a reading of (read now or before; a
                                            document with a failed page too: its record carries the error)
    <inbox>/../failed/<path in inbox>       a file with no reading (refused, unreadable, not stored) and
    <inbox>/../failed/<name>.error.json     beside it why: stage, error, time, sha256 when there is one
    <inbox>/../.<inbox name>.reportscan.lock  held (flock) while a batch runs on the inbox
    <out>/batches/<batch id>/               the records read by this batch, the ingest's _summary.json and
                                            _batch.json: each file's outcome

Files are keyed by their content's sha256, not their path: a document the store holds a reading of by
this reportscan version and config is not read again, under any name. New documents go through the
ingest flow (`flows/ingest.py`: its pages are tasks). Files are moved only once the store has their
reading (or never will), so a batch killed before its end leaves them in the inbox and the next run skips
what was stored and reads the rest. Moves are `os.replace` on the same file system; a name taken in
`done/` or `failed/` gets a numbered suffix, nothing is ever overwritten.

Each batch and each file's outcome are also rows of the store (`store/batches.py`: tables `batches` and
`batch_files`), written just before the file is moved: a kill between the two leaves the file in the
inbox and a row naming where it was to go, which the next batch's row for it supersedes; a batch killed
before its end stays `interrupted` there. An outcome the store cannot take leaves its file in the inbox.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import stat
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocr import __version__
from ocr.config import Config
from ocr.rasterize import SUPPORTED_SUFFIXES
from ocr.records import write_json_atomic

if TYPE_CHECKING:
    from flows.ingest import Summary
    from store.db import Store

_KINDS = ((stat.S_ISFIFO, "a fifo"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"))


class BatchUsageError(ValueError):
    """The inbox and its outputs do not fit together (an output inside the inbox, no inbox): nothing was done."""


class BatchLocked(RuntimeError):
    """Another batch holds the inbox's lock: nothing was done."""


class BatchFailed(RuntimeError):
    """Raised after everything is written when a file failed: the flow run ends Failed, so Prefect's
    automations can alert on it; the summary rides along for the caller."""

    def __init__(self, summary: BatchSummary) -> None:
        super().__init__(f"{len(summary.failures)} of {summary.files} files failed in batch {summary.batch_id}")
        self.summary = summary


@dataclass(frozen=True)
class Layout:
    inbox: Path
    out: Path
    done: Path
    failed: Path
    lock: Path


@dataclass
class FileOutcome:
    name: str  # path inside the inbox
    outcome: str  # read | skipped (the store held its reading) | failed | refused (not a regular file)
    reason: str | None = None  # why it failed, or a read document's page errors
    sha256: str | None = None
    moved_to: str | None = None  # None: it could not be moved and is still in the inbox


@dataclass
class BatchSummary:
    batch_id: str
    inbox: str
    records: str  # the folder of this batch's records
    store: str | None = None
    files: int = 0
    read: int = 0
    skipped: int = 0
    pages: int = 0
    tables: int = 0
    fields: int = 0
    fields_needing_review: int = 0
    review_items: int = 0  # open items in the whole store's review queue after this batch
    outcomes: list[FileOutcome] = field(default_factory=list)

    @property
    def failures(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.outcome in ("failed", "refused")]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_out(inbox: str | Path) -> Path:
    """A batch's default output folder: `out/` beside the inbox (never inside it)."""
    return Path(inbox).absolute().parent / "out"


def layout(inbox: Path, out: Path) -> Layout:
    """Where a batch over `inbox` writes, checked before anything is touched."""
    if not inbox.is_dir():
        raise BatchUsageError(f"--inbox {inbox}: not a folder")
    root = inbox.resolve()
    lay = Layout(inbox=root, out=out.resolve(), done=root.parent / "done", failed=root.parent / "failed",
                 lock=root.parent / f".{root.name}.reportscan.lock")
    for label, folder in (("--out", lay.out), ("done/", lay.done), ("failed/", lay.failed)):
        if folder.is_relative_to(root):
            raise BatchUsageError(f"{label} {folder} is inside the inbox {root}: its files would be ingested again")
    if (inside := _outputs_inside(root)) is not None:
        raise BatchUsageError(f"the inbox {root} holds {inside}: its files would be ingested again; move it out")
    return lay


_OUTPUT_MARKS = ("_summary.json", "_batch.json", "reportscan.db")  # what an ingest or batch output folder holds


def _outputs_inside(root: Path) -> str | None:
    """A `done/` or `failed/` folder (another layout's, or one moved in) or an output folder found in the
    inbox, links not followed; None when there is none."""
    for folder, dirs, files in os.walk(root):
        for d in dirs:
            if d in ("done", "failed") and not os.path.islink(os.path.join(folder, d)):
                return f"a {d}/ folder ({os.path.join(folder, d)})"
        if marks := sorted(set(files) & set(_OUTPUT_MARKS)):
            return f"an output folder ({folder}, with {marks[0]})"
    return None


@contextlib.contextmanager
def inbox_lock(lay: Layout) -> Iterator[None]:
    """Hold the inbox's lock for the block. An OS lock (flock) is released by the kernel when its holder
    dies, so a killed batch never blocks the next one; the file itself stays (removing it would let two
    runs lock two different files)."""
    fd = os.open(lay.lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            who = f" by process {holder}" if holder.isdigit() else ""
            raise BatchLocked(f"another batch is running on {lay.inbox} (its lock {lay.lock} is held{who}); "
                              "nothing was done") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def check_unlocked(lay: Layout) -> None:
    """Raise BatchLocked now if a batch holds the inbox (the CLI asks before starting Prefect); the flow
    takes the lock itself."""
    with inbox_lock(lay):
        pass


def scan(inbox: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The regular files with a supported suffix under `inbox`, and every other entry with why it is refused.

    Nothing is followed: a link to a folder is refused like a link to a file. Names starting with "." are
    left where they are (an upload in progress, rsync's temporary files); a folder that cannot be listed
    is reported as refused (it cannot be moved either).
    """
    files: list[Path] = []
    refused: list[tuple[Path, str]] = []

    def walk(folder: Path) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            refused.append((folder, f"folder cannot be listed ({exc.strerror or exc})"))
            return
        for e in entries:
            if e.name.startswith("."):
                continue
            path = Path(e.path)
            try:
                mode = e.stat(follow_symlinks=False).st_mode
            except OSError as exc:
                refused.append((path, f"cannot be examined ({exc.strerror or exc})"))
                continue
            if stat.S_ISLNK(mode):
                refused.append((path, f"a symbolic link (-> {_readlink(path)}): an inbox takes regular files only; "
                                      "the link was not followed"))
            elif stat.S_ISDIR(mode):
                walk(path)
            elif stat.S_ISREG(mode):
                if path.suffix.lower() in SUPPORTED_SUFFIXES:
                    files.append(path)
                else:
                    refused.append((path, "not a PDF or image file (" + " ".join(sorted(SUPPORTED_SUFFIXES)) + ")"))
            else:
                kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
                refused.append((path, f"{kind}: an inbox takes regular files only"))

    walk(inbox)
    return files, refused


def _readlink(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"


def content_sha256(path: Path) -> str:
    """The file's sha256, opened without following a link and refusing anything but a regular file: the
    entry may have been swapped since the scan looked at it."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise OSError(f"{path} is no longer a regular file")
        h = hashlib.sha256()
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def free_name(root: Path, rel: Path) -> Path:
    """`root/rel`, or with a numbered suffix (`scan.1.pdf`) when that name is taken. An error file without
    its file is a batch's killed between the two (see `_move`): its name is free, the file it was for is
    still in the inbox and gets the error file again."""
    dest = root / rel
    n = 0
    while True:
        cand = dest if n == 0 else dest.with_name(f"{dest.stem}.{n}{dest.suffix}")
        if not os.path.lexists(cand):
            return cand
        n += 1


def _error_file(dest: Path) -> Path:
    return dest.with_name(dest.name + ".error.json")


def _move(src: Path, dest: Path, error: dict[str, Any] | None = None) -> Path:
    """Rename `src` (the entry itself, a link included) to `dest` (a name `free_name` gave), its reason
    written first when failed: a crash in between leaves the file in the inbox to be tried again, never a
    failed file without why."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if error is not None:
        write_json_atomic(error, _error_file(dest))
    os.replace(src, dest)
    return dest


def _batch_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def _batch_flow(inbox: str, out_dir: str, cfg: Config | None = None, db_url: str | None = None,
               images_dir: str | None = None, dask_address: str | None = None, dask_local: int | None = None
               ) -> BatchSummary:
    """One batch over `inbox` (see the module): read what is new, move every file out, summarise.

    The store is `db_url` (default `<out_dir>/reportscan.db`). Pages run on our pool of `cfg.workers`
    processes, or on the Dask cluster at `dask_address`, or on a local one of `dask_local` workers started
    for this batch (flows/runners.py). Raises BatchUsageError or BatchLocked
    before touching anything, and BatchFailed after writing everything when a file failed.
    """
    cfg = cfg or Config()
    lay = layout(Path(inbox), Path(out_dir))
    with inbox_lock(lay):
        summary = _run(lay, cfg, db_url, images_dir, dask_address, dask_local)
    write_json_atomic(summary.to_dict(), Path(summary.records) / "_batch.json")
    _artifacts(summary)
    if summary.failures:
        raise BatchFailed(summary)
    return summary


def __getattr__(name: str) -> Any:
    """`batch_flow`, the Prefect flow, made on first use: the CLI checks the inbox, its outputs and its lock
    with this module before it pays for Prefect's import (~1.4 s). A deployment's entry point
    `flows/batch.py:batch_flow` (or `flows/scheduled.py:batch_inbox`) reaches it the same way."""
    if name == "batch_flow":
        from prefect import flow

        made = flow(name="reportscan-batch", validate_parameters=False, log_prints=False,
                    persist_result=False)(_batch_flow)
        globals()["batch_flow"] = made
        return made
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _run(lay: Layout, cfg: Config, db_url: str | None, images_dir: str | None, dask_address: str | None = None,
         dask_local: int | None = None) -> BatchSummary:
    from prefect import get_run_logger

    from flows.ingest import Summary, run_batch
    from flows.runners import page_runner
    from store.db import default_url, open_store, safe_url

    logger = get_run_logger()
    batch_id = _batch_id()
    records = lay.out / "batches" / batch_id
    url = db_url or default_url(lay.out)
    summary = BatchSummary(batch_id=batch_id, inbox=str(lay.inbox), records=str(records), store=safe_url(url))
    store = open_store(url, Path(images_dir) if images_dir else None, create=True,
                       fallback_images=lay.out / "images")
    try:
        from store.batches import start_batch

        for dead in start_batch(store, batch_id, str(lay.inbox), str(records), __version__, cfg.digest()):
            logger.warning("batch %s on this inbox never finished (killed?): marked interrupted in the store", dead)
        files, refused = scan(lay.inbox)
        summary.files = len(files) + len(refused)
        for path, reason in refused:
            _settle(store, summary, lay, path, "refused", reason, None, stage="scan")
        new, later = _sort_out(store, lay, files, cfg, summary)
        if new:
            with page_runner(cfg, dask_address, dask_local) as runner:
                ingest = run_batch([str(p) for p in new.values()], str(records), cfg, runner.pool, db_url=url,
                                   images_dir=images_dir, dask_address=runner.dask_address, dask_slots=runner.slots)
            _count(ingest, summary)
        else:
            ingest = Summary()
        version, config = __version__, cfg.digest()
        for sha, path in new.items():
            reasons = [f.reason for f in ingest.failures if f.path == str(path)]
            if _reading(store, sha, version, config) is not None:
                _settle(store, summary, lay, path, "read", "; ".join(reasons) or None, sha)
            else:
                stage = "store" if any(r.startswith("not stored") for r in reasons) else "read"
                _settle(store, summary, lay, path, "failed", "; ".join(reasons) or "no record was made", sha,
                        stage=stage)
        for sha, path in later:  # a second copy of a document new in this batch: it follows the first
            first = new[sha]
            if _reading(store, sha, version, config) is not None:
                _settle(store, summary, lay, path, "skipped", f"the same document as {_rel(lay, first)}", sha)
            else:
                _settle(store, summary, lay, path, "failed", f"the same document as {_rel(lay, first)}, which failed",
                        sha, stage="read")
        summary.review_items = _open_items(store)
        _finish(store, summary, logger)
    finally:
        store.close()
    for o in summary.failures:
        logger.error("%s: %s", o.name, o.reason)
    return summary


def _sort_out(store: Store, lay: Layout, files: list[Path], cfg: Config, summary: BatchSummary
              ) -> tuple[dict[str, Path], list[tuple[str, Path]]]:
    """Hash each file: settle the ones already read (skipped) or unreadable (failed) now; the new ones by
    sha256 (first copy), and the later copies of a new document."""
    version, config = __version__, cfg.digest()
    new: dict[str, Path] = {}
    later: list[tuple[str, Path]] = []
    for path in files:
        try:
            sha = content_sha256(path)
        except OSError as exc:
            _settle(store, summary, lay, path, "failed", f"cannot be read ({exc.strerror or exc})", None, stage="read")
            continue
        if sha in new:
            later.append((sha, path))
        elif (reading := _reading(store, sha, version, config)) is not None:
            _settle(store, summary, lay, path, "skipped", f"read before (reading {reading}, reportscan {version}, "
                                                   f"config {config})", sha)
        else:
            new[sha] = path
    return new, later


def _reading(store: Store, sha: str, version: str, config: str) -> int | None:
    from store.ingest import reading_of

    return reading_of(store, sha, version, config)


def _rel(lay: Layout, path: Path) -> str:
    return str(path.relative_to(lay.inbox))


def _settle(store: Store, summary: BatchSummary, lay: Layout, path: Path, outcome: str, reason: str | None,
            sha: str | None, stage: str | None = None) -> None:
    """Record one file's outcome in the store, then move it out of the inbox. An outcome the store cannot
    take, or a move that fails, leaves the file in the inbox: a failure, tried again by the next batch."""
    from store.batches import record_file
    from store.db import StoreError

    rel = path.relative_to(lay.inbox)
    failed = outcome in ("failed", "refused")
    error = ({"file": str(rel), "stage": stage, "error": reason, "time": datetime.now(UTC).isoformat(),
              "sha256": sha, "batch": summary.batch_id} if failed else None)
    dest = free_name(lay.failed if failed else lay.done, rel)
    moved: str | None = None
    try:
        record_file(store, summary.batch_id, str(rel), outcome, reason, stage, sha, str(dest))
        moved = str(_move(path, dest, error))
    except StoreError as exc:
        reason = f"{reason + '; ' if reason else ''}left in the inbox: its outcome could not be stored ({exc})"
        outcome = "failed"
    except OSError as exc:  # a folder beside the inbox on another file system, permissions
        reason = f"{reason + '; ' if reason else ''}not moved out of the inbox ({exc.strerror or exc})"
        outcome = "failed"
        with contextlib.suppress(StoreError):  # the row said where it was to go: it says where it is
            record_file(store, summary.batch_id, str(rel), outcome, reason, stage or "move", sha, None)
    if outcome == "read":
        summary.read += 1
    elif outcome == "skipped":
        summary.skipped += 1
    summary.outcomes.append(FileOutcome(str(rel), outcome, reason, sha, moved))


def _finish(store: Store, summary: BatchSummary, logger: Any) -> None:
    """The batch's row: its counts and its end state (failed when a file failed, for history and alerts)."""
    from store.batches import BatchCounts, finish_batch
    from store.db import StoreError

    s = summary
    counts = BatchCounts(files=s.files, read=s.read, skipped=s.skipped, failed=len(s.failures), pages=s.pages,
                         tables=s.tables, fields=s.fields, fields_needing_review=s.fields_needing_review,
                         review_items=s.review_items)
    try:
        finish_batch(store, s.batch_id, counts, "failed" if s.failures else "completed")
    except StoreError as exc:  # every file is settled and _batch.json says so; only the history row is short
        logger.error("batch %s: its end was not recorded in the store (%s)", s.batch_id, exc)


def _count(ingest: Summary, summary: BatchSummary) -> None:
    import json

    summary.pages += ingest.pages
    summary.tables += ingest.tables
    for out in ingest.outputs:
        try:
            fields = json.loads(Path(out).read_text(encoding="utf-8")).get("fields", {})
        except (OSError, ValueError):
            continue  # the record was written a moment ago; unreadable now, it is only missing from the count
        summary.fields += len(fields)
        summary.fields_needing_review += sum(bool(f.get("needs_review")) for f in fields.values())


def _open_items(store: Store) -> int:
    from store.queue import queue

    return sum(d.open_items for d in queue(store).documents)


def summary_rows(summary: BatchSummary) -> list[dict[str, Any]]:
    return [{"file": o.name, "outcome": o.outcome, "reason": o.reason or "", "moved to": o.moved_to or "(in inbox)"}
            for o in summary.outcomes]


def summary_markdown(summary: BatchSummary) -> str:
    """The batch in a few lines: counts, then each failure with its reason (what an operator acts on)."""
    s = summary
    lines = [f"# reportscan batch {s.batch_id}", "",
             f"Inbox `{s.inbox}`: {s.files} files, {s.read} read, {s.skipped} skipped (the store holds their reading), "
             f"{len(s.failures)} failed.", "",
             "| files | read | skipped | failed | pages | tables | fields | fields needing review | review queue |",
             "|---|---|---|---|---|---|---|---|---|",
             f"| {s.files} | {s.read} | {s.skipped} | {len(s.failures)} | {s.pages} | {s.tables} | {s.fields} "
             f"| {s.fields_needing_review} | {s.review_items} |", ""]
    if s.failures:
        lines += ["## Failures", ""] + [f"- `{o.name}` ({o.outcome}): {o.reason}" for o in s.failures] + [""]
    pages = [o for o in s.outcomes if o.outcome == "read" and o.reason]
    if pages:
        lines += ["## Read, with errors", ""] + [f"- `{o.name}`: {o.reason}" for o in pages] + [""]
    lines.append(f"{s.review_items} items wait in the review queue of {s.store}.")
    return "\n".join(lines)


def _artifacts(summary: BatchSummary) -> None:
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    create_table_artifact(table=summary_rows(summary) or [{"file": "", "outcome": "(empty inbox)", "reason": "",
                                                           "moved to": ""}],
                          key="reportscan-batch-files", description=f"batch {summary.batch_id}: each file")
    create_markdown_artifact(markdown=summary_markdown(summary), key="reportscan-batch-summary",
                             description=f"batch {summary.batch_id}")
