"""Reminders reach every device of their owner once, through a local push service that decrypts them."""

from __future__ import annotations

import asyncio
import datetime as dt

import aiohttp
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from server.app import create_app
from server.audit.models import AuditEvent
from server.db import create_engine
from server.reminders import push, vapid
from server.reminders import service as reminders
from server.reminders.dispatcher import Dispatcher
from server.reminders.push_models import PushAttempt, PushDelivery, PushSubscription
from server.users import service as users
from server.users.models import Role
from tests.conftest import make_settings, sign_in
from tests.factories import make_account, make_team, make_user
from tests.reminders.push_service import PushService, check_claims

DUE = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
SUBJECT = "mailto:ops@example.test"


@pytest.fixture
async def dispatch(settings):
    """Run one dispatcher round at a given time; returns how many deliveries it tried."""
    engine = create_engine(settings.database_url)
    key = vapid.load(settings)
    dispatcher = Dispatcher(async_sessionmaker(engine, expire_on_commit=False), key, SUBJECT, name="test")
    async with aiohttp.ClientSession() as http:

        async def run(now: dt.datetime) -> int:
            return await dispatcher.run_once(http, now)

        run.public_key = vapid.public_key(key)
        run.dispatcher = dispatcher
        yield run
    await engine.dispose()


@pytest.fixture
def service():
    with PushService() as running:
        yield running


@pytest.fixture
async def rep(db):
    return await make_user(db, Role.REP, await make_team(db), name="Rita")


async def test_a_due_reminder_reaches_each_device_once_with_the_records_name(
    db, rep, dispatch, service
) -> None:
    shop = await make_account(db, rep, name="Mill Bakery")
    for device in ("phone", "tablet"):
        await push.subscribe(db, rep, service.subscription(device))
    reminder = await reminders.create(db, rep, {"title": "Call about the order", "due_on": "2026-11-23",
                                                "due_time": "10:00", "link_kind": "account", "link_id": str(shop.id)})  # fmt: skip
    await db.commit()
    assert await dispatch(DUE - dt.timedelta(minutes=1)) == 0  # not due yet
    assert await dispatch(DUE) == 2
    assert await dispatch(DUE + dt.timedelta(minutes=5)) == 0  # and never again
    assert service.errors == []
    assert sorted(r.device for r in service.received) == ["phone", "tablet"]
    for received in service.received:
        check_claims(received, service, SUBJECT, dispatch.public_key)
        assert received.payload == {"reminder_id": str(reminder.id), "title": "Call about the order",
                                    "body": "Mill Bakery · 10:00", "url": f"/accounts/{shop.id}",
                                    "tag": f"reminder-{reminder.id}", "actions": {"done": "Done", "snooze": "Snooze 1 h"}}  # fmt: skip
        assert (received.ttl, received.urgency) == ("14400", "normal")
    attempts = list(await db.scalars(select(PushAttempt.status_code)))
    assert attempts == [201, 201]


async def test_nothing_is_pushed_before_the_command_commits(db, rep, dispatch, service) -> None:
    await push.subscribe(db, rep, service.subscription("phone"))
    await db.commit()
    await reminders.create(db, rep, {"title": "Call", "due_on": "2026-11-23", "due_time": "09:00"})
    await db.flush()  # written, not committed
    assert await dispatch(DUE) == 0
    await db.commit()
    assert await dispatch(DUE) == 1
    assert [p["title"] for p in service.payloads()] == ["Call"]


async def test_snoozed_done_and_deleted_reminders_ring_when_they_should(db, rep, dispatch, service) -> None:
    await push.subscribe(db, rep, service.subscription("phone"))
    snoozed = await reminders.create(
        db, rep, {"title": "Snoozed", "due_on": "2026-11-23", "due_time": "09:00"}
    )
    done = await reminders.create(db, rep, {"title": "Done", "due_on": "2026-11-23", "due_time": "09:00"})
    gone = await reminders.create(db, rep, {"title": "Deleted", "due_on": "2026-11-23", "due_time": "09:00"})
    await reminders.snooze(db, rep, snoozed.id, {"snooze": "1h"}, now=DUE - dt.timedelta(hours=2))  # to 09:00
    await reminders.snooze(db, rep, snoozed.id, {"snooze": "1h"}, now=DUE)  # to 11:00
    await reminders.complete(db, rep, done.id)
    await reminders.delete(db, rep, gone.id)
    await db.commit()
    assert await dispatch(DUE) == 0
    assert await dispatch(DUE + dt.timedelta(hours=1)) == 1
    assert [p["title"] for p in service.payloads()] == ["Snoozed"]


async def test_busy_push_services_are_retried_with_back_off_and_every_attempt_is_kept(
    db, rep, dispatch, service
) -> None:
    await push.subscribe(db, rep, service.subscription("phone", 429, 503))
    await reminders.create(db, rep, {"title": "Call", "due_on": "2026-11-23", "due_time": "10:00"})
    await db.commit()
    assert await dispatch(DUE) == 1  # 429, Retry-After: 0 -> a second
    delivery = await db.scalar(select(PushDelivery))
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert await dispatch(DUE + dt.timedelta(seconds=2)) == 1  # 503 -> back off a minute
    await db.refresh(delivery)
    assert delivery.next_attempt_at == DUE + dt.timedelta(seconds=2, minutes=1)
    assert await dispatch(DUE + dt.timedelta(seconds=30)) == 0
    assert await dispatch(DUE + dt.timedelta(minutes=2)) == 1
    await db.refresh(delivery)
    assert (delivery.status, delivery.attempts) == ("sent", 3)
    attempts = list(
        await db.execute(
            select(PushAttempt.status_code, PushAttempt.outcome).order_by(PushAttempt.created_at)
        )
    )
    assert [tuple(a) for a in attempts] == [(429, "retry"), (503, "retry"), (201, "sent")]
    assert len(service.payloads()) == 1


