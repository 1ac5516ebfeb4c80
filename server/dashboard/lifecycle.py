"""Customer lifecycle: each account's stage (new, active, at risk, lapsed) as of now, counted by
tier and listed by stage. The definitions are in server/dashboard/service.py."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from advanced_alchemy.service import OffsetPagination
from sqlalchemy import and_, case, func, or_, select

from server.accounts.models import Account, Tier
from server.auth import visible
from server.db import utcnow
from server.orders.models import Order, OrderStatus
from server.organisation import service as organisation
from server.users.models import User
from server.visits.models import Visit

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

from server.dashboard.filters import Filters, subjects
from server.dashboard.service import effective_tier

STAGES = ("new", "active", "at_risk", "lapsed")
PAGE_SIZE = 25


@dataclass(frozen=True)
class Thresholds:
    at_risk_days: int
    lapsed_days: int


async def thresholds(session: AsyncSession) -> Thresholds:
    policy = await organisation.policy(session)
    return Thresholds(policy.at_risk_days, policy.lapsed_days)


def _staged(actor: User, filters: Filters | None, limits: Thresholds, now: dt.datetime) -> Any:
    """Every account in scope with its tier, last order, last visit and stage, as a subquery."""
    last_order = (
        select(Order.account_id, func.max(Order.ordered_at).label("at"))
        .where(Order.deleted_at.is_(None), Order.status != OrderStatus.CANCELLED)
        .group_by(Order.account_id)
        .subquery()
    )
    last_visit = (
        select(Visit.account_id, func.max(Visit.checked_in_at).label("at"))
        .where(Visit.deleted_at.is_(None), Visit.checked_in_at.is_not(None))
        .group_by(Visit.account_id)
        .subquery()
    )
    at_risk = now - dt.timedelta(days=limits.at_risk_days)
    lapsed = now - dt.timedelta(days=limits.lapsed_days)

    def since(cutoff: dt.datetime) -> Any:
        return or_(Account.created_at > cutoff, last_order.c.at > cutoff, last_visit.c.at > cutoff)

    stage = case(
        (and_(Account.created_at > at_risk, last_order.c.at.is_(None)), "new"),
        (since(at_risk), "active"),
        (since(lapsed), "at_risk"),
        else_="lapsed",
    )
    return (
        select(
            Account.id.label("id"),
            effective_tier().label("tier"),
            stage.label("stage"),
            last_order.c.at.label("last_order"),
            last_visit.c.at.label("last_visit"),
        )
        .outerjoin(last_order, last_order.c.account_id == Account.id)
        .outerjoin(last_visit, last_visit.c.account_id == Account.id)
        .where(visible(actor, Account), Account.owner_id.in_(subjects(actor, filters)))
        .subquery()
    )


async def lifecycle(
    session: AsyncSession,
    actor: User,
    filters: Filters | None,
    limits: Thresholds,
    now: dt.datetime | None = None,
) -> dict[str, dict[str, int]]:
    """Accounts by tier and stage: {tier: {stage: count}}, every tier and stage present."""
    staged = _staged(actor, filters, limits, now or utcnow())
    counts = {str(tier): dict.fromkeys(STAGES, 0) for tier in Tier}
    query = select(staged.c.tier, staged.c.stage, func.count()).group_by(staged.c.tier, staged.c.stage)
    for tier, stage, count in await session.execute(query):
        counts[str(Tier(tier))][stage] = int(count)
    return counts


@dataclass
class StagedAccount:
    account: Account
    stage: str
    last_order: dt.datetime | None
    last_visit: dt.datetime | None


async def accounts_in_stage(
    session: AsyncSession,
    actor: User,
    filters: Filters | None,
    limits: Thresholds,
    stage: str = "at_risk",
    tier: str = "",
    *,
    offset: int = 0,
    limit: int = PAGE_SIZE,
    now: dt.datetime | None = None,
) -> OffsetPagination[StagedAccount]:
    """One page of the accounts in a stage (and tier), those quiet longest first."""
    staged = _staged(actor, filters, limits, now or utcnow())
    where = [staged.c.stage == stage]
    if tier:
        where.append(staged.c.tier == tier)
    total = await session.scalar(select(func.count()).select_from(staged).where(*where)) or 0
    # Quiet longest first: the later of the last order and visit, oldest first (never active last).
    latest = case(
        (staged.c.last_order.is_(None), staged.c.last_visit),
        (staged.c.last_visit.is_(None), staged.c.last_order),
        (staged.c.last_order > staged.c.last_visit, staged.c.last_order),
        else_=staged.c.last_visit,
    )
    query = (
        select(Account, staged.c.stage, staged.c.last_order, staged.c.last_visit)
        .join(staged, staged.c.id == Account.id)
        .where(*where)
        .order_by(case((latest.is_(None), 0), else_=1), latest, Account.name, Account.id)
        .offset(offset)
        .limit(limit)
    )
    items = [StagedAccount(*row) for row in await session.execute(query)]
    return OffsetPagination(items=items, total=total, offset=offset, limit=limit)
