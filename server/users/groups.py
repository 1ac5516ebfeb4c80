"""Groups from the company's identity provider (SCIM Groups), and what belonging to one means.

A group whose name is in `settings.role_groups` gives its members a role; a group named
`settings.team_group_prefix` + a team name (`team:North`) puts its members in that team, which is
created if it does not exist yet. After every membership change the members it touched get their
role and team again from the groups they are in now:

- role: the highest role among their role groups. Someone who leaves their last role group goes
  back to `rep`, the least access (so taking a person out of `fieldbook-admins` really takes their
  admin rights away). A change that touches no role group leaves the role alone, so people who
  were never in a role group keep the role an administrator gave them.
- team: the team of the team group they joined last. Someone who leaves their last team group
  has no team; again a change that touches no team group leaves the team alone.

Roles and teams are written through `users.change`, so they are validated and audited like an
administrator's edit. Nothing here is ever hard-deleted: a deleted group, a membership that ends
and a deleted user become tombstones (`deleted_at`), and unique names are freed for re-use.

`actor` is an administrator, or None for the identity provider's provisioning, which its bearer
token authorised before it got here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from server.commands import apply_changes, client_id, insert
from server.db import change_order, utcnow
from server.errors import Message, NotFound, PermissionDenied, ValidationError
from server.i18n import N_
from server.users import service as users
from server.users.models import Group, GroupMember, Role, Team, User
from server.validation import Fields, parse_uuid

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from server.settings import Settings

GROUP_FIELDS = ("display_name", "external_id")
NOT_FOUND = Message(N_("That record does not exist or is not yours to see."))
TEAM_NAME_MAX = 120  # Team.name


class GroupNameTaken(ValidationError):
    """Another group already has this name (names are unique whatever their case)."""

    def __init__(self) -> None:
        # Not marked for translation yet: only the identity provider sees it so far.
        super().__init__({"display_name": Message("A group with this name already exists.")})


class UnknownMembers(ValidationError):
    """Some of the given members are not (or no longer) Fieldbook users."""

    def __init__(self, ids: Iterable[str]) -> None:
        super().__init__({"members": Message(N_("Choose one of the options."))})
        self.ids = sorted(ids)


def _require_admin(actor: User | None) -> None:
    if actor is not None and actor.role is not Role.ADMIN:
        raise PermissionDenied(Message(N_("You do not have access to this.")))


def _tombstone_name(record_id: uuid.UUID, name: str, limit: int) -> str:
    """The name a deleted record keeps: still readable, never clashing, never matching a mapping."""
    return f"deleted:{record_id}:{name}"[:limit]


# --- reading ------------------------------------------------------------------------------------


async def get(session: AsyncSession, group_id: Any, *, for_update: bool = False) -> Group:
    parsed = parse_uuid(group_id)
    group = (
        await session.get(
            Group, parsed, with_for_update={"of": Group} if for_update else None, populate_existing=for_update
        )
        if parsed
        else None
    )
    if group is None or group.deleted_at is not None:
        raise NotFound(NOT_FOUND)
    return group


async def member_ids(session: AsyncSession, group_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await session.scalars(
        select(GroupMember.user_id)
        .join(User, User.id == GroupMember.user_id)
        .where(GroupMember.group_id == group_id, GroupMember.deleted_at.is_(None), User.deleted_at.is_(None))
        .order_by(GroupMember.user_id)
    )
    return list(rows)


# --- commands -----------------------------------------------------------------------------------


async def _validate(
    session: AsyncSession,
    raw: Mapping[str, Any],
    settings: Settings,
    *,
    partial: bool,
    group: Group | None = None,
) -> dict[str, Any]:
    fields = Fields(raw, partial=partial)
    fields.text("display_name", required=True, max_length=200)
    fields.text("external_id", max_length=255)
    values = fields.result()
    if "display_name" in values:
        taken = await session.scalar(
            select(Group.id).where(
                func.lower(Group.display_name) == values["display_name"].lower(), Group.deleted_at.is_(None)
            )
        )
        if taken is not None and (group is None or taken != group.id):
            raise GroupNameTaken()
        team = _team_name(values["display_name"], settings.team_group_prefix)
        if team is not None and len(team) > TEAM_NAME_MAX:
            raise ValidationError(
                {"display_name": Message(N_("Use at most %(max)s characters."), {"max": TEAM_NAME_MAX})}
            )
    if "external_id" in values:
        values["external_id"] = values["external_id"] or None
    return values


async def create(
    session: AsyncSession,
    actor: User | None,
    raw: Mapping[str, Any],
    settings: Settings,
    *,
    members: Iterable[Any] = (),
    record_id: Any = None,
) -> Group:
    """groups.create: a group as the identity provider names it, with its first members."""
    _require_admin(actor)
    group_id = client_id(record_id)
    if existing := await session.get(Group, group_id):
        return existing
    values = await _validate(session, raw, settings, partial=False)
    group = await insert(session, actor, Group(id=group_id, **values), "groups.create", GROUP_FIELDS)
    await set_members(session, actor, group.id, members, settings)
    return group


async def change(
    session: AsyncSession, actor: User | None, group_id: Any, raw: Mapping[str, Any], settings: Settings
) -> Group:
    """groups.change: rename the group or change its external id, as far as `raw` names them.

    A rename can move the group into or out of a role or team mapping: its members' roles and
    teams are worked out again.
    """
    _require_admin(actor)
    group = await get(session, group_id, for_update=True)
    values = await _validate(session, raw, settings, partial=True, group=group)
    old_name = group.display_name
    changed = await apply_changes(session, actor, group, values, "groups.change")
    if "display_name" in changed:
        await _resync(
            session,
            actor,
            await member_ids(session, group.id),
            settings,
            names=(old_name, group.display_name),
        )
    return group


async def set_members(
    session: AsyncSession, actor: User | None, group_id: Any, members: Iterable[Any], settings: Settings
) -> Group:
    """groups.set_members: the group's members are exactly `members` (user ids) from now on."""
    _require_admin(actor)
    group = await get(session, group_id, for_update=True)
    wanted: set[uuid.UUID] = set()
    for member in members:
        parsed = parse_uuid(member)
        if parsed is None:
            raise UnknownMembers([str(member)])
        wanted.add(parsed)
    if wanted:
        found = set(
            await session.scalars(select(User.id).where(User.id.in_(wanted), User.deleted_at.is_(None)))
        )
        if missing := wanted - found:
            raise UnknownMembers(map(str, missing))
    rows = {
        row.user_id: row
        for row in await session.scalars(select(GroupMember).where(GroupMember.group_id == group.id))
    }
    current = {user_id for user_id, row in rows.items() if row.deleted_at is None}
    touched: list[uuid.UUID] = []
    for user_id in sorted(wanted - current):
        if (row := rows.get(user_id)) is not None:  # they were in it before: the membership comes back
            await apply_changes(session, actor, row, {"deleted_at": None}, "groups.add_member")
        else:
            row = GroupMember(group_id=group.id, user_id=user_id)
            await insert(session, actor, row, "groups.add_member", ("group_id", "user_id"))
        touched.append(user_id)
    for user_id in sorted(current - wanted):
        await apply_changes(session, actor, rows[user_id], {"deleted_at": utcnow()}, "groups.remove_member")
        touched.append(user_id)
    if touched:
        await _resync(session, actor, touched, settings, names=(group.display_name,))
    return group