async def test_a_device_the_push_service_forgot_is_unsubscribed(db, rep, dispatch, service) -> None:
    await push.subscribe(db, rep, service.subscription("old-phone", 410))
    await push.subscribe(db, rep, service.subscription("new-phone"))
    await reminders.create(db, rep, {"title": "Call", "due_on": "2026-11-23", "due_time": "10:00"})
    await db.commit()
    assert await dispatch(DUE) == 2
    endpoints = list(
        await db.scalars(select(PushSubscription.endpoint).execution_options(populate_existing=True))
    )
    assert endpoints == [f"{service.origin}/push/new-phone"]
    outcomes = sorted(await db.scalars(select(PushAttempt.outcome)))
    assert outcomes == ["gone", "sent"]
    # The audit log says the system removed it, and why.
    removed = (
        await db.execute(
            select(AuditEvent.action, AuditEvent.actor_id).where(AuditEvent.action == "push.gone")
        )
    ).all()
    assert removed == [("push.gone", None)]


async def test_quiet_hours_hold_the_push_until_morning(db, rep, dispatch, service) -> None:
    await users.set_quiet_hours(db, rep, {"quiet_start": "22:00", "quiet_end": "07:00"})
    await push.subscribe(db, rep, service.subscription("phone"))
    await reminders.create(db, rep, {"title": "Late one", "due_on": "2026-11-23", "due_time": "23:00"})
    await db.commit()
    night = dt.datetime(2026, 11, 23, 23, 0, tzinfo=dt.UTC)
    assert await dispatch(night) == 0
    assert await dispatch(night + dt.timedelta(hours=7, minutes=59)) == 0  # 06:59
    assert await dispatch(dt.datetime(2026, 11, 24, 7, 0, tzinfo=dt.UTC)) == 1
    assert [p["title"] for p in service.payloads()] == ["Late one"]


async def test_a_system_reminder_is_urgent_kept_longer_and_speaks_the_owners_language(
    db, dispatch, service
) -> None:
    rep = await make_user(db, Role.REP, await make_team(db), locale="zh_Hans")
    await push.subscribe(db, rep, service.subscription("phone"))
    await reminders.remind(db, rep, "A quote waits for your approval", DUE)
    await db.commit()
    assert await dispatch(DUE) == 1
    assert (service.received[0].ttl, service.received[0].urgency) == ("86400", "high")
    assert service.payloads()[0]["actions"] == {"done": "已完成", "snooze": "1 小时后提醒"}


async def test_an_admin_sees_why_a_push_did_not_arrive(client, db, rep, dispatch, service) -> None:
    admin = await make_user(db, Role.ADMIN, name="Ada Admin")
    await push.subscribe(db, rep, service.subscription("phone", 400))
    await reminders.create(db, rep, {"title": "Call the mill", "due_on": "2026-11-23", "due_time": "10:00"})
    await db.commit()
    assert await dispatch(DUE) == 1
    await sign_in(client, rep.id)
    assert (await client.get("/admin/notifications")).status_code == 403
    await sign_in(client, admin.id)
    page = (await client.get("/admin/notifications", params={"who": rep.email})).text
    assert "Call the mill" in page and "Rita" in page and "failed" in page and "(400)" in page
    assert "Nobody has this email address." in (await client.get("/admin/notifications?who=x@y.z")).text


async def test_a_reminder_done_before_its_push_went_out_is_not_pushed(db, rep, dispatch, service) -> None:
    await push.subscribe(db, rep, service.subscription("phone"))
    reminder = await reminders.create(db, rep, {"title": "Call", "due_on": "2026-11-23", "due_time": "10:00"})
    await db.commit()
    await dispatch.dispatcher.fan_out(DUE)  # its delivery is waiting to be sent ...
    await reminders.complete(db, rep, reminder.id)  # ... when the rep marks it done
    await db.commit()
    assert await dispatch(DUE) == 1
    assert service.received == []
    delivery = await db.scalar(select(PushDelivery))
    assert delivery.status == "cancelled"


async def test_the_server_sends_due_reminders_itself_unless_told_not_to(
    db, rep, service, tmp_path, database_url
) -> None:
    await push.subscribe(db, rep, service.subscription("phone"))
    await reminders.create(db, rep, {"title": "Call from the server", "due_on": "2026-11-23"})
    await db.commit()
    for dispatching in (False, True):
        app = create_app(make_settings(database_url, tmp_path, push_dispatcher=dispatching))
        async with AsyncTestClient(app=app):
            for _ in range(100 if dispatching else 10):  # it looks at once, then every few seconds
                if service.received:
                    break
                await asyncio.sleep(0.1)
        assert [p["title"] for p in service.payloads()] == (["Call from the server"] if dispatching else [])
