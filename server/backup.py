"""`fieldbook backup FILE` and `fieldbook restore FILE`: every table, as one consistent snapshot.

The tables come from the models' metadata, in dependency order, so a table added later is in
the next backup without a change here. The file is gzip'd JSON lines, readable by any database
Fieldbook runs on (a SQLite backup restores into PostgreSQL and the other way round):

    {"format": "fieldbook-backup", "format_version": 1, "app_version": ..., "alembic_revision": ...,
     "created_at": ..., "database": "sqlite", "tables": [{"name": "teams", "columns": [...], "rows": 3}, ...]}
    [value, value, ...]          <- the rows of each table in turn, in the header's column order
    ...
    {"end": "fieldbook-backup", "rows": 1234}

Values are the JSON form of what the database driver gives (UUIDs and datetimes as ISO text,
decimals as text, bytes as base64); a restore reads each back as its column's Python type, so
they round-trip exactly. Rows are streamed both ways: memory stays flat whatever the size.

Left out: the key-value store (server-side sessions and rate-limit windows: nobody stays
signed in across a restore) and the sync client views (what each device was last sent: a
restore moves the sync epoch on, so no device's cursor names one of them any more). The device
ledger (devices, their mutations and conflicts) is kept: a retried push still gets its stored
answer, the merge still knows a device's own edits, and a device whose changes the backup does
not hold is told so by `mutation_gap` and sends them again (docs/sync.md).
"""

from __future__ import annotations

import datetime as dt
import gzip
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from importlib import metadata as distribution
from pathlib import Path
from typing import IO, Any

import msgspec
from sqlalchemy import JSON, Column, Table, bindparam, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

import server.models  # noqa: F401 - every model must be in the metadata
from server.db import ChangeCounter, metadata
from server.quotes.models import QuoteNumber
from server.schema import code_revision, database_revision

FORMAT = "fieldbook-backup"
FORMAT_VERSION = 1
# Ephemeral tables: sessions and rate-limit windows, and what each device was last sent.
EXCLUDED = frozenset({"key_value_store", "sync_client_views"})
# Tables the migrations fill with one counter row (replaced by the backup's), and its column that
# says whether anything was counted yet.
SEEDED = {ChangeCounter.__table__.name: ChangeCounter.value, QuoteNumber.__table__.name: QuoteNumber.last}
# Rows written with one executemany.
BATCH = 2000

Progress = Callable[[str, int], Awaitable[None]]


class BackupError(Exception):
    """The backup cannot be made or restored; nothing was changed."""


@dataclass(frozen=True)
class Summary:
    path: Path
    tables: dict[str, int]  # table -> rows
    alembic_revision: str

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


def tables() -> list[Table]:
    """Every table a backup holds, parents before children."""
    return [table for table in metadata.sorted_tables if table.name not in EXCLUDED]


def app_version() -> str:
    try:
        return distribution.version("fieldbook")
    except distribution.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


# --- backup ---------------------------------------------------------------------------------


async def _begin_snapshot(connection: AsyncConnection) -> None:
    """Make every read on this connection come from one snapshot, without blocking writers."""
    if connection.dialect.name == "postgresql":
        await connection.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        await connection.begin()
    else:
        # SQLite's driver begins a transaction only before a write, so each SELECT would see the
        # latest commits. A deferred BEGIN starts a read transaction at the first SELECT: in WAL
        # mode it reads one snapshot to the end, and writers carry on meanwhile.
        await connection.begin()
        await connection.exec_driver_sql("BEGIN")


def _encode_default(value: Any) -> Any:
    raise TypeError(f"cannot store a {type(value).__name__} in a backup")


async def backup(engine: AsyncEngine, path: Path, *, progress: Progress | None = None) -> Summary:
    """Write every table, as one snapshot, to `path` (replaced only once the backup is complete)."""
    partial = path.with_name(path.name + ".partial")
    encoder = msgspec.json.Encoder(enc_hook=_encode_default)
    async with engine.connect() as connection:
        await _begin_snapshot(connection)
        revision = await database_revision(connection)
        if revision is None:
            raise BackupError("the database has no schema: nothing to back up")
        counts = {table.name: await connection.scalar(select(func.count()).select_from(table)) or 0
                  for table in tables()}  # fmt: skip
        header = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "app_version": app_version(),
            "alembic_revision": revision,
            "created_at": dt.datetime.now(dt.UTC),
            "database": connection.dialect.name,
            "tables": [
                {"name": str(t.name), "columns": [str(c.name) for c in t.columns], "rows": counts[t.name]}
                for t in tables()
            ],
        }
        try:
            with gzip.open(partial, "wb", compresslevel=6) as file:
                file.write(encoder.encode(header) + b"\n")
                for table in tables():
                    written = await _write_table(connection, table, file, encoder)
                    if written != counts[table.name]:  # impossible in a snapshot; never write a lie
                        raise BackupError(
                            f"{table.name}: counted {counts[table.name]} rows but read {written}"
                        )
                    if progress is not None:
                        await progress(table.name, written)
                file.write(encoder.encode({"end": FORMAT, "rows": sum(counts.values())}) + b"\n")
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        await connection.rollback()  # read only: ends the snapshot
    partial.replace(path)
    return Summary(path=path, tables=counts, alembic_revision=revision)


