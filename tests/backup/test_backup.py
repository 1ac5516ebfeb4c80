"""`fieldbook backup` and `fieldbook restore`: every table comes back exactly, on either database,
from one snapshot; a restore that cannot be done completely changes nothing."""

from __future__ import annotations

import asyncio
import gzip
import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import inspect

from server import backup
from server.accounts.models import Account
from server.db import create_engine
from server.users.models import Role
from tests.backup.helpers import FILLED, assert_same, fill, read_all
from tests.conftest import create_pg_database, drop_pg_database, make_settings, migrate, run_fieldbook
from tests.factories import make_account, make_contact, make_team, make_user


@asynccontextmanager
async def empty_database(kind: str, name: str, tmp_path: Path, *, migrated: bool) -> AsyncIterator[str]:
    """A new database with no data: no tables at all, or migrated to head."""
    if kind == "postgresql":
        url = await asyncio.to_thread(create_pg_database, name)
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / f'{name}.sqlite3'}"
    try:
        if migrated:
            await asyncio.to_thread(migrate, make_settings(url, tmp_path))
        yield url
    finally:
        if kind == "postgresql":
            await asyncio.to_thread(drop_pg_database, name)


@asynccontextmanager
async def engine_for(url: str) -> AsyncIterator[Any]:
    engine = create_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def contents(url: str) -> dict[str, list[tuple[Any, ...]]]:
    async with engine_for(url) as engine:
        return await read_all(engine)


async def table_names(url: str) -> list[str]:
    async with engine_for(url) as engine, engine.connect() as connection:
        return await connection.run_sync(lambda sync: inspect(sync).get_table_names())


def assert_empty(found: dict[str, list[tuple[Any, ...]]]) -> None:
    """As a freshly migrated database: no rows but the two counters' own, at zero."""
    assert {name: rows for name, rows in found.items() if rows} == {
        "change_counter": [(1, 0, 0)],
        "quote_numbers": [(1, 0)],
    }


def said(result: Any) -> str:
    """What the command wrote to stderr, as one line (the error box wraps long messages)."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.stderr).split())


def rewrite(source: Path, target: Path, change: Callable[[list[bytes]], None]) -> Path:
    lines = gzip.decompress(source.read_bytes()).splitlines(keepends=True)
    change(lines)
    target.write_bytes(gzip.compress(b"".join(lines)))
    return target


async def test_a_backup_restores_every_table_exactly(
    backend, settings, db, client, tmp_path, worker_name
) -> None:
    await fill(db, client)
    source = await contents(settings.database_url)
    assert all(source[name] for name in FILLED), [name for name in FILLED if not source[name]]
    file = tmp_path / "fieldbook.backup"

    made = await run_fieldbook(settings, tmp_path, "backup", str(file))
    assert made.returncode == 0, made.stderr
    assert "Backup written" in made.stdout and "accounts: 2 rows" in made.stderr
    header = backup.read_header(file)
    assert header["alembic_revision"] == backup.code_revision()
    assert {entry["name"]: entry["rows"] for entry in header["tables"]}["order_lines"] == 1
    assert "key_value_store" not in {entry["name"] for entry in header["tables"]}

    async with empty_database(backend, f"{worker_name}_target", tmp_path, migrated=False) as target:
        restored = await run_fieldbook(make_settings(target, tmp_path), tmp_path, "restore", str(file))
        assert restored.returncode == 0, restored.stderr
        assert "Restored" in restored.stdout
        assert_same(source, await contents(target))


async def test_a_backup_restores_into_the_other_database(
    backend, settings, db, client, tmp_path, worker_name
) -> None:
    """SQLite into PostgreSQL, and PostgreSQL into SQLite."""
    await fill(db, client)
    source = await contents(settings.database_url)
    file = tmp_path / "fieldbook.backup"
    async with engine_for(settings.database_url) as engine:
        made = await backup.backup(engine, file)
    assert made.tables["accounts"] == 2
    other = "sqlite" if backend == "postgresql" else "postgresql"
    async with empty_database(other, f"{worker_name}_other", tmp_path, migrated=True) as target:
        async with engine_for(target) as engine:
            summary = await backup.restore(engine, file)
        assert summary.rows == made.rows
        assert_same(source, await contents(target))


async def test_restore_refuses_a_database_with_data(settings, db, client, tmp_path) -> None:
    await fill(db, client)
    file = tmp_path / "fieldbook.backup"
    async with engine_for(settings.database_url) as engine:
        await backup.backup(engine, file)
    before = await contents(settings.database_url)
    async with engine_for(settings.database_url) as engine:
        with pytest.raises(backup.BackupError, match="needs an empty database; this one has data in"):
            await backup.restore(engine, file)
    result = await run_fieldbook(settings, tmp_path, "restore", str(file))
    assert result.returncode != 0
    assert "nothing restored" in said(result) and "needs an empty database" in said(result)
    assert await contents(settings.database_url) == before


@pytest.mark.parametrize(
    ("make_file", "message"),
    [
        (lambda good, path: path.write_bytes(b"\x00\x01 not a backup at all"), "not a Fieldbook backup"),
        (lambda good, path: path.write_bytes(gzip.compress(b"hello\n")), "not a Fieldbook backup"),
        (lambda good, path: path.write_bytes(b""), "not a Fieldbook backup"),
        (
            lambda good, path: rewrite(good, path, lambda lines: lines.__setitem__(
                0, lines[0].replace(backup.code_revision().encode(), b"0123456789ab"))),
            "backup is of database revision 0123456789ab",
        ),
    ],
    ids=["garbage", "gzip-not-ours", "empty", "other-revision"],
)  # fmt: skip
async def test_restore_refuses_a_file_it_cannot_restore(
    backend, settings, tmp_path, worker_name, make_file, message
) -> None:
    good = tmp_path / "good.backup"
    async with engine_for(settings.database_url) as engine:
        await backup.backup(engine, good)
    bad = tmp_path / "bad.backup"
    make_file(good, bad)
    async with empty_database(backend, f"{worker_name}_target", tmp_path, migrated=False) as target:
        result = await run_fieldbook(make_settings(target, tmp_path), tmp_path, "restore", str(bad))
        assert result.returncode != 0
        assert message in said(result) and "nothing restored" in said(result)
        assert await table_names(target) == []  # not even migrated: nothing changed


def _last_row(lines: list[bytes]) -> tuple[str, list[str], int]:
    """The table, columns and line number of the backup's last row (the line before the end)."""
    header = msgspec.json.decode(lines[0])
    last = [entry for entry in header["tables"] if entry["rows"]][-1]
    return last["name"], last["columns"], len(lines) - 2


