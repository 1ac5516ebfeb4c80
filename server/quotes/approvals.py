"""Submitting a quote for approval and deciding it: quotes.submit, quotes.approve, quotes.reject,
and the approvers' inbox.

Who decides a step: for the manager's step, a manager (or admin) whose teams include the quote's
rep; for the admin's step, an admin. Nobody decides on their own quote, and nobody decides two
steps of one submission. A decision names the quote revision its approver saw and is refused if
the quote changed since; deciding again what one already decided changes nothing (a double tap,
a retried request, a replayed offline decision).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from advanced_alchemy.service import OffsetPagination
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import aliased

from server.auth import visible, visible_owner_ids
from server.commands import apply_changes
from server.db import new_id, stamp, utcnow
from server.errors import Message, PermissionDenied, ValidationError
from server.i18n import N_
from server.quotes import policy, pricing, service
from server.quotes.models import (
    ApprovalRule,
    ApprovalStatus,
    ApproverLevel,
    Quote,
    QuoteApproval,
    QuoteStatus,
)
from server.reminders import service as reminders
from server.reminders.models import LinkKind
from server.users.models import Role, TeamManager, User
from server.validation import Fields

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

PAGE_SIZE = 25


async def rules(session: AsyncSession) -> list[policy.Rule]:
    rows = await session.scalars(
        select(ApprovalRule).where(ApprovalRule.active.is_(True), ApprovalRule.deleted_at.is_(None))
    )
    return [policy.Rule(row.kind, row.threshold, row.approver, row.currency) for row in rows]


async def fired_rules(session: AsyncSession, quote: Quote) -> list[policy.Fired]:
    lines = [
        pricing.Line(line.quantity, line.unit_price, line.list_price, line.discount_percent)
        for line in quote.lines
    ]
    return policy.evaluate(await rules(session), lines, quote.discount_percent, quote.currency)


# --- who decides ----------------------------------------------------------------------------


async def approvers(session: AsyncSession, quote: Quote, level: ApproverLevel) -> list[User]:
    """The people a step waits for: the rep's own manager if they have an active one, else the
    managers of the rep's team; the admins for an admin's step (and when a team has no manager)."""
    owner = quote.owner
    active = [User.is_active.is_(True), User.deleted_at.is_(None), User.id != owner.id]
    if level is ApproverLevel.MANAGER:
        if owner.manager_id is not None:
            manager = await session.scalar(
                select(User).where(
                    User.id == owner.manager_id, User.role.in_((Role.MANAGER, Role.ADMIN)), *active
                )
            )
            if manager is not None:
                return [manager]
        if owner.team_id is not None:
            leads_team = select(TeamManager.user_id).where(
                TeamManager.team_id == owner.team_id, TeamManager.deleted_at.is_(None)
            )
            found = list(await session.scalars(select(User).where(
                User.role == Role.MANAGER, or_(User.id.in_(leads_team), User.team_id == owner.team_id), *active
            )))  # fmt: skip
            if found:
                return found
    return list(
        await session.scalars(select(User).where(User.role == Role.ADMIN, *active).order_by(User.name))
    )


async def may_decide(session: AsyncSession, actor: User, quote: Quote, level: ApproverLevel) -> bool:
    if actor.id == quote.owner_id:
        return False
    if level is ApproverLevel.ADMIN:
        return actor.is_admin
    if actor.role is Role.REP:
        return False
    return await session.scalar(visible_owner_ids(actor).where(User.id == quote.owner_id)) is not None


# --- notifications (through reminders, whose rings are the push outbox) ---------------------


async def _tell_approvers(session: AsyncSession, quote: Quote, step: QuoteApproval) -> None:
    deciders = {earlier.decided_by_id for earlier in await _steps(session, quote)}
    for person in await approvers(session, quote, step.level):
        if person.id in deciders:  # they decided an earlier step: this one is someone else's
            continue
        title = reminders.in_language_of(person, Message(
            N_("Quote %(number)s for %(account)s waits for your approval"),
            {"number": quote.number, "account": quote.account.name},
        ))  # fmt: skip
        await reminders.remind(session, person, title, utcnow(), (LinkKind.QUOTE, quote.id))


async def _tell_rep(session: AsyncSession, quote: Quote) -> None:
    text = {
        QuoteStatus.APPROVED: N_("Quote %(number)s for %(account)s was approved"),
        QuoteStatus.REJECTED: N_("Quote %(number)s for %(account)s was rejected"),
    }[quote.status]
    title = reminders.in_language_of(
        quote.owner, Message(text, {"number": quote.number, "account": quote.account.name})
    )
    await reminders.remind(session, quote.owner, title, utcnow(), (LinkKind.QUOTE, quote.id))


async def _settle(session: AsyncSession, quote: Quote) -> None:
    """The approvers' "waits for you" reminders of this quote are done with (the rep's stay)."""
    await reminders.settle(session, (LinkKind.QUOTE, quote.id), but=quote.owner_id)


# --- commands -------------------------------------------------------------------------------


async def _steps(session: AsyncSession, quote: Quote) -> list[QuoteApproval]:
    rows = await session.scalars(
        select(QuoteApproval)
        .where(QuoteApproval.quote_id == quote.id, QuoteApproval.round == quote.approval_round)
        .order_by(QuoteApproval.step)
    )
    return list(rows)


def _set(step: QuoteApproval, version: int, **values: Any) -> None:
    for name, value in values.items():
        setattr(step, name, value)
    stamp(step, version)


async def submit(session: AsyncSession, actor: User, quote_id: Any, raw: Mapping[str, Any]) -> Quote:
    """quotes.submit: ask for approval. The policy decides who must approve, in which order; a quote
    within policy is approved at once. Submitting a quote that already waits changes nothing."""
    quote = await service.owned(session, actor, quote_id)
    if quote.status in (QuoteStatus.PENDING, QuoteStatus.APPROVED):
        return quote
    if quote.status not in (QuoteStatus.DRAFT, QuoteStatus.REJECTED):
        raise ValidationError({"status": Message(N_("This quote cannot be submitted any more."))})
    fields = Fields(raw)
    fields.text("comment", max_length=1000)
    comment = fields.result().get("comment", "")
    if not quote.lines:
        raise ValidationError({"lines": Message(N_("Add at least one line first."))})
    service.check_valid(quote, utcnow().astimezone(actor.zone).date())
    steps = policy.chain(await fired_rules(session, quote))
    now = utcnow()
    if not steps:
        values = {"status": QuoteStatus.APPROVED, "comment": comment, "submitted_at": now, "decided_at": now,
                  "approval_round": quote.approval_round + 1, "approval_step": 0}  # fmt: skip
        await apply_changes(session, actor, quote, values, "quotes.submit")
        service.record_event(session, actor, quote, "approved_within_policy", comment)
        return quote
    values = {"status": QuoteStatus.PENDING, "comment": comment, "submitted_at": now, "decided_at": None,
              "approval_round": quote.approval_round + 1, "approval_step": 1}  # fmt: skip
    await apply_changes(session, actor, quote, values, "quotes.submit")
    for number, (level, fired) in enumerate(steps, start=1):
        step = QuoteApproval(
            id=new_id(), quote_id=quote.id, round=quote.approval_round, step=number, level=level,
            status=ApprovalStatus.WAITING if number == 1 else ApprovalStatus.QUEUED, revision=quote.revision,
            reasons=[found.as_reason() for found in fired], waiting_since=now if number == 1 else None,
        )  # fmt: skip
        stamp(step, quote.version)
        step.created_at = step.updated_at
        session.add(step)
    await session.flush()
    service.record_event(session, actor, quote, "submitted", comment)
    await _tell_approvers(session, quote, (await _steps(session, quote))[0])
    return quote


async def withdraw(session: AsyncSession, quote: Quote) -> None:
    """The waiting steps of the current submission lapse (the quote changed or expired)."""
    for step in await _steps(session, quote):
        if step.status in (ApprovalStatus.WAITING, ApprovalStatus.QUEUED):
            _set(step, quote.version, status=ApprovalStatus.CANCELLED)
    await _settle(session, quote)


@dataclass(frozen=True)
class Decision:
    approve: bool
    comment: str
    revision: int | None


def _decision(raw: Mapping[str, Any], approve: bool) -> Decision:
    fields = Fields(raw)
    fields.text("comment", max_length=1000)
    fields.number("revision", minimum=1, maximum=2**31)
    values = fields.result()
    revision = values.get("revision")
    if revision is None:
        raise ValidationError({"revision": Message(N_("Open the quote again before deciding."))})
    return Decision(approve, values.get("comment", ""), int(revision))


async def _decide(session: AsyncSession, actor: User, quote_id: Any, decision: Decision) -> Quote:
    quote = await service.get(session, actor, quote_id, for_change=True)
    if quote.owner_id == actor.id:
        raise PermissionDenied(Message(N_("Nobody approves their own quote.")))
    steps = await _steps(session, quote)
    wanted = ApprovalStatus.APPROVED if decision.approve else ApprovalStatus.REJECTED
    if any(step.decided_by_id == actor.id and step.status is wanted for step in steps):
        return quote  # decided already, by this person, this way: once is enough
    waiting = next((step for step in steps if step.status is ApprovalStatus.WAITING), None)
    if quote.status is not QuoteStatus.PENDING or waiting is None:
        raise ValidationError({"status": Message(N_("This quote is not waiting for a decision any more."))})
    if decision.revision != quote.revision:
        raise ValidationError({"revision": Message(
            N_("The quote changed since you opened it; look at it again before deciding."))})  # fmt: skip
    if not await may_decide(session, actor, quote, waiting.level):
        raise PermissionDenied(Message(N_("This approval is not yours to decide.")))
    if any(step.decided_by_id == actor.id for step in steps):
        raise PermissionDenied(
            Message(N_("You decided an earlier step of this quote; someone else decides this one."))
        )
    now = utcnow()
    following = next((step for step in steps if step.status is ApprovalStatus.QUEUED), None)
    if decision.approve and following is not None:
        values = {"approval_step": following.step}
    elif decision.approve:
        values = {"status": QuoteStatus.APPROVED, "decided_at": now}
    else:
        values = {"status": QuoteStatus.REJECTED, "decided_at": now}
    await apply_changes(
        session, actor, quote, values, "quotes.approve" if decision.approve else "quotes.reject"
    )
    _set(
        waiting,
        quote.version,
        status=wanted,
        decided_by_id=actor.id,
        decided_at=now,
        comment=decision.comment,
    )
    if not decision.approve:
        for step in steps:
            if step.status is ApprovalStatus.QUEUED:
                _set(step, quote.version, status=ApprovalStatus.CANCELLED)
    await session.flush()
    await _settle(session, quote)
    service.record_event(
        session, actor, quote, "approved" if decision.approve else "rejected", decision.comment
    )
    if decision.approve and following is not None:
        _set(following, quote.version, status=ApprovalStatus.WAITING, waiting_since=now)
        await session.flush()
        await _tell_approvers(session, quote, following)
    else:
        await _tell_rep(session, quote)
    return quote


async def approve(session: AsyncSession, actor: User, quote_id: Any, raw: Mapping[str, Any]) -> Quote:
    """quotes.approve: the waiting step is approved; the next step is asked, or the quote is approved."""
    return await _decide(session, actor, quote_id, _decision(raw, approve=True))


async def reject(session: AsyncSession, actor: User, quote_id: Any, raw: Mapping[str, Any]) -> Quote:
    """quotes.reject: the quote goes back to its rep, with the comment."""
    return await _decide(session, actor, quote_id, _decision(raw, approve=False))


# --- reading --------------------------------------------------------------------------------


async def chain_of(session: AsyncSession, quote: Quote) -> list[QuoteApproval]:
    """The current submission's steps, for the quote page."""
    return await _steps(session, quote)


