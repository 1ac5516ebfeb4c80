"""The manager's dashboard: figures for a period and a team or rep, each one SQL aggregate.

Nothing here loads the rows behind a figure: every query groups and counts in the database, and
every query is scoped by `visible()` and to the people chosen (`subjects`).

Definitions (they are shown on the page too):
- Visits planned in the period: visits whose planned day falls in it, any status; done and
  skipped are those with that status now.
- Check-ins: visits of the period that were checked into. Inside the geofence: checked in with a
  location and not flagged outside; the share is of all check-ins. Without location: checked in
  with no position (the rep gave a reason instead). Low accuracy: the fix was flagged imprecise.
- Time on site: minutes between check-in and check-out of the visits that have both.
- Leads: captured in the period by the chosen people; converted: of those, converted by now.
- Quotes waiting: pending now, however old. Decided in the period: approval rounds whose final
  decision (the rejecting step, or the last approving step) falls in the period. Approval time:
  from the moment step 1 of the round started waiting (QuoteApproval.waiting_since) to that final
  decision; quotes approved within policy never wait and are not counted.
- Order value: orders placed in the period, cancelled ones left out, by the account's owner and
  by the account's tier (its override if a manager set one), per currency (never converted).
- Customer stage, as of now: new (made within the at-risk days, no order yet); active (an order or
  a visit, or the account was made, within the at-risk days); at risk (the last of them between the
  at-risk and the lapsed days ago); lapsed (longer ago).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, func, or_, select

from server.accounts.models import Account, Tier
from server.auth import visible
from server.db import utcnow
from server.leads.models import Lead, LeadStatus
from server.orders.models import Order, OrderStatus
from server.quotes.models import ApprovalStatus, Quote, QuoteApproval, QuoteStatus
from server.users.models import User
from server.visits.models import Visit, VisitStatus

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

from server.dashboard.filters import Filters, subjects

# Steps that leave a round undecided, unless another step of it rejected the quote.
UNDECIDED = (ApprovalStatus.WAITING, ApprovalStatus.QUEUED, ApprovalStatus.CANCELLED)
CENT = Decimal("0.01")


# --- figures --------------------------------------------------------------------------------


def _count(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def share(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


@dataclass
class RepVisits:
    rep_id: uuid.UUID
    name: str
    planned: int
    done: int
    skipped: int
    check_ins: int
    inside: int
    without_location: int
    low_accuracy: int
    timed: int  # visits with a time on site
    minutes: int  # their minutes, summed

    @property
    def average_minutes(self) -> float | None:
        return round(self.minutes / self.timed, 1) if self.timed else None


@dataclass
class VisitFigures:
    reps: list[RepVisits]
    median_minutes: float | None

    def total(self, name: str) -> int:
        return sum(getattr(rep, name) for rep in self.reps)

    @property
    def inside_share(self) -> float | None:
        return share(self.total("inside"), self.total("check_ins"))

    @property
    def average_minutes(self) -> float | None:
        timed = self.total("timed")
        return round(self.total("minutes") / timed, 1) if timed else None


async def visit_figures(session: AsyncSession, actor: User, filters: Filters) -> VisitFigures:
    in_period = (
        visible(actor, Visit),
        Visit.owner_id.in_(subjects(actor, filters)),
        Visit.planned_on >= filters.start,
        Visit.planned_on <= filters.end,
    )
    checked_in = Visit.checked_in_at.is_not(None)
    query = (
        select(
            User.id,
            User.name,
            func.count(Visit.id),
            _count(Visit.status == VisitStatus.DONE),
            _count(Visit.status == VisitStatus.SKIPPED),
            _count(checked_in),
            _count(and_(checked_in, Visit.check_in_latitude.is_not(None), Visit.outside_geofence.is_(False))),
            _count(and_(checked_in, Visit.check_in_latitude.is_(None))),
            _count(and_(checked_in, Visit.low_accuracy.is_(True))),
            func.count(Visit.minutes_on_site),
            func.coalesce(func.sum(Visit.minutes_on_site), 0),
        )
        .join(User, User.id == Visit.owner_id)
        .where(*in_period)
        .group_by(User.id, User.name)
        .order_by(User.name, User.id)
    )
    reps = [RepVisits(*(row[:2]), *(int(value) for value in row[2:])) for row in await session.execute(query)]
    # The median of the minutes on site: the middle one (or two) of them, fetched by position.
    timed = sum(rep.timed for rep in reps)
    median = None
    if timed:
        middle = (
            select(Visit.minutes_on_site)
            .where(*in_period, Visit.minutes_on_site.is_not(None))
            .order_by(Visit.minutes_on_site)
            .offset((timed - 1) // 2)
            .limit(1 if timed % 2 else 2)
        )
        values = list(await session.scalars(middle))
        median = sum(values) / len(values)
    return VisitFigures(reps, median)


@dataclass
class RepLeads:
    rep_id: uuid.UUID
    name: str
    captured: int
    converted: int

    @property
    def conversion(self) -> float | None:
        return share(self.converted, self.captured)


async def lead_figures(session: AsyncSession, actor: User, filters: Filters) -> list[RepLeads]:
    start, until = filters.moments(actor.zone)
    query = (
        select(User.id, User.name, func.count(Lead.id), _count(Lead.status == LeadStatus.CONVERTED))
        .join(User, User.id == Lead.captured_by_id)
        .where(
            visible(actor, Lead),
            Lead.captured_by_id.in_(subjects(actor, filters)),
            Lead.created_at >= start,
            Lead.created_at < until,
        )
        .group_by(User.id, User.name)
        .order_by(User.name, User.id)
    )
    return [RepLeads(rep_id, name, int(captured), int(converted))
            for rep_id, name, captured, converted in await session.execute(query)]  # fmt: skip


@dataclass
class QuoteFigures:
    waiting: int
    oldest_waiting_since: dt.datetime | None
    approved: int
    rejected: int
    # Seconds from step 1 waiting to the final decision, averaged over the rounds decided.
    average_seconds: float | None
    now: dt.datetime = field(default_factory=utcnow)

    @property
    def decided(self) -> int:
        return self.approved + self.rejected

    @property
    def oldest_hours(self) -> float | None:
        if self.oldest_waiting_since is None:
            return None
        return round((self.now - self.oldest_waiting_since).total_seconds() / 3600, 1)

    @property
    def average_hours(self) -> float | None:
        return None if self.average_seconds is None else round(self.average_seconds / 3600, 1)


def _seconds(session: AsyncSession, moment: Any) -> Any:
    """A stored moment as seconds since 1970, in SQL (each database has its own way)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", moment)
    return (func.julianday(moment) - 2440587.5) * 86400.0


