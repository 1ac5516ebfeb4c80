"""A migrated, empty database that lives as long as one benchmark run."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from server.settings import Settings
from tests.conftest import create_pg_database, drop_pg_database, make_settings, migrate


@contextmanager
def throwaway_settings(backend: str) -> Iterator[Settings]:
    """Settings for a fresh database on `backend` ("sqlite" or "postgresql"), dropped afterwards."""
    with tempfile.TemporaryDirectory() as folder:
        var_dir = Path(folder)
        name = f"fieldbook_bench_{uuid.uuid4().hex[:8]}"
        url = (
            f"sqlite+aiosqlite:///{var_dir / 'bench.sqlite3'}"
            if backend == "sqlite"
            else create_pg_database(name)
        )
        try:
            settings = make_settings(url, var_dir)
            migrate(settings)
            yield settings
        finally:
            if backend == "postgresql":
                drop_pg_database(name)
