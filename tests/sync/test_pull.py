"""`POST /sync/pull`: a device gets what its person may see, the changes since, and nothing else."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import msgspec
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import create_async_engine

from server.accounts import service as accounts
from server.db import next_version, sessions_on_one_connection, utcnow
from server.demo import load_demo
from server.orders import service as orders
from server.orders.models import Order, OrderLine, OrderStatus, OrderStatusEvent
from server.quotes.models import Quote
from server.reminders import service as reminders
from server.users import service as users
from server.users.models import Role, TeamManager, User
from sync import pull as pulling
from sync.protocol import PullRequest
from tests.conftest import sign_in
from tests.factories import make_account, make_contact, make_team, make_user


@pytest.fixture
async def world(db):
    north, south = await make_team(db, "North"), await make_team(db, "South")
    rep = await make_user(db, Role.REP, north, name="Rita")
    manager = await make_user(db, Role.MANAGER, north, name="Max")
    southerner = await make_user(db, Role.REP, south, name="Sid")
    shop = await make_account(db, rep, name="Rita's Shop", customer_number="C1")
    await make_contact(db, rep, shop, name="Rita's Contact")
    secret = await make_account(db, southerner, name="Southern Secret", customer_number="C2")
    await make_contact(db, southerner, secret, name="Southern Contact")
    for number, days_ago, customer in (("SO-NEW", 10, "C1"), ("SO-OLD", 200, "C1"), ("SO-SOUTH", 5, "C2")):
        order = orders.OrderIn(
            customer_number=customer, status=OrderStatus.PLACED, currency="GBP",
            ordered_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago),
            lines=[orders.OrderLineIn(sku="X", quantity=Decimal(2), unit_price=Decimal("4.50"))],
        )  # fmt: skip
        await orders.upsert(db, number, order)
    await db.commit()
    return {
        "rep": rep,
        "manager": manager,
        "southerner": southerner,
        "shop": shop,
        "secret": secret,
        "south": south,
    }


async def pull(client, device: uuid.UUID, cursor: str | None = None) -> dict:
    body = {"device_id": str(device), "schema_version": 1, "app_version": "test", "cursor": cursor}
    response = await client.post("/sync/pull", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def held(answer: dict, kind: str) -> dict[str, dict]:
    return {c["id"]: c.get("data") for c in answer["changes"] if c["kind"] == kind and c["op"] == "put"}


async def first_sync(client, person: User) -> tuple[uuid.UUID, dict]:
    """`person` signs in on a new device, which pulls everything: the device and that first answer."""
    await sign_in(client, person.id)
    device = uuid.uuid4()
    return device, await pull(client, device)


def names(answer: dict, kind: str) -> set[str]:
    key = "number" if kind == "orders" else "name"
    return {data[key] for data in held(answer, kind).values()}


async def test_a_new_device_gets_what_its_person_may_see_and_nothing_else(client, db, world) -> None:
    await sign_in(client, world["rep"].id)
    first = await pull(client, uuid.uuid4())
    assert first["reset"] is True and first["more"] is False
    assert names(first, "accounts") == {"Rita's Shop"}
    assert names(first, "contacts") == {"Rita's Contact"}
    assert names(first, "orders") == {"SO-NEW"}  # the last 90 days; SO-OLD is looked up online
    assert held(first, "orders").popitem()[1]["lines"][0]["amount"] == "9.00"
    assert names(first, "users") == {"Rita"}
    assert len(held(first, "organisation_policy")) == 0  # none stored yet: the defaults apply
    text = str(first)
    for secret in ("Southern", "SO-SOUTH", str(world["secret"].id), "Sid"):
        assert secret not in text


async def test_a_second_pull_gets_only_what_changed(client, db, world) -> None:
    device, first = await first_sync(client, world["rep"])
    quiet = await pull(client, device, first["cursor"])
    assert (quiet["changes"], quiet["reset"], quiet["more"]) == ([], False, False)
    assert quiet["cursor"] == first["cursor"]  # nothing new: nothing stored either
    # A change the rep may not see leaves them with nothing new, twice (the second time at once).
    await accounts.update(db, world["southerner"], world["secret"].id, {"phone": "0161 496 0888"})
    await db.commit()
    for _ in range(2):
        quiet = await pull(client, device, first["cursor"])
        assert (quiet["changes"], quiet["cursor"]) == ([], first["cursor"])
    await accounts.update(db, world["rep"], world["shop"].id, {"phone": "0161 496 0999"})
    await db.commit()
    after = await pull(client, device, quiet["cursor"])
    assert [(c["kind"], c["op"], c["data"]["phone"]) for c in after["changes"]] == [
        ("accounts", "put", "0161 496 0999")
    ]


async def test_a_pull_whose_answer_was_lost_is_answered_again(client, db, world) -> None:
    device, first = await first_sync(client, world["rep"])
    await accounts.update(db, world["rep"], world["shop"].id, {"city": "Bury"})
    await db.commit()
    lost = await pull(client, device, first["cursor"])
    again = await pull(client, device, first["cursor"])
    assert lost["changes"] == again["changes"] and len(again["changes"]) == 1


async def test_a_reassigned_account_leaves_the_device_with_its_contacts(client, db, world) -> None:
    device, first = await first_sync(client, world["rep"])
    await accounts.update(db, world["manager"], world["shop"].id, {"owner_id": str(world["manager"].id)})
    await db.commit()
    after = await pull(client, device, first["cursor"])
    gone = {(c["kind"], c["id"]) for c in after["changes"] if c["op"] == "delete"}
    assert ("accounts", str(world["shop"].id)) in gone
    assert {kind for kind, _ in gone} >= {"accounts", "contacts", "orders"}


async def test_a_manager_whose_rep_moves_team_loses_that_reps_records(client, db, world) -> None:
    device, first = await first_sync(client, world["manager"])
    assert "Rita's Shop" in names(first, "accounts")
    # Nothing about the account itself changes.
    await users.change(db, None, world["rep"].id, {"team_id": str(world["south"].id)})
    await db.commit()
    after = await pull(client, device, first["cursor"])
    assert ("accounts", str(world["shop"].id)) in {
        (c["kind"], c["id"]) for c in after["changes"] if c["op"] == "delete"
    }


async def test_a_manager_named_to_lead_another_team_gets_its_records(client, db, world) -> None:
    device, first = await first_sync(client, world["manager"])
    assert "Southern Secret" not in names(first, "accounts")
    # No record of the team changes: only who leads it.
    db.add(
        TeamManager(team_id=world["south"].id, user_id=world["manager"].id, version=await next_version(db))
    )
    await db.commit()
    after = await pull(client, device, first["cursor"])
    assert "Southern Secret" in names(after, "accounts")


async def test_a_change_out_of_reach_brings_nothing_and_then_a_change_in_reach_does(
    client, db, world
) -> None:
    """Someone else's changes elsewhere leave the rep's device as it is (the same cursor), and the
    pull after that still finds the rep's own new record."""
    device, first = await first_sync(client, world["rep"])
    await accounts.update(db, world["southerner"], world["secret"].id, {"phone": "0161 496 0999"})
    await db.commit()
    quiet = await pull(client, device, first["cursor"])
    assert (quiet["changes"], quiet["cursor"]) == ([], first["cursor"])
    await make_account(db, world["rep"], name="Rita's Second Shop")
    after = await pull(client, device, quiet["cursor"])
    assert names(after, "accounts") == {"Rita's Second Shop"}


