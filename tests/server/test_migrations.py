"""The migrations build the whole schema, tear it down, and agree with the models."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from advanced_alchemy.alembic.commands import AlembicCommands
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import column, insert, inspect, table, text

from server.accounts.models import Account
from server.db import alchemy_config, compare_column_types, create_engine, metadata, new_id
from server.users.models import User
from tests.conftest import create_pg_database, drop_pg_database, make_settings, run_fieldbook

FIRST_REVISION = "ab7d50a166ce"  # the initial schema


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


def _columns(model, values: dict):
    return table(model.__tablename__, *(column(name, model.__table__.c[name].type) for name in values))


async def _insert_a_rep_with_an_account(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as connection:
        user_id, account_id = new_id(), new_id()
        now = dt.datetime.now(dt.UTC)
        stamp = {"version": 1, "created_at": now, "updated_at": now}
        user = {
            "id": user_id,
            "email": "kept@example.test",
            "name": "Kept",
            "role": "rep",
            "is_active": True,
            **stamp,
        }
        account = {"id": account_id, "name": "Kept Account", "owner_id": user_id, "street": "", "city": "",
                   "postcode": "", "phone": "", "phone_digits": "", "tier": "A", "notes": "", **stamp}  # fmt: skip
        # Only the columns the first revision has: later columns must get their defaults from the migrations.
        await connection.execute(insert(_columns(User, user)).values(user))
        await connection.execute(insert(_columns(Account, account)).values(account))
    await engine.dispose()


async def _kept(url: str) -> tuple[str, str, str]:
    engine = create_engine(url)
    async with engine.connect() as connection:
        row = (await connection.execute(text(
            "SELECT users.name, accounts.name, users.time_zone FROM accounts JOIN users ON users.id = accounts.owner_id"
        ))).one()  # fmt: skip
    await engine.dispose()
    return tuple(row)


def test_upgrading_keeps_the_data_already_there(fresh_database, tmp_path) -> None:
    """Later migrations rebuild tables on SQLite (to add constraints); rows and their links survive."""
    commands = AlembicCommands(sqlalchemy_config=alchemy_config(make_settings(fresh_database, tmp_path)))
    commands.upgrade(FIRST_REVISION)
    asyncio.run(_insert_a_rep_with_an_account(fresh_database))
    commands.upgrade("head")
    assert asyncio.run(_kept(fresh_database)) == ("Kept", "Kept Account", "Europe/London")


async def test_commands_on_a_database_not_at_this_schema_say_to_upgrade_it(fresh_database, tmp_path) -> None:
    settings = make_settings(fresh_database, tmp_path)
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("name,city\nArdwick Hardware,Manchester\n")
    commands = [("import", "accounts", str(accounts)), ("api-token", "list"), ("tiers",),
                ("worker", "--until-idle")]  # fmt: skip
    for command in commands:
        refused = await run_fieldbook(settings, tmp_path, *command)
        assert refused.returncode == 1
        assert "the database has no tables yet: run `fieldbook database upgrade` first." in refused.stderr
        assert "Traceback" not in refused.stderr

    alembic = AlembicCommands(sqlalchemy_config=alchemy_config(settings))
    await asyncio.to_thread(alembic.upgrade, FIRST_REVISION)
    refused = await run_fieldbook(settings, tmp_path, "tiers")
    assert f"the database is at revision {FIRST_REVISION}, this version needs " in refused.stderr
    await asyncio.to_thread(alembic.upgrade, "head")
    assert (await run_fieldbook(settings, tmp_path, "api-token", "list")).returncode == 0
