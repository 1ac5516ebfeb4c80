"""The dispatcher: turns due rings into one delivery per device and sends them through Web Push.

Several dispatchers may run against one database (server processes, `fieldbook worker`). Each
claims rows before acting on them: on PostgreSQL the candidates are read with FOR UPDATE SKIP
LOCKED, and every claim is a conditional UPDATE that only one dispatcher can win (SQLite has a
single writer, so the same UPDATE is just as exclusive there). A delivery is unique per ring and
device, so a reminder reaches each device once. A claimed delivery carries a lease: if its
dispatcher dies mid-send, another one takes it over when the lease ends.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
import os
import socket
from collections import defaultdict
from collections.abc import Mapping
from gettext import NullTranslations
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
from pywebpush import WebPushException, webpush_async
from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from server import i18n
from server.db import utcnow
from server.i18n import N_
from server.reminders import push
from server.reminders import service as reminders
from server.reminders.models import Reminder, ReminderSource
from server.reminders.push_models import (
    DeliveryStatus,
    PushAttempt,
    PushDelivery,
    PushSubscription,
    ReminderRing,
    RingStatus,
)
from server.users.models import User
from server.web import local_time

if TYPE_CHECKING:
    from py_vapid import Vapid
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

log = logging.getLogger("fieldbook.push")

LEASE = dt.timedelta(minutes=5)
MAX_ATTEMPTS = 6
BACKOFF_FIRST = dt.timedelta(seconds=30)
BACKOFF_MAX = dt.timedelta(hours=1)
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=15)


@dataclasses.dataclass(frozen=True)
class PushKind:
    """How long a push service may hold a push for an offline phone, and how urgent it is."""

    ttl: int
    urgency: str


# A reminder the person set is worth a few hours; one the system made (an approval waiting) a day.
PUSH_KINDS = {
    ReminderSource.SYSTEM: PushKind(ttl=24 * 3600, urgency="high"),
    ReminderSource.MANUAL: PushKind(ttl=4 * 3600, urgency="normal"),
    ReminderSource.VISIT: PushKind(ttl=4 * 3600, urgency="normal"),
    ReminderSource.LEAD: PushKind(ttl=4 * 3600, urgency="normal"),
}


@dataclasses.dataclass(frozen=True)
class Result:
    outcome: str  # sent, retry, gone, failed
    status_code: int | None = None
    detail: str = ""
    retry_after: float | None = None


def backoff(attempts: int, retry_after: float | None) -> dt.timedelta:
    """The wait before the next try: the push service's Retry-After, else doubling from 30 s."""
    if retry_after is not None:
        return min(dt.timedelta(seconds=max(retry_after, 1)), BACKOFF_MAX)
    return min(BACKOFF_FIRST * 2 ** max(attempts - 1, 0), BACKOFF_MAX)


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None  # an HTTP date: our own back-off will do


def payload(
    reminder: Reminder, owner: User, name: str | None, translations: Mapping[str, NullTranslations]
) -> dict[str, Any]:
    """What the service worker shows: the title, the record's name and the time it was due, and
    the labels of its actions in the owner's language."""
    due = local_time(reminder.due_at, owner, "%H:%M")
    language = translations.get(owner.locale or "") or translations.get("en") or NullTranslations()
    return {
        "reminder_id": str(reminder.id),
        "title": reminder.title,
        "body": f"{name} · {due}" if name else due,
        "url": reminders.record_path(reminder) or "/reminders",
        "tag": f"reminder-{reminder.id}",
        "actions": {"done": language.gettext(N_("Done")), "snooze": language.gettext(N_("Snooze 1 h"))},
    }


