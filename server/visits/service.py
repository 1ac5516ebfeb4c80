"""Visits: the named commands of a rep's day, and the queries behind Today and the team's day."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from server.accounts import service as accounts
from server.auth import get_visible, visible
from server.commands import apply_changes, client_id, insert
from server.db import utcnow
from server.errors import Message, PermissionDenied, ValidationError
from server.i18n import N_
from server.organisation import service as organisation
from server.organisation.models import GeofenceMode
from server.users.models import Role, User
from server.validation import Fields
from server.visits.models import Outcome, Visit, VisitStatus
from server.visits.route import Point, distance_m, order_route, route_length_m

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

PLAN_FIELDS = ("account_id", "owner_id", "planned_on", "window_start", "window_end", "purpose", "status")
# A device clock this far ahead of ours is wrong, not early.
DEVICE_CLOCK_SLACK = dt.timedelta(minutes=10)
# A check-in made offline may arrive days later; older than this is a mistake.
OLDEST_DEVICE_TIME = dt.timedelta(days=14)


def today_for(user: User, now: dt.datetime | None = None) -> dt.date:
    """The date it is where the user is."""
    return (now or utcnow()).astimezone(user.zone).date()


async def get(session: AsyncSession, actor: User, visit_id: Any, *, for_change: bool = False) -> Visit:
    return await get_visible(session, actor, Visit, visit_id, for_change=for_change)


def _check_own(actor: User, visit: Visit, message: str) -> None:
    """Check-in, check-out and outcome are the visiting rep's own word; nobody records them for them."""
    if visit.owner_id != actor.id:
        raise PermissionDenied(Message(message))


# Why a command cannot act on a visit in this state.
NOT_NOW = {
    VisitStatus.PLANNED: N_("This visit has not started yet."),
    VisitStatus.CHECKED_IN: N_("You are already checked in for this visit."),
    VisitStatus.DONE: N_("This visit is already done."),
    VisitStatus.SKIPPED: N_("This visit was skipped."),
}


def _check_status(visit: Visit, *allowed: VisitStatus) -> None:
    if visit.status not in allowed:
        raise ValidationError({"status": Message(NOT_NOW[visit.status])})


# --- planning -------------------------------------------------------------------------------


def _validate_plan(raw: Mapping[str, Any], *, new: bool) -> dict[str, Any]:
    """A visit's day, time window and purpose; for a new visit also its account and rep."""
    fields = Fields(raw)
    if new:
        fields.uuid("account_id", required=True)
        fields.uuid("owner_id")
    fields.date("planned_on", required=True)
    fields.time("window_start")
    fields.time("window_end")
    fields.text("purpose", max_length=200)
    values = fields.result()
    start, end = values.get("window_start"), values.get("window_end")
    if start and end and end <= start:
        raise ValidationError({"window_end": Message(N_("The window must end after it starts."))})
    return values


async def plan(session: AsyncSession, actor: User, raw: Mapping[str, Any], *, record_id: Any = None) -> Visit:
    """visits.plan: a visit to an account on a day, for the actor or (a manager's choice) a rep of theirs."""
    visit_id = client_id(record_id)
    if await session.get(Visit, visit_id):
        return await get(session, actor, visit_id, for_change=True)
    values = _validate_plan(raw, new=True)
    account = await accounts.get(session, actor, values["account_id"])
    owner_id = values.pop("owner_id", None) or actor.id
    if owner_id != actor.id:
        owner = await session.scalar(select(User).where(User.id == owner_id, visible(actor, User)))
        if owner is None or owner.role is Role.ADMIN or not owner.is_active:
            raise ValidationError({"owner_id": Message(N_("You cannot plan visits for that person."))})
    visit = Visit(
        id=visit_id, owner_id=owner_id, status=VisitStatus.PLANNED, **{**values, "account_id": account.id}
    )
    await insert(session, actor, visit, "visits.plan", PLAN_FIELDS)
    await session.refresh(visit)  # with its account and rep (joined), for the page that follows
    return visit


