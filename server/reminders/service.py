"""Reminders: the named commands (create, update, complete, snooze, delete) and the reminders list.

Due times are entered on the owner's clock (a date and a time in users.time_zone) and kept in UTC.
Only a reminder's owner changes it; managers see their teams' reminders (auth.visible).
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from server import i18n
from server.accounts.models import Account
from server.auth import get_visible, visible
from server.commands import apply_changes, client_id, insert
from server.db import new_id, utcnow
from server.errors import Message, PermissionDenied, ValidationError
from server.i18n import N_
from server.leads.models import Lead
from server.quotes.models import Quote
from server.reminders import push
from server.reminders.models import LinkKind, Reminder, ReminderSource
from server.validation import Fields, parse_uuid
from server.visits.models import Visit

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from server.users.models import User

FIELDS = ("title", "due_at", "link_kind", "link_id", "source", "owner_id")
# "Tomorrow morning", and the time a reminder made from a due date alone rings.
MORNING = dt.time(9, 0)
# The records a reminder can link to.
LINKED_MODELS: dict[LinkKind, type[Any]] = {
    LinkKind.ACCOUNT: Account,
    LinkKind.VISIT: Visit,
    LinkKind.LEAD: Lead,
    LinkKind.QUOTE: Quote,
}
# The reminders list shows upcoming ones this far ahead, and at most this many of each group.
UPCOMING_DAYS = 60
LIST_LIMIT = 200


class Snooze(enum.StrEnum):
    MINUTES_15 = "15m"
    HOUR = "1h"
    TOMORROW = "tomorrow"
    UNTIL = "until"


def local_moment(user: User, day: dt.date, time: dt.time | None) -> dt.datetime:
    """A date and a time on the user's clock, as a UTC moment."""
    return dt.datetime.combine(day, time or MORNING, tzinfo=user.zone).astimezone(dt.UTC)


def _due(fields: Fields, owner: User) -> dt.datetime | None:
    """Read `due_on` (required) and `due_time` (default: the morning) into a UTC moment."""
    fields.date("due_on", required=True)
    fields.time("due_time")
    if fields.errors:
        return None
    day = fields.values.pop("due_on")
    return local_moment(owner, day, fields.values.pop("due_time", None))


def _validate(raw: Mapping[str, Any], owner: User) -> dict[str, Any]:
    fields = Fields(raw)
    fields.text("title", required=True, max_length=200)
    due_at = _due(fields, owner)
    values = fields.result()
    values["due_at"] = due_at
    return values


