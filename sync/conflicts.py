"""Conflicts a person settles: `sync.resolve_conflict` puts the value they choose back.

A conflict (sync/merge.py) is kept when a device and the server both changed one field. The
person who made the change sees theirs, the server's and the original, and chooses one; the
chosen value goes through the record's own edit command, so it is validated, permission-checked
and audited like any other edit. Choosing the value that already stands only closes the conflict.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from server.accounts import service as accounts
from server.contacts import service as contacts
from server.db import utcnow
from server.errors import Message, NotFound, ValidationError
from server.i18n import N_
from server.leads import service as leads
from server.validation import parse_uuid
from sync.models import Conflict

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from server.users.models import User

CHOICES = ("yours", "server", "original")
# The edit command of each kind of record a conflict can be about.
EDITS: dict[str, Callable[[AsyncSession, User, Any, Mapping[str, Any]], Awaitable[Any]]] = {
    "accounts": accounts.update,
    "contacts": contacts.update,
    "leads": leads.update,
}


async def open_conflicts(session: AsyncSession, actor: User) -> list[Conflict]:
    """The person's conflicts still waiting for a choice, oldest first."""
    query = select(Conflict).where(Conflict.user_id == actor.id, Conflict.resolved_at.is_(None))
    return list(await session.scalars(query.order_by(Conflict.created_at)))


async def resolve(session: AsyncSession, actor: User, raw: Mapping[str, Any]) -> Conflict:
    """sync.resolve_conflict: keep `choice` ("yours", "server" or "original") for the conflict's field."""
    conflict_id = parse_uuid(raw.get("conflict_id"))
    conflict = await session.get(Conflict, conflict_id) if conflict_id else None
    if conflict is None or conflict.user_id != actor.id:
        raise NotFound(Message(N_("That conflict was not found.")))
    choice = raw.get("choice")
    if choice not in CHOICES:
        raise ValidationError({"choice": Message(N_("Choose your value, the server's or the original."))})
    if conflict.resolved_at is None:
        if choice != conflict.kept:
            await EDITS[conflict.record_kind](
                session, actor, conflict.record_id, {conflict.field: conflict.values.get(choice)}
            )
        conflict.resolved_at = utcnow()
    return conflict
