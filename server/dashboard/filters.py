"""The dashboard's filters: a period, and a team or a rep within the manager's reach."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, literal, or_, select

from server.auth import visible, visible_owner_ids
from server.errors import Message, ValidationError
from server.i18n import N_
from server.users.models import Role, Team, TeamManager, User

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

PERIODS = ("week", "month", "30d", "custom")
MAX_DAYS = 366


@dataclass(frozen=True)
class Filters:
    period: str
    start: dt.date  # first day, inclusive
    end: dt.date  # last day, inclusive
    team_id: uuid.UUID | None = None
    rep_id: uuid.UUID | None = None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def params(self) -> dict[str, str]:
        """The filters as query parameters, for links and the CSV download."""
        values = {"period": self.period}
        if self.period == "custom":
            values |= {"from": self.start.isoformat(), "to": self.end.isoformat()}
        if self.team_id:
            values["team"] = str(self.team_id)
        if self.rep_id:
            values["rep"] = str(self.rep_id)
        return values

    def moments(self, zone: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
        """The period as UTC moments [from, until), its days counted where the manager is."""
        start = dt.datetime.combine(self.start, dt.time.min, tzinfo=zone).astimezone(dt.UTC)
        until = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
        return start, until.astimezone(dt.UTC)


def period_days(period: str, today: dt.date) -> tuple[dt.date, dt.date]:
    if period == "week":
        return today - dt.timedelta(days=today.weekday()), today
    if period == "month":
        return today.replace(day=1), today
    return today - dt.timedelta(days=29), today  # the last 30 days, today included


async def team_choices(session: AsyncSession, actor: User) -> list[Team]:
    """The teams an admin may look at (all), or a manager (those they lead)."""
    query = select(Team).where(Team.deleted_at.is_(None)).order_by(Team.name)
    if actor.role is not Role.ADMIN:
        led = select(TeamManager.team_id).where(
            TeamManager.user_id == actor.id, TeamManager.deleted_at.is_(None)
        )
        own = Team.id == actor.team_id if actor.team_id is not None else literal(False)
        query = query.where(or_(Team.id.in_(led), own))
    return list(await session.scalars(query))


async def rep_choices(session: AsyncSession, actor: User) -> list[User]:
    """The people whose figures the actor may look at: reps and managers in their scope."""
    query = (
        select(User)
        .where(visible(actor, User), User.role.in_((Role.REP, Role.MANAGER)))
        .order_by(User.name, User.id)
    )
    return list(await session.scalars(query))


async def parse_filters(
    session: AsyncSession, actor: User, raw: Mapping[str, Any], today: dt.date
) -> Filters:
    """The filters from the query string; unknown periods, bad dates, teams or reps out of scope are refused."""
    errors: dict[str, Message] = {}
    period = str(raw.get("period") or "30d")
    if period not in PERIODS:
        errors["period"] = Message(N_("Choose one of the options."))
        period = "30d"
    start, end = period_days(period, today)
    if period == "custom":
        parsed: dict[str, dt.date] = {}
        for name in ("from", "to"):
            value = str(raw.get(name) or "").strip()
            if not value:
                errors[name] = Message(N_("This field is required."))
                continue
            try:
                parsed[name] = dt.date.fromisoformat(value)
            except ValueError:
                errors[name] = Message(N_("Enter a date like 2026-03-31."))
        if len(parsed) == 2:
            start, end = parsed["from"], parsed["to"]
            if start > end:
                errors["to"] = Message(N_("The period must end on or after its first day."))
            elif (end - start).days + 1 > MAX_DAYS:
                errors["to"] = Message(N_("Choose a period of at most %(days)s days."), {"days": MAX_DAYS})
    team_id = rep_id = None
    if raw.get("team"):
        teams = {str(team.id): team.id for team in await team_choices(session, actor)}
        team_id = teams.get(str(raw["team"]))
        if team_id is None:
            errors["team"] = Message(N_("Choose one of the options."))
    if raw.get("rep"):
        reps = {str(rep.id): rep.id for rep in await rep_choices(session, actor)}
        rep_id = reps.get(str(raw["rep"]))
        if rep_id is None:
            errors["rep"] = Message(N_("Choose one of the options."))
    if errors:
        raise ValidationError(errors)
    return Filters(period, start, end, team_id, rep_id)


def subjects(actor: User, filters: Filters | None) -> Select[tuple[uuid.UUID]]:
    """The people whose figures are shown: those the actor may see, narrowed to the team or rep chosen."""
    query = select(User.id).where(User.id.in_(visible_owner_ids(actor)))
    if filters is not None and filters.team_id is not None:
        query = query.where(User.team_id == filters.team_id)
    if filters is not None and filters.rep_id is not None:
        query = query.where(User.id == filters.rep_id)
    return query
