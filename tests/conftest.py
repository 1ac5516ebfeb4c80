"""Shared fixtures: every database test runs twice, on SQLite and on PostgreSQL.

Each pytest worker gets its own PostgreSQL database (created here, dropped at the end) and its
own SQLite file, both migrated to head once; between tests every table is emptied.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import traceback
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from advanced_alchemy.alembic.commands import AlembicCommands
from click.testing import CliRunner
from litestar import Litestar
from litestar.cli.main import litestar_group
from litestar.testing import AsyncTestClient
from sqlalchemy import delete, insert, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.app import create_app
from server.db import ChangeCounter, alchemy_config, create_engine, metadata
from server.quotes.models import QuoteNumber
from server.settings import Settings

PG_ADMIN_DSN = os.environ.get("FIELDBOOK_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ("sqlite", "postgresql")
CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')


def pg_url(database: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{database}"


async def _pg_admin(statement: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def create_pg_database(name: str) -> str:
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    return pg_url(name)


def drop_pg_database(name: str) -> None:
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def make_settings(database_url: str, var_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "secret_key": "test-secret-key-that-is-long-enough-0123456789",
        "var_dir": var_dir,
        "demo": True,
        "push_dispatcher": False,  # tests run dispatchers themselves
    }
    return Settings(**{**values, **overrides})


def migrate(settings: Settings, revision: str = "head") -> None:
    """Run Alembic (which starts its own event loop) for the given database."""
    commands = AlembicCommands(sqlalchemy_config=alchemy_config(settings))
    commands.upgrade(revision)


@pytest.fixture(scope="session")
def worker_name(worker_id: str) -> str:
    return f"fieldbook_test_{worker_id}_{os.getpid()}"


@pytest.fixture(scope="session")
def migrated_databases(
    worker_name: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """One migrated database per backend for this worker, for the whole session."""
    var_dir = tmp_path_factory.mktemp("var")
    urls = {
        "sqlite": f"sqlite+aiosqlite:///{var_dir / 'test.sqlite3'}",
        "postgresql": create_pg_database(worker_name),
    }
    for url in urls.values():
        migrate(make_settings(url, var_dir))
    yield urls
    drop_pg_database(worker_name)


async def empty_all_tables(database_url: str) -> None:
    engine = create_engine(database_url)
    counters = (ChangeCounter.__table__, QuoteNumber.__table__)  # one row each, which the migrations make
    tables = [table for table in reversed(metadata.sorted_tables) if table not in counters]
    async with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            await connection.execute(
                text(f"TRUNCATE {', '.join(t.name for t in tables)} RESTART IDENTITY CASCADE")
            )
        else:
            for table in tables:
                await connection.execute(delete(table))
        for counter in counters:
            await connection.execute(delete(counter))
        await connection.execute(insert(ChangeCounter).values(id=1, value=0))
        await connection.execute(insert(QuoteNumber).values(id=1, last=0))
    await engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def database_url(backend: str, migrated_databases: dict[str, str]) -> Iterator[str]:
    url = migrated_databases[backend]
    yield url
    asyncio.run(empty_all_tables(url))


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[AsyncSession]:
    """A session on the test database, for arranging data and checking what was written.

    It has its own engine: the test client serves the app from another event loop, and a
    PostgreSQL connection belongs to the loop that opened it.
    """
    engine = create_engine(settings.database_url)
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        yield session
    await engine.dispose()


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1:8000") as test_client:
        test_client.follow_redirects = False  # tests look at the redirect itself
        yield test_client


def csrf_token(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


async def sign_in(client: AsyncTestClient[Litestar], user_id: uuid.UUID) -> str:
    """Sign in through the demo sign-in page, as a person would; returns the CSRF token to post with."""
    page = await client.get("/auth/demo")
    token = csrf_token(page.text)
    response = await client.post(
        "/auth/demo", data={"_csrf_token": token, "user_id": str(user_id), "next": "/"}
    )
    assert response.status_code == 303, response.text
    home = await client.get("/more")
    assert home.status_code == 200
    return csrf_token(home.text)


def _fieldbook_env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    return {
        "FIELDBOOK_DATABASE_URL": settings.database_url,
        "FIELDBOOK_SECRET_KEY": settings.secret_key,
        "FIELDBOOK_VAR_DIR": str(tmp_path),
        "COLUMNS": "300",
    }


async def run_fieldbook(settings: Settings, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A `fieldbook` command against the test database, run in this process by the command line's
    own click group (the app loaded from the FIELDBOOK_* settings, as the installed script does): a
    new process for each command spent about 3 s importing. The installed script itself runs in
    test_settings, and in `fieldbook_process`."""
    env = {**_fieldbook_env(settings, tmp_path), "LITESTAR_APP": "server.app:create_app"}
    result = await asyncio.to_thread(
        CliRunner().invoke, litestar_group, list(args), env=env, prog_name="fieldbook"
    )
    stderr = result.stderr
    if result.exc_info and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(*result.exc_info))
    return subprocess.CompletedProcess(["fieldbook", *args], result.exit_code, result.stdout, stderr)


async def fieldbook_process(
    settings: Settings, tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """The installed `fieldbook` script in a process of its own, against the test database."""
    env = {**os.environ, **_fieldbook_env(settings, tmp_path)}
    command = [str(Path(sys.executable).parent / "fieldbook"), *args]
    return await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=120, check=False
    )
