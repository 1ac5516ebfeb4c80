"""Customer stages at their boundaries (policy: at risk after 60 days, lapsed after 180)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from server.dashboard import lifecycle
from server.dashboard.lifecycle import Thresholds
from server.users.models import Role
from server.visits import service as visits
from server.visits.models import Visit
from tests.dashboard.conftest import order
from tests.factories import make_account, make_team, make_user

LIMITS = Thresholds(at_risk_days=60, lapsed_days=180)
DAY = dt.timedelta(days=1)
SECOND = dt.timedelta(seconds=1)


async def stage_of(db, actor, account, now: dt.datetime) -> str:
    for stage in lifecycle.STAGES:
        page = await lifecycle.accounts_in_stage(db, actor, None, LIMITS, stage, now=now)
        if any(item.account.id == account.id for item in page.items):
            return stage
    raise AssertionError("in no stage")


async def test_stages_at_their_boundaries(db) -> None:
    team = await make_team(db)
    rep = await make_user(db, Role.REP, team)
    manager = await make_user(db, Role.MANAGER, team)
    quiet = await make_account(db, rep, name="Quiet")
    made = quiet.created_at
    # Made, no order, nothing else: new for 60 days, then at risk, lapsed from 180 days.
    assert await stage_of(db, manager, quiet, made + 60 * DAY - SECOND) == "new"
    assert await stage_of(db, manager, quiet, made + 60 * DAY) == "at_risk"
    assert await stage_of(db, manager, quiet, made + 180 * DAY - SECOND) == "at_risk"
    assert await stage_of(db, manager, quiet, made + 180 * DAY) == "lapsed"

    # An order 10 days after it was made: no longer new; active for 60 days after the order.
    ordered = await make_account(db, rep, name="Ordered", customer_number="C-1")
    order_at = ordered.created_at + 10 * DAY
    await order(db, "SO-1", "C-1", "10", order_at)
    assert await stage_of(db, manager, ordered, order_at + DAY) == "active"
    assert await stage_of(db, manager, ordered, order_at + 60 * DAY - SECOND) == "active"
    assert await stage_of(db, manager, ordered, order_at + 60 * DAY) == "at_risk"
    assert await stage_of(db, manager, ordered, order_at + 180 * DAY) == "lapsed"

    # A visit (checked in) 100 days after it was made keeps an account without orders active;
    # a visit only planned does not count.
    visited = await make_account(db, rep, name="Visited")
    visit_at = visited.created_at + 100 * DAY
    visit = await visits.plan(
        db, rep, {"account_id": str(visited.id), "planned_on": visit_at.date().isoformat()}
    )
    await visits.check_in(db, rep, visit.id, {"no_location_reason": "Basement"}, received_at=visit_at)
    await visits.plan(
        db, rep, {"account_id": str(visited.id), "planned_on": (visit_at + 90 * DAY).date().isoformat()}
    )
    await db.commit()
    assert await stage_of(db, manager, visited, visit_at + 59 * DAY) == "active"
    assert await stage_of(db, manager, visited, visit_at + 60 * DAY) == "at_risk"

    # The counts by tier and stage, at one moment: 120 days after the accounts were made, Quiet
    # is at risk (120 days), Ordered at risk (110 days after its order), Visited active (20 days).
    counts = await lifecycle.lifecycle(db, manager, None, LIMITS, now=made + 120 * DAY)
    assert counts["C"] == {"new": 0, "active": 1, "at_risk": 2, "lapsed": 0}
    assert counts["A"] == counts["B"] == {"new": 0, "active": 0, "at_risk": 0, "lapsed": 0}
    assert await db.scalar(select(func.count()).select_from(Visit)) == 2
