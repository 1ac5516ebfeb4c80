"""Planning a day: plan, reschedule, skip, route order by hand and by distance, the team's day."""

from __future__ import annotations

import datetime as dt

import pytest

from server.errors import NotFound, PermissionDenied, ValidationError
from server.users.models import Role, User
from server.visits import service as visits
from server.visits import team
from server.visits.models import Visit, VisitStatus
from tests.factories import make_account, make_team, make_user
from tests.visits.conftest import NEARBY, fix


async def test_plan_validates_and_a_replayed_plan_makes_one_visit(db, day) -> None:
    raw = {"account_id": str(day.account.id), "planned_on": day.today.isoformat(), "window_start": "09:00",
           "window_end": "10:30", "purpose": "Price list"}  # fmt: skip
    first = await visits.plan(db, day.rep, raw, record_id="01936d3a-0000-7000-8000-000000000001")
    again = await visits.plan(db, day.rep, raw, record_id="01936d3a-0000-7000-8000-000000000001")
    await db.commit()
    assert first.id == again.id
    assert (first.window_start, first.window_end, first.status) == (
        dt.time(9),
        dt.time(10, 30),
        VisitStatus.PLANNED,
    )

    for bad, field in [({"window_end": "08:00"}, "window_end"), ({"planned_on": "tomorrow"}, "planned_on"),
                       ({"planned_on": ""}, "planned_on"), ({"window_start": "25:00"}, "window_start")]:  # fmt: skip
        with pytest.raises(ValidationError) as refused:
            await visits.plan(db, day.rep, {**raw, **bad})
        assert field in refused.value.errors


async def test_nobody_plans_at_an_account_they_cannot_see_or_for_a_rep_not_theirs(db, day) -> None:
    stranger = await make_user(db, Role.REP, await make_team(db))
    theirs = await make_account(db, stranger)
    with pytest.raises(NotFound):
        await visits.plan(db, day.rep, {"account_id": str(theirs.id), "planned_on": day.today.isoformat()})
    with pytest.raises(ValidationError):
        raw = {
            "account_id": str(day.account.id),
            "planned_on": day.today.isoformat(),
            "owner_id": str(stranger.id),
        }
        await visits.plan(db, day.manager, raw)
    planned = await visits.plan(
        db,
        day.manager,
        {"account_id": str(day.account.id), "planned_on": day.today.isoformat(), "owner_id": str(day.rep.id)},
    )
    assert planned.owner_id == day.rep.id  # a manager plans for their own rep


async def test_reschedule_moves_the_visit_and_skip_needs_a_reason(db, day) -> None:
    visit = await day.plan(db)
    tomorrow = day.today + dt.timedelta(days=1)
    await visits.reschedule(
        db, day.rep, visit.id, {"planned_on": tomorrow.isoformat(), "window_start": "14:00"}
    )
    assert (visit.planned_on, visit.window_start) == (tomorrow, dt.time(14))
    with pytest.raises(ValidationError):
        await visits.skip(db, day.rep, visit.id, {"skip_reason": ""})
    await visits.skip(db, day.rep, visit.id, {"skip_reason": "Shop closed for refit"})
    assert visit.status is VisitStatus.SKIPPED
    await visits.check_in(db, day.rep, (await day.plan(db)).id, fix(NEARBY))
    with pytest.raises(ValidationError):  # a visit made cannot be moved
        made = (await visits.day_plan(db, day.rep, day.rep.id, day.today))[0]
        await visits.reschedule(db, day.rep, made.id, {"planned_on": tomorrow.isoformat()})


async def _accounts_along_a_road(db, rep: User, count: int) -> list:
    """Accounts about 1 km apart going east from Manchester, made in a scrambled order."""
    order = [3, 0, 4, 1, 2][:count]
    return [await make_account(db, rep, name=f"Stop {n}", latitude="53.48", longitude=str(-2.30 + n * 0.015))
            for n in order]  # fmt: skip