async def reschedule(session: AsyncSession, actor: User, visit_id: Any, raw: Mapping[str, Any]) -> Visit:
    """visits.reschedule: another day or time window (or purpose) for a visit not yet made."""
    visit = await get(session, actor, visit_id, for_change=True)
    _check_status(visit, VisitStatus.PLANNED, VisitStatus.SKIPPED)
    values = _validate_plan(raw, new=False)
    if values["planned_on"] != visit.planned_on:
        values["route_position"] = None
    values["status"] = VisitStatus.PLANNED
    values["skip_reason"] = ""
    await apply_changes(session, actor, visit, values, "visits.reschedule")
    return visit


async def skip(session: AsyncSession, actor: User, visit_id: Any, raw: Mapping[str, Any]) -> Visit:
    """visits.skip: the visit will not happen, and why."""
    visit = await get(session, actor, visit_id, for_change=True)
    _check_status(visit, VisitStatus.PLANNED)
    fields = Fields(raw)
    fields.text("skip_reason", required=True, max_length=500)
    values = fields.result()
    await apply_changes(session, actor, visit, {**values, "status": VisitStatus.SKIPPED}, "visits.skip")
    return visit


async def day_plan(session: AsyncSession, actor: User, owner_id: uuid.UUID, day: dt.date) -> list[Visit]:
    """One rep's visits on a day, in route order (unordered ones after, by time window)."""
    rows = await session.scalars(
        select(Visit).where(visible(actor, Visit), Visit.owner_id == owner_id, Visit.planned_on == day)
    )
    return sorted(rows, key=plan_order)


def plan_order(visit: Visit) -> tuple[Any, ...]:
    """How a day's visits are listed: route order, then those not in the route by time window."""
    return (
        visit.route_position is None,
        visit.route_position or 0,
        visit.window_start or dt.time.max,
        visit.id,
    )


def _location(visit: Visit) -> Point | None:
    account = visit.account
    return (account.latitude, account.longitude) if account.has_location else None  # type: ignore[return-value]


@dataclass
class Leg:
    visit: Visit
    # Straight-line metres from the previous stop (or the start); None if either has no location.
    distance_m: float | None


@dataclass
class Route:
    legs: list[Leg] = field(default_factory=list)
    total_m: float = 0.0


def route_of(visits: Sequence[Visit], start: Point | None) -> Route:
    """The day as legs, with the distance of each and the total (stops without a location add nothing)."""
    route = Route()
    previous = start
    for visit in visits:
        here = _location(visit)
        leg = distance_m(previous, here) if previous and here else None
        route.legs.append(Leg(visit, leg))
        previous = here or previous
    route.total_m = route_length_m(start, [p for v in visits if (p := _location(v))])
    return route


async def _set_positions(session: AsyncSession, actor: User, ordered: Sequence[Visit]) -> None:
    for position, visit in enumerate(ordered, start=1):
        await apply_changes(session, actor, visit, {"route_position": position}, "visits.reorder")


async def reorder(session: AsyncSession, actor: User, day: dt.date, visit_ids: Sequence[Any]) -> list[Visit]:
    """visits.reorder: the rep puts their day's visits in the order they will drive it."""
    plan_ = await day_plan(session, actor, actor.id, day)
    by_id = {str(visit.id): visit for visit in plan_}
    wanted = [str(visit_id) for visit_id in visit_ids]
    if sorted(wanted) != sorted(by_id):
        raise ValidationError(
            {"order": Message(N_("The day's visits changed meanwhile; reload and try again."))}
        )
    ordered = [by_id[visit_id] for visit_id in wanted]
    await _set_positions(session, actor, ordered)
    return ordered


async def move(session: AsyncSession, actor: User, visit_id: Any, step: int) -> list[Visit]:
    """Move one visit up (-1) or down (+1) in its day's route; the change is a visits.reorder."""
    visit = await get(session, actor, visit_id, for_change=True)
    plan_ = await day_plan(session, actor, actor.id, visit.planned_on)
    if visit not in plan_:
        raise PermissionDenied(Message(N_("You can only reorder your own day.")))
    index = plan_.index(visit)
    target = min(max(index + step, 0), len(plan_) - 1)
    plan_.insert(target, plan_.pop(index))
    return await reorder(session, actor, visit.planned_on, [v.id for v in plan_])


