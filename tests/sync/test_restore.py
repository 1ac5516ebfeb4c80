"""A server restored from a backup: what it forgot, a device that still queues it sends again.

The first test plays the restore by deleting what happened after the "backup" (the lead, the
ledger row, the client view, the device's counter); the second makes a real backup and restores
it (server/backup.py), which also moves the sync epoch on. The device follows
docs/sync.md: its cursor is unknown, so it starts afresh; the server's `last_mutation_id` is
lower than what it acknowledged, so the changes still in its outbox go again, numbered on.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import delete, func, select

from server import backup
from server.db import ChangeCounter, create_engine
from server.leads.models import Lead
from server.users.models import Role
from sync.models import ClientView, Device, MutationRecord
from tests.conftest import empty_all_tables, sign_in
from tests.factories import make_team, make_user


@pytest.fixture
async def rep(db):
    return await make_user(db, Role.REP, await make_team(db), name="Rita")


def capture(number: int, lead_id: uuid.UUID, name: str) -> dict:
    args = {"id": str(lead_id), "name": name, "phone": "0161 496 0123"}
    return {"id": number, "name": "leads.capture", "args": args}


async def push(client, device: uuid.UUID, *mutations: dict):
    return await client.post("/sync/push", json={"device_id": str(device), "schema_version": 1,
                                                  "app_version": "test", "mutations": list(mutations)})  # fmt: skip


async def pull(client, device: uuid.UUID, cursor: str | None) -> dict:
    body = {"device_id": str(device), "schema_version": 1, "app_version": "test", "cursor": cursor}
    return (await client.post("/sync/pull", json=body)).json()


async def test_a_server_restored_from_backup_gets_again_what_it_forgot(client, db, rep) -> None:
    await sign_in(client, rep.id)
    device, before, after = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert (await push(client, device, capture(1, before, "Before Backup"))).status_code == 200
    await pull(client, device, None)  # the backup is taken here
    assert (await push(client, device, capture(2, after, "After Backup"))).status_code == 200
    cursor = (await pull(client, device, None))["cursor"]
    # Restore: the lead, its ledger row and the newer client views are gone; the device's counter is back at 1.
    await db.execute(delete(Lead).where(Lead.id == after))
    await db.execute(delete(MutationRecord).where(MutationRecord.mutation_id == 2))
    await db.execute(delete(ClientView).where(ClientView.device_id == device))
    (await db.get(Device, device)).last_mutation_id = 1
    await db.commit()

    answer = await pull(client, device, cursor)
    assert answer["reset"] is True  # its cursor is unknown now: the device replaces what it holds
    assert answer["last_mutation_id"] == 1  # lower than the 2 it acknowledged: mutation 2 goes again
    again = await push(client, device, capture(2, after, "After Backup"))
    assert again.json()["results"][0]["status"] == "applied"
    names = await db.scalars(select(Lead.name).execution_options(populate_existing=True))
    assert sorted(names) == ["After Backup", "Before Backup"]
    # A queued change numbered past what the server has is refused as a gap, never applied out of order.
    gap = await push(client, device, capture(4, uuid.uuid4(), "Skipped Ahead"))
    assert (gap.status_code, gap.json()["last_mutation_id"]) == (409, 2)
    assert await db.scalar(select(func.count()).select_from(Lead)) == 2


async def test_after_a_real_restore_devices_start_afresh_and_send_again_what_it_lacks(
    client, db, rep, settings, tmp_path
) -> None:
    """`fieldbook restore` of a backup taken between two of a device's changes: the device's
    cursors are of the old epoch (reset, whatever their number), and its later change, which the
    restored ledger does not hold, is asked for again by number (`mutation_gap`)."""
    await sign_in(client, rep.id)
    device, before, after, later = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert (await push(client, device, capture(1, before, "Before Backup"))).status_code == 200
    first = (await pull(client, device, None))["cursor"]
    assert first == "1"  # epoch 0: the plain numbers devices have always had
    file = tmp_path / "fieldbook.backup"
    engine = create_engine(settings.database_url)
    try:
        await backup.backup(engine, file)
        assert (await push(client, device, capture(2, after, "After Backup"))).status_code == 200
        second = (await pull(client, device, first))["cursor"]
        await db.close()
        await empty_all_tables(settings.database_url)
        await backup.restore(engine, file)
    finally:
        await engine.dispose()
    epoch = await db.scalar(select(ChangeCounter.epoch))
    assert epoch > 0

    await sign_in(client, rep.id)  # sessions are not restored
    answer = await pull(client, device, second)
    assert answer["reset"] is True and answer["cursor"] == f"{epoch}.1"
    assert answer["last_mutation_id"] == 1  # below the 2 the device had acknowledged
    assert {c["data"]["name"] for c in answer["changes"] if c["kind"] == "leads"} == {"Before Backup"}
    # The old cursor "1" named a view before the restore, and the new epoch has a view 1 too:
    # only the epoch tells them apart.
    assert (await pull(client, device, first))["reset"] is True
    current = (await pull(client, device, None))["cursor"]
    again = await pull(client, device, current)
    assert (again["reset"], again["changes"], again["cursor"]) == (False, [], current)

    # The device's next change is numbered 3: refused as a gap, nothing applied ...
    gap = await push(client, device, capture(3, later, "Later"))
    assert (gap.status_code, gap.json()["code"], gap.json()["last_mutation_id"]) == (409, "mutation_gap", 1)
    assert await db.scalar(select(func.count()).select_from(Lead)) == 1
    # ... so it renumbers its outbox from 2 (sync-engine.js) and both go in.
    renumbered = await push(client, device, capture(2, after, "After Backup"), capture(3, later, "Later"))
    assert [r["status"] for r in renumbered.json()["results"]] == ["applied", "applied"]
    final = await pull(client, device, current)
    assert final["last_mutation_id"] == 3 and final["reset"] is False
    assert {c["data"]["name"] for c in final["changes"] if c["kind"] == "leads"} == {"After Backup", "Later"}
