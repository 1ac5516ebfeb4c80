"""Users: who can be chosen as an owner, signing in as a demo user, and personal preferences."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from server.auth import visible
from server.commands import apply_changes
from server.errors import Message, NotFound, ValidationError
from server.i18n import LANGUAGE_CODES, N_
from server.users.models import Role, User
from server.validation import parse_uuid

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


async def assignable_owners(session: AsyncSession, actor: User) -> list[User]:
    """People the actor may make the owner of an account, for the owner picker."""
    rows = await session.scalars(
        select(User)
        .where(visible(actor, User), User.is_active.is_(True), User.role.in_((Role.REP, Role.MANAGER)))
        .order_by(func.lower(User.name))
    )
    return list(rows)


async def demo_users(session: AsyncSession) -> list[User]:
    """Everyone who can be picked on the demo sign-in page, admins and managers first."""
    order = {Role.ADMIN: 0, Role.MANAGER: 1, Role.REP: 2}
    rows = await session.scalars(select(User).where(User.is_active.is_(True), User.deleted_at.is_(None)))
    return sorted(rows, key=lambda user: (order[user.role], user.name.lower()))


async def active_user(session: AsyncSession, user_id: Any) -> User:
    user = await session.get(User, parse_uuid(user_id)) if parse_uuid(user_id) else None
    if user is None or not user.is_active or user.deleted_at is not None:
        raise NotFound(Message(N_("That user does not exist or cannot sign in.")))
    return user


async def set_locale(session: AsyncSession, actor: User, locale: str | None) -> User:
    """users.set_locale: the language this person wants, or None to follow the browser."""
    if locale is not None and locale not in LANGUAGE_CODES:
        raise ValidationError({"locale": Message(N_("Choose one of the options."))})
    await apply_changes(session, actor, actor, {"locale": locale}, "users.set_locale")
    return actor
