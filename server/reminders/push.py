"""Web Push for reminders: devices subscribe and unsubscribe; reminder commands queue rings; quiet hours."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select, update

from server.audit import service as audit
from server.errors import Message, NotFound, ValidationError
from server.i18n import N_
from server.reminders.push_models import PushSubscription, ReminderRing, RingStatus
from server.validation import parse_uuid

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from server.reminders.models import Reminder
    from server.users.models import User

# The session remembers which subscriptions this sign-in made, so signing out removes them.
SESSION_KEY = "push_subscriptions"
# What the audit log keeps of a subscription (never its keys).
AUDITED = ("user_agent",)


def _key(value: Any, length: int) -> str | None:
    """A base64url key of `length` bytes, as browsers give them, or None."""
    text = str(value or "").strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return text if len(raw) == length else None


def _validate(raw: Mapping[str, Any]) -> dict[str, str]:
    keys = raw.get("keys") if isinstance(raw.get("keys"), Mapping) else {}
    endpoint = str(raw.get("endpoint") or "").strip()
    parts = urlsplit(endpoint)
    if parts.scheme not in {"https", "http"} or not parts.netloc or len(endpoint) > 2000:
        raise ValidationError(
            {"endpoint": Message(N_("This device gave no address to send notifications to."))}
        )
    p256dh, auth = _key(keys.get("p256dh"), 65), _key(keys.get("auth"), 16)
    if p256dh is None or auth is None:
        raise ValidationError({"keys": Message(N_("This device gave no valid keys for notifications."))})
    return {"endpoint": endpoint, "p256dh": p256dh, "auth": auth}


async def subscribe(
    session: AsyncSession, actor: User, raw: Mapping[str, Any], *, user_agent: str = ""
) -> PushSubscription:
    """push.subscribe: this device gets the actor's reminders (again: the same endpoint is one row)."""
    values = _validate(raw)
    found = await session.scalar(
        select(PushSubscription).where(PushSubscription.endpoint == values["endpoint"])
    )
    if found is None:
        found = PushSubscription(user_id=actor.id, user_agent=user_agent[:300], **values)
        session.add(found)
    else:  # the same browser, perhaps someone else signed in on it now
        found.user_id, found.p256dh, found.auth = actor.id, values["p256dh"], values["auth"]
    await session.flush()
    audit.record(session, actor, "push.subscribe", found, after=audit.snapshot(found, AUDITED))
    return found


async def _remove(session: AsyncSession, actor: User | None, action: str, *where: Any) -> int:
    """Delete the subscriptions that match (only the actor's own, when a person acts), each with
    its audit event."""
    if actor is not None:
        where = (PushSubscription.user_id == actor.id, *where)
    found = list(await session.scalars(select(PushSubscription).where(*where)))
    for subscription in found:
        audit.record(session, actor, action, subscription, before=audit.snapshot(subscription, AUDITED))
    if found:
        # A statement, not ORM deletes: another dispatcher may have removed one meanwhile.
        await session.execute(delete(PushSubscription).where(PushSubscription.id.in_([s.id for s in found])))
    return len(found)


async def drop_gone(session: AsyncSession, subscription_ids: set[Any]) -> int:
    """push.gone: the push service says these devices turned notifications off."""
    return await _remove(session, None, "push.gone", PushSubscription.id.in_(subscription_ids))


async def unsubscribe(session: AsyncSession, actor: User, endpoint: Any) -> int:
    """push.unsubscribe: this device stops getting the actor's reminders."""
    return await _remove(session, actor, "push.unsubscribe", PushSubscription.endpoint == str(endpoint or ""))


async def forget(session: AsyncSession, actor: User, subscription_ids: list[Any]) -> None:
    """On sign-out: the subscriptions made during this sign-in go."""
    ids = [parsed for value in subscription_ids if (parsed := parse_uuid(value)) is not None]
    if ids:
        await _remove(session, actor, "push.unsubscribe", PushSubscription.id.in_(ids))


async def remove_device(session: AsyncSession, actor: User, subscription_id: Any) -> None:
    """push.remove_device: one of the actor's devices gets no more notifications."""
    parsed = parse_uuid(subscription_id)
    if parsed is None or not await _remove(
        session, actor, "push.remove_device", PushSubscription.id == parsed
    ):
        raise NotFound(Message(N_("That record does not exist or is not yours to see.")))


async def devices(session: AsyncSession, actor: User) -> list[PushSubscription]:
    rows = await session.scalars(
        select(PushSubscription)
        .where(PushSubscription.user_id == actor.id)
        .order_by(PushSubscription.created_at)
    )
    return list(rows)


# --- the outbox -------------------------------------------------------------------------------


async def cancel_rings(session: AsyncSession, reminder: Reminder) -> None:
    await session.execute(
        update(ReminderRing)
        .where(ReminderRing.reminder_id == reminder.id, ReminderRing.status == RingStatus.PENDING.value)
        .values(status=RingStatus.CANCELLED.value)
    )


async def schedule_ring(session: AsyncSession, reminder: Reminder, *, new: bool = False) -> None:
    """The reminder rings at its (new) due time; a ring still waiting for the old time is dropped
    (a `new` reminder has none)."""
    if not new:
        await cancel_rings(session, reminder)
    if reminder.done_at is None and reminder.deleted_at is None:
        session.add(ReminderRing(reminder_id=reminder.id, ring_at=reminder.due_at))
        await session.flush()


# --- quiet hours ----------------------------------------------------------------------------


def quiet_until(user: User, now: dt.datetime) -> dt.datetime | None:
    """When the user's quiet hours end, if `now` falls inside them; None outside them."""
    start, end = user.quiet_start, user.quiet_end
    if start is None or end is None or start == end:
        return None
    local = now.astimezone(user.zone)
    clock = local.time().replace(tzinfo=None)
    inside = start <= clock < end if start < end else (clock >= start or clock < end)
    if not inside:
        return None
    day = local.date() if clock < end else local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, end, tzinfo=user.zone).astimezone(dt.UTC)