@dataclasses.dataclass
class Dispatcher:
    sessions: async_sessionmaker[AsyncSession]
    vapid: Vapid
    subject: str
    name: str = dataclasses.field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    batch: int = 100
    concurrency: int = 20
    translations: Mapping[str, NullTranslations] = dataclasses.field(default_factory=i18n.load_translations)

    def _postgres(self, session: AsyncSession) -> bool:
        return session.bind.dialect.name == "postgresql"

    # --- rings -> deliveries ---------------------------------------------------------------

    async def fan_out(self, now: dt.datetime) -> int:
        """Due rings become one pending delivery per device of the reminder's owner (a batch at a time)."""
        pending = ReminderRing.status == RingStatus.PENDING.value
        async with self.sessions() as session:
            query = (
                select(ReminderRing.id, ReminderRing.reminder_id)
                .where(pending, ReminderRing.ring_at <= now)
                .order_by(ReminderRing.ring_at)
                .limit(self.batch)
            )
            if self._postgres(session):
                query = query.with_for_update(skip_locked=True)
            rings = list(await session.execute(query))
            if not rings:
                return 0
            found = await session.scalars(
                select(Reminder).where(Reminder.id.in_({r.reminder_id for r in rings}))
            )
            by_id = {reminder.id: reminder for reminder in found}
            owner_ids = {reminder.owner_id for reminder in by_id.values()}
            owners = {
                user.id: user for user in await session.scalars(select(User).where(User.id.in_(owner_ids)))
            }
            cancelled, ready = [], {}
            for ring_id, reminder_id in rings:
                reminder = by_id.get(reminder_id)
                owner = owners.get(reminder.owner_id) if reminder else None
                if (
                    reminder is None
                    or reminder.done_at
                    or reminder.deleted_at
                    or owner is None
                    or not owner.is_active
                ):
                    cancelled.append(ring_id)
                elif (morning := push.quiet_until(owner, now)) is not None:  # it waits for the morning
                    await session.execute(
                        update(ReminderRing).where(ReminderRing.id == ring_id).values(ring_at=morning)
                    )
                else:
                    ready[ring_id] = reminder
            if cancelled:
                await session.execute(
                    update(ReminderRing)
                    .where(ReminderRing.id.in_(cancelled), pending)
                    .values(status=RingStatus.CANCELLED.value)
                )
            if ready:
                await self._deliveries(session, ready, now)
            await session.commit()
            return len(rings)

    async def _deliveries(self, session: AsyncSession, ready: dict[Any, Reminder], now: dt.datetime) -> None:
        """Claim the rings (a conditional UPDATE only one dispatcher wins) and add their deliveries."""
        claimed = await session.scalars(
            update(ReminderRing)
            .where(ReminderRing.id.in_(list(ready)), ReminderRing.status == RingStatus.PENDING.value)
            .values(status=RingStatus.FANNED_OUT.value)
            .returning(ReminderRing.id)
        )
        ring_ids = list(claimed)
        owners = {ready[ring_id].owner_id for ring_id in ring_ids}
        devices: dict[Any, list[PushSubscription]] = defaultdict(list)
        for subscription in await session.scalars(
            select(PushSubscription).where(PushSubscription.user_id.in_(owners))
        ):
            devices[subscription.user_id].append(subscription)
        rows = [
            {"ring_id": ring_id, "reminder_id": ready[ring_id].id, "user_id": ready[ring_id].owner_id,
             "subscription_id": device.id, "push_service": urlsplit(device.endpoint).netloc[:200],
             "status": DeliveryStatus.PENDING.value, "attempts": 0, "next_attempt_at": now}
            for ring_id in ring_ids
            for device in devices[ready[ring_id].owner_id]
        ]  # fmt: skip
        if rows:
            await session.execute(insert(PushDelivery), rows)

    # --- claiming and sending deliveries -----------------------------------------------------

    async def claim(self, now: dt.datetime) -> list[Any]:
        ready = or_(
            and_(PushDelivery.status == DeliveryStatus.PENDING.value, PushDelivery.next_attempt_at <= now),
            and_(PushDelivery.status == DeliveryStatus.SENDING.value, PushDelivery.lease_until < now),
        )
        async with self.sessions() as session:
            query = (
                select(PushDelivery.id).where(ready).order_by(PushDelivery.next_attempt_at).limit(self.batch)
            )
            if self._postgres(session):
                query = query.with_for_update(skip_locked=True)
            candidates = list(await session.scalars(query))
            if not candidates:
                return []
            claimed = await session.scalars(
                update(PushDelivery)
                .where(PushDelivery.id.in_(candidates), ready)
                .values(status=DeliveryStatus.SENDING.value, lease_until=now + LEASE)
                .returning(PushDelivery.id)
                .execution_options(synchronize_session=False)
            )
            ids = list(claimed)
            await session.commit()
            return ids

    async def _load(
        self, ids: list[Any]
    ) -> list[tuple[PushDelivery, PushSubscription | None, dict[str, Any], PushKind]]:
        async with self.sessions() as session:
            deliveries = list(await session.scalars(select(PushDelivery).where(PushDelivery.id.in_(ids))))
            subscriptions = {
                s.id: s
                for s in await session.scalars(
                    select(PushSubscription).where(
                        PushSubscription.id.in_({d.subscription_id for d in deliveries})
                    )
                )
            }
            found = await session.scalars(
                select(Reminder).where(Reminder.id.in_({d.reminder_id for d in deliveries}))
            )
            by_id = {r.id: r for r in found}
            owners = {
                u.id: u
                for u in await session.scalars(
                    select(User).where(User.id.in_({r.owner_id for r in by_id.values()}))
                )
            }
            by_owner: dict[Any, list[Reminder]] = defaultdict(list)
            for reminder in by_id.values():
                by_owner[reminder.owner_id].append(reminder)
            names: dict[Any, str] = {}
            for owner_id, theirs in by_owner.items():
                names |= await reminders.link_names(session, owners[owner_id], theirs)
            jobs = []
            for delivery in deliveries:
                reminder = by_id[delivery.reminder_id]
                stale = reminder.done_at is not None or reminder.deleted_at is not None
                body = (
                    None
                    if stale
                    else payload(
                        reminder, owners[reminder.owner_id], names.get(reminder.id), self.translations
                    )
                )
                jobs.append(
                    (delivery, subscriptions.get(delivery.subscription_id), body, PUSH_KINDS[reminder.source])
                )
            return jobs

    async def _send(
        self,
        http: aiohttp.ClientSession,
        subscription: PushSubscription | None,
        body: dict[str, Any] | None,
        kind: PushKind,
    ) -> Result:
        if body is None:
            return Result("skipped", detail="done or deleted before it was sent")
        if subscription is None:
            return Result("gone", detail="the device turned notifications off")
        info = {
            "endpoint": subscription.endpoint,
            "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
        }
        try:
            response = await webpush_async(
                info, data=json.dumps(body), vapid_private_key=self.vapid,
                vapid_claims={"sub": self.subject},  # a fresh dict each time: webpush fills it in
                ttl=kind.ttl, headers={"Urgency": kind.urgency}, timeout=HTTP_TIMEOUT, aiohttp_session=http,
            )  # fmt: skip
            response.release()
            return Result("sent", response.status)
        except WebPushException as error:
            code = error.status_code
            detail = str(error.message)[:500]
            if code in (404, 410):
                return Result("gone", code, detail)
            if code == 429 or (code is not None and code >= 500):
                return Result("retry", code, detail, _retry_after(error.retry_after))
            return Result("failed", code, detail)
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            return Result("retry", None, f"{type(error).__name__}: {error}"[:500])

    async def _record(self, outcomes: list[tuple[PushDelivery, Result]], now: dt.datetime) -> None:
        rows, gone = [], set()
        for delivery, result in outcomes:
            row = {"id": delivery.id, "attempts": delivery.attempts + 1, "lease_until": None,
                   "next_attempt_at": delivery.next_attempt_at, "sent_at": None}  # fmt: skip
            if result.outcome == "sent":
                row |= {"status": DeliveryStatus.SENT.value, "sent_at": now}
            elif result.outcome == "retry" and delivery.attempts + 1 < MAX_ATTEMPTS:
                wait = backoff(delivery.attempts + 1, result.retry_after)
                row |= {"status": DeliveryStatus.PENDING.value, "next_attempt_at": now + wait}
            elif result.outcome == "skipped":
                row["status"] = DeliveryStatus.CANCELLED.value
            elif result.outcome == "gone":
                row["status"] = DeliveryStatus.GONE.value
                gone.add(delivery.subscription_id)
            else:
                row["status"] = DeliveryStatus.FAILED.value
            rows.append(row)
        async with self.sessions() as session:
            if rows:
                await session.execute(update(PushDelivery), rows)  # one UPDATE by primary key, many rows
            session.add_all(
                PushAttempt(delivery_id=delivery.id, status_code=result.status_code, outcome=result.outcome,
                            detail=result.detail, dispatcher=self.name[:100])
                for delivery, result in outcomes
            )  # fmt: skip
            if gone:
                await push.drop_gone(session, gone)
            await session.commit()

    async def send(self, ids: list[Any], http: aiohttp.ClientSession, now: dt.datetime) -> None:
        jobs = await self._load(ids)
        limit = asyncio.Semaphore(self.concurrency)

        async def one(job: Any) -> tuple[PushDelivery, Result]:
            delivery, subscription, body, kind = job
            async with limit:
                return delivery, await self._send(http, subscription, body, kind)

        outcomes = await asyncio.gather(*(one(job) for job in jobs))
        await self._record(list(outcomes), now)

    # --- the loop ------------------------------------------------------------------------------

    async def run_once(self, http: aiohttp.ClientSession, now: dt.datetime | None = None) -> int:
        """One round: fan out due rings, then send one batch. Returns how many deliveries it tried."""
        now = now or utcnow()
        await self.fan_out(now)
        ids = await self.claim(now)
        if ids:
            await self.send(ids, http, now)
        return len(ids)

    async def run(self, stop: asyncio.Event, *, interval: float = 5.0, until_idle: bool = False) -> None:
        async with aiohttp.ClientSession(timeout=HTTP_TIMEOUT) as http:
            while not stop.is_set():
                try:
                    busy = await self.run_once(http)
                except (IntegrityError, OperationalError, DBAPIError) as error:
                    # Another dispatcher won a race (SQLite: the writer lock), or the database is away.
                    log.info("dispatcher %s: trying again after %s", self.name, type(error).__name__)
                    busy = 0
                except Exception:  # never let one bad round stop the server's dispatcher
                    log.exception("dispatcher %s: a round failed", self.name)
                    busy = 0
                if busy:
                    continue
                if until_idle and not await self.work_left():
                    return
                try:
                    await asyncio.wait_for(stop.wait(), timeout=interval)
                except TimeoutError:
                    pass

    async def work_left(self) -> bool:
        """Anything due now or claimed by someone (for `--until-idle`)."""
        now = utcnow()
        async with self.sessions() as session:
            ring = await session.scalar(
                select(ReminderRing.id)
                .where(ReminderRing.status == RingStatus.PENDING.value, ReminderRing.ring_at <= now)
                .limit(1)
            )
            delivery = await session.scalar(
                select(PushDelivery.id)
                .where(
                    PushDelivery.status.in_([DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value]),
                    PushDelivery.next_attempt_at <= now,
                )
                .limit(1)
            )
            return ring is not None or delivery is not None
