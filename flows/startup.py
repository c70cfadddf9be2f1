"""Start-up imports made without the cyclic garbage collector, for the CLI, the API and the workers.

Prefect's client and server stacks create hundreds of thousands of objects on import, all of which
live as long as the process. The collector walks them over and over while they are being made and
never finds garbage. Measured (CPU-s, three runs each): the run's API from launch to healthy
4.7 -> 3.9; the CLI's Prefect import 1.7 -> 1.1; a page worker's imports 0.5 -> 0.4.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def long_lived_imports() -> Iterator[None]:
    """Collector off inside; afterwards every object of the process is frozen (out of its reach for
    good, cyclic garbage made meanwhile too: the run's API measured +7 MB, 186 against 179) and it is
    back on. Safe to nest."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def create_api_app() -> object:
    """uvicorn's factory for the run's API (flows/server.py): Prefect's own app, built as above."""
    with long_lived_imports():
        from prefect.server.api.server import create_app

        return create_app()
