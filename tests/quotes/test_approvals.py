"""Approvals: the chain the policy asks for, who may decide, decisions that apply once, the inbox,
and the reminders (the app's inbox and push) that tell approvers and reps."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from server.errors import NotFound, PermissionDenied, ValidationError
from server.quotes import approvals
from server.quotes import service as quotes
from server.quotes.models import ApprovalStatus, ApproverLevel, QuoteStatus
from server.reminders.models import LinkKind, Reminder
from server.reminders.push_models import ReminderRing
from tests.quotes.conftest import quote_form


async def _submitted(db, world, discount: str, **extra):
    quote = await quotes.create(db, world["rep"], quote_form(world, ("widget", "10", discount)))
    await approvals.submit(db, world["rep"], quote.id, {"comment": "Big customer, first order", **extra})
    await db.commit()
    return quote


async def _reminders(db, person) -> list[str]:
    rows = await db.scalars(
        select(Reminder).where(
            Reminder.owner_id == person.id, Reminder.link_kind == LinkKind.QUOTE, Reminder.done_at.is_(None)
        )
    )
    return [r.title for r in rows]


async def test_over_ten_percent_the_manager_decides_and_the_rep_is_told(db, world) -> None:
    quote = await _submitted(db, world, "12")
    assert quote.status is QuoteStatus.PENDING
    [step] = await approvals.chain_of(db, quote)
    assert (step.level, step.status, step.reasons) == (
        ApproverLevel.MANAGER, ApprovalStatus.WAITING, [{"kind": "discount_above", "threshold": "10", "actual": "12"}])  # fmt: skip
    assert await _reminders(db, world["manager"]) == [
        f"Quote {quote.number} for Acme Ltd waits for your approval"
    ]
    assert [s.quote_id for s in await approvals.waiting_for(db, world["manager"])] == [quote.id]
    assert await approvals.waiting_for(db, world["other_manager"]) == []

    await approvals.approve(db, world["manager"], quote.id, {"revision": quote.revision, "comment": "Fine"})
    await db.commit()
    assert quote.status is QuoteStatus.APPROVED
    assert await _reminders(db, world["manager"]) == []  # done with
    assert await _reminders(db, world["rep"]) == [f"Quote {quote.number} for Acme Ltd was approved"]
    # Both reminders rang once each through the push outbox.
    assert await db.scalar(select(ReminderRing.id).limit(1)) is not None
    assert [e.action for e in await quotes.history(db, quote)] == ["created", "submitted", "approved"]


async def test_above_twenty_five_percent_the_manager_then_an_admin(db, world) -> None:
    quote = await _submitted(db, world, "30")
    steps = await approvals.chain_of(db, quote)
    assert [(s.level, s.status) for s in steps] == [
        (ApproverLevel.MANAGER, ApprovalStatus.WAITING), (ApproverLevel.ADMIN, ApprovalStatus.QUEUED)]  # fmt: skip
    assert await approvals.waiting_for(db, world["admin"]) != []  # an admin may take the manager's step too
    await approvals.approve(db, world["manager"], quote.id, {"revision": quote.revision})
    await db.commit()
    assert quote.status is QuoteStatus.PENDING and quote.approval_step == 2
    assert await approvals.waiting_for(db, world["manager"]) == []
    assert await _reminders(db, world["admin"]) == [
        f"Quote {quote.number} for Acme Ltd waits for your approval"
    ]
    await approvals.approve(db, world["admin"], quote.id, {"revision": quote.revision})
    await db.commit()
    assert quote.status is QuoteStatus.APPROVED


async def test_one_person_does_not_decide_two_steps(db, world) -> None:
    quote = await _submitted(db, world, "30")
    await approvals.approve(db, world["admin"], quote.id, {"revision": quote.revision})
    await db.commit()
    assert await approvals.waiting_for(db, world["admin"]) == []  # the admin's step is another admin's
    # Approving again is taken for a double tap of the first decision: the second step stays open.
    await approvals.approve(db, world["admin"], quote.id, {"revision": quote.revision, "comment": "again?"})
    await db.commit()
    assert quote.status is QuoteStatus.PENDING
    assert [s.status for s in await approvals.chain_of(db, quote)] == [
        ApprovalStatus.APPROVED,
        ApprovalStatus.WAITING,
    ]
    with pytest.raises(PermissionDenied):  # and rejecting it is refused outright
        await approvals.reject(db, world["admin"], quote.id, {"revision": quote.revision})


async def test_a_rejection_goes_back_to_the_rep_who_can_change_and_resubmit(db, world) -> None:
    quote = await _submitted(db, world, "30")
    await approvals.reject(
        db, world["manager"], quote.id, {"revision": quote.revision, "comment": "Too deep"}
    )
    await db.commit()
    assert quote.status is QuoteStatus.REJECTED
    assert [s.status for s in await approvals.chain_of(db, quote)] == [
        ApprovalStatus.REJECTED,
        ApprovalStatus.CANCELLED,
    ]
    assert await _reminders(db, world["rep"]) == [f"Quote {quote.number} for Acme Ltd was rejected"]
    await quotes.update(db, world["rep"], quote.id, quote_form(world, ("widget", "10", "8")))
    assert quote.status is QuoteStatus.DRAFT
    await approvals.submit(db, world["rep"], quote.id, {})
    assert quote.status is QuoteStatus.APPROVED and quote.approval_round == 2


async def test_nobody_approves_their_own_quote(db, world) -> None:
    quote = await quotes.create(
        db,
        world["manager"],
        quote_form(world, ("widget", "10", "12"))
        | {"account_id": str((await _manager_account(db, world)).id)},
    )
    await approvals.submit(db, world["manager"], quote.id, {})
    await db.commit()
    with pytest.raises(PermissionDenied):
        await approvals.approve(db, world["manager"], quote.id, {"revision": quote.revision})
    # The manager's own quote goes to the admins, and is in no inbox of the manager.
    assert await approvals.waiting_for(db, world["manager"]) == []
    assert await _reminders(db, world["admin"]) != []


async def _manager_account(db, world):
    from tests.factories import make_account

    return await make_account(db, world["manager"], name="Manager's own")


async def test_a_manager_cannot_decide_outside_their_teams_nor_a_rep_at_all(db, world) -> None:
    quote = await _submitted(db, world, "12")
    with pytest.raises(NotFound):  # not even told that it exists
        await approvals.approve(db, world["other_manager"], quote.id, {"revision": quote.revision})
    with pytest.raises(NotFound):
        await approvals.approve(db, world["colleague"], quote.id, {"revision": quote.revision})
    assert quote.status is QuoteStatus.PENDING


async def test_a_decision_applies_once(db, world) -> None:
    quote = await _submitted(db, world, "12")
    decision = {"revision": quote.revision, "comment": "OK"}
    await approvals.approve(db, world["manager"], quote.id, decision)
    await db.commit()
    version = quote.version
    await approvals.approve(db, world["manager"], quote.id, decision)  # a double tap
    await db.commit()
    assert quote.version == version
    assert len(await quotes.history(db, quote)) == 3
    with pytest.raises(ValidationError):  # the other button after the first: refused, not a second decision
        await approvals.reject(db, world["manager"], quote.id, decision)


async def test_a_decision_on_a_quote_that_changed_since_is_refused(db, world) -> None:
    quote = await _submitted(db, world, "12")
    seen = quote.revision
    await quotes.update(db, world["rep"], quote.id, quote_form(world, ("widget", "12", "12")))
    await approvals.submit(db, world["rep"], quote.id, {})
    await db.commit()
    with pytest.raises(ValidationError) as refused:
        await approvals.approve(db, world["manager"], quote.id, {"revision": seen})
    assert "changed since you opened it" in refused.value.errors["revision"].render()
    with pytest.raises(ValidationError):
        await approvals.approve(db, world["manager"], quote.id, {})


async def test_changing_an_approved_quotes_prices_sends_it_back_for_approval(db, world) -> None:
    quote = await _submitted(db, world, "12")
    await approvals.approve(db, world["manager"], quote.id, {"revision": quote.revision})
    await quotes.update(
        db, world["rep"], quote.id, quote_form(world, ("widget", "10", "12"), notes="Only the notes")
    )
    assert quote.status is QuoteStatus.APPROVED  # notes are not prices
    await quotes.update(
        db, world["rep"], quote.id, quote_form(world, ("widget", "10", "15"), notes="Only the notes")
    )
    await db.commit()
    assert quote.status is QuoteStatus.PENDING and quote.approval_round == 2
    assert [e.action for e in await quotes.history(db, quote)][-2:] == ["edited", "submitted"]


async def test_editing_a_waiting_quote_withdraws_it(db, world) -> None:
    quote = await _submitted(db, world, "12")
    await quotes.update(db, world["rep"], quote.id, quote_form(world, ("widget", "11", "12")))
    await db.commit()
    assert quote.status is QuoteStatus.DRAFT
    assert [s.status for s in await approvals.chain_of(db, quote)] == [ApprovalStatus.CANCELLED]
    assert await _reminders(db, world["manager"]) == []
    assert await approvals.waiting_for(db, world["manager"]) == []


async def test_decided_by_me_lists_my_decisions(db, world) -> None:
    first = await _submitted(db, world, "12")
    second = await _submitted(db, world, "15")
    await approvals.approve(db, world["manager"], first.id, {"revision": 1})
    await approvals.reject(db, world["manager"], second.id, {"revision": 1, "comment": "No"})
    await db.commit()
    page = await approvals.decided_by(db, world["manager"])
    assert page.total == 2 and {s.status for s in page.items} == {
        ApprovalStatus.APPROVED,
        ApprovalStatus.REJECTED,
    }
