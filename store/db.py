"""Opening a store: the URL checked, the schema brought to (or found at) Alembic's head, SQLite tuned.

The schema is Alembic's alone: `upgrade` runs the migrations shipped in `store/migrations` without an
alembic.ini, so an installed reportscan can create or update any store it is pointed at.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_MS = 10_000
WRITE_OPTION = "reportscan_write"


class StoreError(Exception):
    """A one-line message that names the store or the thing and says what is wrong."""


class Conflict(StoreError):
    """The target changed since the operator loaded it."""


class InvalidValue(StoreError):
    """A value that is not of the cell's type."""


class NotFound(StoreError):
    """No such document, item, table or image."""


def default_url(out_dir: Path) -> str:
    return f"sqlite:///{Path(out_dir).resolve()}/reportscan.db"


def safe_url(url: str) -> str:
    """The URL as messages may show it: never the password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("@", 1)[-1] if "@" in url else url


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"'{safe_url(url)}' is not a database URL (sqlite:///PATH or "
                         "postgresql+psycopg://USER@HOST/DB)") from exc
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreError(f"{safe_url(url)}: only sqlite and postgresql stores are supported")
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("psycopg2", "default"):
        parsed = parsed.set(drivername="postgresql+psycopg")  # the driver that is installed
    return parsed


def _one_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split())
    return text[:300] or type(orig).__name__


def _engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_MS / 1000})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # pysqlite's own BEGIN off: `_begin` below says which
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: sa.Connection) -> None:
            """A writing transaction takes SQLite's write lock before it reads, so two writers queue (for
            the busy timeout) instead of one failing on a snapshot the other made stale."""
            write = connection.get_execution_options().get(WRITE_OPTION)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def _alembic_config(connection: sa.Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The newest migration shipped with this reportscan: what `open_store(create=False)` requires."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def _upgrade_engine(engine: Engine, url: str, revision: str = "head") -> None:
    from alembic import command
    from alembic.util import CommandError

    try:
        with engine.begin() as connection:
            command.upgrade(_alembic_config(connection), revision)
    except (CommandError, SQLAlchemyError) as exc:  # CommandError: a revision not shipped (a newer reportscan's)
        raise StoreError(f"cannot upgrade the store {safe_url(url)}: {_one_line(exc)}") from exc


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the store at `url` to the newest schema, creating it (and a SQLite file's folder) if need be.
    `revision`: an older one instead (a test builds a store as an older reportscan left it)."""
    parsed = _parse(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = _engine(parsed)
    try:
        _upgrade_engine(engine, url, revision)
    finally:
        engine.dispose()


def _revision(engine: Engine, url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot open the store {safe_url(url)}: {_one_line(exc)}") from exc


@dataclass
class Store:
    """An open store: the engine, and the folder its page images live in."""

    url: str
    images_dir: Path
    engine: Engine

    def __post_init__(self) -> None:
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._writers = sessionmaker(self.engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False)

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back when it raises. `write`: it will
        change the store, so on SQLite it takes the write lock first (PostgreSQL locks the rows it reads
        FOR UPDATE instead)."""
        with (self._writers if write else self._sessions).begin() as session:
            yield session

    @property
    def folder(self) -> Path:
        """Where files that belong with the store are kept (the review page's secret key): beside a SQLite
        file, so they are backed up with it; a server database has no folder, so its images folder."""
        url = make_url(self.url)
        database = url.database or ""
        if url.get_backend_name() == "sqlite" and database not in ("", ":memory:") and not database.startswith("file:"):
            return Path(database).resolve().parent
        return Path(self.images_dir)

    def close(self) -> None:
        self.engine.dispose()


def open_store(url: str, images_dir: Path | None = None, *, create: bool = True,
               fallback_images: Path | None = None) -> Store:
    """The store at `url`, created or upgraded when `create`, else refused unless it is at the newest schema.

    The images folder: `images_dir` when given; else the one recorded in the store (PostgreSQL keeps no
    folder of its own, so the first ingest records one); else `images` beside a SQLite file; else
    `fallback_images` (ingest passes its output folder's), or `images` in the current folder.
    """
    parsed = _parse(url)
    sqlite_file = (Path(parsed.database) if parsed.get_backend_name() == "sqlite"
                   and parsed.database not in (None, "", ":memory:") else None)
    hint = f"run `reportscan db upgrade --db {safe_url(url)}`"
    if not create and sqlite_file is not None and not sqlite_file.exists():
        raise StoreError(f"no store at {safe_url(url)}: {hint}")
    if create and sqlite_file is not None:
        sqlite_file.parent.mkdir(parents=True, exist_ok=True)
    engine = _engine(parsed)
    try:
        if create:
            _upgrade_engine(engine, url)
        else:
            current, head = _revision(engine, url), head_revision()
            if current != head:
                state = "has no schema" if current is None else f"is at revision {current}, not {head}"
                raise StoreError(f"the store {safe_url(url)} {state}: {hint}")
        recorded = _recorded_images_dir(engine, url)
    except BaseException:
        engine.dispose()
        raise
    if images_dir is not None:
        folder = Path(images_dir)
    elif recorded is not None:
        folder = Path(recorded)
    elif sqlite_file is not None:
        folder = sqlite_file.resolve().parent / "images"
    elif fallback_images is not None:
        folder = Path(fallback_images)
    else:
        folder = Path.cwd() / "images"
    return Store(url=url, images_dir=folder.resolve(), engine=engine)


IMAGES_DIR_SETTING = "images_dir"


def _recorded_images_dir(engine: Engine, url: str) -> str | None:
    from store.models import StoreSetting

    try:
        with Session(engine) as session:
            setting = session.get(StoreSetting, IMAGES_DIR_SETTING)
            return setting.value if setting is not None else None
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot open the store {safe_url(url)}: {_one_line(exc)}") from exc


__all__ = [
    "Conflict", "InvalidValue", "NotFound", "Store", "StoreError", "default_url", "head_revision", "open_store",
    "safe_url", "upgrade",
]
