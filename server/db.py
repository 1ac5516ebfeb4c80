"""Database wiring: the engine, the advanced-alchemy config, the Versioned mixin, the change sequence."""

from __future__ import annotations

import datetime as dt
import enum
import functools
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from advanced_alchemy.base import AdvancedDeclarativeBase, UUIDv7AuditBase, orm_registry
from advanced_alchemy.extensions.litestar import (
    AlembicAsyncConfig,
    AsyncSessionConfig,
    SQLAlchemyAsyncConfig,
)
from advanced_alchemy.extensions.litestar.store import SQLAlchemyStore, StoreModelMixin
from advanced_alchemy.operations import OnConflictUpsert
from advanced_alchemy.types import GUID, DateTimeUTC
from litestar.di import NamedDependency
from sqlalchemy import (
    BigInteger,
    Enum,
    Insert,
    Integer,
    Select,
    Update,
    bindparam,
    delete,
    event,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import Mapped, Session, SessionTransaction, mapped_column
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.pool import NullPool
from uuid_utils.compat import uuid7

from server.settings import REPO_ROOT

if TYPE_CHECKING:
    from server.settings import Settings

metadata = orm_registry.metadata
# The request's session, as handlers receive it from advanced-alchemy's plugin.
DbSession = NamedDependency[AsyncSession]
# Opens a new session (for code that runs several transactions of its own).
OpenSession = Callable[[], AbstractAsyncContextManager[AsyncSession]]


def new_id() -> uuid.UUID:
    """A UUIDv7: time-ordered, so ids made on devices and on the server sort by creation."""
    return uuid7()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def text_enum(kind: type[enum.Enum], length: int = 16) -> Enum:
    """An enum column stored as its values' text (not a database enum type), so adding a member
    needs no migration of the type and SQLite and PostgreSQL store the same."""
    return Enum(
        kind, native_enum=False, length=length, values_callable=lambda members: [m.value for m in members]
    )


class Versioned(UUIDv7AuditBase):
    """Columns every synced record carries (DESIGN.md, "One write path").

    `id` is a UUIDv7 that a client may generate; `version` is the server change sequence value of
    the record's last change; `deleted_at` is a tombstone: synced records are never hard-deleted.
    """

    __abstract__ = True

    version: Mapped[int] = mapped_column(BigInteger, default=0, index=True)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class ChangeCounter(AdvancedDeclarativeBase):
    """The single row that numbers every change.

    A transaction takes its versions from it in its last statements before the commit
    (`stamp_versions`), which locks the row until the commit: so versions commit in the order they
    were handed out, and a sync pull that has seen the counter at N can never later find a row with
    a version at or below N commit behind it (the PostgreSQL sequence trap in DESIGN.md).
    """

    __tablename__ = "change_counter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1: one row
    value: Mapped[int] = mapped_column(BigInteger, default=0)
    # Which timeline `value` counts in. A restore from a backup takes the counter back, so the
    # same numbers would name other changes: it moves the epoch on instead, and sync cursors
    # (which carry it) from before the restore are no longer taken for current ones.
    epoch: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class KeyValueItem(StoreModelMixin):
    """Rows of the shared key-value store: server-side sessions, so several processes share them."""

    __tablename__ = "key_value_store"


class DatabaseStore(SQLAlchemyStore[SQLAlchemyAsyncConfig]):
    """advanced-alchemy's key-value store in the database, except for the read and the write that
    nearly every request makes (its session, its rate-limit window): each is one statement, built
    once and run on a connection with no transaction around it (a write is one upsert). Through an
    ORM session and a transaction, a read took 1.2 ms and a write 2.0 ms, mostly in building the
    statement and the session; now 0.5 and 0.95 ms (bench/RESULTS.md). The rest is the library's."""

    async def get(self, key: str, renew_for: int | dt.timedelta | None = None) -> bytes | None:
        if renew_for:  # a read that also extends the expiry: the library's two statements
            return await super().get(key, renew_for)
        async with _autocommit(self._config.get_engine()) as connection:
            return await connection.scalar(
                _store_read(self._model), {"key": key, "namespace": self.namespace, "now": utcnow()}
            )

    async def set(self, key: str, value: bytes | str, expires_in: int | dt.timedelta | None = None) -> None:
        if isinstance(expires_in, int):
            expires_in = dt.timedelta(seconds=expires_in)
        row = {
            "id": new_id(),
            "key": key,
            "namespace": self.namespace,
            "value": value.encode() if isinstance(value, str) else value,
            "expires_at": None if expires_in is None else utcnow() + expires_in,
        }
        async with _autocommit(self._config.get_engine()) as connection:
            await connection.execute(_store_write(self._model, connection.dialect.name), row)


@asynccontextmanager
async def _autocommit(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as connection:
        yield await connection.execution_options(isolation_level="AUTOCOMMIT")


@functools.cache
def _store_read(model: type[StoreModelMixin]) -> Select[tuple[bytes]]:
    return select(model.value).where(
        model.key == bindparam("key"),
        model.namespace == bindparam("namespace"),
        or_(model.expires_at.is_(None), model.expires_at > bindparam("now")),
    )


@functools.cache
def _store_write(model: type[StoreModelMixin], dialect: str) -> Insert:
    """An upsert on the store's (key, namespace) unique constraint, as the library writes it, with
    bound parameters in place of the values."""
    return OnConflictUpsert.create_upsert(
        table=model.__table__,
        values={name: bindparam(name) for name in ("id", "key", "namespace", "value", "expires_at")},
        conflict_columns=["key", "namespace"],
        update_columns=["value", "expires_at"],
        dialect_name=dialect,
    )


async def purge_expired_store_items(session: AsyncSession) -> int:
    """Delete expired sessions and rate-limit windows (the store only ignores them); returns how many."""
    result = await session.execute(delete(KeyValueItem).where(KeyValueItem.expires_at < utcnow()))
    return result.rowcount or 0


BATCH = "fieldbook.batch"  # the session.info key of `batched`
VERSIONS = "fieldbook.versions"  # the session.info key of this transaction's `Versions`
# The columns that hold change-sequence values: every synced table's `version`, and the version a
# change gave its record in the audit trail and in the sync ledger.
VERSION_COLUMNS = ("version", "record_version")


@dataclass
class Versions:
    """The change-sequence values one transaction has handed out so far. Until the commit they are
    stand-ins, -1, -2, -3 ...: the transaction takes the real values in its last statements."""

    taken: list[int] = field(default_factory=list)
    tables: set[str] = field(default_factory=set)  # tables that hold stand-ins


def _versions(session: AsyncSession | Session) -> Versions:
    return session.info.setdefault(VERSIONS, Versions())


async def next_version(session: AsyncSession) -> int:
    """The change-sequence value of the change this command is about to make; every command calls
    this once before it writes.

    Versions order every change in the organisation, and a sync pull must never skip a change that
    commits later with a lower version than one it has seen (DESIGN.md: the PostgreSQL sequence
    trap). Taking them from the counter as a transaction goes made every writer wait for the
    counter from its first change to its commit. Instead a transaction works with stand-ins (-1,
    -2 ... in the order taken), and its last statements before the commit take as many real values
    from the counter at once and write them in (`stamp_versions`): the counter's row stays locked
    only for those statements and the commit, and versions still commit in the order they are
    handed out (docs/sync.md, "Why versions are stamped at the commit").
    """
    stamp_versions_at_commit()
    versions = _versions(session)
    version = -(len(versions.taken) + 1)
    versions.taken.append(version)
    return version


def versions_taken(session: AsyncSession) -> list[int]:
    """The stand-in versions this transaction has handed out, oldest first: a sync push tells from
    them whether a command gave its record a new version or changed nothing."""
    return _versions(session).taken


def holds_versions(session: AsyncSession, table: Any) -> None:
    """Note that `table` holds stand-in versions written around the ORM (a bulk insert)."""
    _versions(session).tables.add(table.name if hasattr(table, "name") else str(table))


def is_stand_in(version: int | None) -> bool:
    return version is not None and version < 0


def change_order(version: int) -> tuple[int, int]:
    """A sort key that puts changes in the order they were made, this transaction's own (stand-ins,
    -1 first) after every committed one."""
    return (1, -version) if version < 0 else (0, version)


async def stamp_versions(session: AsyncSession) -> Callable[[int], int]:
    """Take the real versions for this transaction's stand-ins and write them in now, ahead of the
    commit, which should follow at once (the counter's row is locked until then). Returns the
    mapping, for answers built from stand-ins. The commit does this itself when nobody has."""
    return await session.run_sync(_stamp)


def _stamp(session: Session) -> Callable[[int], int]:
    versions: Versions | None = session.info.get(VERSIONS)
    if versions is None or not versions.taken:
        return _unchanged
    unhold_log_rows(session)
    session.flush()
    count = len(versions.taken)
    last = session.execute(
        update(ChangeCounter).where(ChangeCounter.id == 1)
        .values(value=ChangeCounter.value + count).returning(ChangeCounter.value)
    ).scalar_one_or_none()  # fmt: skip
    if last is None:  # a database created without migrations (only possible by hand)
        raise RuntimeError("change_counter is empty: run `fieldbook database upgrade`")
    before_first = last - count  # stand-in -n becomes before_first + n

    def real(version: int) -> int:
        return before_first - version if version < 0 else version

    for name in sorted(versions.tables):
        for statement in _stamping(name):
            session.execute(statement, {"before_first": before_first})
    for record in list(session.identity_map.values()):
        for name in VERSION_COLUMNS:
            value = record.__dict__.get(name)
            if isinstance(value, int) and value < 0:
                set_committed_value(record, name, real(value))
    session.info.pop(VERSIONS, None)
    return real


@functools.cache
def _stamping(name: str) -> list[Update]:
    """The statements that put real versions in place of a table's stand-ins (built once: building
    one cost as much as running it)."""
    table, statements = metadata.tables[name], []
    for column in (table.c[c] for c in VERSION_COLUMNS if c in table.c):
        values = {column.name: bindparam("before_first") - column}
        if "updated_at" in table.c:  # not a change of its own: the column's onupdate stays out
            values["updated_at"] = table.c.updated_at
        statements.append(
            update(table).where(column < 0).values(values).execution_options(synchronize_session=False)
        )
    return statements


def _unchanged(version: int) -> int:
    return version


def _note_tables_with_stand_ins(session: Session, _context: Any, _instances: Any) -> None:
    """Before a flush: which tables its rows put stand-in versions in."""
    versions: Versions | None = session.info.get(VERSIONS)
    if versions is None:
        return
    for record in itertools.chain(session.new, session.dirty):
        if any(is_stand_in(record.__dict__.get(name)) for name in VERSION_COLUMNS):
            versions.tables.add(record.__table__.name)


def _stamp_before_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint's release: the transaction goes on
        return
    _stamp(session)


def _forget_transaction(session: Session, transaction: SessionTransaction) -> None:
    session.info.pop(LOCKED, None)  # a savepoint rolled back may have let some go
    if transaction.parent is None:  # the whole transaction ended (a rollback takes its stand-ins back)
        session.info.pop(VERSIONS, None)


LOCKED = "fieldbook.locked"  # the session.info key of the rows `locked` has locked


async def locked(session: AsyncSession, model: type[Versioned], record_id: uuid.UUID) -> Any:
    """The record as last committed, its row locked until this transaction ends (FOR UPDATE;
    SQLite has one writer anyway), or None if there is no such row.

    A command reads before it changes; another transaction may change the same record meanwhile.
    Read again under the lock, the values a change is worked out from (and the audit trail's
    "before") are the current ones, and a change still uncommitted elsewhere is waited for."""
    held: set[tuple[str, uuid.UUID]] = session.info.setdefault(LOCKED, set())
    if (model.__tablename__, record_id) in held:
        return await session.get(model, record_id)
    record = await session.scalar(_locking_read(model), {"record_id": record_id})
    held.add((model.__tablename__, record_id))
    return record


@functools.cache
def _locking_read(model: type[Versioned]) -> Select[Any]:
    return (
        select(model)
        .where(model.id == bindparam("record_id"))
        .with_for_update(of=model)  # not the rows eager loads join in
        .execution_options(populate_existing=True)
    )


@functools.cache
def stamp_versions_at_commit() -> None:
    """Every session stamps its transaction's versions as it commits (once per process)."""
    event.listen(Session, "before_flush", _note_tables_with_stand_ins)
    event.listen(Session, "before_commit", _stamp_before_commit)
    event.listen(Session, "after_transaction_end", _forget_transaction)


@dataclass
class Batch:
    log_rows: list[Any] = field(default_factory=list)  # audit events and ledger rows, not yet added


@asynccontextmanager
async def batched(session: AsyncSession) -> AsyncIterator[None]:
    """Many commands in one transaction (a sync push's group, an import) write as one batch: rows
    that are only ever appended (`add_log_row`: audit events, the sync ledger) wait until leaving,
    then go in one statement per table instead of one each.

    Not for work with savepoints: rolling one back could not take back rows held here. An error
    leaves it writing nothing.
    """
    session.info[BATCH] = Batch()
    try:
        yield
        unhold_log_rows(session)
        await session.flush()
    finally:
        del session.info[BATCH]


def add_log_row(session: AsyncSession | Session, row: Any) -> None:
    """Add a row that is only ever appended (an audit event, a sync ledger row) to the session; in
    a batch it waits for the batch's end, unless a reader of the logs asks for it (`unhold_log_rows`)."""
    batch: Batch | None = session.info.get(BATCH)
    if batch is None:
        session.add(row)
    else:
        batch.log_rows.append(row)


def unhold_log_rows(session: AsyncSession | Session) -> None:
    """A batch's held log rows go into the session now, so the next query (autoflush) sees them."""
    batch: Batch | None = session.info.get(BATCH)
    if batch is not None:
        session.add_all(batch.log_rows)
        batch.log_rows.clear()


async def current_version(session: AsyncSession) -> int:
    return (await session.execute(select(func.coalesce(func.max(ChangeCounter.value), 0)))).scalar_one()


async def current_epoch_and_version(session: AsyncSession) -> tuple[int, int]:
    """The epoch (bumped by every restore) and the change counter, in one read."""
    row = (
        await session.execute(select(ChangeCounter.epoch, ChangeCounter.value).where(ChangeCounter.id == 1))
    ).first()
    return (row.epoch, row.value) if row is not None else (0, 0)


def lost_a_race(error: DBAPIError) -> bool:
    """Whether a transaction failed only for what ran beside it, so that running it again is right:
    SQLite's writer stayed busy, a unique key another transaction took first, or PostgreSQL broke a
    deadlock or refused a snapshot that another transaction had overtaken."""
    return isinstance(error, (OperationalError, IntegrityError)) or getattr(error.orig, "sqlstate", None) in {
        "40001",
        "40P01",
    }


def stamp(record: Versioned, version: int) -> None:
    """Mark a record as changed by the command that holds `version`."""
    record.version = version
    record.updated_at = utcnow()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers work while one writer writes; the busy timeout makes writers queue
    # instead of failing with "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def compare_column_types(
    _context: Any, _inspected: Any, _column: Any, _reflected: Any, declared: Any
) -> bool | None:
    """Alembic's type comparison, minus one false alarm: a UUID column reads back from SQLite as
    NUMERIC(16) (it is stored as 16 bytes), which is not a change."""
    if isinstance(declared, GUID):
        return False
    return None  # Alembic's own comparison


def _json_dumps(value: Any) -> str:
    return msgspec.json.encode(value).decode()


# JSON columns (client views, audit details) are read and written with msgspec: several times
# faster than the standard library's json on a first sync's client views of many thousand ids.
JSON_CODECS = {"json_serializer": _json_dumps, "json_deserializer": msgspec.json.decode}


def create_engine(
    database_url: str,
    *,
    echo: bool = False,
    pooled: bool = True,
    pool_size: int = 10,
    ping_after_idle: float = 5.0,
) -> AsyncEngine:
    if database_url.startswith("sqlite"):
        path = database_url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Opening a connection (aiosqlite starts a thread for each, then the PRAGMAs below) cost
        # more than most requests' queries, and a request takes several: keep a few open.
        pool = {"pool_size": 5, "max_overflow": 10} if pooled else {"poolclass": NullPool}
        engine = create_async_engine(database_url, echo=echo, **pool, **JSON_CODECS)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    if not pooled:
        return create_async_engine(database_url, echo=echo, poolclass=NullPool, **JSON_CODECS)
    # Last in, first out: the connections a quiet server does not need stay idle (and are pinged
    # when next used) instead of every one being woken in turn.
    engine = create_async_engine(
        database_url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_use_lifo=True,
        **JSON_CODECS,
    )
    _ping_when_idle(engine, ping_after_idle)
    return engine


def _ping_when_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """Ping a pooled connection before use only if it sat idle `idle_seconds` or more; if it is
    gone (the database restarted, a firewall dropped it), the pool opens a fresh one.

    Instead of `pool_pre_ping`, which pings every checkout: three round trips (PostgreSQL's ping
    is a transaction), and a request takes several connections in turn (its session, the rate
    limit, the handler's work): that was about 2 ms of a quiet sync pull's 13 (bench/RESULTS.md).
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def note_idle(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < idle_seconds:
            return
        try:
            dbapi_connection.ping()
        except Exception as error:
            raise DisconnectionError("the pooled connection is gone") from error  # the pool replaces it


@asynccontextmanager
async def sessions_on_one_connection(engine: AsyncEngine) -> AsyncIterator[OpenSession]:
    """A session factory whose sessions all use one connection, in turn: for work done as many
    short transactions one after another (a sync push applies each mutation in its own). Taking a
    connection from the pool, pinging it (PostgreSQL) or opening it (SQLite) once per transaction
    cost as much as the transaction itself."""
    async with engine.connect() as connection:

        @asynccontextmanager
        async def open_session() -> AsyncIterator[AsyncSession]:
            async with AsyncSession(bind=connection, expire_on_commit=False) as session:
                yield session

        yield open_session


def alchemy_config(settings: Settings, engine: AsyncEngine | None = None) -> SQLAlchemyAsyncConfig:
    return SQLAlchemyAsyncConfig(
        engine_instance=engine
        or create_engine(
            settings.database_url, echo=settings.echo_sql, pool_size=settings.database_pool_size
        ),
        session_config=AsyncSessionConfig(expire_on_commit=False),
        alembic_config=AlembicAsyncConfig(
            script_config=str(REPO_ROOT / "alembic.ini"),
            script_location=str(REPO_ROOT / "migrations"),
            version_table_name="alembic_version",
            compare_type=True,
            render_as_batch=True,
        ),
        create_all=False,
    )