async def test_a_large_first_sync_comes_in_pages(client, db, world, monkeypatch) -> None:
    for number in range(6):
        await make_account(db, world["rep"], name=f"Extra {number}")
    monkeypatch.setattr(pulling, "PAGE_SIZE", 4)
    await sign_in(client, world["rep"].id)
    device, cursor, pages, seen = uuid.uuid4(), None, [], set()
    while True:
        answer = await pull(client, device, cursor)
        pages.append(answer)
        seen |= names(answer, "accounts")
        cursor = answer["cursor"]
        if not answer["more"]:
            break
    assert len(pages) >= 3 and pages[0]["reset"] and not any(page["reset"] for page in pages[1:])
    assert seen == {"Rita's Shop", *(f"Extra {n}" for n in range(6))}
    assert (await pull(client, device, cursor))["changes"] == []


async def test_a_first_sync_read_in_many_chunks_brings_the_same_as_one_read(
    client, db, world, monkeypatch
) -> None:
    """On PostgreSQL a pull of several chunks reads every other one on a second connection, from
    the same snapshot (`sync.pull._records_of`); the device must get exactly the same."""
    for number in range(6):
        account = await make_account(db, world["rep"], name=f"Extra {number}")
        await make_contact(db, world["rep"], account, name=f"Extra Contact {number}")
    _, whole = await first_sync(client, world["rep"])
    monkeypatch.setattr(pulling, "CHUNK", 1)
    monkeypatch.setattr(pulling, "PARALLEL_FROM", 2)
    _, chunked = await first_sync(client, world["rep"])
    for kind in ("accounts", "contacts", "orders", "visits", "leads"):
        assert held(chunked, kind) == held(whole, kind)
    assert len(held(chunked, "accounts")) == 7 and len(held(chunked, "contacts")) == 7