async def _link(session: AsyncSession, actor: User, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The record a new reminder is about, which the actor must be able to see; none is fine."""
    fields = Fields(raw)
    if str(raw.get("link_kind") or "").strip():
        fields.choice("link_kind", LinkKind)
    fields.uuid("link_id")
    values = fields.result()
    kind, record_id = values.get("link_kind"), values.get("link_id")
    if not kind and not record_id:
        return {"link_kind": None, "link_id": None}
    if kind not in LINKED_MODELS or record_id is None:
        raise ValidationError({"link_id": Message(N_("Choose one of the options."))})
    await get_visible(session, actor, LINKED_MODELS[kind], record_id)
    return {"link_kind": kind, "link_id": record_id}


async def _insert(
    session: AsyncSession, actor: User | None, owner: User, values: Mapping[str, Any], reminder_id: uuid.UUID
) -> Reminder:
    reminder = await insert(
        session, actor, Reminder(id=reminder_id, owner_id=owner.id, **values), "reminders.create", FIELDS
    )
    await push.schedule_ring(session, reminder, new=True)
    return reminder


async def create(
    session: AsyncSession, actor: User, raw: Mapping[str, Any], *, record_id: Any = None
) -> Reminder:
    """reminders.create: a reminder of one's own, by hand or from one of one's records."""
    reminder_id = client_id(record_id)
    if record_id and (existing := await session.get(Reminder, reminder_id)) is not None:
        if existing.owner_id != actor.id:
            raise ValidationError({"id": Message(N_("Choose one of the options."))})
        return existing  # a replay of the same create (checked before its values): nothing twice
    values = _validate(raw, actor)
    values |= await _link(session, actor, raw)
    source = {LinkKind.VISIT: ReminderSource.VISIT, LinkKind.LEAD: ReminderSource.LEAD}
    values["source"] = source.get(values["link_kind"], ReminderSource.MANUAL)
    return await _insert(session, actor, actor, values, reminder_id)


@functools.cache
def _catalogs() -> dict[str, Any]:
    return i18n.load_translations()


def in_language_of(owner: User, message: Message) -> str:
    """A system reminder's title, in the language its owner reads."""
    catalog = _catalogs().get(owner.locale or "") or _catalogs().get("en")
    return message.render(catalog.gettext if catalog else None)


async def remind(
    session: AsyncSession,
    owner: User,
    title: str,
    due_at: dt.datetime,
    link: tuple[LinkKind, uuid.UUID] | None = None,
) -> Reminder:
    """A reminder the system makes for someone (a quote to approve, a lead given to them)."""
    values = {
        "title": title[:200],
        "due_at": due_at,
        "link_kind": link[0] if link else None,
        "link_id": link[1] if link else None,
        "source": ReminderSource.SYSTEM,
    }
    return await _insert(session, None, owner, values, new_id())


async def settle(
    session: AsyncSession, link: tuple[LinkKind, uuid.UUID], *, but: uuid.UUID | None = None
) -> None:
    """The system's open reminders about a record are done with (a quote someone else decided),
    except those of `but`."""
    where = [Reminder.link_kind == link[0], Reminder.link_id == link[1], Reminder.source == ReminderSource.SYSTEM,
             Reminder.done_at.is_(None), Reminder.deleted_at.is_(None)]  # fmt: skip
    if but is not None:
        where.append(Reminder.owner_id != but)
    for reminder in await session.scalars(select(Reminder).where(*where)):
        await apply_changes(session, None, reminder, {"done_at": utcnow()}, "reminders.complete")
        await push.cancel_rings(session, reminder)


async def get(session: AsyncSession, actor: User, reminder_id: Any, *, for_change: bool = False) -> Reminder:
    return await get_visible(session, actor, Reminder, reminder_id, for_change=for_change)


async def _own(session: AsyncSession, actor: User, reminder_id: Any) -> Reminder:
    reminder = await get(session, actor, reminder_id, for_change=True)
    if reminder.owner_id != actor.id:
        raise PermissionDenied(Message(N_("Only the person it reminds can change a reminder.")))
    return reminder


def _check_open(reminder: Reminder) -> None:
    if reminder.is_done:
        raise ValidationError({"done": Message(N_("This reminder is done already."))})


async def update(session: AsyncSession, actor: User, reminder_id: Any, raw: Mapping[str, Any]) -> Reminder:
    """reminders.update: a new title or due time."""
    reminder = await _own(session, actor, reminder_id)
    _check_open(reminder)
    changed = await apply_changes(session, actor, reminder, _validate(raw, actor), "reminders.update")
    if "due_at" in changed:
        await push.schedule_ring(session, reminder)
    return reminder


async def complete(
    session: AsyncSession, actor: User, reminder_id: Any, *, now: dt.datetime | None = None
) -> Reminder:
    """reminders.complete: done. Completing a done reminder again changes nothing."""
    reminder = await _own(session, actor, reminder_id)
    if not reminder.is_done:
        await apply_changes(session, actor, reminder, {"done_at": now or utcnow()}, "reminders.complete")
        await push.cancel_rings(session, reminder)
    return reminder


def snoozed_until(actor: User, raw: Mapping[str, Any], now: dt.datetime) -> dt.datetime:
    """When a snooze chosen now ends: in 15 minutes, in an hour, tomorrow morning, or a given time."""
    fields = Fields(raw)
    if not str(raw.get("snooze") or "").strip():
        raise ValidationError({"snooze": Message(N_("Choose one of the options."))})
    fields.choice("snooze", Snooze)
    choice = fields.result().get("snooze")
    if choice is Snooze.MINUTES_15:
        return now + dt.timedelta(minutes=15)
    if choice is Snooze.HOUR:
        return now + dt.timedelta(hours=1)
    if choice is Snooze.TOMORROW:
        tomorrow = now.astimezone(actor.zone).date() + dt.timedelta(days=1)
        return local_moment(actor, tomorrow, MORNING)
    if choice is Snooze.UNTIL:
        until = _due(fields, actor)
        fields.result()
        if until is not None and until <= now:
            raise ValidationError({"due_on": Message(N_("Choose a time in the future."))})
        return until
    raise ValidationError({"snooze": Message(N_("Choose one of the options."))})


async def snooze(
    session: AsyncSession,
    actor: User,
    reminder_id: Any,
    raw: Mapping[str, Any],
    *,
    now: dt.datetime | None = None,
) -> Reminder:
    """reminders.snooze: ring again later (15 minutes, an hour, tomorrow morning, or when chosen)."""
    reminder = await _own(session, actor, reminder_id)
    _check_open(reminder)
    until = snoozed_until(actor, raw, now or utcnow())
    await apply_changes(session, actor, reminder, {"due_at": until}, "reminders.snooze")
    await push.schedule_ring(session, reminder)
    return reminder


async def delete(session: AsyncSession, actor: User, reminder_id: Any) -> Reminder:
    """reminders.delete: gone from the lists (a tombstone, so devices holding it learn it went)."""
    reminder = await _own(session, actor, reminder_id)
    await apply_changes(session, actor, reminder, {"deleted_at": utcnow()}, "reminders.delete")
    await push.cancel_rings(session, reminder)
    return reminder


@dataclass
class Agenda:
    """Open reminders split the way the reminders screen shows them."""

    overdue: list[Reminder] = field(default_factory=list)
    today: list[Reminder] = field(default_factory=list)
    upcoming: list[Reminder] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.overdue or self.today or self.upcoming)


