"""Two `fieldbook worker` processes against one PostgreSQL database: 1,000 reminders, each once."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter

import pytest
from sqlalchemy import func, select

from server.reminders import push
from server.reminders import service as reminders
from server.reminders.push_models import PushAttempt, PushDelivery
from server.users.models import Role
from tests.conftest import fieldbook_process
from tests.factories import make_team, make_user
from tests.reminders.push_service import PushService

REMINDERS = 1000
PEOPLE = 4


async def test_two_dispatcher_processes_deliver_each_reminder_once(backend, db, settings, tmp_path) -> None:
    if backend != "postgresql":
        pytest.skip("several dispatchers share one PostgreSQL database; SQLite has a single writer")
    team = await make_team(db)
    due = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).date().isoformat()
    made: set[str] = set()
    with PushService() as service:
        for person in range(PEOPLE):
            rep = await make_user(db, Role.REP, team)
            await push.subscribe(db, rep, service.subscription(f"phone-{person}"))
            for number in range(REMINDERS // PEOPLE):
                reminder = await reminders.create(
                    db, rep, {"title": f"Call {person}/{number}", "due_on": due}
                )
                made.add(str(reminder.id))
            await db.commit()
        workers = [
            fieldbook_process(
                settings, tmp_path, "worker", "--until-idle", "--interval", "0.2", "--batch", "25"
            )
            for _ in range(2)
        ]
        for finished in await asyncio.gather(*workers):
            assert finished.returncode == 0, finished.stderr[-2000:]
    assert service.errors == []
    counts = Counter(p["reminder_id"] for p in service.payloads())
    assert [rid for rid, n in counts.items() if n > 1] == []  # no duplicate
    assert set(counts) == made  # none missing
    sent = await db.scalar(
        select(func.count()).select_from(PushDelivery).where(PushDelivery.status == "sent")
    )
    assert sent == REMINDERS
    by_dispatcher = dict(
        list(await db.execute(select(PushAttempt.dispatcher, func.count()).group_by(PushAttempt.dispatcher)))
    )
    assert sum(by_dispatcher.values()) == REMINDERS
    print("deliveries per dispatcher:", by_dispatcher)
