"""The team's day: for a manager, each rep's visits, planned against done, and where the rep is now."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from server.auth import visible
from server.users.models import Role, User
from server.visits.models import Visit, VisitStatus
from server.visits.service import plan_order

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


@dataclass
class RepDay:
    rep: User
    visits: list[Visit]

    def count(self, *statuses: VisitStatus) -> int:
        return sum(visit.status in statuses for visit in self.visits)

    @property
    def where(self) -> Visit | None:
        """The visit the rep is at now, else the last one they finished."""
        here = [v for v in self.visits if v.status is VisitStatus.CHECKED_IN]
        done = [v for v in self.visits if v.status is VisitStatus.DONE and v.checked_out_at]
        return (here or sorted(done, key=lambda v: v.checked_out_at))[-1] if here or done else None  # type: ignore[arg-type,return-value]

    @property
    def flagged(self) -> list[Visit]:
        return [visit for visit in self.visits if visit.is_flagged]


async def team_day(session: AsyncSession, actor: User, day: dt.date) -> list[RepDay]:
    """Every rep the actor leads, with their visits that day: who is where, planned against done."""
    reps = await session.scalars(
        select(User)
        .where(visible(actor, User), User.role == Role.REP, User.is_active.is_(True), User.id != actor.id)
        .order_by(User.name)
    )
    days = {rep.id: RepDay(rep, []) for rep in reps}
    visits = await session.scalars(
        select(Visit).where(visible(actor, Visit), Visit.planned_on == day, Visit.owner_id.in_(list(days)))
    )
    for visit in visits:
        days[visit.owner_id].visits.append(visit)
    for rep_day in days.values():
        rep_day.visits.sort(key=plan_order)
    return list(days.values())