async def delete(session: AsyncSession, actor: User | None, group_id: Any, settings: Settings) -> Group:
    """groups.delete: the group ends, and so do its memberships (with what they gave)."""
    _require_admin(actor)
    group = await get(session, group_id, for_update=True)
    await set_members(session, actor, group.id, (), settings)
    await apply_changes(
        session,
        actor,
        group,
        {"deleted_at": utcnow(), "display_name": _tombstone_name(group.id, group.display_name, 200)},
        "groups.delete",
    )
    return group


async def delete_user(session: AsyncSession, actor: User | None, user_id: Any, settings: Settings) -> User:
    """users.delete (SCIM DELETE): the person is deactivated, leaves their groups and is tombstoned.

    The record stays (devices and history point at it) but cannot be read through SCIM nor sign
    in. Its email address and identity-provider subject are freed, so the same person can be
    provisioned again later as a new user.
    """
    _require_admin(actor)
    user = await users.set_active(session, actor, user_id, False)
    memberships = await session.scalars(
        select(GroupMember).where(GroupMember.user_id == user.id, GroupMember.deleted_at.is_(None))
    )
    for membership in memberships:
        await apply_changes(session, actor, membership, {"deleted_at": utcnow()}, "groups.remove_member")
    await apply_changes(
        session,
        actor,
        user,
        {"deleted_at": utcnow(), "email": _tombstone_name(user.id, user.email, 320), "oidc_subject": None},
        "users.delete",
    )
    return user


# --- what membership means ----------------------------------------------------------------------


def _team_name(group_name: str, prefix: str | None) -> str | None:
    if not prefix or not group_name.startswith(prefix):
        return None
    return group_name[len(prefix) :].strip() or None


async def _resync(
    session: AsyncSession,
    actor: User | None,
    user_ids: Iterable[uuid.UUID],
    settings: Settings,
    *,
    names: Iterable[str],
) -> None:
    """Work out again the role and team of the people a change to the groups `names` touched."""
    names = list(names)
    roles = any(name in settings.role_groups for name in names)
    teams = any(_team_name(name, settings.team_group_prefix) for name in names)
    if not roles and not teams:
        return
    for user_id in dict.fromkeys(user_ids):
        user = await session.get(User, user_id)
        if user is None or user.deleted_at is not None:
            continue
        rows = (
            await session.execute(
                select(Group.display_name, GroupMember.version)
                .join(GroupMember, GroupMember.group_id == Group.id)
                .where(
                    GroupMember.user_id == user_id,
                    GroupMember.deleted_at.is_(None),
                    Group.deleted_at.is_(None),
                )
            )
        ).all()
        values: dict[str, Any] = {}
        if roles:
            role = users.role_from_groups([name for name, _ in rows], settings.role_groups)
            values["role"] = (role or Role.REP).value
        if teams:
            joined = sorted(
                (change_order(version), team)
                for name, version in rows
                if (team := _team_name(name, settings.team_group_prefix))
            )
            values["team_id"] = str((await _team(session, actor, joined[-1][1])).id) if joined else ""
        await users.change(session, actor, user.id, values)


async def _team(session: AsyncSession, actor: User | None, name: str) -> Team:
    """The team of this name, made (or brought back) when it does not exist."""
    team = await session.scalar(
        select(Team).where(func.lower(Team.name) == name.lower()).order_by(Team.deleted_at.is_not(None))
    )
    if team is None:
        return await insert(session, actor, Team(name=name), "teams.create", ("name",))
    if team.deleted_at is not None:
        await apply_changes(session, actor, team, {"deleted_at": None}, "teams.restore")
    return team
