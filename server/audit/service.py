"""Recording audit events. Every command calls `record` for what it changed."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from server.audit.models import AuditEvent

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from server.users.models import User


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
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
    )
    session.add(event)
    return event


async def events_for(session: AsyncSession, record_id: uuid.UUID) -> list[AuditEvent]:
    result = await session.scalars(
        select(AuditEvent).where(AuditEvent.record_id == record_id).order_by(AuditEvent.created_at, AuditEvent.id)
    )
    return list(result)