async def agenda(session: AsyncSession, actor: User, *, now: dt.datetime | None = None) -> Agenda:
    """The actor's own open reminders: overdue, due later today (their clock), and upcoming."""
    now = now or utcnow()
    tomorrow = now.astimezone(actor.zone).date() + dt.timedelta(days=1)
    end_of_today = local_moment(actor, tomorrow, dt.time(0, 0))
    rows = await session.scalars(
        select(Reminder)
        .where(
            visible(actor, Reminder),
            Reminder.owner_id == actor.id,
            Reminder.done_at.is_(None),
            Reminder.due_at < now + dt.timedelta(days=UPCOMING_DAYS),
        )
        .order_by(Reminder.due_at, Reminder.id)
        .limit(LIST_LIMIT * 3)
    )
    result = Agenda()
    for reminder in rows:
        if reminder.due_at <= now:
            result.overdue.append(reminder)
        elif reminder.due_at < end_of_today:
            result.today.append(reminder)
        else:
            result.upcoming.append(reminder)
    return result


async def link_names(session: AsyncSession, actor: User, reminders: list[Reminder]) -> dict[uuid.UUID, str]:
    """The name of each linked record the actor may see, by reminder id."""
    names: dict[uuid.UUID, str] = {}
    for kind, model in LINKED_MODELS.items():
        ids = {r.link_id for r in reminders if r.link_kind is kind and r.link_id}
        if not ids:
            continue
        records = {
            row.id: row
            for row in await session.scalars(select(model).where(model.id.in_(ids), visible(actor, model)))
        }
        for reminder in reminders:
            record = records.get(reminder.link_id) if reminder.link_kind is kind else None
            if record is not None:
                names[reminder.id] = record_name(record)
    return names


async def link_name(session: AsyncSession, actor: User, kind: Any, record_id: Any) -> str | None:
    """The name of a record a new reminder would be about, if the actor may see it."""
    model = LINKED_MODELS.get(LinkKind(kind)) if kind in set(LinkKind) else None
    parsed = parse_uuid(record_id)
    if model is None or parsed is None:
        return None
    record = await session.scalar(select(model).where(model.id == parsed, visible(actor, model)))
    return record_name(record) if record is not None else None


def record_name(record: Any) -> str:
    if isinstance(record, Lead):
        return record.company or record.name
    if isinstance(record, Visit):
        return record.account.name
    if isinstance(record, Quote):
        return f"{record.number} {record.account.name}"
    return record.name


def record_path(reminder: Reminder) -> str | None:
    """Where the linked record's page is."""
    if reminder.link_kind is None or reminder.link_id is None:
        return None
    return f"/{reminder.link_kind.value}s/{reminder.link_id}"
