"""A small fixed world for the dashboard, made through the real commands; its figures are worked
out by hand in the tests.

North (reps Rita and Colin, manager Max) and South (rep Sven, manager Sue), and an admin. The
period is the seven days ending today (where the manager is, Europe/London); "yesterday" is in it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import update

from server.accounts import tiers
from server.db import utcnow
from server.leads import service as leads
from server.orders import service as orders
from server.orders.models import OrderStatus
from server.quotes import approvals, catalogue
from server.quotes import service as quotes
from server.quotes.models import QuoteApproval
from server.users.models import Role
from server.visits import service as visits
from tests.factories import make_account, make_team, make_user
from tests.visits.conftest import CUSTOMER, FAR, NEARBY, fix

HOUR = dt.timedelta(hours=1)


async def order(db, number: str, customer: str, total: str, when: dt.datetime, *, currency: str = "GBP",
                status: OrderStatus = OrderStatus.PLACED) -> None:  # fmt: skip
    data = orders.OrderIn(customer_number=customer, status=status, ordered_at=when, currency=currency,
                          lines=[orders.OrderLineIn(sku="X", quantity=Decimal(1), unit_price=Decimal(total))])  # fmt: skip
    await orders.upsert(db, number, data)
    await db.commit()


async def made_visit(db, rep, account, day: dt.date, at: dt.datetime, minutes: int | None, **check_in: Any):
    """A visit planned for `day`, checked into at `at` with `check_in`, and out `minutes` later."""
    visit = await visits.plan(db, rep, {"account_id": str(account.id), "planned_on": day.isoformat()})
    await visits.check_in(db, rep, visit.id, check_in, received_at=at)
    if minutes is not None:
        await visits.check_out(db, rep, visit.id, {}, received_at=at + dt.timedelta(minutes=minutes))
    await db.commit()
    return visit


@pytest.fixture
async def world(db) -> dict[str, Any]:
    north, south = await make_team(db, "North"), await make_team(db, "South")
    rita = await make_user(db, Role.REP, north, name="Rita")
    colin = await make_user(db, Role.REP, north, name="Colin")
    max_ = await make_user(db, Role.MANAGER, north, name="Max")
    sven = await make_user(db, Role.REP, south, name="Sven")
    sue = await make_user(db, Role.MANAGER, south, name="Sue")
    admin = await make_user(db, Role.ADMIN, name="Ada")
    lat, lon = str(CUSTOMER[0]), str(CUSTOMER[1])
    acme = await make_account(db, rita, name="Acme", customer_number="C-ACME", latitude=lat, longitude=lon)
    bolt = await make_account(
        db, colin, name="Bolt Co", customer_number="C-BOLT", latitude=lat, longitude=lon
    )
    globex = await make_account(
        db, sven, name="Globex", customer_number="C-GLOBEX", latitude=lat, longitude=lon
    )

    now = utcnow()
    today = visits.today_for(max_, now)
    yesterday = today - dt.timedelta(days=1)
    at = now - dt.timedelta(days=1)
    # Rita, yesterday: inside (30 min), outside the geofence (45), without location (20), one
    # skipped, one still planned; and a visit ten days ago, before the period.
    await made_visit(db, rita, acme, yesterday, at, 30, **fix(CUSTOMER))
    await made_visit(db, rita, acme, yesterday, at + HOUR, 45, **fix(FAR))
    await made_visit(db, rita, acme, yesterday, at + 2 * HOUR, 20, no_location_reason="GPS off")
    skipped = await visits.plan(db, rita, {"account_id": str(acme.id), "planned_on": yesterday.isoformat()})
    await visits.skip(db, rita, skipped.id, {"skip_reason": "Closed"})
    await visits.plan(db, rita, {"account_id": str(acme.id), "planned_on": yesterday.isoformat()})
    await made_visit(
        db, rita, acme, today - dt.timedelta(days=10), now - dt.timedelta(days=10), 60, **fix(CUSTOMER)
    )
    # Colin, two days ago: inside but a poor fix (150 m, the policy flags above 100 m), 15 min; one planned.
    await made_visit(db, colin, bolt, today - dt.timedelta(days=2), at, 15, **fix(NEARBY, accuracy=150))
    await visits.plan(db, colin, {"account_id": str(bolt.id), "planned_on": yesterday.isoformat()})
    # Sven (South), yesterday: not Max's to see.
    await made_visit(db, sven, globex, yesterday, at, 99, **fix(CUSTOMER))

    # Leads: Rita captures three and converts one (into Acme); Colin captures one; Sven one.
    for number in range(3):
        lead = await leads.capture(
            db, rita, {"company": f"Prospect {number}", "phone": f"07700 90000{number}"}
        )
        if number == 0:
            await leads.convert(db, rita, lead.id, {"account_id": str(acme.id)})
    await leads.capture(db, colin, {"company": "Colin's prospect", "phone": "07700 900010"})
    await leads.capture(db, sven, {"company": "Sven's prospect", "phone": "07700 900020"})
    await db.commit()

    # Quotes: above 10 % discount the rep's manager approves.
    widget = await catalogue.create_product(
        db, admin, {"code": "W-1", "name": "Widget", "list_price": "100", "currency": "GBP"}
    )
    await catalogue.add_rule(db, admin, {"kind": "discount_above", "threshold": "10", "approver": "manager"})
    await db.commit()

    async def quote(rep, account, discount: str):
        made = await quotes.create(db, rep, {
            "account_id": str(account.id), "currency": "GBP", "valid_until": (today + dt.timedelta(days=30)).isoformat(),
            "lines": [{"product_id": str(widget.id), "quantity": "1", "discount_percent": discount}],
        })  # fmt: skip
        await approvals.submit(db, rep, made.id, {})
        await db.commit()
        return made

    approved = await quote(rita, acme, "20")
    await approvals.approve(db, max_, approved.id, {"revision": "1"})
    rejected = await quote(colin, bolt, "30")
    await approvals.reject(db, max_, rejected.id, {"revision": "1", "comment": "Too much"})
    waiting = await quote(rita, acme, "15")
    await quote(rita, acme, "0")  # within policy: approved at once, never waits
    await quote(sven, globex, "50")  # South's, waiting
    await db.commit()
    # The approvals took 2 and 4 hours, and the waiting quote has waited 5 hours: the commands
    # stamp the clock's time, so the test moves those times back (no command sets them).
    decided_at = now - HOUR
    for quote_, hours in ((approved, 2), (rejected, 4)):
        await db.execute(update(QuoteApproval).where(QuoteApproval.quote_id == quote_.id)
                         .values(decided_at=decided_at, waiting_since=decided_at - hours * HOUR))  # fmt: skip
    from server.quotes.models import Quote

    await db.execute(update(Quote).where(Quote.id == waiting.id).values(submitted_at=now - 5 * HOUR))
    await db.commit()

    # Orders: Acme 100.00 + 50.50 in the period, one cancelled, one before the period; Bolt Co
    # 30.25 GBP and 200 EUR; Globex (South) 500.
    await order(db, "SO-1", "C-ACME", "100", now - 2 * 24 * HOUR)
    await order(db, "SO-2", "C-ACME", "50.50", now - 3 * 24 * HOUR, status=OrderStatus.DELIVERED)
    await order(db, "SO-3", "C-ACME", "999", now - 2 * 24 * HOUR, status=OrderStatus.CANCELLED)
    await order(db, "SO-4", "C-ACME", "70", now - 20 * 24 * HOUR)
    await order(db, "SO-5", "C-BOLT", "30.25", now - 24 * HOUR)
    await order(db, "SO-6", "C-BOLT", "200", now - 24 * HOUR, currency="EUR")
    await order(db, "SO-7", "C-GLOBEX", "500", now - 24 * HOUR)
    await tiers.override(db, max_, bolt.id, {"tier_override": "A"})
    await db.commit()
    return {"rita": rita, "colin": colin, "max": max_, "sven": sven, "sue": sue, "admin": admin,
            "north": north, "south": south, "acme": acme, "bolt": bolt, "globex": globex,
            "today": today, "now": now}  # fmt: skip
