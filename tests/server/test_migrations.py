"""The migrations build the whole schema, tear it down, and agree with the models."""

from __future__ import annotations

import asyncio

import pytest
from advanced_alchemy.alembic.commands import AlembicCommands
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from server.db import alchemy_config, compare_column_types, create_engine, metadata
from tests.conftest import create_pg_database, drop_pg_database, make_settings


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_database(request, tmp_path, worker_name):
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.sqlite3'}"
    else:
        name = f"{worker_name}_migrations"
        yield create_pg_database(name)
        drop_pg_database(name)


async def _tables_and_diff(url: str) -> tuple[set[str], list]:
    engine = create_engine(url)
    async with engine.connect() as connection:

        def inspect_schema(sync_connection):
            context = MigrationContext.configure(sync_connection, opts={"compare_type": compare_column_types})
            return set(inspect(sync_connection).get_table_names()), compare_metadata(context, metadata)

        result = await connection.run_sync(inspect_schema)
    await engine.dispose()
    return result


def test_upgrade_downgrade_upgrade_and_models_match(fresh_database, tmp_path) -> None:
    commands = AlembicCommands(sqlalchemy_config=alchemy_config(make_settings(fresh_database, tmp_path)))
    model_tables = set(metadata.tables)

    commands.upgrade("head")
    tables, diff = asyncio.run(_tables_and_diff(fresh_database))
    assert model_tables <= tables
    assert diff == [], f"models and migrations disagree: {diff}"

    commands.downgrade("base")
    tables, _ = asyncio.run(_tables_and_diff(fresh_database))
    assert tables & model_tables == set()

    commands.upgrade("head")
    tables, diff = asyncio.run(_tables_and_diff(fresh_database))
    assert model_tables <= tables and diff == []