def _garbage_line(lines: list[bytes]) -> None:
    _, _, number = _last_row(lines)
    lines[number] = lines[number][:-10] + b"\n"


def _dangling_reference(lines: list[bytes]) -> None:
    """The last row refers to a record that does not exist: the database itself refuses it."""
    name, columns, number = _last_row(lines)
    table = backup.metadata.tables[name]
    column = next(column for column in columns if table.c[column].foreign_keys)
    row = msgspec.json.decode(lines[number])
    row[columns.index(column)] = str(uuid.uuid4())
    lines[number] = msgspec.json.encode(row) + b"\n"


def _cut_short(lines: list[bytes]) -> None:
    del lines[-1]


@pytest.mark.parametrize("damage", [_garbage_line, _dangling_reference, _cut_short])
async def test_a_restore_that_fails_part_way_leaves_the_database_empty(
    backend, settings, db, client, tmp_path, worker_name, damage
) -> None:
    await fill(db, client)
    good = tmp_path / "good.backup"
    async with engine_for(settings.database_url) as engine:
        await backup.backup(engine, good)
    bad = rewrite(good, tmp_path / "bad.backup", damage)
    async with empty_database(backend, f"{worker_name}_target", tmp_path, migrated=True) as target:
        result = await run_fieldbook(make_settings(target, tmp_path), tmp_path, "restore", str(bad))
        assert result.returncode != 0, result.stdout
        assert "nothing restored" in said(result)
        assert_empty(await contents(target))
        # ... and the good file still restores into it.
        async with engine_for(target) as engine:
            await backup.restore(engine, good)


async def test_a_backup_is_one_snapshot_while_others_write(settings, db, tmp_path) -> None:
    """A new account and its contact, committed by another connection after the backup has read
    the accounts and before it reads the contacts: the backup holds neither (a backup without a
    snapshot would hold a contact whose account it does not have)."""
    rep = await make_user(db, Role.REP, await make_team(db), name="Rita")
    await make_account(db, rep, name="Before")
    written: dict[str, Any] = {}

    async def write_meanwhile(table: str, rows: int) -> None:
        if table == "accounts":
            account = await make_account(db, rep, name="Written During The Backup")
            contact = await make_contact(db, rep, account, name="Contact Written During The Backup")
            written.update(account=account.id, contact=contact.id)

    file = tmp_path / "fieldbook.backup"
    async with engine_for(settings.database_url) as engine:
        summary = await backup.backup(engine, file, progress=write_meanwhile)
    assert written, "the writer did not run"
    assert summary.tables["accounts"] == 1 and summary.tables["contacts"] == 0
    text = gzip.decompress(file.read_bytes()).decode()
    assert "During The Backup" not in text and str(written["account"]) not in text
    # The change counter in the file is the one the snapshot saw, not the writer's.
    counter_line = text.splitlines()[[e["name"] for e in backup.read_header(file)["tables"] if e["rows"]].index(
        "change_counter") + 1]  # fmt: skip
    assert msgspec.json.decode(counter_line)[1] == rep.version + 1  # the one account before
    # The writes did commit: they are in the database, just not in this backup.
    assert await db.get(Account, written["account"], populate_existing=True) is not None