async def test_order_route_from_the_start_point_and_show_the_total(db, day) -> None:
    stops = await _accounts_along_a_road(db, day.rep, 5)
    for account in stops:
        await day.plan(db, account)
    no_location = await day.plan(db, await make_account(db, day.rep, name="Unmapped"))

    route = await visits.optimise(db, day.rep, day.today, (53.48, -2.32))  # west of Stop 0
    await db.commit()
    names = [leg.visit.account.name for leg in route.legs]
    assert names == ["Stop 0", "Stop 1", "Stop 2", "Stop 3", "Stop 4", "Unmapped"]
    assert 5.2 < route.total_m / 1000 < 5.4  # 1.3 km to the first stop, then four legs of 0.99 km
    shown = await visits.day_plan(db, day.rep, day.rep.id, day.today)
    assert [v.route_position for v in shown] == [1, 2, 3, 4, 5, 6]
    assert shown[-1].id == no_location.id

    east = await visits.optimise(db, day.rep, day.today, (53.48, -2.20))  # now starting east of Stop 4
    assert [leg.visit.account.name for leg in east.legs][:5] == [
        "Stop 4",
        "Stop 3",
        "Stop 2",
        "Stop 1",
        "Stop 0",
    ]


async def test_without_a_position_the_route_starts_from_home_base(db, day) -> None:
    day.rep.home_latitude, day.rep.home_longitude = 53.48, -2.19
    await db.commit()
    for account in await _accounts_along_a_road(db, day.rep, 3):
        await day.plan(db, account)
    start = visits.start_point(day.rep, {"latitude": "", "longitude": ""})
    route = await visits.optimise(db, day.rep, day.today, start)
    assert [leg.visit.account.name for leg in route.legs] == ["Stop 4", "Stop 3", "Stop 0"]


async def test_visits_already_made_stay_first_when_the_route_is_reordered(db, day) -> None:
    stops = await _accounts_along_a_road(db, day.rep, 3)  # Stop 3, Stop 0, Stop 4
    planned = [await day.plan(db, account) for account in stops]
    await visits.check_in(db, day.rep, planned[0].id, {"no_location_reason": "test"})
    route = await visits.optimise(db, day.rep, day.today, (53.48, -2.32))
    assert route.legs[0].visit.id == planned[0].id


async def test_the_rep_reorders_by_hand(db, day) -> None:
    first, second, third = [await day.plan(db) for _ in range(3)]
    await visits.reorder(db, day.rep, day.today, [third.id, first.id, second.id])
    await visits.move(db, day.rep, first.id, -1)
    shown = await visits.day_plan(db, day.rep, day.rep.id, day.today)
    assert [v.id for v in shown] == [first.id, third.id, second.id]
    with pytest.raises(ValidationError):  # a stale list (a visit missing) changes nothing
        await visits.reorder(db, day.rep, day.today, [first.id, second.id])
    with pytest.raises(PermissionDenied):
        await visits.move(db, day.manager, first.id, 1)


async def test_the_team_day_shows_each_rep_planned_against_done_and_where_they_are(db, day) -> None:
    other_team_rep = await make_user(db, Role.REP, await make_team(db), name="Elsewhere")
    await make_account(db, other_team_rep)
    idle = await make_user(db, Role.REP, await db.get(type(day.rep.team), day.rep.team_id), name="Ida Idle")
    made, _planned = await day.plan(db), await day.plan(db)
    await visits.check_in(db, day.rep, made.id, {"no_location_reason": "Underground car park"})
    await db.commit()

    reps = {rep_day.rep.name: rep_day for rep_day in await team.team_day(db, day.manager, day.today)}
    assert set(reps) == {"Rita Rep", "Ida Idle"}
    rita = reps["Rita Rep"]
    assert (len(rita.visits), rita.count(VisitStatus.CHECKED_IN), rita.count(VisitStatus.DONE)) == (2, 1, 0)
    assert rita.where.id == made.id
    assert [v.id for v in rita.flagged] == [made.id]
    assert reps["Ida Idle"].visits == [] and idle.id == reps["Ida Idle"].rep.id


def test_today_is_the_date_where_the_user_is() -> None:
    late_evening_utc = dt.datetime(2026, 11, 22, 20, 30, tzinfo=dt.UTC)
    assert visits.today_for(User(time_zone="Europe/London"), late_evening_utc) == dt.date(2026, 11, 22)
    assert visits.today_for(User(time_zone="Asia/Shanghai"), late_evening_utc) == dt.date(2026, 11, 23)
    assert visits.today_for(User(time_zone="Not/AZone"), late_evening_utc) == dt.date(2026, 11, 22)


async def test_a_rep_sees_only_their_own_visits_and_the_manager_sees_the_team(db, day) -> None:
    visit = await day.plan(db)
    other = await make_user(db, Role.REP, await make_team(db))
    with pytest.raises(NotFound):
        await visits.get(db, other, visit.id)
    assert (await visits.get(db, day.manager, visit.id)).id == visit.id
    assert isinstance(await visits.get(db, day.admin, visit.id), Visit)
