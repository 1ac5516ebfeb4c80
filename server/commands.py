"""The bookkeeping every named command shares (DESIGN.md, "One write path").

A command validates its input and checks permission itself, then hands the write to `insert` or
`apply_changes`, which take the next change-sequence value, stamp the record and record an
audit event, so no command can forget one of them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import inspect

from server.audit import service as audit
from server.db import Versioned, locked, new_id, next_version, stamp
from server.errors import Message, ValidationError
from server.i18n import N_
from server.validation import parse_uuid

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from server.users.models import User

R = TypeVar("R", bound=Versioned)


def client_id(record_id: Any) -> uuid.UUID:
    """The id a client generated for the record it creates, or a new one when it sent none."""
    if record_id is None or record_id == "":
        return new_id()
    parsed = parse_uuid(record_id)
    if parsed is None:
        raise ValidationError({"id": Message(N_("Choose one of the options."))})
    return parsed


async def insert(
    session: AsyncSession, actor: User | None, record: R, action: str, fields: tuple[str, ...]
) -> R:
    stamp(record, await next_version(session))
    record.created_at = record.updated_at  # one moment: never "changed before it was made"
    session.add(record)
    await session.flush()
    audit.record(session, actor, action, record, after=audit.snapshot(record, fields))
    return record


async def apply_changes(
    session: AsyncSession, actor: User | None, record: R, values: Mapping[str, Any], action: str
) -> dict[str, Any]:
    """Set the values that differ from the record's; an edit that changes nothing writes nothing.

    The record is read again first, under its row's lock (`server.db.locked`): what differs, and
    the audit trail's "before", are worked out from what is committed now."""
    if inspect(record).persistent:
        await locked(session, type(record), record.id)
    changed = {name: value for name, value in values.items() if getattr(record, name) != value}
    if changed:
        before = audit.snapshot(record, changed)
        version = await next_version(session)  # before the fields change, or autoflush writes them twice
        for name, value in changed.items():
            setattr(record, name, value)
        stamp(record, version)
        await session.flush()
        audit.record(session, actor, action, record, before=before, after=audit.snapshot(record, changed))
    return changed
