"""A property: whatever mix of edits, submissions, decisions (by anyone, with fresh or stale
revisions, tapped twice), sending and accepting comes along, a quote never reaches an invalid
state, and nobody ever approves their own quote or decides two steps of one submission.

Each example drives a new quote through the real commands on the test database; a refused
command is rolled back to a savepoint, as a refused request is. After every step the quote and
its approval steps are checked against the rules of server/quotes/approvals.py.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from server.errors import CommandError
from server.quotes import approvals, policy, pricing
from server.quotes import service as quotes
from server.quotes.models import ApprovalStatus, ApproverLevel, Quote, QuoteApproval, QuoteStatus
from server.users.models import Role
from tests.factories import make_user
from tests.quotes.conftest import quote_form

PEOPLE = ("rep", "colleague", "manager", "other_manager", "admin", "second_admin")
ACTIONS = st.one_of(
    st.tuples(st.just("edit"), st.integers(1, 40), st.sampled_from(["0", "5", "10", "12", "26", "40"])),
    st.tuples(st.just("submit")),
    st.tuples(st.sampled_from(["approve", "reject"]), st.sampled_from(PEOPLE), st.booleans()),
    st.tuples(st.sampled_from(["send", "accept"])),
)


async def _act(db, world, quote: Quote, action: tuple, seen: int) -> None:
    name, owner = action[0], quote.owner
    if name == "edit":
        await quotes.update(
            db, world["rep"], quote.id, quote_form(world, ("widget", str(action[1]), action[2]))
        )
    elif name == "submit":
        await approvals.submit(db, owner, quote.id, {"comment": "please"})
    elif name in ("approve", "reject"):
        revision = quote.revision if action[2] else seen  # what the approver saw: now, or earlier
        command = approvals.approve if name == "approve" else approvals.reject
        await command(db, world[action[1]], quote.id, {"revision": revision})
    elif name == "send":
        await quotes.mark_sent(db, owner, quote.id)
    else:
        await quotes.mark_accepted(db, owner, quote.id)


async def _check(db, world, quote: Quote) -> None:
    steps = list(await db.scalars(select(QuoteApproval).where(QuoteApproval.quote_id == quote.id)
                                  .order_by(QuoteApproval.round, QuoteApproval.step)))  # fmt: skip
    current = [s for s in steps if s.round == quote.approval_round]
    older = [s for s in steps if s.round != quote.approval_round]
    statuses = [s.status for s in current]
    people = {person.id: person for person in (world[name] for name in PEOPLE)}

    # Nobody approves their own quote; nobody decides two steps of a submission; admins' steps are admins'.
    for step in steps:
        assert step.decided_by_id != quote.owner_id
        if step.decided_by_id and step.level is ApproverLevel.ADMIN:
            assert people[step.decided_by_id].role is Role.ADMIN
    for round_ in {s.round for s in steps}:
        deciders = [s.decided_by_id for s in steps if s.round == round_ and s.decided_by_id]
        assert len(deciders) == len(set(deciders))
    # Only the current submission can be waiting.
    assert all(s.status not in (ApprovalStatus.WAITING, ApprovalStatus.QUEUED) for s in older)

    if quote.status is QuoteStatus.PENDING:
        assert statuses.count(ApprovalStatus.WAITING) == 1
        waiting = statuses.index(ApprovalStatus.WAITING)
        assert all(s is ApprovalStatus.APPROVED for s in statuses[:waiting])
        assert all(s is ApprovalStatus.QUEUED for s in statuses[waiting + 1 :])
        assert current[waiting].step == quote.approval_step
    else:
        assert ApprovalStatus.WAITING not in statuses and ApprovalStatus.QUEUED not in statuses
    if quote.status is QuoteStatus.REJECTED:
        assert statuses.count(ApprovalStatus.REJECTED) == 1
    if quote.status in (QuoteStatus.APPROVED, QuoteStatus.SENT, QuoteStatus.ACCEPTED):
        # Approved means every step the policy asks of the quote as it stands was approved.
        lines = [
            pricing.Line(line.quantity, line.unit_price, line.list_price, line.discount_percent)
            for line in quote.lines
        ]
        needed = [
            level
            for level, _ in policy.chain(
                policy.evaluate(await approvals.rules(db), lines, quote.discount_percent, quote.currency)
            )
        ]
        assert [s.level for s in current] == needed
        assert all(s.status is ApprovalStatus.APPROVED and s.revision == quote.revision for s in current)
    # The totals are always those of the lines.
    totals = pricing.totals([pricing.Line(line.quantity, line.unit_price, line.list_price, line.discount_percent) for line in quote.lines],
                            quote.discount_percent, quote.currency)  # fmt: skip
    assert (quote.subtotal, quote.total) == (totals.subtotal, totals.total)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(owner=st.sampled_from(["rep", "manager", "admin"]), actions=st.lists(ACTIONS, min_size=1, max_size=12))
async def test_random_edits_submissions_and_decisions_keep_quotes_valid(db, world, owner, actions) -> None:
    if "second_admin" not in world:
        world["second_admin"] = await make_user(db, Role.ADMIN, name="Bea")
    # A manager or an admin may quote too (for an account of their team): then they are the ones
    # who must not decide.
    quote = await quotes.create(db, world[owner], quote_form(world, ("widget", "10", "12")))
    await db.commit()
    seen = quote.revision
    for action in actions:
        try:
            async with db.begin_nested():
                await _act(db, world, quote, action, seen)
        except CommandError:
            pass
        await db.commit()
        await db.refresh(quote)
        await db.refresh(quote, ["lines"])
        await _check(db, world, quote)
        seen = quote.revision if action[0] == "submit" else seen
    assert quote.status in set(QuoteStatus)
    assert Decimal(quote.total) >= 0
