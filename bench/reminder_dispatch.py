"""Reminder push throughput: due reminders sent to a local push service, by one and by two dispatchers.

    .venv/bin/python bench/reminder_dispatch.py [sqlite|postgresql] [--reminders 2000] [--people 20]

Makes `--people` reps with one subscribed device each and `--reminders` reminders already due
(through the reminder commands, so each has its ring in the outbox) in a throwaway database.
Then, for one and for two dispatchers, it runs `fieldbook worker --until-idle` processes against
it, with the local push service of the tests (tests/reminders/push_service.py) answering 201
after checking the VAPID signature and decrypting every payload, and reports notifications per
second: over the whole run (process start included) and between the first and the last arrival.
Between runs every ring is made pending again and the deliveries are cleared. Checks that every
reminder arrived exactly once.

Measured here (2 cores shared with another benchmark, PostgreSQL 127.0.0.1, 2,000 reminders,
20 devices), after fanning out rings and recording outcomes a batch at a time:

| dispatchers | notifications | wall (s) | per second, whole run | per second, while sending |
| --- | --- | --- | --- | --- |
| 1 | 2000 | 30.3 | 66 | 76 |
| 2 | 2000 | 37.2 | 54 | 89 |

(Before batching, one statement per ring and per outcome: 45 and 66 per second while sending.)
A profile of one dispatcher shows most of its time waiting on the push service: the local one
here verifies the VAPID signature and decrypts each payload in Python threads of the benchmark's
own process, on the same two cores, so these figures are a floor. The dispatcher's own work is
about 1.5 ms of CPU per notification (pywebpush's encryption and VAPID signature). Two
dispatchers finish later overall because each pays a process start (about 3 s here).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import async_sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.throwaway import throwaway_settings
from server.db import create_engine
from server.reminders import push
from server.reminders import service as reminders
from server.reminders.push_models import PushAttempt, PushDelivery, ReminderRing
from server.users.models import Role
from tests.factories import make_team, make_user
from tests.reminders.push_service import PushService

FIELDBOOK = Path(sys.executable).parent / "fieldbook"


async def seed(settings, service: PushService, count: int, people: int) -> None:
    engine = create_engine(settings.database_url)
    due = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).date().isoformat()
    async with async_sessionmaker(engine, expire_on_commit=False)() as db:
        team = await make_team(db)
        for person in range(people):
            rep = await make_user(db, Role.REP, team)
            await push.subscribe(db, rep, service.subscription(f"device-{person}"))
            for number in range(count // people):
                await reminders.create(db, rep, {"title": f"Follow up {person}/{number}", "due_on": due})
            await db.commit()
    await engine.dispose()


async def reset(settings) -> None:
    engine = create_engine(settings.database_url)
    async with engine.begin() as connection:
        await connection.execute(delete(PushAttempt))
        await connection.execute(delete(PushDelivery))
        await connection.execute(update(ReminderRing).values(status="pending"))
    await engine.dispose()


def run(settings, service: PushService, dispatchers: int, expected: int) -> dict[str, float]:
    service.received.clear()
    env = {**os.environ, "FIELDBOOK_DATABASE_URL": settings.database_url, "FIELDBOOK_SECRET_KEY": settings.secret_key,
           "FIELDBOOK_VAR_DIR": str(settings.var_dir)}  # fmt: skip
    started = time.monotonic()
    workers = [
        subprocess.Popen(
            [str(FIELDBOOK), "worker", "--until-idle", "--interval", "0.2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(dispatchers)
    ]
    for worker in workers:
        _, errors = worker.communicate(timeout=600)
        assert worker.returncode == 0, errors.decode()[-2000:]
    wall = time.monotonic() - started
    counts = Counter(r.payload["reminder_id"] for r in service.received)
    assert len(counts) == expected and max(counts.values()) == 1, "missing or duplicate notifications"
    assert not service.errors, service.errors[:3]
    arrivals = sorted(r.at for r in service.received)
    sending = arrivals[-1] - arrivals[0]
    return {
        "wall": wall,
        "overall": expected / wall,
        "sending": expected / sending if sending else float("inf"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("backend", nargs="?", default="postgresql", choices=["sqlite", "postgresql"])
    parser.add_argument("--reminders", type=int, default=2000)
    parser.add_argument("--people", type=int, default=20)
    options = parser.parse_args()
    expected = options.reminders // options.people * options.people
    with throwaway_settings(options.backend) as settings, PushService() as service:
        asyncio.run(seed(settings, service, options.reminders, options.people))
        print(
            "| dispatchers | notifications | wall (s) | per second, whole run | per second, while sending |"
        )
        print("| --- | --- | --- | --- | --- |")
        for dispatchers in (1, 2):
            asyncio.run(reset(settings))
            result = run(settings, service, dispatchers, expected)
            print(
                f"| {dispatchers} | {expected} | {result['wall']:.1f} | {result['overall']:.0f} | {result['sending']:.0f} |"
            )


if __name__ == "__main__":
    main()
