"""Applying a device's mutations exactly once (DESIGN.md, "Offline sync protocol", push).

Each mutation runs in a transaction of its own with the device's row locked. One already applied
(a retry after a lost response, a second tab) gets its stored result again; one that skips ahead
is refused with 409 and nothing after it runs; one a command refuses (invalid, forbidden, its
record gone) is recorded as rejected with the reason and still moves the device's counter on, so
it never blocks the changes behind it. The ledger row's primary key (device, mutation id) is the
last line of defence: two transactions can never both record the same mutation.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from server.db import OpenSession, utcnow
from server.errors import CommandError, Message, ValidationError
from server.i18n import N_
from server.users.models import User
from sync.merge import merge_args
from sync.models import Device, MutationRecord
from sync.protocol import (
    MAX_MUTATIONS_PER_PUSH,
    SCHEMA_VERSION,
    Mutation,
    MutationResult,
    PushRequest,
    PushResponse,
)
from sync.registry import Context, Registry

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

RenderMessage = Callable[[Message], str]
# A commit that lost a race (SQLite's single writer, or the ledger's key) is tried again this often.
ATTEMPTS = 3


class SyncRefused(Exception):
    """A push or pull as a whole cannot go on; for a push `last_mutation_id` says how far it got."""

    def __init__(self, status_code: int, code: str, detail: str, last_mutation_id: int | None = None) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.code = code
        self.detail = detail
        self.last_mutation_id = last_mutation_id


def check_schema(schema_version: int) -> None:
    if schema_version != SCHEMA_VERSION:
        raise SyncRefused(
            426, "update_required", "This version of the app is out of date; reload it to update."
        )


def _check_request(request: PushRequest) -> None:
    check_schema(request.schema_version)
    if len(request.mutations) > MAX_MUTATIONS_PER_PUSH:
        raise SyncRefused(413, "too_many", f"Send at most {MAX_MUTATIONS_PER_PUSH} mutations at a time.")
    ids = [mutation.id for mutation in request.mutations]
    if any(later != earlier + 1 for earlier, later in itertools.pairwise(ids)) or any(i < 1 for i in ids):
        raise SyncRefused(400, "bad_order", "Mutation ids must be 1 or more and rise one by one.")


async def _device(session: AsyncSession, device_id: uuid.UUID, *, lock: bool) -> Device | None:
    query = select(Device).where(Device.id == device_id)
    return await session.scalar(query.with_for_update() if lock else query)


async def _device_for(
    session: AsyncSession, user_id: uuid.UUID, device_id: uuid.UUID, app_version: str
) -> Device:
    """The device, bound to this user on first contact (added to the session, not committed)."""
    device = await _device(session, device_id, lock=False)
    if device is None:
        now = utcnow()
        device = Device(id=device_id, user_id=user_id, app_version=app_version[:40], last_mutation_id=0,
                        created_at=now, last_seen_at=now)  # fmt: skip
        session.add(device)
    elif device.user_id != user_id:
        raise SyncRefused(409, "device_reset", "This device synced for someone else; start afresh.")
    return device


async def bind_device(
    open_session: OpenSession, user_id: uuid.UUID, device_id: uuid.UUID, app_version: str
) -> int:
    """The device's last applied mutation, registering the device first if it is new.

    In a transaction of its own, so two first requests of one new device (a push and a pull, two
    tabs) both find it registered instead of one failing on the other's insert.
    """
    for _ in range(ATTEMPTS):
        async with open_session() as session:
            device = await _device_for(session, user_id, device_id, app_version)
            try:
                await session.commit()
            except IntegrityError:  # registered by a concurrent push meanwhile: read it again
                continue
            return device.last_mutation_id
    raise SyncRefused(503, "busy", "The server is busy; try again.")


def _reason(error: CommandError, render: RenderMessage) -> dict[str, Any]:
    reason: dict[str, Any] = {"code": error.code, "message": render(error.message)}
    if isinstance(error, ValidationError):
        reason["fields"] = {name: render(message) for name, message in error.errors.items()}
    return reason


def _stored(record: MutationRecord | None, mutation_id: int) -> MutationResult:
    if record is None:  # applied long ago and since forgotten: it is applied all the same
        return MutationResult(id=mutation_id, status="applied", outcome={})
    return MutationResult(id=mutation_id, status=record.status, outcome=record.outcome)  # type: ignore[arg-type]


async def _apply_once(
    session: AsyncSession,
    user_id: uuid.UUID,
    device_id: uuid.UUID,
    mutation: Mutation,
    registry: Registry,
    render: RenderMessage,
) -> tuple[MutationResult, int]:
    # The device, locked, and its person (bound to it before any mutation runs), in one statement.
    device, actor = (
        await session.execute(
            select(Device, User)
            .join(User, User.id == Device.user_id)
            .where(Device.id == device_id, Device.user_id == user_id)
            .with_for_update(of=Device)
        )
    ).one()
    if mutation.id <= device.last_mutation_id:
        return _stored(
            await session.get(MutationRecord, (device_id, mutation.id)), mutation.id
        ), device.last_mutation_id
    if mutation.id != device.last_mutation_id + 1:
        raise SyncRefused(409, "mutation_gap", f"Expected mutation {device.last_mutation_id + 1}.",
                          device.last_mutation_id)  # fmt: skip
    if not actor.is_active or actor.deleted_at is not None:
        raise SyncRefused(401, "signed_out", "This account is no longer active.", device.last_mutation_id)
    received_at = utcnow()
    handler = registry.get(mutation.name)
    try:
        if handler is None:
            raise CommandError(Message(N_("The server does not know this kind of change; update the app.")))
        args, conflicts = mutation.args, []
        if merge := registry.merges.get(mutation.name):
            args, conflicts = await merge_args(session, merge, args, mutation.base_version, user_id=user_id,
                                               device_id=device_id, mutation_id=mutation.id)  # fmt: skip
        record = await handler(session, actor, args, Context(received_at=received_at))
        status, outcome = "applied", {"id": str(record.id), "version": getattr(record, "version", None)}
        if conflicts:
            outcome["conflicts"] = conflicts
    except CommandError as error:
        # Nothing the command wrote survives; the refusal itself is recorded in a clean transaction.
        await session.rollback()
        device = await _device(session, device_id, lock=True)
        assert device is not None
        if mutation.id <= device.last_mutation_id:
            stored = await session.get(MutationRecord, (device_id, mutation.id))
            return _stored(stored, mutation.id), device.last_mutation_id
        status, outcome = "rejected", _reason(error, render)
    session.add(MutationRecord(device_id=device_id, mutation_id=mutation.id, name=mutation.name[:80],
                               status=status, outcome=outcome, received_at=received_at,
                               record_version=outcome.get("version") if status == "applied" else None))  # fmt: skip
    device.last_mutation_id = mutation.id
    device.last_seen_at = received_at
    await session.commit()
    return MutationResult(id=mutation.id, status=status, outcome=outcome), mutation.id  # type: ignore[arg-type]


async def push(
    open_session: OpenSession,
    user_id: uuid.UUID,
    request: PushRequest,
    registry: Registry,
    render: RenderMessage,
) -> PushResponse:
    """Apply the mutations in order; each one exactly once, whatever was retried or sent twice."""
    _check_request(request)
    last = await bind_device(open_session, user_id, request.device_id, request.app_version)
    results: list[MutationResult] = []
    for mutation in request.mutations:
        for attempt in range(ATTEMPTS):
            try:
                async with open_session() as session:
                    result, last = await _apply_once(
                        session, user_id, request.device_id, mutation, registry, render
                    )
                break
            except (IntegrityError, OperationalError):
                # Another push for this device committed first (or SQLite's writer was busy):
                # the next attempt sees its result instead of applying the mutation again.
                if attempt == ATTEMPTS - 1:
                    raise SyncRefused(503, "busy", "The server is busy; try again.", last) from None
        results.append(result)
    return PushResponse(last_mutation_id=last, results=results)
