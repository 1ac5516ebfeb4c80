"""Per-field merge of offline edits: different fields both stay; the same field, the later arrival
wins and the loser is kept as a conflict; long notes are never overwritten; deletes win."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from server.accounts.models import Account
from server.users.models import Role
from sync.models import Conflict
from tests.conftest import sign_in
from tests.factories import make_account, make_team, make_user


@pytest.fixture
async def shop(db):
    rep = await make_user(db, Role.REP, await make_team(db), name="Rita")
    account = await make_account(
        db, rep, name="Corner Shop", city="Bury", phone="0161 496 0001", notes="Opens at 9."
    )
    return rep, account


async def edit(client, device: uuid.UUID, number: int, account: Account, base_version: int, **fields) -> dict:
    mutation = {"id": number, "name": "accounts.update", "base_version": base_version,
                "args": {"account_id": str(account.id), **fields}}  # fmt: skip
    response = await client.post("/sync/push", json={"device_id": str(device), "schema_version": 1,
                                                      "app_version": "test", "mutations": [mutation]})  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()["results"][0]


async def test_two_devices_editing_different_fields_keep_both(client, db, shop) -> None:
    rep, account = shop
    await sign_in(client, rep.id)
    base = account.version
    phone, tablet = uuid.uuid4(), uuid.uuid4()
    await edit(client, phone, 1, account, base, name="Corner Shop", city="Bolton", phone="0161 496 0001")
    second = await edit(
        client, tablet, 1, account, base, name="Corner Shop", city="Bury", phone="0161 496 0999"
    )
    assert "conflicts" not in second["outcome"]
    saved = await db.get(Account, account.id, populate_existing=True)
    assert (saved.city, saved.phone) == ("Bolton", "0161 496 0999")  # the tablet's stale city did not undo it


async def test_the_same_field_goes_to_the_later_arrival_and_the_other_is_kept(client, db, shop) -> None:
    rep, account = shop
    await sign_in(client, rep.id)
    base = account.version
    await edit(client, uuid.uuid4(), 1, account, base, city="Bolton")
    later = await edit(client, uuid.uuid4(), 1, account, base, city="Rochdale")
    conflict = await db.scalar(select(Conflict))
    assert later["outcome"]["conflicts"] == [
        {"id": str(conflict.id), "kind": "accounts", "record_id": str(account.id), "field": "city",
         "kept": "yours", "yours": "Rochdale", "server": "Bolton", "original": "Bury"}
    ]  # fmt: skip
    assert (await db.get(Account, account.id, populate_existing=True)).city == "Rochdale"
    assert (conflict.field, conflict.user_id, conflict.values["server"]) == ("city", rep.id, "Bolton")


async def resolve(client, device: uuid.UUID, number: int, conflict_id: object, choice: str) -> dict:
    mutation = {"id": number, "name": "sync.resolve_conflict",
                "args": {"conflict_id": str(conflict_id), "choice": choice}}  # fmt: skip
    response = await client.post("/sync/push", json={"device_id": str(device), "schema_version": 1,
                                                      "app_version": "test", "mutations": [mutation]})  # fmt: skip
    return response.json()["results"][0]


async def test_the_rep_chooses_which_value_of_a_conflict_stands(client, db, shop) -> None:
    rep, account = shop
    await sign_in(client, rep.id)
    device = uuid.uuid4()
    await edit(client, uuid.uuid4(), 1, account, account.version, city="Bolton")
    await edit(client, device, 1, account, account.version, city="Rochdale")
    conflict = await db.scalar(select(Conflict))

    refused = await resolve(client, device, 2, conflict.id, "both")
    assert (refused["status"], refused["outcome"]["fields"]) == (
        "rejected", {"choice": "Choose your value, the server's or the original."})  # fmt: skip
    assert (await resolve(client, device, 3, conflict.id, "server"))["status"] == "applied"
    assert (await db.get(Account, account.id, populate_existing=True)).city == "Bolton"
    assert (await db.get(Conflict, conflict.id, populate_existing=True)).resolved_at is not None
    # Settled is settled: choosing again (a retry from another tab) changes nothing.
    await resolve(client, device, 4, conflict.id, "yours")
    assert (await db.get(Account, account.id, populate_existing=True)).city == "Bolton"


async def test_only_the_person_who_made_the_change_settles_its_conflict(client, db, shop) -> None:
    rep, account = shop
    await sign_in(client, rep.id)
    await edit(client, uuid.uuid4(), 1, account, account.version, city="Bolton")
    await edit(client, uuid.uuid4(), 1, account, account.version, city="Rochdale")
    conflict = await db.scalar(select(Conflict))
    someone_else = await make_user(db, Role.ADMIN, await make_team(db))
    await sign_in(client, someone_else.id)
    result = await resolve(client, uuid.uuid4(), 1, conflict.id, "server")
    assert (result["status"], result["outcome"]["code"]) == ("rejected", "not_found")
    assert (await db.get(Account, account.id, populate_existing=True)).city == "Rochdale"


async def test_long_notes_are_never_overwritten(client, db, shop) -> None:
    rep, account = shop
    await sign_in(client, rep.id)
    base = account.version
    await edit(client, uuid.uuid4(), 1, account, base, notes="Opens at 9. New buyer: Sam.")
    later = await edit(client, uuid.uuid4(), 1, account, base, notes="Opens at 9. Closed Mondays.")
    assert later["outcome"]["conflicts"][0]["kept"] == "server"
    assert (await db.get(Account, account.id, populate_existing=True)).notes == "Opens at 9. New buyer: Sam."
    assert (await db.scalar(select(Conflict))).values["yours"] == "Opens at 9. Closed Mondays."


async def test_an_edit_of_a_deleted_record_is_refused_for_the_rep_to_see(client, db, shop) -> None:
    rep, account = shop
    await sign_in(client, rep.id)
    saved = await db.get(Account, account.id)
    saved.deleted_at = saved.updated_at  # deleted on the server while the device was offline
    await db.commit()
    result = await edit(client, uuid.uuid4(), 1, account, account.version, city="Bolton")
    assert (result["status"], result["outcome"]["code"]) == ("rejected", "not_found")