async def quote_figures(
    session: AsyncSession, actor: User, filters: Filters, now: dt.datetime | None = None
) -> QuoteFigures:
    now = now or utcnow()
    start, until = filters.moments(actor.zone)
    people = subjects(actor, filters)
    waiting_count, oldest = (
        await session.execute(
            select(func.count(Quote.id), func.min(Quote.submitted_at)).where(
                visible(actor, Quote), Quote.owner_id.in_(people), Quote.status == QuoteStatus.PENDING
            )
        )
    ).one()
    # One row per approval round: when step 1 started waiting, when the round was decided, and how.
    rounds = (
        select(
            func.max(case((QuoteApproval.step == 1, QuoteApproval.waiting_since))).label("began"),
            func.max(QuoteApproval.decided_at).label("decided"),
            _count(QuoteApproval.status == ApprovalStatus.REJECTED).label("rejections"),
            _count(QuoteApproval.status.in_(UNDECIDED)).label("open"),
        )
        .join(Quote, Quote.id == QuoteApproval.quote_id)
        .where(visible(actor, QuoteApproval), Quote.owner_id.in_(people))
        .group_by(QuoteApproval.quote_id, QuoteApproval.round)
        .subquery()
    )
    decided = and_(
        or_(rounds.c.rejections > 0, rounds.c.open == 0), rounds.c.decided >= start, rounds.c.decided < until
    )
    row = (
        await session.execute(
            select(
                func.count(),
                _count(rounds.c.rejections > 0),
                func.avg(_seconds(session, rounds.c.decided) - _seconds(session, rounds.c.began)),
            )
            .select_from(rounds)
            .where(decided)
        )
    ).one()
    total, rejected, average = int(row[0]), int(row[1]), row[2]
    return QuoteFigures(
        int(waiting_count), oldest, total - rejected, rejected,
        None if average is None else float(average), now,
    )  # fmt: skip


@dataclass
class OrderValue:
    key: str  # the rep's id, or the tier
    label: str
    currency: str
    orders: int
    value: Decimal


def _cents(total: Any) -> Decimal:
    return (Decimal(int(total)) / 100).quantize(CENT)


def effective_tier() -> Any:
    return func.coalesce(Account.tier_override, Account.tier)


async def order_figures(
    session: AsyncSession, actor: User, filters: Filters
) -> tuple[list[OrderValue], list[OrderValue]]:
    """Order value in the period by rep (the account's owner) and by tier, per currency.

    Summed in cents, as the tiers are: SQLite keeps NUMERIC as a float.
    """
    start, until = filters.moments(actor.zone)
    cents = func.sum(func.round(Order.total * 100))
    where = (
        visible(actor, Order),
        Order.status != OrderStatus.CANCELLED,
        Order.ordered_at >= start,
        Order.ordered_at < until,
        Account.owner_id.in_(subjects(actor, filters)),
    )
    by_rep = (
        select(User.id, User.name, Order.currency, func.count(Order.id), cents)
        .join(Account, Account.id == Order.account_id)
        .join(User, User.id == Account.owner_id)
        .where(*where)
        .group_by(User.id, User.name, Order.currency)
        .order_by(Order.currency, User.name, User.id)
    )
    tier = effective_tier()
    by_tier = (
        select(tier, Order.currency, func.count(Order.id), cents)
        .join(Account, Account.id == Order.account_id)
        .where(*where)
        .group_by(tier, Order.currency)
        .order_by(Order.currency, tier)
    )
    reps = [OrderValue(str(rep_id), name, currency, int(count), _cents(total))
            for rep_id, name, currency, count, total in await session.execute(by_rep)]  # fmt: skip
    tiers = [OrderValue(str(Tier(key)), str(Tier(key)), currency, int(count), _cents(total))
             for key, currency, count, total in await session.execute(by_tier)]  # fmt: skip
    return reps, tiers
