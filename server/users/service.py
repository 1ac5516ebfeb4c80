"""Users: who can be chosen as an owner, signing in as a demo user, and personal preferences."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import available_timezones

from advanced_alchemy.service import OffsetPagination
from sqlalchemy import func, or_, select

from server.auth import visible
from server.commands import apply_changes, client_id, insert
from server.db import utcnow
from server.errors import CommandError, Message, NotFound, PermissionDenied, ValidationError
from server.i18n import LANGUAGE_CODES, N_
from server.users.models import Role, Team, User
from server.validation import Fields, parse_uuid

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
    """A user who may sign in (the demo sign-in's pick)."""
    try:
        user = await _get_user(session, user_id)
    except NotFound:
        user = None
    if user is None or not user.is_active:
        raise NotFound(Message(N_("That user does not exist or cannot sign in.")))
    return user


async def record_sign_in(session: AsyncSession, user: User, changes: Mapping[str, Any] | None = None) -> User:
    """users.sign_in: note that `user` signed in (with what the identity provider said of them)."""
    await apply_changes(
        session, user, user, {**(changes or {}), "last_sign_in_at": utcnow()}, "users.sign_in"
    )
    return user


async def set_locale(session: AsyncSession, actor: User, locale: str | None) -> User:
    """users.set_locale: the language this person wants, or None to follow the browser."""
    if locale is not None and locale not in LANGUAGE_CODES:
        raise ValidationError({"locale": Message(N_("Choose one of the options."))})
    await apply_changes(session, actor, actor, {"locale": locale}, "users.set_locale")
    return actor


async def set_day_settings(session: AsyncSession, actor: User, raw: Mapping[str, Any]) -> User:
    """users.set_day_settings: the person's time zone, and the home base their route starts from."""
    fields = Fields(raw)
    fields.text("time_zone", required=True, max_length=64)
    fields.number("home_latitude", minimum=-90, maximum=90)
    fields.number("home_longitude", minimum=-180, maximum=180)
    values = fields.result()
    if values["time_zone"] not in available_timezones():
        raise ValidationError({"time_zone": Message(N_("Choose a time zone such as Europe/London."))})
    if (values["home_latitude"] is None) != (values["home_longitude"] is None):
        raise ValidationError(
            {"home_longitude": Message(N_("Enter both latitude and longitude, or neither."))}
        )
    await apply_changes(session, actor, actor, values, "users.set_day_settings")
    return actor


async def set_quiet_hours(session: AsyncSession, actor: User, raw: Mapping[str, Any]) -> User:
    """users.set_quiet_hours: no reminder pushes between these times on the person's clock (both
    empty: none); a reminder due then arrives when they end."""
    fields = Fields(raw)
    fields.time("quiet_start")
    fields.time("quiet_end")
    values = fields.result()
    if (values.get("quiet_start") is None) != (values.get("quiet_end") is None):
        missing = "quiet_end" if values.get("quiet_end") is None else "quiet_start"
        raise ValidationError({missing: Message(N_("Give both times, or neither."))})
    await apply_changes(session, actor, actor, values, "users.set_quiet_hours")
    return actor


# --- administration ---------------------------------------------------------------------------
#
# `actor` is the admin doing it, or None for the identity provider's provisioning (SCIM), which is
# authorised by its bearer token before it gets here.

ROLE_RANK = {Role.REP: 0, Role.MANAGER: 1, Role.ADMIN: 2}
PROFILE_FIELDS = ("email", "name", "role", "team_id", "manager_id", "is_active", "external_id")
USERS_PAGE_SIZE = 25


def _require_admin(actor: User | None) -> None:
    if actor is not None and actor.role is not Role.ADMIN:
        raise PermissionDenied(Message(N_("You do not have access to this.")))


async def _validate_profile(
    session: AsyncSession, raw: Mapping[str, Any], *, partial: bool, user: User | None = None
) -> dict[str, Any]:
    fields = Fields(raw, partial=partial)
    fields.email("email", required=True)
    fields.text("name", required=True, max_length=200)
    fields.choice("role", Role, default=Role.REP)
    fields.uuid("team_id")
    fields.uuid("manager_id")
    fields.text("external_id", max_length=255)
    values = fields.result()
    errors: dict[str, Message] = {}
    if "email" in values:
        taken = await session.scalar(select(User.id).where(func.lower(User.email) == values["email"]))
        if taken is not None and (user is None or taken != user.id):
            errors["email"] = Message(N_("Someone already has this email address."))
    if values.get("team_id") and await session.get(Team, values["team_id"]) is None:
        errors["team_id"] = Message(N_("Choose one of the options."))
    if manager_id := values.get("manager_id"):
        manager = await session.get(User, manager_id)
        if manager is None or manager.role is Role.REP or (user is not None and manager.id == user.id):
            errors["manager_id"] = Message(N_("Choose a manager or an administrator."))
    if errors:
        raise ValidationError(errors)
    if "external_id" in values:
        values["external_id"] = values["external_id"] or None
    return values


async def invite(
    session: AsyncSession, actor: User | None, raw: Mapping[str, Any], *, record_id: Any = None
) -> User:
    """users.invite: set someone up before their first sign-in, with their role ready."""
    _require_admin(actor)
    user_id = client_id(record_id)
    if existing := await session.get(User, user_id):
        return existing
    values = await _validate_profile(session, raw, partial=False)
    user = User(id=user_id, is_active=True, **values)
    return await insert(session, actor, user, "users.invite", PROFILE_FIELDS)


async def change(session: AsyncSession, actor: User | None, user_id: Any, raw: Mapping[str, Any]) -> User:
    """users.change: name, email, role, team or manager, as far as `raw` names them."""
    _require_admin(actor)
    user = await _get_user(session, user_id)
    values = await _validate_profile(session, raw, partial=True, user=user)
    if actor is not None and user.id == actor.id and values.get("role", Role.ADMIN) is not Role.ADMIN:
        raise ValidationError({"role": Message(N_("You cannot take away your own administrator role."))})
    await apply_changes(session, actor, user, values, "users.change")
    return user


async def set_active(session: AsyncSession, actor: User | None, user_id: Any, active: bool) -> User:
    """users.deactivate / users.reactivate. A deactivated user's sessions stop at their next request."""
    _require_admin(actor)
    user = await _get_user(session, user_id)
    if not active and actor is not None and user.id == actor.id:
        raise ValidationError({"is_active": Message(N_("You cannot deactivate yourself."))})
    action = "users.reactivate" if active else "users.deactivate"
    await apply_changes(session, actor, user, {"is_active": active}, action)
    return user


async def _get_user(session: AsyncSession, user_id: Any) -> User:
    parsed = parse_uuid(user_id)
    user = await session.get(User, parsed) if parsed else None
    if user is None or user.deleted_at is not None:
        raise NotFound(Message(N_("That record does not exist or is not yours to see.")))
    return user


async def get_for_admin(session: AsyncSession, actor: User, user_id: Any) -> User:
    _require_admin(actor)
    return await _get_user(session, user_id)


async def search_users(
    session: AsyncSession,
    actor: User,
    term: str = "",
    *,
    role: str = "",
    status: str = "",
    offset: int = 0,
    limit: int = USERS_PAGE_SIZE,
) -> OffsetPagination[User]:
    """Users for the admin list: search by name or email, filter by role and status."""
    _require_admin(actor)
    where = [visible(actor, User)]
    if term := term.strip()[:100]:
        like = f"%{term.lower()}%"
        where.append(or_(func.lower(User.name).like(like), func.lower(User.email).like(like)))
    if role in {r.value for r in Role}:
        where.append(User.role == Role(role))
    if status == "active":
        where.append(User.is_active.is_(True))
    elif status == "inactive":
        where.append(User.is_active.is_(False))
    elif status == "invited":
        where.append(User.last_sign_in_at.is_(None))
    total = await session.scalar(select(func.count()).select_from(User).where(*where)) or 0
    rows = await session.scalars(
        select(User).where(*where).order_by(func.lower(User.name), User.id).offset(offset).limit(limit)
    )
    return OffsetPagination(items=list(rows), total=total, offset=offset, limit=limit)


async def teams(session: AsyncSession) -> list[Team]:
    return list(await session.scalars(select(Team).where(Team.deleted_at.is_(None)).order_by(Team.name)))


async def managers(session: AsyncSession) -> list[User]:
    return list(
        await session.scalars(
            select(User)
            .where(
                User.role.in_((Role.MANAGER, Role.ADMIN)), User.is_active.is_(True), User.deleted_at.is_(None)
            )
            .order_by(func.lower(User.name))
        )
    )


# --- sign-in through the identity provider ------------------------------------------------------


def role_from_groups(groups: Any, role_groups: Mapping[str, str]) -> Role | None:
    """The highest role any of the person's groups grants, or None when none of them maps."""
    names = [groups] if isinstance(groups, str) else list(groups or [])
    roles = [Role(role_groups[name]) for name in names if isinstance(name, str) and name in role_groups]
    return max(roles, key=ROLE_RANK.__getitem__) if roles else None


@dataclass(frozen=True)
class Identity:
    """Who the identity provider says signed in, from a checked id_token."""

    subject: str
    email: str
    name: str
    role: Role | None


class SignInRefused(CommandError):
    code = "sign_in_refused"
    status_code = 403


async def sign_in_identity(
    session: AsyncSession, identity: Identity, *, create_users: bool, allowed_domains: tuple[str, ...]
) -> User:
    """users.sign_in: find (or, when allowed, create) the person the identity provider vouched for.

    Matches on the provider's subject first, then on an invited person's email. The provider's
    groups, when they name a role, set the role at every sign-in.
    """
    email = identity.email.strip().lower()
    if allowed_domains and email.rpartition("@")[2] not in allowed_domains:
        raise SignInRefused(Message(N_("Accounts from this email domain cannot sign in to Fieldbook.")))
    user = await session.scalar(select(User).where(User.oidc_subject == identity.subject))
    if user is None and email:
        user = await session.scalar(
            select(User).where(func.lower(User.email) == email, User.oidc_subject.is_(None))
        )
    if user is None:
        if not create_users or not email:
            raise SignInRefused(
                Message(N_("Your account has not been set up in Fieldbook yet. Ask your administrator."))
            )
        user = User(
            email=email,
            name=identity.name or email,
            role=identity.role or Role.REP,
            oidc_subject=identity.subject,
        )
        await insert(session, None, user, "users.sign_in_create", PROFILE_FIELDS)
    if not user.is_active or user.deleted_at is not None:
        raise SignInRefused(
            Message(N_("Your Fieldbook account has been deactivated. Ask your administrator."))
        )
    changes: dict[str, Any] = {"oidc_subject": identity.subject}
    if identity.role is not None:
        changes["role"] = identity.role
    return await record_sign_in(session, user, changes)


async def names_by_id(session: AsyncSession, ids: Any) -> dict[Any, str]:
    """Display names for a set of user ids, in one query (for lists that show who did what)."""
    wanted = {user_id for user_id in ids if user_id is not None}
    if not wanted:
        return {}
    rows = await session.execute(select(User.id, User.name).where(User.id.in_(wanted)))
    return dict(rows.tuples().all())


async def find_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
