"""Alembic's entry point for the store's migrations, run programmatically by `store.db.upgrade`.

`store.db` hands over an open connection in `config.attributes["connection"]`, so no alembic.ini or URL
string (with its password and %-escaping) is needed; the `alembic` command line works too with `-x url=...`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from store.models import Base

target_metadata = Base.metadata


def _run(connection: sa.Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("pass the store's URL: alembic -x url=sqlite:///PATH ...")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("the store's migrations run online only (reportscan db upgrade --db URL)")
run_migrations_online()
