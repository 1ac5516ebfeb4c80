"""The dashboard's figures against the small world of conftest.py, worked out by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from server.dashboard import service
from server.dashboard.filters import Filters


def week(world, **scope) -> Filters:
    today = world["today"]
    return Filters("custom", today - dt.timedelta(days=6), today, **scope)


async def test_visit_figures_for_the_manager(db, world) -> None:
    figures = await service.visit_figures(db, world["max"], week(world))
    rows = {rep.name: rep for rep in figures.reps}
    assert set(rows) == {"Rita", "Colin"}  # Sven is South's
    rita, colin = rows["Rita"], rows["Colin"]
    # Rita: 5 planned yesterday (3 made, 1 skipped, 1 planned); the one ten days ago is outside.
    assert (rita.planned, rita.done, rita.skipped) == (5, 3, 1)
    # Check-ins: 3; inside 1 (the far one is outside, the third had no location); no poor fix.
    assert (rita.check_ins, rita.inside, rita.without_location, rita.low_accuracy) == (3, 1, 1, 0)
    # Minutes: 30 + 45 + 20 = 95 over 3 visits = 31.67
    assert (rita.timed, rita.minutes, rita.average_minutes) == (3, 95, 31.7)
    assert (colin.planned, colin.done, colin.skipped, colin.check_ins, colin.inside, colin.low_accuracy) == (
        2, 1, 0, 1, 1, 1,
    )  # fmt: skip
    # Totals: 7 planned, 4 done, 1 skipped; 2 of 4 check-ins inside = 50 %.
    assert (figures.total("planned"), figures.total("done"), figures.total("skipped")) == (7, 4, 1)
    assert figures.inside_share == 50.0
    # Minutes 15, 20, 30, 45: average 110 / 4 = 27.5, median (20 + 30) / 2 = 25.
    assert figures.average_minutes == 27.5
    assert figures.median_minutes == 25


async def test_rep_and_team_filters(db, world) -> None:
    rita_only = await service.visit_figures(db, world["max"], week(world, rep_id=world["rita"].id))
    assert [rep.name for rep in rita_only.reps] == ["Rita"]
    # Minutes 30, 45, 20: the median is the middle one, 30.
    assert rita_only.median_minutes == 30
    south = await service.visit_figures(db, world["admin"], week(world, team_id=world["south"].id))
    assert [(rep.name, rep.planned, rep.minutes) for rep in south.reps] == [("Sven", 1, 99)]


async def test_lead_figures(db, world) -> None:
    rows = {rep.name: rep for rep in await service.lead_figures(db, world["max"], week(world))}
    # Rita 3 captured, 1 converted (33.3 %); Colin 1, none; Sven's is South's.
    assert {name: (r.captured, r.converted) for name, r in rows.items()} == {"Rita": (3, 1), "Colin": (1, 0)}
    assert rows["Rita"].conversion == 33.3


async def test_quote_figures(db, world) -> None:
    figures = await service.quote_figures(db, world["max"], week(world), now=world["now"])
    # Waiting: Rita's 15 % quote (Sven's is South's); it was submitted 5 hours ago.
    assert (figures.waiting, figures.oldest_hours) == (1, 5.0)
    # Decided: one approved after 2 h, one rejected after 4 h: (2 + 4) / 2 = 3 h. The quote
    # within policy never waited and is not counted.
    assert (figures.approved, figures.rejected) == (1, 1)
    assert figures.average_hours == pytest.approx(3.0, abs=0.01)
    # Before the period: nothing decided.
    earlier = Filters(
        "custom", world["today"] - dt.timedelta(days=20), world["today"] - dt.timedelta(days=10)
    )
    nothing = await service.quote_figures(db, world["max"], earlier, now=world["now"])
    assert (nothing.decided, nothing.average_seconds) == (0, None)


async def test_order_figures(db, world) -> None:
    by_rep, by_tier = await service.order_figures(db, world["max"], week(world))
    # Rita (Acme): 100.00 + 50.50 = 150.50 in 2 orders (the cancelled 999 and the 70 of 20 days
    # ago left out); Colin (Bolt Co): 30.25 GBP and 200 EUR; Sven's 500 is South's.
    assert [(r.label, r.currency, r.orders, r.value) for r in by_rep] == [
        ("Colin", "EUR", 1, Decimal("200.00")),
        ("Colin", "GBP", 1, Decimal("30.25")),
        ("Rita", "GBP", 2, Decimal("150.50")),
    ]
    # Bolt Co is tier A by Max's override; Acme is C (220.50 in a year is below 10,000).
    assert [(r.label, r.currency, r.value) for r in by_tier] == [
        ("A", "EUR", Decimal("200.00")),
        ("A", "GBP", Decimal("30.25")),
        ("C", "GBP", Decimal("150.50")),
    ]
    admin_by_rep, _ = await service.order_figures(db, world["admin"], week(world))
    assert ("Sven", "GBP", Decimal("500.00")) in [(r.label, r.currency, r.value) for r in admin_by_rep]