async def test_a_pull_with_no_idle_connection_for_a_second_reader_reads_alone(
    db, world, database_url, monkeypatch
) -> None:
    """A pull holding a connection must never wait for another: were every connection held by
    pulls waiting so, none would come back. With the pool's one connection its own, it reads alone."""
    monkeypatch.setattr(pulling, "CHUNK", 1)
    monkeypatch.setattr(pulling, "PARALLEL_FROM", 2)
    engine = create_async_engine(database_url, pool_size=1, max_overflow=0, pool_timeout=2)
    try:
        async with sessions_on_one_connection(engine) as open_session:
            request = PullRequest(device_id=uuid.uuid4(), schema_version=1, app_version="test")
            answer = await pulling.pull(open_session, world["rep"].id, request)
    finally:
        await engine.dispose()
    assert {change.id for change in answer.changes if change.kind == "accounts"} == {str(world["shop"].id)}


async def test_the_pages_of_a_first_sync_bring_what_changed_meanwhile_and_nothing_that_left(
    client, db, world, monkeypatch
) -> None:
    """The later pages send what the first one worked out the device is owed, not the whole scope
    again: an account that left the rep's reach meanwhile is never sent, an edit made meanwhile
    arrives, at the latest with the pull after the last page."""
    extras = [await make_account(db, world["rep"], name=f"Extra {number}") for number in range(6)]
    monkeypatch.setattr(pulling, "PAGE_SIZE", 3)
    device, first = await first_sync(client, world["rep"])
    assert first["more"]
    unsent = [account for account in extras if account.name not in names(first, "accounts")]
    leaving, renamed = unsent[0], unsent[-1]
    await accounts.update(db, world["manager"], leaving.id, {"owner_id": str(world["manager"].id)})
    await accounts.update(db, world["rep"], renamed.id, {"name": "Renamed Between Pages"})
    await db.commit()

    pages, cursor = [first], first["cursor"]
    while pages[-1]["more"]:
        pages.append(await pull(client, device, cursor))
        assert len(pages) < 10, "the pages never end"
        cursor = pages[-1]["cursor"]
    caught_up = await pull(client, device, cursor)
    received = {data["name"] for page in [*pages, caught_up] for data in held(page, "accounts").values()}
    assert leaving.name not in received
    assert "Renamed Between Pages" in received
    assert (await pull(client, device, caught_up["cursor"]))["changes"] == []


async def test_a_record_that_leaves_during_a_paged_pull_is_gone_when_its_last_page_is_applied(
    client, db, world, monkeypatch
) -> None:
    device, first = await first_sync(client, world["rep"])
    assert names(first, "accounts") == {"Rita's Shop"}
    for number in range(6):
        await make_account(db, world["rep"], name=f"New {number}")
    monkeypatch.setattr(pulling, "PAGE_SIZE", 2)
    pages = [await pull(client, device, first["cursor"])]
    assert pages[0]["more"]
    await accounts.update(db, world["manager"], world["shop"].id, {"owner_id": str(world["manager"].id)})
    await db.commit()
    while pages[-1]["more"]:
        pages.append(await pull(client, device, pages[-1]["cursor"]))
        assert len(pages) < 10, "the pages never end"

    deleted = {(c["kind"], c["id"]) for page in pages for c in page["changes"] if c["op"] == "delete"}
    assert ("accounts", str(world["shop"].id)) in deleted
    assert {f"New {number}" for number in range(6)} <= {n for page in pages for n in names(page, "accounts")}