async def optimise(session: AsyncSession, actor: User, day: dt.date, start: Point | None) -> Route:
    """visits.order_route: nearest neighbour + 2-opt from `start` (the phone's position, else home base).

    Visits already made keep their place at the front; those without a location go last.
    """
    start = start or _home(actor)
    plan_ = await day_plan(session, actor, actor.id, day)
    made = [v for v in plan_ if v.status in (VisitStatus.DONE, VisitStatus.CHECKED_IN)]
    open_ = [v for v in plan_ if v not in made]
    located = [v for v in open_ if _location(v)]
    unlocated = [v for v in open_ if not _location(v)]
    last_made = next((p for v in reversed(made) if (p := _location(v))), None)
    order = order_route(last_made or start, [_location(v) for v in located])  # type: ignore[misc]
    ordered = [*made, *(located[i] for i in order), *unlocated]
    await _set_positions(session, actor, ordered)
    return route_of(ordered, start)


def _home(user: User) -> Point | None:
    if user.home_latitude is None or user.home_longitude is None:
        return None
    return (user.home_latitude, user.home_longitude)


def start_point(actor: User, raw: Mapping[str, Any]) -> Point | None:
    """Where a route starts: the position the phone sent, if it sent a sensible one."""
    fields = Fields(raw)
    fields.number("latitude", minimum=-90, maximum=90)
    fields.number("longitude", minimum=-180, maximum=180)
    lat, lon = fields.values.get("latitude"), fields.values.get("longitude")
    if fields.errors or lat is None or lon is None:
        return _home(actor)
    return (lat, lon)


# --- at the customer ------------------------------------------------------------------------


def _device_time(values: dict[str, Any], received_at: dt.datetime) -> dt.datetime:
    moment = values.get("device_time") or received_at
    if moment > received_at + DEVICE_CLOCK_SLACK or moment < received_at - OLDEST_DEVICE_TIME:
        raise ValidationError(
            {"device_time": Message(N_("The phone's clock looks wrong; check its date and time."))}
        )
    return moment


async def check_in(
    session: AsyncSession,
    actor: User,
    visit_id: Any,
    raw: Mapping[str, Any],
    *,
    received_at: dt.datetime | None = None,
) -> Visit:
    """visits.check_in: the rep is at the customer, with the phone's fix (or a reason there is none).

    Under a hard geofence a fix outside the radius is refused; under a soft one it is recorded and
    flagged. A fix less precise than the policy allows is flagged as low accuracy.
    """
    visit = await get(session, actor, visit_id, for_change=True)
    _check_own(actor, visit, N_("Only the rep making the visit can check in."))
    _check_status(visit, VisitStatus.PLANNED)
    fields = Fields(raw)
    fields.number("latitude", minimum=-90, maximum=90)
    fields.number("longitude", minimum=-180, maximum=180)
    fields.number("accuracy", minimum=0, maximum=1_000_000)
    fields.moment("device_time")
    fields.text("no_location_reason", max_length=500)
    values = fields.result()
    received_at = received_at or utcnow()
    fix = (values.get("latitude"), values.get("longitude"))
    record: dict[str, Any] = {
        "status": VisitStatus.CHECKED_IN,
        "checked_in_at": received_at,
        "checked_in_device_at": _device_time(values, received_at),
    }
    if None in fix:
        if not values.get("no_location_reason"):
            raise ValidationError(
                {
                    "no_location_reason": Message(
                        N_("Your location is not available. Say why to check in without it.")
                    )
                }
            )
        record["no_location_reason"] = values["no_location_reason"]
    else:
        policy = await organisation.policy(session)
        accuracy = values.get("accuracy")
        distance = distance_m(fix, _location(visit)) if _location(visit) else None  # type: ignore[arg-type]
        outside = distance is not None and distance > policy.geofence_radius_m
        if outside and policy.geofence_mode is GeofenceMode.HARD:
            raise ValidationError(
                {"location": Message(
                    N_("You are %(distance)s m from %(account)s. Check in within %(radius)s m of the customer."),
                    {"distance": round(distance), "account": visit.account.name, "radius": policy.geofence_radius_m},
                )}
            )  # fmt: skip
        record |= {
            "check_in_latitude": fix[0],
            "check_in_longitude": fix[1],
            "check_in_accuracy_m": accuracy,
            "check_in_distance_m": distance,
            "outside_geofence": outside,
            "low_accuracy": accuracy is None or accuracy > policy.low_accuracy_m,
        }
    await apply_changes(session, actor, visit, record, "visits.check_in")
    return visit


