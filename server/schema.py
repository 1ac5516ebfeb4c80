"""Whether the database's schema is the one this code's models describe (its migrations' head)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click
from sqlalchemy import inspect, text

from server.db import create_engine
from server.settings import REPO_ROOT

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection


def code_revision() -> str:
    """The Alembic revision this code's models are at (its migrations' head)."""
    from alembic.script import ScriptDirectory

    return ",".join(sorted(ScriptDirectory(str(REPO_ROOT / "migrations")).get_heads()))


async def database_revision(connection: AsyncConnection) -> str | None:
    """The Alembic revision of the database, or None if it has no schema yet."""
    has_table = await connection.run_sync(lambda sync: inspect(sync).has_table("alembic_version"))
    if not has_table:
        return None
    revisions = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalars()
    return ",".join(sorted(revisions))


async def schema_problem(database_url: str) -> str | None:
    """What keeps this code from working on the database's schema, in a sentence; None if nothing."""
    engine = create_engine(database_url, pooled=False)
    try:
        async with engine.connect() as connection:
            found = await database_revision(connection)
    finally:
        await engine.dispose()
    wanted = code_revision()
    if found == wanted:
        return None
    state = "has no tables yet" if found is None else f"is at revision {found}, this version needs {wanted}"
    return f"the database {state}: run `fieldbook database upgrade` first."


def needs_schema(command: Callable[..., None]) -> Callable[..., None]:
    """For a `fieldbook` command given the app: refuse with a plain message, not a traceback, when
    the database is not at this code's schema (a new database not yet upgraded, or an old one)."""

    @functools.wraps(command)
    def checked(*args: Any, **kwargs: Any) -> None:
        if problem := asyncio.run(schema_problem(kwargs["app"].state["settings"].database_url)):
            raise click.ClickException(problem)
        command(*args, **kwargs)

    return checked