async def _write_table(connection: AsyncConnection, table: Table, file: IO[bytes], encoder: Any) -> int:
    # Every column by name: `select(table)` leaves out insert-sentinel columns.
    query = select(*table.columns).order_by(*table.primary_key.columns).execution_options(yield_per=BATCH)
    written = 0
    result = await connection.stream(query)
    async for rows in result.partitions():
        file.write(encoder.encode_lines([tuple(row) for row in rows]))
        written += len(rows)
    return written


# --- restore --------------------------------------------------------------------------------


def _python_type(column: Column[Any]) -> Any:
    """What a column's JSON value is decoded as (so UUIDs, datetimes, decimals ... come back typed)."""
    if isinstance(column.type, JSON):
        return Any
    try:
        kind = column.type.python_type
    except NotImplementedError:
        return Any
    return kind | None if column.nullable else kind


def _row_decoder(table: Table, columns: list[str]) -> msgspec.json.Decoder[Any]:
    types = tuple(_python_type(table.c[name]) for name in columns)
    return msgspec.json.Decoder(tuple[types])  # type: ignore[valid-type]


class _Reader:
    """The backup file, line by line, with clear errors for anything that is not one."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self.line = 0

    def next(self) -> bytes:
        try:
            line = self.file.readline()
        except (OSError, EOFError, gzip.BadGzipFile) as error:
            raise BackupError(f"line {self.line + 1}: the file is damaged ({error})") from error
        self.line += 1
        if not line:
            raise BackupError(f"line {self.line}: the file ends too soon (an incomplete backup?)")
        return line

    def decode(self, decoder: Any) -> Any:
        line = self.next()
        try:
            return decoder.decode(line)
        except msgspec.DecodeError as error:
            raise BackupError(f"line {self.line}: {error}") from error


def read_header(path: Path) -> dict[str, Any]:
    """The backup's header, checked to be one of ours."""
    try:
        with gzip.open(path, "rb") as file:
            return _header(_Reader(file))
    except OSError as error:
        raise BackupError(f"{path}: cannot be read ({error})") from error


def _header(reader: _Reader) -> dict[str, Any]:
    try:
        header = msgspec.json.decode(reader.next())
    except (BackupError, msgspec.DecodeError) as error:
        raise BackupError("this is not a Fieldbook backup") from error
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise BackupError("this is not a Fieldbook backup")
    if header.get("format_version") != FORMAT_VERSION:
        raise BackupError(f"backup format {header.get('format_version')} is not one this Fieldbook reads")
    return header


def check_header(header: dict[str, Any]) -> list[tuple[Table, list[str], int]]:
    """The backup's tables as (table, its columns in the file, rows), or why it cannot be restored."""
    revision, ours = header.get("alembic_revision"), code_revision()
    if revision != ours:
        raise BackupError(
            f"the backup is of database revision {revision}, this Fieldbook's is {ours}: "
            "restore it with the Fieldbook version that made it, then upgrade"
        )
    known = {table.name: table for table in tables()}
    plan = []
    try:
        for entry in header["tables"]:
            table = known.get(entry["name"])
            if table is None or set(entry["columns"]) != {column.name for column in table.columns}:
                raise BackupError(f"table {entry['name']} in the backup does not match this Fieldbook's")
            plan.append((table, list(entry["columns"]), int(entry["rows"])))
    except (KeyError, TypeError, ValueError) as error:
        raise BackupError("the backup's list of tables is damaged") from error
    return plan


async def _nonempty_tables(connection: AsyncConnection) -> list[str]:
    """Tables holding data (the migrations' own rows, such as a zero change counter, do not count)."""
    found = []
    for table in tables():
        if (counted := SEEDED.get(table.name)) is not None:
            if await connection.scalar(select(func.coalesce(func.max(counted), 0))):
                found.append(table.name)
        elif await connection.scalar(select(select(table).exists())):
            found.append(table.name)
    return found