def _waiting_for(actor: User) -> Select[tuple[QuoteApproval]] | None:
    """The steps waiting for the actor to decide (None for a rep: never)."""
    if actor.role is Role.REP:
        return None
    levels = [ApproverLevel.MANAGER, ApproverLevel.ADMIN] if actor.is_admin else [ApproverLevel.MANAGER]
    mine = aliased(QuoteApproval)
    decided_earlier = (
        select(mine.id)
        .where(mine.quote_id == Quote.id, mine.round == Quote.approval_round, mine.decided_by_id == actor.id)
        .exists()
    )
    return (
        select(QuoteApproval)
        .join(Quote, Quote.id == QuoteApproval.quote_id)
        .where(
            QuoteApproval.status == ApprovalStatus.WAITING, QuoteApproval.level.in_(levels),
            visible(actor, Quote), Quote.owner_id != actor.id, ~decided_earlier,
        )
    )  # fmt: skip


async def waiting_for(session: AsyncSession, actor: User) -> list[QuoteApproval]:
    """Steps waiting for the actor to decide, the longest waiting first."""
    query = _waiting_for(actor)
    if query is None:
        return []
    rows = await session.scalars(query.order_by(QuoteApproval.waiting_since, QuoteApproval.id).limit(200))
    return list(rows)


async def waiting_count(session: AsyncSession, actor: User) -> int:
    query = _waiting_for(actor)
    if query is None:
        return 0
    return await session.scalar(select(func.count()).select_from(query.subquery())) or 0


async def decided_by(
    session: AsyncSession, actor: User, *, offset: int = 0, limit: int = PAGE_SIZE
) -> OffsetPagination[QuoteApproval]:
    where = [QuoteApproval.decided_by_id == actor.id]
    total = await session.scalar(select(func.count()).select_from(QuoteApproval).where(*where)) or 0
    rows = await session.scalars(
        select(QuoteApproval)
        .where(*where)
        .order_by(QuoteApproval.decided_at.desc())
        .offset(offset)
        .limit(limit)
    )
    return OffsetPagination(items=list(rows), total=total, offset=offset, limit=limit)


def age(step: QuoteApproval, now: dt.datetime | None = None) -> dt.timedelta:
    return (now or utcnow()) - (step.waiting_since or step.created_at)