async def test_unknown_cursors_restart_and_devices_stay_with_their_person(client, db, world) -> None:
    await sign_in(client, world["rep"].id)
    device = uuid.uuid4()
    assert (await pull(client, device, "not-a-cursor"))["reset"] is True
    await sign_in(client, world["southerner"].id)
    refused = await client.post(
        "/sync/pull", json={"device_id": str(device), "schema_version": 1, "app_version": "x"}
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "device_reset")
    old = await client.post(
        "/sync/pull", json={"device_id": str(uuid.uuid4()), "schema_version": 0, "app_version": "x"}
    )
    assert old.status_code == 426


async def test_postgresql_writes_each_record_as_the_plain_path_does(app, db, backend) -> None:
    """On PostgreSQL the database writes each record's JSON itself (`sync.pull._as_json`); every
    value must reach the device as the plain path (SQLite's, and the reference) writes it."""
    if backend != "postgresql":
        pytest.skip("the JSON PostgreSQL writes itself")
    await load_demo(app.state["alchemy"])
    # What the demo data may not hold: times on the whole second (no ".000000"), a deleted order
    # line, and a quote in its second round of approval (the first round's steps stay behind).
    order = await db.scalar(
        select(Order).where(Order.ordered_at >= utcnow() - dt.timedelta(days=30)).limit(1)
    )
    whole_second = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)
    await db.execute(update(Order).where(Order.id == order.id).values(ordered_at=whole_second))
    await db.execute(
        update(OrderStatusEvent).where(OrderStatusEvent.order_id == order.id).values(happened_at=whole_second)
    )
    await db.execute(
        update(OrderLine)
        .where(OrderLine.order_id == order.id, OrderLine.position == 1)
        .values(deleted_at=whole_second)
    )
    waiting = await db.scalar(select(Quote).where(Quote.approval_round == 1).limit(1))
    await db.execute(update(Quote).where(Quote.id == waiting.id).values(approval_round=2))
    admin = await db.scalar(select(User).where(User.role == Role.ADMIN).limit(1))
    await reminders.remind(db, admin, "Call back", dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC))
    await db.commit()

    for kind in pulling.KINDS:
        query = select(kind.model.id).where(kind.scope(admin)).order_by(kind.model.id).limit(400)
        ids = [str(record_id) for record_id in await db.scalars(query)]
        if kind.name == "orders":
            ids.append(str(order.id))
        plain = {record_id: data for record_id, _, data in await pulling._rows(db, admin, kind, ids)}
        written = {record_id: data for record_id, _, data in await pulling._records(db, admin, kind, ids)}
        assert written.keys() == plain.keys() and plain, kind.name
        for record_id, data in written.items():
            assert msgspec.json.decode(data) == msgspec.json.decode(msgspec.json.encode(plain[record_id])), (
                kind.name
            )

    kinds = {kind.name: kind for kind in pulling.KINDS}
    edited = msgspec.json.decode((await pulling._records(db, admin, kinds["orders"], [str(order.id)]))[0][2])
    assert edited["ordered_at"] == edited["timeline"][0]["at"] == "2026-11-20T09:30:00Z"
    assert 1 not in [line["position"] for line in edited["lines"]]
    second_round = (await pulling._records(db, admin, kinds["quotes"], [str(waiting.id)]))[0][2]
    assert msgspec.json.decode(second_round)["approvals"] == []


async def test_a_pull_reports_which_pushed_mutations_it_includes(client, db, world) -> None:
    await sign_in(client, world["rep"].id)
    device = uuid.uuid4()
    mutation = {"id": 1, "name": "contacts.create",
                "args": {"id": str(uuid.uuid4()), "account_id": str(world["shop"].id), "name": "New Face"}}  # fmt: skip
    pushed = await client.post("/sync/push", json={"device_id": str(device), "schema_version": 1,
                                                   "app_version": "test", "mutations": [mutation]})  # fmt: skip
    assert pushed.json()["results"][0]["status"] == "applied"
    answer = await pull(client, device)
    assert answer["last_mutation_id"] == 1 and "New Face" in names(answer, "contacts")
