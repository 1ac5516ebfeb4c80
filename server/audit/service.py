"""Recording audit events. Every command calls `record` for what it changed."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from advanced_alchemy.service import OffsetPagination
from sqlalchemy import func, or_, select

from server.audit.models import AuditEvent
from server.db import add_log_row

if TYPE_CHECKING:
    from sqlalchemy import Select
    from sqlalchemy.ext.asyncio import AsyncSession

    from server.users.models import User


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def snapshot(record: Any, fields: Iterable[str]) -> dict[str, Any]:
    """The JSON-safe values of `fields` on a record, for the before/after of an audit event."""
    return {name: _plain(getattr(record, name)) for name in fields}


def record(
    session: AsyncSession,
    actor: User | None,
    action: str,
    target: Any,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        actor_id=actor.id if actor else None,
        action=action,
        record_type=target.__tablename__,
        record_id=target.id,
        before=before,
        after=after,
        record_version=getattr(target, "version", None),
    )
    add_log_row(session, event)
    return event


async def changed_since(
    session: AsyncSession, record_id: uuid.UUID, version: int, *, ignoring: Select[tuple[int]] | None = None
) -> dict[str, Any]:
    """The fields of a record changed after `version` (leaving out the changes that made the versions
    `ignoring` selects), each with its value before the first such change."""
    query = select(AuditEvent).where(AuditEvent.record_id == record_id, AuditEvent.record_version > version)
    if ignoring is not None:
        query = query.where(AuditEvent.record_version.not_in(ignoring.scalar_subquery()))
    events = await session.scalars(query.order_by(AuditEvent.record_version, AuditEvent.id))
    original: dict[str, Any] = {}
    for event in events:
        for name, value in (event.before or {}).items():
            original.setdefault(name, value)
        for name in event.after or {}:
            original.setdefault(name, None)
    return original


async def events_for(session: AsyncSession, record_id: uuid.UUID, *, limit: int = 50) -> list[AuditEvent]:
    """The latest events about one record (or done by one person), newest first."""
    result = await session.scalars(
        select(AuditEvent)
        .where(or_(AuditEvent.record_id == record_id, AuditEvent.actor_id == record_id))
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        .limit(limit)
    )
    return list(result)


AUDIT_PAGE_SIZE = 50


def filters(
    *, actor_id: uuid.UUID | None = None, record_id: uuid.UUID | None = None, action: str = ""
) -> list[Any]:
    """The audit log's WHERE clauses (the CSV export uses them too)."""
    where: list[Any] = []
    if actor_id is not None:
        where.append(AuditEvent.actor_id == actor_id)
    if record_id is not None:
        where.append(AuditEvent.record_id == record_id)
    if action := action.strip()[:80]:
        where.append(AuditEvent.action.startswith(action, autoescape=True))
    return where


async def search(
    session: AsyncSession,
    *,
    actor_id: uuid.UUID | None = None,
    record_id: uuid.UUID | None = None,
    action: str = "",
    offset: int = 0,
    limit: int = AUDIT_PAGE_SIZE,
) -> OffsetPagination[AuditEvent]:
    """The audit log, newest first, filtered by who did it, which record, and what."""
    where = filters(actor_id=actor_id, record_id=record_id, action=action)
    total = await session.scalar(select(func.count()).select_from(AuditEvent).where(*where)) or 0
    rows = await session.scalars(
        select(AuditEvent).where(*where).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        .offset(offset).limit(limit)
    )  # fmt: skip
    return OffsetPagination(items=list(rows), total=total, offset=offset, limit=limit)


async def actions(session: AsyncSession) -> list[str]:
    return list(await session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)))