async def _begin_writing(connection: AsyncConnection) -> None:
    await connection.begin()
    if connection.dialect.name == "sqlite":
        # Take the write lock now, so that the emptiness check and the load are one transaction.
        await connection.exec_driver_sql("BEGIN IMMEDIATE")


async def restore(engine: AsyncEngine, path: Path, *, progress: Progress | None = None) -> Summary:
    """Load a backup into an empty database, all or nothing, and move the sync epoch on.

    The database must have the schema of the backup's revision (`fieldbook restore` migrates an
    empty one first) and no data.
    """
    plan = check_header(read_header(path))
    async with engine.connect() as connection:
        revision = await database_revision(connection)
        if revision is None:
            raise BackupError("the database has no schema: run `fieldbook database upgrade` first")
        if revision != code_revision():
            raise BackupError(
                f"the database is at revision {revision}, not {code_revision()}: "
                "run `fieldbook database upgrade` first"
            )
        await connection.rollback()
        await _begin_writing(connection)
        if busy := await _nonempty_tables(connection):
            raise BackupError("restore needs an empty database; this one has data in " + ", ".join(busy))
        with gzip.open(path, "rb") as file:
            reader = _Reader(file)
            _header(reader)
            for table, columns, rows in plan:
                if table.name in SEEDED:
                    await connection.execute(table.delete())
                await _load_table(connection, table, columns, rows, reader)
                if progress is not None:
                    await progress(table.name, rows)
            end = reader.decode(msgspec.json.Decoder())
            if end != {"end": FORMAT, "rows": sum(rows for _, _, rows in plan)}:
                raise BackupError(f"line {reader.line}: not the end of the backup that was expected")
            if file.read(1):
                raise BackupError(f"line {reader.line + 1}: more follows the end of the backup")
        await _catch_up_sequences(connection)
        await _next_epoch(connection)
        await connection.commit()
    return Summary(path=path, tables={table.name: rows for table, _, rows in plan},
                   alembic_revision=revision)  # fmt: skip


async def _load_table(
    connection: AsyncConnection, table: Table, columns: list[str], rows: int, reader: _Reader
) -> None:
    """Insert a table's rows in batches.

    A column that refers to its own table (a user's manager) may name a row that comes later:
    it is inserted empty and set afterwards, together with the columns an update would stamp
    (`updated_at`), which keep the backup's values.
    """
    decoder = _row_decoder(table, columns)
    keys = [table.c[name].key for name in columns]
    own = [key for key in keys if any(fk.column.table is table for fk in table.c[key].foreign_keys)]
    kept = [key for key in keys if table.c[key].onupdate is not None and key not in own]
    primary = [column.key for column in table.primary_key.columns]
    links: list[dict[str, Any]] = []  # what to set afterwards, per row

    def batches() -> Iterator[list[dict[str, Any]]]:
        batch: list[dict[str, Any]] = []
        for _ in range(rows):
            row = dict(zip(keys, reader.decode(decoder), strict=True))
            if any(row[key] is not None for key in own):
                links.append({f"b_{key}": row[key] for key in (*primary, *own, *kept)})
                row.update(dict.fromkeys(own))
            batch.append(row)
            if len(batch) == BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    for batch in batches():
        await connection.execute(insert(table), batch)
    if links:
        statement = (
            update(table)
            .where(*(table.c[key] == bindparam(f"b_{key}") for key in primary))
            .values({key: bindparam(f"b_{key}") for key in (*own, *kept)})
        )
        for start in range(0, len(links), BATCH):
            await connection.execute(statement, links[start : start + BATCH])


async def _catch_up_sequences(connection: AsyncConnection) -> None:
    """PostgreSQL: a serial column's sequence must start after the rows restored with their ids."""
    if connection.dialect.name != "postgresql":
        return
    for table in tables():
        for column in table.primary_key.columns:
            sequence = await connection.scalar(
                text("SELECT pg_get_serial_sequence(:table, :column)"),
                {"table": table.name, "column": column.name},
            )
            if sequence:
                await connection.execute(
                    text(f'SELECT setval(:sequence, COALESCE((SELECT max("{column.name}") FROM "{table.name}"), 1), '
                         f'(SELECT max("{column.name}") FROM "{table.name}") IS NOT NULL)'),
                    {"sequence": sequence},
                )  # fmt: skip


async def _next_epoch(connection: AsyncConnection) -> int:
    """Move the sync epoch on: past the backup's, and (being the time) past any restore before."""
    restored = await connection.scalar(select(ChangeCounter.epoch).where(ChangeCounter.id == 1)) or 0
    epoch = max(restored + 1, int(time.time()))
    await connection.execute(update(ChangeCounter).where(ChangeCounter.id == 1).values(epoch=epoch))
    return epoch
