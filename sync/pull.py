"""What a device should hold now (DESIGN.md, "Offline sync protocol", pull).

The records a person may see are asked of the same `visible()` that guards the pages. A pull
compares them, by id and version, with what the device was sent last time (its client view,
named by the cursor), and answers with the difference: puts for what is new or changed, deletes
for what the device holds but may no longer see. That covers tombstones, reassigned records and
a person moved to another team alike, and nothing outside the person's reach is ever sent, not
even an id. An unknown cursor (a new device, a pruned view) starts afresh with `reset`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import (
    Column,
    ColumnElement,
    Float,
    Numeric,
    Select,
    Table,
    Text,
    any_,
    bindparam,
    cast,
    delete,
    func,
    literal,
    select,
    text,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSON, aggregate_order_by
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.pool import QueuePool
from sqlalchemy.sql import visitors

from server.accounts.models import Account
from server.audit.models import AuditEvent
from server.auth import Person, visible
from server.contacts.models import Contact
from server.db import ChangeCounter, Versioned, current_epoch_and_version, lost_a_race, utcnow
from server.leads.models import Lead
from server.orders.models import Order, OrderLine, OrderStatusEvent
from server.organisation.models import OrganisationPolicy
from server.quotes.models import ApprovalRule, Product, Quote, QuoteApproval, QuoteLine
from server.reminders.models import Reminder
from server.users.models import Role, User
from server.visits.models import Visit
from sync.models import ClientView, Device
from sync.protocol import Change, PullRequest, PullResponse
from sync.push import ATTEMPTS, OpenSession, SyncRefused, bind_device, check_schema

# Puts in one answer; the rest follow with `more` (the device applies them all after the last page).
PAGE_SIZE = 5000
# Client views kept per device: the newest few, so a retried pull still finds its cursor.
VIEWS_KEPT = 3
# A rep's phone holds the orders of the last 90 days (older ones are looked up online).
ORDERS_ON_DEVICE = dt.timedelta(days=90)
SKIPPED_COLUMNS = frozenset({"sa_orm_sentinel"})
LINE_FIELDS = ("position", "sku", "description", "quantity", "unit_price", "amount")
QUOTE_LINE_FIELDS = ("position", "product_id", "code", "name", "unit", "list_price", "quantity", "unit_price",
                     "discount_percent", "amount")  # fmt: skip
APPROVAL_FIELDS = ("id", "quote_id", "step", "level", "status", "revision", "reasons", "waiting_since",
                   "decided_by_id", "decided_at", "comment")  # fmt: skip
# Changes since a client view beyond which a quiet pull stops checking them one by one (`_out_of_reach`).
SHORTCUT_LIMIT = 200
# Records read with one statement (bound parameters stay well under every database's limit).
CHUNK = 500
PARALLEL_FROM = 4  # chunks in a pull before a second connection pays for itself


@dataclass(frozen=True)
class Part:
    """Rows of another table that travel inside each record, in order (an order's lines): each
    of `fields` is (key, column); `where` narrows the rows, given the part's columns."""

    name: str
    table: Table
    parent: str  # the column naming the record the rows belong to, e.g. "order_id"
    fields: tuple[tuple[str, str], ...]
    order_by: tuple[str, ...]
    where: Callable[[Any], ColumnElement[bool]] | None = None


@dataclass(frozen=True)
class Kind:
    """A kind of record a device holds: its model, which of its columns go to the device, and
    the parts that travel inside each record (an order's lines; the record's version covers them)."""

    name: str
    model: type[Versioned]
    columns: tuple[str, ...] | None = None  # None: every column
    parts: tuple[Part, ...] = ()

    def scope(self, actor: User | Person) -> Any:
        where = visible(actor, self.model)
        if self.model is Order:
            where = where & (Order.ordered_at >= utcnow() - ORDERS_ON_DEVICE)
        return where


def _columns(kind: Kind) -> list[Any]:
    table = kind.model.__table__
    names = kind.columns or [column.key for column in table.columns if column.key not in SKIPPED_COLUMNS]
    return [table.c[name] for name in names]


def _among(session: AsyncSession, column: Any, ids: list[str]) -> ColumnElement[bool]:
    """`column IN ids` (ids as the client views hold them: text). PostgreSQL gets them as one array
    parameter: a list of thousands of parameters, each rendered and converted on its own, cost as
    much as reading the records."""
    if session.bind.dialect.name == "postgresql":
        return column == any_(bindparam("ids", ids, type_=ARRAY(PG_UUID(as_uuid=False))))
    return column.in_(ids)


async def _records(
    session: AsyncSession, actor: User, kind: Kind, ids: list[str]
) -> list[tuple[str, int, Any]]:
    """(id, version, data) of those of these records the person may see now."""
    if session.bind.dialect.name == "postgresql":
        rows = await session.execute(_as_json(session, actor, kind, ids))
        return [(str(record_id), version, msgspec.Raw(data)) for record_id, version, data in rows]
    return await _rows(session, actor, kind, ids)


async def _records_of(
    session: AsyncSession, actor: User, chunks: list[tuple[Kind, list[str]]]
) -> list[list[tuple[str, int, Any]]]:
    """The records of each chunk, in order. On PostgreSQL, writing the records' JSON is most of a
    first sync, and it keeps one core busy while the others wait: a second connection reading from
    the same snapshot (exported and imported) writes every other chunk at the same time."""
    engine = session.bind.engine if isinstance(session.bind, AsyncConnection) else session.bind
    if session.bind.dialect.name != "postgresql" or len(chunks) < PARALLEL_FROM or not _idle(engine):
        return [await _records(session, actor, kind, ids) for kind, ids in chunks]
    async with engine.connect() as connection:  # checked out at once, with nothing awaited since
        snapshot = await session.scalar(text("SELECT pg_export_snapshot()"))
        connection = await connection.execution_options(isolation_level="REPEATABLE READ")
        await connection.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        async with AsyncSession(bind=connection) as other:

            async def read(reader: AsyncSession, share: list[tuple[Kind, list[str]]]) -> list[Any]:
                return [await _records(reader, actor, kind, ids) for kind, ids in share]

            # Both run to their end before either's error goes up: neither may still be reading
            # on a connection that is being given back.
            halves = await asyncio.gather(
                read(session, chunks[0::2]), read(other, chunks[1::2]), return_exceptions=True
            )
    for half in halves:
        if isinstance(half, BaseException):
            raise half
    evens, odds = halves
    return [records for pair in itertools.zip_longest(evens, odds) for records in pair if records is not None]


def _idle(engine: AsyncEngine) -> bool:
    """Whether the pool has a connection no one is using. A pull holding one connection must never
    wait for a second: with every connection held by such pulls, none would ever come back."""
    pool = engine.sync_engine.pool
    return not isinstance(pool, QueuePool) or pool.checkedin() > 0


async def _rows(session: AsyncSession, actor: User, kind: Kind, ids: list[str]) -> list[tuple[str, int, Any]]:
    """The records read as plain rows: the ORM's identity map and relationships cost more than all
    the rest of a first sync."""
    query = select(*_columns(kind)).where(_among(session, kind.model.id, ids), kind.scope(actor))
    # Values stay as the database driver gives them (UUIDs, dates, decimals, enums): the answer's
    # JSON encoder writes each as its plain JSON form.
    records = [
        (str(row["id"]), row["version"], dict(row)) for row in (await session.execute(query)).mappings()
    ]
    for part in kind.parts:
        by_record = await _part_rows(session, part, ids)
        for record_id, _, data in records:
            data[part.name] = by_record.get(record_id, [])
    return records


async def _part_rows(session: AsyncSession, part: Part, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The part's rows of each of these records, in order, by record id."""
    column = part.table.c
    query = select(column[part.parent], *(column[name] for _, name in part.fields)).where(
        _among(session, column[part.parent], ids), *_part_where(part)
    )
    keys = [key for key, _ in part.fields]
    by_record: dict[str, list[dict[str, Any]]] = {}
    for record_id, *values in await session.execute(
        query.order_by(column[part.parent], *(column[name] for name in part.order_by))
    ):
        by_record.setdefault(str(record_id), []).append(dict(zip(keys, values, strict=True)))
    return by_record


def _part_where(part: Part) -> list[ColumnElement[bool]]:
    return [part.where(part.table.c)] if part.where is not None else []


# PostgreSQL writes each record's JSON itself, parts included: turning the 65,000 rows of a
# rep's first sync into Python values was most of its time. Every value comes out as the plain
# path writes it (a test compares them): decimals as strings, times in UTC ending in "Z", with
# microseconds when there are any.
def _json_value(column: Any) -> Any:
    if isinstance(column.type, DateTimeUTC):
        written = func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
        return func.replace(written, ".000000Z", "Z")
    if isinstance(column.type, Numeric) and not isinstance(column.type, Float):
        return cast(column, Text)
    return column


def _json_array(part: Part, parent: Table) -> Any:
    """The part's rows of the record as one compact JSON array, in order."""
    column = part.table.c
    row = (
        select(*(_json_value(column[name]).label(key) for key, name in part.fields))
        .correlate(part.table)
        .lateral("row")
    )
    items = func.string_agg(
        cast(func.row_to_json(row.table_valued()), Text),
        aggregate_order_by(literal(","), *(column[name] for name in part.order_by)),
    )
    array = (
        select(func.coalesce(literal("[") + items + literal("]"), "[]"))
        .select_from(part.table)
        .join(row, true())
        .where(column[part.parent] == parent.c.id, *_part_where(part))
        .correlate(parent)
        .scalar_subquery()
    )
    return cast(array, JSON)


def _as_json(session: AsyncSession, actor: User, kind: Kind, ids: list[str]) -> Any:
    table = kind.model.__table__
    fields = [_json_value(column).label(column.key) for column in _columns(kind)]
    fields += [_json_array(part, table).label(part.name) for part in kind.parts]
    record = select(*fields).correlate(table).lateral("record")
    return (
        select(table.c.id, table.c.version, cast(func.row_to_json(record.table_valued()), Text))
        .select_from(table)
        .join(record, true())
        .where(_among(session, table.c.id, ids), kind.scope(actor))
    )


def _same(names: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return tuple((name, name) for name in names)


_current_quote = Quote.__table__.alias("current_quote")
ORDER_PARTS = (
    Part("lines", OrderLine.__table__, "order_id", _same(LINE_FIELDS), ("position",),
         where=lambda line: line.deleted_at.is_(None)),
    Part("timeline", OrderStatusEvent.__table__, "order_id", (("status", "status"), ("at", "happened_at")),
         ("happened_at",)),
)  # fmt: skip
QUOTE_PARTS = (
    Part("lines", QuoteLine.__table__, "quote_id", _same(QUOTE_LINE_FIELDS), ("position",),
         where=lambda line: line.deleted_at.is_(None)),
    # The steps of the quote's current submission only.
    Part("approvals", QuoteApproval.__table__, "quote_id", _same(APPROVAL_FIELDS), ("step",),
         where=lambda step: step.round == select(_current_quote.c.approval_round)
         .where(_current_quote.c.id == step.quote_id).scalar_subquery()),
)  # fmt: skip


KINDS = (
    Kind("organisation_policy", OrganisationPolicy),
    Kind("users", User, ("id", "name", "role", "team_id", "version")),
    Kind("accounts", Account),
    Kind("contacts", Contact),
    Kind("visits", Visit),
    Kind("leads", Lead),
    # An order as the phone shows it, without the three timestamps it never reads (10,000 orders
    # carried 1 MB of them).
    Kind(
        "orders",
        Order,
        ("id", "version", "number", "account_id", "customer_po", "status", "ordered_at", "currency", "total"),
        parts=ORDER_PARTS,
    ),
    Kind("products", Product),
    Kind("approval_rules", ApprovalRule),
    Kind("quotes", Quote, parts=QUOTE_PARTS),
    Kind("reminders", Reminder),
)
KIND_OF_TABLE = {kind.model.__tablename__: kind for kind in KINDS}


async def _visible_versions(session: AsyncSession, actor: User) -> dict[str, dict[str, int]]:
    return {
        kind.name: {str(record_id): version for record_id, version in
                    await session.execute(select(kind.model.id, kind.model.version).where(kind.scope(actor)))}
        for kind in KINDS
    }  # fmt: skip


def _parse_cursor(cursor: str | None, epoch: int) -> int | None:
    """The client view a cursor names, if it names one of this epoch's.

    A cursor is "<epoch>.<number>", or a plain number in epoch 0 (so the cursors devices held
    before epochs existed stay good). A restore from a backup moves the epoch on: the views of
    the old timeline are gone, and a number from it could name another view of the new one, so a
    cursor of another epoch is unknown and the device starts afresh (keeping its outbox).
    """
    if not cursor:
        return None
    head, _, number = cursor.rpartition(".")
    try:
        return int(number) if int(head or 0) == epoch else None
    except ValueError:
        return None


def _cursor(epoch: int, number: int) -> str:
    return f"{epoch}.{number}" if epoch else str(number)


async def pull(open_session: OpenSession, actor_id: uuid.UUID, request: PullRequest) -> PullResponse:
    """The changes that bring the device from its cursor to what its person may see now."""
    check_schema(request.schema_version)
    for _ in range(ATTEMPTS):
        try:
            return await _pull(open_session, actor_id, request)
        except _NotBound:  # a new device (registered now), or someone else's (refused)
            await bind_device(open_session, actor_id, request.device_id, request.app_version)
        except DBAPIError as error:
            # A push of the same device changed its row after this pull's snapshot began, or
            # another pull of the device stored the client view this one numbered alike (each saw
            # the same newest view): a fresh snapshot answers.
            if not lost_a_race(error):
                raise
    raise SyncRefused(503, "busy", "The server is busy; try again.")


class _NotBound(Exception):
    """The device is not (yet) this person's."""


async def _snapshot(session: AsyncSession) -> None:
    """Make every read of this session come from one snapshot of the database."""
    if session.bind.dialect.name == "postgresql":
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    else:
        # SQLite's driver starts a transaction only before a write, so the reads would each see the
        # latest commits. IMMEDIATE also takes the write lock now: the view this pull stores can
        # never fail for a write that committed after its reads.
        await (await session.connection()).exec_driver_sql("BEGIN IMMEDIATE")


def _cursor_parts(cursor: str | None) -> tuple[int, int] | None:
    """(epoch, number) of a cursor, or None for none or a malformed one (see `_parse_cursor`)."""
    head, _, number = (cursor or "").rpartition(".")
    try:
        return int(head or 0), int(number)
    except ValueError:
        return None


@functools.cache
def _quiet_read() -> Select[Any]:
    """The device, its person, the change counter and the view the cursor names, in one read: built
    once (building it cost as much as running it)."""
    return (
        select(Device.last_mutation_id, ClientView.high_water, ChangeCounter.value.label("counter"), User)
        .join(User, User.id == Device.user_id)
        .join(ChangeCounter, ChangeCounter.id == 1)
        .join(ClientView, (ClientView.device_id == Device.id) & (ClientView.cursor == bindparam("number")))
        .where(
            Device.id == bindparam("device_id"), Device.user_id == bindparam("actor_id"), User.is_active.is_(True),
            User.deleted_at.is_(None), ChangeCounter.epoch == bindparam("epoch"), ClientView.high_water > 0,
        )
    )  # fmt: skip


async def _quiet(session: AsyncSession, actor_id: uuid.UUID, request: PullRequest) -> PullResponse | None:
    """The commonest pulls, answered without working out the person's scope: an active person's own
    device whose cursor names a whole client view (not a page of one), and

    - the change counter stands where it stood when the view was made: nothing has changed
      anywhere since (one read); or
    - what changed since touched nothing the person may see, now or then (`_out_of_reach`); the
      view then records the counter, so the next pull is the first kind.

    Anything else is left to the whole pull."""
    parts = _cursor_parts(request.cursor)
    if parts is None:
        return None
    epoch, number = parts
    found = (
        await session.execute(
            _quiet_read(),
            {"device_id": request.device_id, "actor_id": actor_id, "epoch": epoch, "number": number},
        )
    ).first()
    if found is None:
        return None
    if found.high_water != found.counter:
        if not await _out_of_reach(session, found.User, found.high_water):
            return None
        # Only forward: a pull of the same view that read a later counter may have been first.
        await session.execute(
            update(ClientView)
            .where(ClientView.device_id == request.device_id, ClientView.cursor == number,
                   ClientView.high_water < found.counter)
            .values(high_water=found.counter)
        )  # fmt: skip
        await session.commit()
    return PullResponse(cursor=request.cursor or "", last_mutation_id=found.last_mutation_id, changes=[],
                        reset=False, more=False, remaining=0)  # fmt: skip


@functools.cache
def _reach(role: Role, in_a_team: bool) -> dict[str, frozenset[str]]:
    """Per table, the columns whose values decide which records a person may see: every column the
    kinds' scopes read (the records' own, their accounts', their owners', the teams one leads).
    They are the same for everyone of a role; only the values differ."""
    someone = Person(id=uuid.UUID(int=0), role=role, team_id=uuid.UUID(int=1) if in_a_team else None)
    reach: dict[str, set[str]] = {}
    for kind in KINDS:
        for element in visitors.iterate(kind.scope(someone)):
            if isinstance(element, Column) and isinstance(element.table, Table):
                reach.setdefault(element.table.name, set()).add(element.name)
    return {name: frozenset(columns) for name, columns in reach.items()}


@functools.cache
def _changed_since(names: tuple[str, ...]) -> Select[Any]:
    """(kind, id, version) of each row of these tables changed after the bound `since`."""
    tables = [table for table in Versioned.metadata.sorted_tables if table.name in names]
    changed = union_all(*(
        select(literal(table.name).label("kind"), table.c.id, table.c.version).where(table.c.version > bindparam("since"))
        for table in tables
    )).subquery()  # fmt: skip
    return select(changed).limit(SHORTCUT_LIMIT + 1)


async def _out_of_reach(session: AsyncSession, actor: User, since: int) -> bool:
    """Whether every change since the counter stood at `since` is out of the actor's reach: so
    the records the actor may see are exactly those they might see then (a view made then holds
    them all), and none of them changed.

    Each record changed since must be one the actor may not see now and, by its audit trail
    (every command leaves one), one whose change touched none of the columns that decide reach,
    so the actor could not see it then either; and no change may touch a table that decides
    reach without being a kind (who leads which team). Unsure (many changes, a change the audit
    trail does not show), it answers no and the whole pull decides. One thing is left for the whole
    pull as for the first kind of quiet pull: orders that age past ORDERS_ON_DEVICE meanwhile.
    """
    reach, kinds = _reach(actor.role, actor.team_id is not None), KIND_OF_TABLE
    rows = (await session.execute(_changed_since(tuple(sorted(reach.keys() | kinds.keys()))), {"since": since})).all()  # fmt: skip
    if len(rows) > SHORTCUT_LIMIT or any(row.kind not in kinds for row in rows):
        return False
    if not rows:
        return True
    latest = {(row.kind, row.id): row.version for row in rows}
    for name in {row.kind for row in rows}:
        model = kinds[name].model
        ids = [row.id for row in rows if row.kind == name]
        if await session.scalar(select(model.id).where(model.id.in_(ids), kinds[name].scope(actor)).limit(1)):
            return False  # in reach now: something to send
    events = await session.execute(
        select(AuditEvent.record_type, AuditEvent.record_id, AuditEvent.record_version, AuditEvent.before)
        .where(AuditEvent.record_id.in_({row.id for row in rows}), AuditEvent.record_version > since)
    )  # fmt: skip
    audited = set()
    for event in events:
        if event.before and reach.get(event.record_type, frozenset()) & event.before.keys():
            return False  # it may have been in reach then, or moved something else in or out
        if latest.get((event.record_type, event.record_id)) == event.record_version:
            audited.add((event.record_type, event.record_id))
    return audited == latest.keys()


async def _pull(open_session: OpenSession, actor_id: uuid.UUID, request: PullRequest) -> PullResponse:
    async with open_session() as session:
        # One statement reads from one snapshot by itself: the quiet pull needs no transaction of its
        # own (on SQLite, no write lock either).
        if (answer := await _quiet(session, actor_id, request)) is not None:
            return answer
        await session.rollback()  # the whole pull's snapshot starts afresh
        await _snapshot(session)
        actor = await session.get(User, actor_id)
        if actor is None or not actor.is_active or actor.deleted_at is not None:
            raise SyncRefused(401, "signed_out", "This account is no longer active.")
        device = await session.get(Device, request.device_id)
        if device is None or device.user_id != actor.id:
            raise _NotBound
        epoch, high_water = await current_epoch_and_version(session)
        since = _parse_cursor(request.cursor, epoch)
        view = await session.get(ClientView, (device.id, since)) if since is not None else None
        if view is not None and view.high_water == high_water:  # nothing changed since: nothing to send
            return _nothing_new(_cursor(epoch, since), device)
        held: dict[str, dict[str, int]] = {}
        owed: dict[str, Any] | None = None
        if view is not None:
            held, owed = (
                await session.execute(
                    select(ClientView.records, ClientView.pending).where(
                        ClientView.device_id == device.id, ClientView.cursor == since
                    )
                )
            ).one()
        if owed is not None and owed["high_water"] == high_water:
            # The next page of a paged pull, and nothing changed anywhere since its first page
            # worked out what the device is owed: that is still exactly what it may see.
            now = {
                kind.name: {**held.get(kind.name, {}), **owed["records"].get(kind.name, {})} for kind in KINDS
            }
        else:
            now = await _visible_versions(session, actor)

        chunks: list[tuple[Kind, list[str]]] = []
        budget = PAGE_SIZE
        for kind in KINDS:
            had, has = held.get(kind.name, {}), now[kind.name]
            wanted = [record_id for record_id, version in has.items() if had.get(record_id) != version][
                :budget
            ]
            budget -= len(wanted)
            chunks += [(kind, wanted[start : start + CHUNK]) for start in range(0, len(wanted), CHUNK)]
        found: dict[str, list[tuple[list[str], list[tuple[str, int, Any]]]]] = {}
        for (kind, chunk), records in zip(chunks, await _records_of(session, actor, chunks), strict=True):
            found.setdefault(kind.name, []).append((chunk, records))

        changes: list[Change] = []
        sent: dict[str, dict[str, int]] = {}
        for kind in KINDS:
            had, has = held.get(kind.name, {}), now[kind.name]
            kept = {record_id: version for record_id, version in had.items() if record_id in has}
            changes += [
                Change(kind=kind.name, op="delete", id=record_id) for record_id in had if record_id not in has
            ]
            for chunk, records in found.get(kind.name, []):
                for record_id, version, data in records:
                    changes.append(Change(kind=kind.name, op="put", id=record_id, data=data))
                    kept[record_id] = has[record_id] = version
                # One no longer found (an order that has just aged past what the phone keeps) is
                # not owed any more, or the pages would never end.
                for record_id in set(chunk) - {record_id for record_id, _, _ in records}:
                    del has[record_id]
            sent[kind.name] = kept
        still_owed = {name: {record_id: version for record_id, version in records.items()
                             if sent[name].get(record_id) != version} for name, records in now.items()}  # fmt: skip
        remaining = sum(map(len, still_owed.values()))

        if view is not None and owed is None and not changes:  # nothing new for this person: the same cursor
            if view.high_water != high_water:  # ... and the next pull knows it without looking again
                view.high_water = high_water
                await session.commit()
            return _nothing_new(_cursor(epoch, since), device)
        cursor = max((since or 0), await _newest_cursor(session, device.id)) + 1
        session.add(
            ClientView(device_id=device.id, cursor=cursor, records=sent, created_at=utcnow(),
                       high_water=high_water if remaining == 0 else 0,
                       pending={"high_water": high_water, "records": still_owed} if remaining else None)
        )  # fmt: skip
        await session.execute(
            delete(ClientView).where(
                ClientView.device_id == device.id, ClientView.cursor <= cursor - VIEWS_KEPT
            )
        )
        last_mutation_id = device.last_mutation_id
        await session.commit()
        await _note_seen(session, device.id)
    return PullResponse(cursor=_cursor(epoch, cursor), last_mutation_id=last_mutation_id, changes=changes,
                        reset=view is None, more=remaining > 0, remaining=remaining)  # fmt: skip


async def _note_seen(session: AsyncSession, device_id: uuid.UUID) -> None:
    """Note when the device last pulled, in a transaction of its own after the pull's, and only if
    no push of the device holds its row: a push notes it itself, and a pull that wrote the row in
    its snapshot failed whenever a push had changed it meanwhile (or waited for the push to end)."""
    free = select(Device.id).where(Device.id == device_id).with_for_update(skip_locked=True)
    await session.execute(
        update(Device).where(Device.id.in_(free.scalar_subquery())).values(last_seen_at=utcnow())
    )
    await session.commit()


def _nothing_new(cursor: str, device: Device) -> PullResponse:
    """The answer to a pull that finds nothing new: the same cursor, no changes."""
    return PullResponse(cursor=cursor, last_mutation_id=device.last_mutation_id, changes=[],
                        reset=False, more=False, remaining=0)  # fmt: skip


async def _newest_cursor(session: AsyncSession, device_id: uuid.UUID) -> int:
    newest = await session.scalar(
        select(ClientView.cursor)
        .where(ClientView.device_id == device_id)
        .order_by(ClientView.cursor.desc())
        .limit(1)
    )
    return newest or 0
