"""Applying a device's mutations exactly once (DESIGN.md, "Offline sync protocol", push).

Mutations are applied in order, in groups: each group is one transaction with the device's row
locked. One already applied (a retry after a lost response, a second tab) gets its stored result
again; one that skips ahead is refused with 409 and nothing after it runs; one a command refuses
(invalid, forbidden, its record gone) rolls back alone, is recorded as rejected with the reason
and still moves the device's counter on, so it never blocks the changes behind it. What a group's
mutations did, their ledger rows and the device's counter commit together, so a mutation is
applied exactly when it is recorded. The ledger row's primary key (device, mutation id) is the
last line of defence: two transactions can never both record the same mutation.

Groups rather than a transaction per mutation: a commit (and the device's lock and counter
around it) cost as much as a mutation's own work, and a push of a day's changes is often a
hundred of them. A group first runs without savepoints, which cost two more statements per
mutation: refusals are rare. If one is refused, the group is rolled back and runs again with each
mutation in a savepoint of its own, so only the refused one is undone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import itertools
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from server.db import OpenSession, batched, lost_a_race, stamp_versions, utcnow, versions_taken
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


@dataclass(frozen=True)
class GroupLimits:
    """How many mutations share a transaction. A group holds the change counter (and so every
    other writer in the organisation) from its first change until it commits: it ends after
    `size` mutations or once it has run `seconds`, whichever comes first."""

    size: int
    seconds: float


GROUP_LIMITS = GroupLimits(size=50, seconds=0.1)


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


async def _device_for(
    session: AsyncSession, user_id: uuid.UUID, device_id: uuid.UUID, app_version: str
) -> Device:
    """The device, bound to this user on first contact (added to the session, not committed)."""
    device = await session.get(Device, device_id)
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


async def _lock_device(
    session: AsyncSession, user_id: uuid.UUID, device_id: uuid.UUID, now: dt.datetime
) -> int:
    """Lock the device's row for the group (a write: on SQLite it also takes the one writer's lock,
    so the transaction has begun before the first savepoint) and return its last mutation id."""
    last = await session.scalar(
        update(Device)
        .where(Device.id == device_id, Device.user_id == user_id)
        .values(last_seen_at=now)
        .returning(Device.last_mutation_id)
        .execution_options(synchronize_session=False)
    )
    if last is None:  # bound to someone else since (or forgotten): the device must start afresh
        raise SyncRefused(409, "device_reset", "This device synced for someone else; start afresh.")
    return last


async def _stored_results(
    session: AsyncSession, device_id: uuid.UUID, mutations: Sequence[Mutation]
) -> list[MutationResult]:
    """The results already given for mutations applied before (a retry, or a second tab)."""
    ids = [mutation.id for mutation in mutations]
    stored = {
        record.mutation_id: record
        for record in await session.scalars(
            select(MutationRecord).where(
                MutationRecord.device_id == device_id, MutationRecord.mutation_id.in_(ids)
            )
        )
    }
    return [_stored(stored.get(mutation_id), mutation_id) for mutation_id in ids]


async def _apply(
    session: AsyncSession,
    actor: User,
    device_id: uuid.UUID,
    mutation: Mutation,
    registry: Registry,
    received_at: dt.datetime,
) -> tuple[dict[str, Any], int | None]:
    """Run one mutation's command; return its outcome and the version it gave its record (None if
    it changed nothing). A refusal raises CommandError."""
    handler = registry.get(mutation.name)
    if handler is None:
        raise CommandError(Message(N_("The server does not know this kind of change; update the app.")))
    args, conflicts = mutation.args, []
    if merge := registry.merges.get(mutation.name):
        args, conflicts = await merge_args(session, merge, args, mutation.base_version, user_id=actor.id,
                                           device_id=device_id, mutation_id=mutation.id)  # fmt: skip
    taken_before = len(versions_taken(session))
    record = await handler(session, actor, args, Context(received_at=received_at))
    version = getattr(record, "version", None)
    outcome = {"id": str(record.id), "version": version}
    if conflicts:
        outcome["conflicts"] = conflicts
    # The version this mutation gave its record, or None if it changed nothing (its outcome still
    # says which version the record is at). A later merge takes only these for the device's own
    # changes: an edit that changed nothing must not hide the change that made the current version.
    own = version if version in versions_taken(session)[taken_before:] else None
    return outcome, own


async def _apply_in_savepoint(
    session: AsyncSession,
    actor: User,
    device_id: uuid.UUID,
    mutation: Mutation,
    registry: Registry,
    render: RenderMessage,
    received_at: dt.datetime,
) -> tuple[str, dict[str, Any], int | None]:
    """Run one mutation in a savepoint: refused, it rolls back alone, and says why."""
    try:
        async with session.begin_nested():
            return "applied", *await _apply(session, actor, device_id, mutation, registry, received_at)
    except CommandError as error:
        return "rejected", _reason(error, render), None


async def _apply_group(
    session: AsyncSession,
    user_id: uuid.UUID,
    device_id: uuid.UUID,
    mutations: Sequence[Mutation],
    registry: Registry,
    render: RenderMessage,
    limits: GroupLimits,
    *,
    savepoints: bool,
) -> tuple[list[MutationResult], int]:
    """Apply the first of `mutations` as one transaction; returns their results and the device's
    last mutation id. The ledger rows and the device's counter commit with what the mutations did.

    Without `savepoints`, a refusal raises CommandError and the caller rolls the group back."""
    started, now = time.monotonic(), utcnow()
    last = await _lock_device(session, user_id, device_id, now)
    done = [mutation for mutation in mutations if mutation.id <= last]
    results = await _stored_results(session, device_id, done) if done else []
    new = mutations[len(done) : len(done) + limits.size]
    if not new:
        return results, last
    if new[0].id != last + 1:  # ids rise one by one (checked), so only the first can skip ahead
        raise SyncRefused(409, "mutation_gap", f"Expected mutation {last + 1}.", last)
    actor = await session.get(User, user_id)
    if actor is None or not actor.is_active or actor.deleted_at is not None:
        raise SyncRefused(401, "signed_out", "This account is no longer active.", last)
    applied: list[tuple[Mutation, str, dict[str, Any], int | None, dt.datetime]] = []
    # Without savepoints, the group writes as one batch (server.db.batched).
    async with contextlib.nullcontext() if savepoints else batched(session):
        for mutation in new:
            received_at = utcnow()
            if savepoints:
                status, outcome, own = await _apply_in_savepoint(session, actor, device_id, mutation, registry, render, received_at)  # fmt: skip
            else:
                status, (outcome, own) = "applied", await _apply(session, actor, device_id, mutation, registry, received_at)  # fmt: skip
            applied.append((mutation, status, outcome, own, received_at))
            last = mutation.id
            if time.monotonic() - started >= limits.seconds:
                break
    # The group's versions are stand-ins until now (server.db.next_version): from here to the
    # commit the change counter is locked, so what follows is a few statements with nothing to wait
    # for. The ledger and the answers carry the real versions.
    real = await stamp_versions(session)
    for mutation, status, outcome, own, received_at in applied:
        if outcome.get("version") is not None:
            outcome["version"] = real(outcome["version"])
        session.add(MutationRecord(device_id=device_id, mutation_id=mutation.id, name=mutation.name[:80],
                                   status=status, outcome=outcome, received_at=received_at,
                                   record_version=None if own is None else real(own)))  # fmt: skip
        results.append(MutationResult(id=mutation.id, status=status, outcome=outcome))  # type: ignore[arg-type]
    await session.execute(
        update(Device)
        .where(Device.id == device_id)
        .values(last_mutation_id=last)
        .execution_options(synchronize_session=False)
    )
    await session.commit()
    return results, last


async def push(
    open_session: OpenSession,
    user_id: uuid.UUID,
    request: PushRequest,
    registry: Registry,
    render: RenderMessage,
    limits: GroupLimits = GROUP_LIMITS,
) -> PushResponse:
    """Apply the mutations in order; each exactly once, whatever was retried or sent twice."""
    _check_request(request)
    last = await bind_device(open_session, user_id, request.device_id, request.app_version)
    results: list[MutationResult] = []
    pending, group, failures, savepoints = list(request.mutations), limits, 0, False
    while pending:
        try:
            async with open_session() as session:
                done, last = await _apply_group(
                    session,
                    user_id,
                    request.device_id,
                    pending,
                    registry,
                    render,
                    group,
                    savepoints=savepoints,
                )
        except CommandError:
            # Refused part-way through a group run without savepoints: closing the session undid
            # the group. It runs again, each mutation in a savepoint, so the refusal rolls back alone.
            savepoints = True
            continue
        except DBAPIError as error:
            if not lost_a_race(error):
                raise
            # Another push for this device committed first, SQLite's writer was busy, or two groups
            # waited for each other's records (a deadlock PostgreSQL broke): the next attempt sees
            # what committed instead of applying the mutations again. The rest of this
            # push runs a transaction per mutation, so one that keeps failing holds back nothing
            # before it.
            failures += 1
            if failures == ATTEMPTS:
                raise SyncRefused(503, "busy", "The server is busy; try again.", last) from None
            group = dataclasses.replace(limits, size=1)
            continue
        results += done
        pending, failures, savepoints = pending[len(done) :], 0, False
    return PushResponse(last_mutation_id=last, results=results)
