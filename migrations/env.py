"""Alembic environment, run by advanced-alchemy's `fieldbook database ...` commands and by the tests."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from advanced_alchemy.base import metadata_registry
from alembic import context
from alembic.autogenerate import rewriter

import server.models  # noqa: F401 - registers every table on the metadata
from server.db import compare_column_types, create_engine

if TYPE_CHECKING:
    from advanced_alchemy.alembic.commands import AlembicCommandConfig
    from sqlalchemy.engine import Connection

config: AlembicCommandConfig = context.config  # type: ignore[assignment]
writer = rewriter.Rewriter()


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=metadata_registry.get(config.bind_key),
        compare_type=compare_column_types,
        version_table=config.version_table_name,
        version_table_schema=config.version_table_schema,
        version_table_pk=config.version_table_pk,
        user_module_prefix=config.user_module_prefix,
        render_as_batch=config.render_as_batch,
        process_revision_directives=writer,
        **kwargs,
    )


def run_migrations_offline() -> None:
    _configure(url=config.db_url, literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    # A connection of its own, never one from the app's pool: each Alembic command runs in a new
    # event loop, and pooled asyncpg connections belong to the loop that opened them.
    engine = create_engine(config.db_url, pooled=False)
    async with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            # SQLite alters a table by copying it; foreign keys pointing at it would refuse the drop.
            # Checked again below, once the migration is done.
            await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        await connection.run_sync(do_run_migrations)
        if connection.dialect.name == "sqlite":
            problems = (await connection.exec_driver_sql("PRAGMA foreign_key_check")).fetchall()
            if problems:
                raise RuntimeError(f"foreign keys broken by the migration: {problems[:5]}")
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
