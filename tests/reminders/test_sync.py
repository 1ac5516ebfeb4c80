"""Reminders offline: made, snoozed and done on the phone, applied once when it syncs."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from server.reminders import service as reminders
from server.reminders.models import Reminder
from server.users.models import Role
from tests.conftest import sign_in
from tests.factories import make_team, make_user
from tests.sync.test_pull import held, pull
from tests.sync.test_push import body


@pytest.fixture
async def rep(db):
    return await make_user(db, Role.REP, await make_team(db), name="Rita")


async def test_a_reminder_made_offline_reaches_the_server_and_a_snooze_applies_once(client, db, rep) -> None:
    await sign_in(client, rep.id)
    device, reminder_id = uuid.uuid4(), uuid.uuid4()
    made = {"id": 1, "name": "reminders.create",
            "args": {"id": str(reminder_id), "title": "Call Sam back", "due_on": "2026-11-23", "due_time": "10:00"}}  # fmt: skip
    snoozed = {"id": 2, "name": "reminders.snooze", "args": {"reminder_id": str(reminder_id), "snooze": "1h"}}
    before = dt.datetime.now(dt.UTC)
    first = await client.post("/sync/push", json=body(device, made, snoozed))
    assert [r["status"] for r in first.json()["results"]] == ["applied", "applied"], first.text
    reminder = await db.get(Reminder, reminder_id)
    due = reminder.due_at
    assert before + dt.timedelta(minutes=59) < due < dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)

    # The answer was lost; the phone sends the same mutations again: the snooze is not applied twice.
    again = await client.post("/sync/push", json=body(device, made, snoozed))
    assert again.json()["last_mutation_id"] == 2
    assert (await db.get(Reminder, reminder_id, populate_existing=True)).due_at == due

    answer = await pull(client, device)
    assert held(answer, "reminders")[str(reminder_id)]["title"] == "Call Sam back"

    done = {"id": 3, "name": "reminders.complete", "args": {"reminder_id": str(reminder_id)}}
    deleted = {"id": 4, "name": "reminders.delete", "args": {"reminder_id": str(reminder_id)}}
    result = await client.post("/sync/push", json=body(device, done, deleted))
    assert [r["status"] for r in result.json()["results"]] == ["applied", "applied"]
    later = await pull(client, device, answer["cursor"])
    assert {"kind": "reminders", "op": "delete", "id": str(reminder_id)} in [
        {k: c.get(k) for k in ("kind", "op", "id")} for c in later["changes"]
    ]


async def test_someone_elses_reminder_is_refused_and_the_queue_moves_on(client, db, rep) -> None:
    other = await make_user(db, Role.REP, await make_team(db), name="Olga")
    theirs = await reminders.create(db, other, {"title": "Private", "due_on": "2026-11-23"})
    await db.commit()
    await sign_in(client, rep.id)
    mutation = {"id": 1, "name": "reminders.complete", "args": {"reminder_id": str(theirs.id)}}
    answer = (await client.post("/sync/push", json=body(uuid.uuid4(), mutation))).json()
    assert answer["results"][0]["status"] == "rejected" and answer["last_mutation_id"] == 1
    assert (await db.get(Reminder, theirs.id, populate_existing=True)).done_at is None
