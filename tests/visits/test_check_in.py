"""Check-in and check-out at the customer: the geofence policy, poor fixes, no fix, offline device time."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

from server.db import create_engine, utcnow
from server.errors import PermissionDenied, ValidationError
from server.users.models import User
from server.visits import service as visits
from server.visits.models import VisitStatus
from tests.factories import make_account
from tests.visits.conftest import CUSTOMER, FAR, NEARBY, fix


async def test_inside_the_geofence_records_the_fix_and_the_distance(db, day) -> None:
    visit = await day.plan(db)
    await visits.check_in(db, day.rep, visit.id, fix(NEARBY, accuracy=12))
    await db.commit()
    await db.refresh(visit)
    assert visit.status is VisitStatus.CHECKED_IN
    assert (visit.check_in_latitude, visit.check_in_longitude, visit.check_in_accuracy_m) == (*NEARBY, 12)
    assert 95 < visit.check_in_distance_m < 105
    assert not visit.outside_geofence and not visit.low_accuracy and not visit.is_flagged


async def test_a_soft_geofence_records_a_far_check_in_and_flags_it(db, day) -> None:
    await day.policy(db, "soft")
    visit = await day.plan(db)
    await visits.check_in(db, day.rep, visit.id, fix(FAR))
    await db.commit()
    await db.refresh(visit)
    assert visit.status is VisitStatus.CHECKED_IN
    assert visit.outside_geofence and visit.is_flagged
    assert 1000 < visit.check_in_distance_m < 1020


async def test_a_hard_geofence_refuses_a_far_check_in_with_the_distance_and_changes_nothing(db, day) -> None:
    await day.policy(db, "hard", radius=150)
    visit = await day.plan(db)
    version = visit.version
    with pytest.raises(ValidationError) as refused:
        await visits.check_in(db, day.rep, visit.id, fix(FAR))
    message = refused.value.errors["location"]
    assert message.params["radius"] == 150 and 1000 < message.params["distance"] < 1020
    await db.refresh(visit)
    assert (visit.status, visit.version, visit.checked_in_at) == (VisitStatus.PLANNED, version, None)


async def test_a_hard_geofence_lets_a_near_check_in_through(db, day) -> None:
    await day.policy(db, "hard", radius=150)
    visit = await day.plan(db)
    await visits.check_in(db, day.rep, visit.id, fix(NEARBY))
    assert visit.status is VisitStatus.CHECKED_IN and not visit.outside_geofence


async def test_a_poor_fix_is_flagged_as_low_accuracy(db, day) -> None:
    await day.policy(db, low_accuracy=50)
    visit = await day.plan(db)
    await visits.check_in(db, day.rep, visit.id, fix(CUSTOMER, accuracy=400))
    assert visit.low_accuracy and visit.is_flagged and not visit.outside_geofence


async def test_no_location_needs_a_reason_which_is_flagged(db, day) -> None:
    visit = await day.plan(db)
    with pytest.raises(ValidationError) as refused:
        await visits.check_in(db, day.rep, visit.id, {})
    assert "no_location_reason" in refused.value.errors

    await visits.check_in(db, day.rep, visit.id, {"no_location_reason": "Basement, no GPS"})
    assert visit.status is VisitStatus.CHECKED_IN
    assert visit.no_location_reason == "Basement, no GPS" and visit.is_flagged
    assert visit.check_in_latitude is None


async def test_an_offline_check_in_keeps_the_device_time_and_the_arrival_time(db, day) -> None:
    visit = await day.plan(db)
    tapped = utcnow().replace(microsecond=0) - dt.timedelta(hours=3)
    arrived = utcnow()
    await visits.check_in(
        db, day.rep, visit.id, fix(NEARBY, device_time=tapped.isoformat()), received_at=arrived
    )
    assert visit.checked_in_device_at == tapped
    assert visit.checked_in_at == arrived


@pytest.mark.parametrize("offset", [dt.timedelta(hours=2), -dt.timedelta(days=30)])
async def test_a_device_clock_far_off_is_refused(db, day, offset) -> None:
    visit = await day.plan(db)
    with pytest.raises(ValidationError) as refused:
        await visits.check_in(db, day.rep, visit.id, fix(NEARBY, device_time=(utcnow() + offset).isoformat()))
    assert "device_time" in refused.value.errors


@pytest.mark.parametrize(
    "raw", [{"latitude": "91", "longitude": "0"}, {"latitude": "north", "longitude": "0"}, {"accuracy": "-1"}]
)
async def test_a_nonsense_fix_is_refused(db, day, raw) -> None:
    visit = await day.plan(db)
    with pytest.raises(ValidationError):
        await visits.check_in(db, day.rep, visit.id, raw)


async def test_only_the_visiting_rep_checks_in_and_only_once(db, day) -> None:
    visit = await day.plan(db)
    with pytest.raises(PermissionDenied):
        await visits.check_in(db, day.manager, visit.id, fix(NEARBY))
    await visits.check_in(db, day.rep, visit.id, fix(NEARBY))
    with pytest.raises(ValidationError) as refused:
        await visits.check_in(db, day.rep, visit.id, fix(NEARBY))
    assert "status" in refused.value.errors


async def test_check_out_measures_time_on_site_on_the_phones_clock(db, day) -> None:
    visit = await day.plan(db)
    with pytest.raises(ValidationError):
        await visits.check_out(db, day.rep, visit.id, {})  # not checked in yet
    arrived = utcnow().replace(microsecond=0) - dt.timedelta(minutes=50)
    await visits.check_in(db, day.rep, visit.id, fix(NEARBY, device_time=arrived.isoformat()))
    await visits.check_out(
        db, day.rep, visit.id, {"device_time": (arrived + dt.timedelta(minutes=42)).isoformat()}
    )
    await db.commit()
    await db.refresh(visit)
    assert visit.status is VisitStatus.DONE
    assert visit.minutes_on_site == 42
    assert visit.checked_out_at is not None


async def test_an_account_without_a_location_takes_it_from_a_check_in_when_the_rep_confirms(db, day) -> None:
    nowhere = await make_account(db, day.rep, name="No Map Ltd")
    visit = await day.plan(db, nowhere)
    await visits.check_in(db, day.rep, visit.id, fix(NEARBY))
    assert visit.check_in_distance_m is None and not visit.outside_geofence  # nothing to measure against
    await visits.use_check_in_location(db, day.rep, visit.id)
    await db.commit()
    await db.refresh(nowhere)
    assert (nowhere.latitude, nowhere.longitude) == NEARBY
    with pytest.raises(ValidationError):
        await visits.use_check_in_location(db, day.rep, visit.id)  # it has one now


async def test_a_check_in_and_a_skip_at_the_same_moment_cannot_both_stand(backend, settings, db, day) -> None:
    """The manager skips the visit while the rep checks in: whichever commits second sees the
    first's status (the command reads the visit again under its row lock) and is refused, instead
    of checking in to a skipped visit."""
    if backend == "sqlite":
        pytest.skip("SQLite has one writer at a time: the second command starts after the first commits")
    visit = await day.plan(db)
    await db.commit()
    engine = create_engine(settings.database_url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with sessions() as managers, sessions() as reps:
            manager = await managers.get(User, day.manager.id)
            await visits.skip(managers, manager, visit.id, {"skip_reason": "Shop closed for refit"})
            await managers.flush()  # skipped, not yet committed
            rep = await reps.get(User, day.rep.id)
            checking_in = asyncio.create_task(visits.check_in(reps, rep, visit.id, fix(NEARBY)))
            await asyncio.sleep(0.2)  # the check-in waits for the visit's row
            assert not checking_in.done()
            await managers.commit()
            with pytest.raises(ValidationError):
                await checking_in
    finally:
        await engine.dispose()
    await db.refresh(visit)
    assert visit.status is VisitStatus.SKIPPED