async def check_out(
    session: AsyncSession,
    actor: User,
    visit_id: Any,
    raw: Mapping[str, Any],
    *,
    received_at: dt.datetime | None = None,
) -> Visit:
    """visits.check_out: the visit is over; time on site is measured on the phone's own clock."""
    visit = await get(session, actor, visit_id, for_change=True)
    _check_own(actor, visit, N_("Only the rep making the visit can check out."))
    _check_status(visit, VisitStatus.CHECKED_IN)
    fields = Fields(raw)
    fields.moment("device_time")
    values = fields.result()
    received_at = received_at or utcnow()
    device_at = _device_time(values, received_at)
    started = visit.checked_in_device_at or visit.checked_in_at or device_at
    minutes = max(0, round((device_at - started).total_seconds() / 60))
    record = {
        "status": VisitStatus.DONE,
        "checked_out_at": received_at,
        "checked_out_device_at": device_at,
        "minutes_on_site": minutes,
    }
    await apply_changes(session, actor, visit, record, "visits.check_out")
    return visit


async def use_check_in_location(session: AsyncSession, actor: User, visit_id: Any) -> Visit:
    """The rep confirms that where they checked in is where the customer is (for an account with no location)."""
    visit = await get(session, actor, visit_id, for_change=True)
    _check_own(actor, visit, N_("Only the rep who checked in can use their location."))
    if visit.account.has_location:
        raise ValidationError({"location": Message(N_("This account already has a location."))})
    if visit.check_in_latitude is None or visit.check_in_longitude is None:
        raise ValidationError({"location": Message(N_("This check-in has no location to use."))})
    await accounts.update(
        session, actor, visit.account_id,
        {"latitude": str(visit.check_in_latitude), "longitude": str(visit.check_in_longitude)},
    )  # fmt: skip
    return visit


def _validate_outcome(raw: Mapping[str, Any], visit: Visit) -> dict[str, Any]:
    fields = Fields(raw)
    if not str(raw.get("outcome") or "").strip():
        fields.error("outcome", Message(N_("Choose what came of the visit.")))
    fields.choice("outcome", Outcome)
    fields.text("notes", max_length=20_000)
    fields.text("next_step", max_length=300)
    fields.date("next_step_due")
    values = fields.result()
    if values.get("next_step_due") and not values.get("next_step"):
        raise ValidationError({"next_step": Message(N_("Say what the next step is."))})
    if values.get("next_step_due") and values["next_step_due"] < visit.planned_on:
        raise ValidationError({"next_step_due": Message(N_("The next step cannot be due before the visit."))})
    return values


async def record_outcome(
    session: AsyncSession,
    actor: User,
    visit_id: Any,
    raw: Mapping[str, Any],
    *,
    photo_file: str | None = None,
) -> Visit:
    """visits.record_outcome: notes, what came of it, the next step and its due date, and a photo."""
    visit = await get(session, actor, visit_id, for_change=True)
    _check_own(actor, visit, N_("Only the rep who made the visit can record its outcome."))
    _check_status(visit, VisitStatus.CHECKED_IN, VisitStatus.DONE)
    values = _validate_outcome(raw, visit)
    if photo_file:
        values["photo_file"] = photo_file
    await apply_changes(session, actor, visit, values, "visits.record_outcome")
    return visit


async def for_account(
    session: AsyncSession, actor: User, account_id: uuid.UUID, *, limit: int = 20
) -> list[Visit]:
    """An account's visits the actor may see: latest day first."""
    rows = await session.scalars(
        select(Visit)
        .where(visible(actor, Visit), Visit.account_id == account_id)
        .order_by(Visit.planned_on.desc(), Visit.window_start.desc(), Visit.id.desc())
        .limit(limit)
    )
    return list(rows)
