"""What goes wrong in the field, and what sync must still get right: answers lost on the way, a
phone whose clock is years off, pulls racing other people's pushes, permissions taken away while a
phone was offline, and one phone passed between two people."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from server.accounts import service as accounts
from server.accounts.models import Account
from server.contacts.models import Contact
from server.leads.models import Lead
from server.users import service as users
from server.users.models import Role
from server.visits.models import Visit, VisitStatus
from sync.models import Conflict, Device, MutationRecord
from sync.protocol import SCHEMA_VERSION
from tests.conftest import sign_in
from tests.factories import make_account, make_contact, make_team, make_user
from tests.sync.test_model import visible_versions

TODAY = "2026-11-23"
NOT_YOURS = "does not exist or is not yours to see"


@pytest.fixture
async def world(db) -> dict[str, Any]:
    north, south = await make_team(db, "North"), await make_team(db, "South")
    rita = await make_user(db, Role.REP, north, name="Rita")
    sam = await make_user(db, Role.REP, north, name="Sam")
    max_ = await make_user(db, Role.MANAGER, north, name="Max")
    admin = await make_user(db, Role.ADMIN, name="Ada")
    shop = await make_account(db, rita, name="Corner Shop", city="Bury", phone="0161 496 0001")
    mill = await make_account(db, rita, name="Old Mill", city="Bury")
    await make_contact(db, rita, shop, name="Shop Buyer")
    yard = await make_account(db, sam, name="Timber Yard", city="Wigan")
    return {"north": north, "south": south, "rita": rita, "sam": sam, "max": max_, "admin": admin,
            "shop": shop, "mill": mill, "yard": yard}  # fmt: skip


def body(device: uuid.UUID, *mutations: dict) -> dict:
    return {"device_id": str(device), "schema_version": SCHEMA_VERSION, "app_version": "test",
            "mutations": list(mutations)}  # fmt: skip


async def push(client, device: uuid.UUID, *mutations: dict) -> dict:
    response = await client.post("/sync/push", json=body(device, *mutations))
    assert response.status_code == 200, response.text
    return response.json()


@asynccontextmanager
async def signed_in_on_this_loop(app, person) -> AsyncIterator[httpx.AsyncClient]:
    """A client signed in as `person` whose requests really overlap (the app runs on this event
    loop), and whose server errors come back as 500s instead of being raised."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client,
    ):
        await sign_in(client, person.id)
        yield client


def assert_answered(answers: list[httpx.Response]) -> None:
    """Every request of a race was answered: done, or "busy, try again" in the protocol's JSON."""
    assert all(answer.status_code == 200 or (answer.status_code == 503 and answer.json()["code"] == "busy")
               for answer in answers), sorted({answer.status_code for answer in answers})  # fmt: skip


async def pull(client, device: uuid.UUID, cursor: str | None = None) -> dict:
    """Every page, merged in order (puts and deletes of later pages after earlier ones)."""
    changes: list[dict] = []
    while True:
        response = await client.post("/sync/pull", json={"device_id": str(device), "schema_version": SCHEMA_VERSION,
                                                         "app_version": "test", "cursor": cursor})  # fmt: skip
        assert response.status_code == 200, response.text
        page = response.json()
        changes += page["changes"]
        cursor = page["cursor"]
        if not page["more"]:
            return {**page, "changes": changes}


def statuses(answer: dict) -> list[str]:
    return [result["status"] for result in answer["results"]]


def ops(answer: dict, op: str) -> set[tuple[str, str]]:
    return {(change["kind"], change["id"]) for change in answer["changes"] if change["op"] == op}


def update(number: int, account: Account, base_version: int, **fields: Any) -> dict:
    return {"id": number, "name": "accounts.update", "base_version": base_version,
            "args": {"account_id": str(account.id), **fields}}  # fmt: skip


def capture(number: int, lead_id: uuid.UUID, name: str = "Sam Patel", phone: str = "07700 900123") -> dict:
    return {"id": number, "name": "leads.capture",
            "args": {"id": str(lead_id), "name": name, "phone": phone, "source": "walk_in"}}  # fmt: skip


def add_contact(number: int, contact_id: uuid.UUID, account: Account, name: str) -> dict:
    return {"id": number, "name": "contacts.create",
            "args": {"id": str(contact_id), "account_id": str(account.id), "name": name}}  # fmt: skip


def plan(number: int, visit_id: uuid.UUID, account: Account) -> dict:
    return {"id": number, "name": "visits.plan",
            "args": {"id": str(visit_id), "account_id": str(account.id), "planned_on": TODAY}}  # fmt: skip


def check_in(number: int, visit_id: uuid.UUID, device_time: dt.datetime) -> dict:
    return {"id": number, "name": "visits.check_in",
            "args": {"visit_id": str(visit_id), "latitude": 53.48, "longitude": -2.24, "accuracy": 12,
                     "device_time": device_time.isoformat()}}  # fmt: skip


def check_out(number: int, visit_id: uuid.UUID, device_time: dt.datetime) -> dict:
    return {"id": number, "name": "visits.check_out",
            "args": {"visit_id": str(visit_id), "device_time": device_time.isoformat()}}  # fmt: skip


async def count(db, model, *where) -> int:
    query = select(func.count()).select_from(model).where(*where)
    return await db.scalar(query.execution_options(populate_existing=True))


async def fresh(db, model, record_id):
    return await db.get(model, record_id, populate_existing=True)


# --- lost answers ----------------------------------------------------------------------------------


async def test_a_create_retried_after_a_lost_response_exists_once(client, db, world) -> None:
    rita, shop = world["rita"], world["shop"]
    await sign_in(client, rita.id)
    device, lead_id, contact_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    creations = (capture(1, lead_id), add_contact(2, contact_id, shop, "New Buyer"))
    answer = await push(client, device, *creations)  # ... and the answer is lost on the way
    assert statuses(answer) == ["applied", "applied"]
    versions = ((await fresh(db, Lead, lead_id)).version, (await fresh(db, Contact, contact_id)).version)
    assert await push(client, device, *creations) == answer

    # The app, never told, queues the same records again under new mutation ids (the same client ids).
    again = await push(client, device, capture(3, lead_id, name="Sam Patel (again)"),
                       add_contact(4, contact_id, shop, "New Buyer (again)"))  # fmt: skip
    assert statuses(again) == ["applied", "applied"]
    assert [r["outcome"]["id"] for r in again["results"]] == [str(lead_id), str(contact_id)]
    assert await count(db, Lead) == 1 and await count(db, Contact, Contact.account_id == shop.id) == 2
    lead, contact = await fresh(db, Lead, lead_id), await fresh(db, Contact, contact_id)
    assert (lead.name, contact.name) == ("Sam Patel", "New Buyer")  # a creation replayed changes nothing
    assert (lead.version, contact.version) == versions
    assert await count(db, MutationRecord, MutationRecord.device_id == device) == 4

    # Someone else's phone sending that id makes nothing and learns nothing.
    await sign_in(client, world["sam"].id)
    stolen = await push(client, uuid.uuid4(), add_contact(1, contact_id, world["yard"], "Hijack"))
    assert statuses(stolen) == ["rejected"] and stolen["results"][0]["outcome"]["code"] == "not_found"
    contact = await fresh(db, Contact, contact_id)
    assert (contact.name, contact.account_id) == ("New Buyer", shop.id)


# --- clocks ----------------------------------------------------------------------------------------


async def test_a_device_clock_years_off_is_refused_and_does_not_block(client, db, world) -> None:
    await sign_in(client, world["rita"].id)
    device, visit_id = uuid.uuid4(), uuid.uuid4()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    years = dt.timedelta(days=3 * 365)
    answer = await push(client, device,
        plan(1, visit_id, world["shop"]),
        check_in(2, visit_id, now + years),  # a phone set years ahead
        check_in(3, visit_id, now - years),  # ... or back in the past
        check_in(4, visit_id, now - dt.timedelta(minutes=5)),
        check_out(5, visit_id, now + years),
        check_out(6, visit_id, now),
    )  # fmt: skip
    assert statuses(answer) == ["applied", "rejected", "rejected", "applied", "rejected", "applied"]
    for refused in (answer["results"][i]["outcome"] for i in (1, 2, 4)):
        assert refused["code"] == "invalid"
        assert "clock looks wrong" in refused["fields"]["device_time"]
    assert answer["last_mutation_id"] == 6
    visit = await fresh(db, Visit, visit_id)
    assert visit.status is VisitStatus.DONE
    assert (visit.checked_in_device_at, visit.checked_out_device_at) == (now - dt.timedelta(minutes=5), now)
    assert visit.minutes_on_site == 5


# --- a pull racing pushes --------------------------------------------------------------------------


class Phone:
    """A device over its own connection: an outbox, a snapshot and a cursor, as docs/sync.md says."""

    def __init__(self, client: httpx.AsyncClient, user_id: uuid.UUID, name: str) -> None:
        self.client, self.user_id, self.name = client, user_id, name
        self.id = uuid.uuid4()
        self.next_id, self.outbox, self.cursor = 1, [], None
        self.snapshot: dict[str, dict[str, dict]] = {}

    def queue(self, name: str, args: dict, base_version: int | None = None) -> None:
        self.outbox.append({"id": self.next_id, "name": name, "args": args, "base_version": base_version})
        self.next_id += 1

    async def push(self) -> None:
        for _ in range(20):  # SQLite has one writer: a push it turns away as busy is simply sent again
            response = await self.client.post("/sync/push", json=body(self.id, *self.outbox))
            if response.status_code != 503:
                break
        assert response.status_code == 200, response.text
        assert all(result["status"] == "applied" for result in response.json()["results"]), response.text

    async def pull(self) -> None:
        staged, cursor = [], self.cursor
        while True:
            response = await self.client.post("/sync/pull", json={"device_id": str(self.id), "cursor": cursor,
                                              "schema_version": SCHEMA_VERSION, "app_version": "test"})  # fmt: skip
            assert response.status_code == 200, response.text
            page = response.json()
            staged = [page] if page["reset"] else [*staged, page]
            cursor = page["cursor"]
            if not page["more"]:
                break
        held = {} if staged[0]["reset"] else self.snapshot
        for change in (change for page in staged for change in page["changes"]):
            if change["op"] == "put":
                held.setdefault(change["kind"], {})[change["id"]] = change["data"]
            else:
                del held[change["kind"]][change["id"]]
        self.snapshot, self.cursor = held, cursor
        self.outbox = [m for m in self.outbox if m["id"] > staged[-1]["last_mutation_id"]]

    def versions(self) -> dict[str, dict[str, int]]:
        return {
            kind: {i: data["version"] for i, data in records.items()}
            for kind, records in self.snapshot.items()
        }


def nonempty(versions: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    return {kind: records for kind, records in versions.items() if records}


async def test_a_pull_that_overlaps_a_push_never_skips_a_change(app, db, world) -> None:
    """Three phones push edits of the same accounts while every phone keeps pulling; once all is
    done, one more pull gives each phone exactly the server's latest version of all it may see."""
    rita, sam, max_ = world["rita"], world["sam"], world["max"]
    transport = httpx.ASGITransport(app=app)  # requests really overlap: the app runs on this loop
    async with app.lifespan(), httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as a, \
            httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as b, \
            httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as m:  # fmt: skip
        for client, person in ((a, rita), (b, sam), (m, max_)):
            await sign_in(client, person.id)
        phones = [Phone(a, rita.id, "rita"), Phone(a, rita.id, "rita's tablet"), Phone(b, sam.id, "sam"),
                  Phone(m, max_.id, "max")]  # fmt: skip
        for phone in phones:
            await phone.pull()

        async def work(phone: Phone, round_: int) -> None:
            for step in range(2):
                for account_id, account in sorted(phone.snapshot["accounts"].items()):
                    city = f"{phone.name} {round_}.{step}"
                    phone.queue(
                        "accounts.update", {"account_id": account_id, "city": city}, account["version"]
                    )
                if step == 1:
                    some_account = min(phone.snapshot["accounts"])
                    phone.queue("contacts.create", {"id": str(uuid.uuid4()), "account_id": some_account,
                                                    "name": f"Met by {phone.name} {round_}"})  # fmt: skip
                await phone.push()
                await phone.pull()

        async def keep_pulling(phone: Phone) -> None:
            for _ in range(4):
                await phone.pull()

        for round_ in range(3):
            await asyncio.gather(*(work(phone, round_) for phone in phones if phone.name != "rita's tablet"),
                                 keep_pulling(phones[1]))  # fmt: skip
            for phone in phones:
                await phone.pull()
                assert phone.outbox == []
                assert nonempty(phone.versions()) == nonempty(await visible_versions(db, phone.user_id)), (
                    phone.name
                )
            db.expire_all()
            for phone in phones:
                for account_id, held in phone.snapshot["accounts"].items():
                    assert held["city"] == (await db.get(Account, uuid.UUID(account_id))).city


async def test_a_pull_that_overlaps_the_same_devices_push_is_answered(app, db, world) -> None:
    """Two tabs, or a tab and the service worker, syncing at once: never a 500.

    The app keeps to one flusher with a Web Lock, but the server may not count on it: a pull the
    server cannot answer now must be a 503 with the protocol's JSON, as a push would be."""
    shop = world["shop"]
    async with signed_in_on_this_loop(app, world["rita"]) as client:
        device = uuid.uuid4()
        pulled = await pull(client, device)
        answers = []
        for number in range(1, 16):
            pushing = client.post(
                "/sync/push", json=body(device, update(number, shop, shop.version, city=f"Town {number}"))
            )
            pulling = client.post("/sync/pull", json={"device_id": str(device), "schema_version": SCHEMA_VERSION,
                                                      "app_version": "test", "cursor": pulled["cursor"]})  # fmt: skip
            answers += await asyncio.gather(pushing, pulling)
    assert_answered(answers)


async def test_a_device_pulls_while_its_own_long_push_runs(app, db, world) -> None:
    """A phone's pull never fails because its own push of a long day is still committing groups
    (each group moves the device's row on; a pull that wrote that row in its snapshot was refused
    as busy every time on PostgreSQL)."""
    shop = world["shop"]
    async with signed_in_on_this_loop(app, world["rita"]) as client:
        device = uuid.uuid4()
        cursor = (await pull(client, device))["cursor"]
        mutations = [update(number, shop, shop.version, city=f"Town {number}") for number in range(1, 301)]
        pushing = asyncio.create_task(client.post("/sync/push", json=body(device, *mutations)))
        request = {"device_id": str(device), "schema_version": SCHEMA_VERSION, "app_version": "test",
                   "cursor": cursor}  # fmt: skip
        pulls = []
        while not pushing.done():
            pulls.append(await client.post("/sync/pull", json=request))
        pushed = await pushing
    assert pushed.status_code == 200 and set(statuses(pushed.json())) == {"applied"}
    assert pulls and [answer.status_code for answer in pulls] == [200] * len(pulls)
    assert (await fresh(db, Device, device)).last_mutation_id == 300


async def test_two_pulls_of_one_device_at_once_are_both_answered(app, db, world) -> None:
    """A tab and the service worker pulling at the same moment: both pulls number a new client view
    from the same newest one; the one that loses that race is answered from a fresh look, never a 500."""
    async with signed_in_on_this_loop(app, world["rita"]) as client:
        device = uuid.uuid4()
        cursor = (await pull(client, device))["cursor"]
        answers = []
        for number in range(1, 11):
            # A change the device may see, so that each pull has a new view to store.
            await accounts.update(db, world["admin"], world["shop"].id, {"city": f"Town {number}"})
            await db.commit()
            request = {
                "device_id": str(device),
                "schema_version": SCHEMA_VERSION,
                "app_version": "test",
                "cursor": cursor,
            }
            answers += await asyncio.gather(
                client.post("/sync/pull", json=request), client.post("/sync/pull", json=request)
            )
            cursor = answers[-1].json().get("cursor", cursor)
    assert_answered(answers)
    assert sum(answer.status_code == 200 for answer in answers) >= 10


# --- permissions changed while offline -------------------------------------------------------------


async def test_permission_revoked_while_offline(client, db, world) -> None:
    rita, shop, mill = world["rita"], world["shop"], world["mill"]
    await sign_in(client, rita.id)
    device = uuid.uuid4()
    first = await pull(client, device)
    assert ("accounts", str(shop.id)) in ops(first, "put")
    shop_contact = next(c["id"] for c in first["changes"] if c["kind"] == "contacts")

    # While Rita is offline, her manager gives the shop to Sam.
    await accounts.update(db, world["max"], shop.id, {"owner_id": str(world["sam"].id)})
    await db.commit()
    lead_id, contact_id, visit_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    answer = await push(client, device,
        update(1, shop, shop.version, city="Bolton"),
        add_contact(2, contact_id, shop, "New Buyer"),
        plan(3, visit_id, shop),
        update(4, mill, mill.version, city="Rochdale"),
        capture(5, lead_id),
    )  # fmt: skip
    assert statuses(answer) == ["rejected", "rejected", "rejected", "applied", "applied"]
    for refused in answer["results"][:3]:
        assert refused["outcome"]["code"] == "not_found" and NOT_YOURS in refused["outcome"]["message"]
    assert (await fresh(db, Account, shop.id)).city == "Bury"
    assert await fresh(db, Contact, contact_id) is None and await fresh(db, Visit, visit_id) is None
    assert (await fresh(db, Account, mill.id)).city == "Rochdale" and await fresh(db, Lead, lead_id)

    after = await pull(client, device, first["cursor"])
    assert ops(after, "delete") == {("accounts", str(shop.id)), ("contacts", shop_contact)}
    assert {("accounts", str(mill.id)), ("leads", str(lead_id))} <= ops(after, "put")
    assert after["last_mutation_id"] == 5
    mill_version = next(c["data"]["version"] for c in after["changes"] if c["id"] == str(mill.id))
    assert statuses(await push(client, device, update(6, mill, mill_version, phone="0161 496 0777"))) == [
        "applied"
    ]


async def test_a_manager_loses_a_rep_moved_to_another_team_while_offline(client, db, world) -> None:
    sam, yard = world["sam"], world["yard"]
    await sign_in(client, world["max"].id)
    device = uuid.uuid4()
    first = await pull(client, device)
    assert {("accounts", str(yard.id)), ("users", str(sam.id))} <= ops(first, "put")
    await users.change(db, world["admin"], sam.id, {"team_id": str(world["south"].id)})
    await db.commit()
    answer = await push(client, device,
        update(1, yard, yard.version, city="Leigh"),
        update(2, world["shop"], world["shop"].version, city="Leigh"),
    )  # fmt: skip
    assert statuses(answer) == ["rejected", "applied"]
    assert answer["results"][0]["outcome"]["code"] == "not_found"
    assert (await fresh(db, Account, yard.id)).city == "Wigan"
    after = await pull(client, device, first["cursor"])
    assert {("accounts", str(yard.id)), ("users", str(sam.id))} <= ops(after, "delete")
    assert ("accounts", str(yard.id)) not in ops(after, "put")


# --- one phone, two people -------------------------------------------------------------------------


async def test_sign_out_and_another_user_on_the_same_device(client, db, world) -> None:
    rita, sam, shop = world["rita"], world["sam"], world["shop"]
    token = await sign_in(client, rita.id)
    device, visit_id, lead_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert statuses(await push(client, device, plan(1, visit_id, shop))) == ["applied"]
    queued = (check_in(2, visit_id, dt.datetime.now(dt.UTC)), capture(3, lead_id))
    signed_out = await client.post("/auth/logout", data={"_csrf_token": token})
    assert signed_out.status_code in {200, 303}
    assert (await client.post("/sync/push", json=body(device, *queued))).status_code == 401

    await sign_in(client, sam.id)
    refused = await client.post("/sync/push", json=body(device, *queued))
    assert (refused.status_code, refused.json()["code"]) == (409, "device_reset")
    refused_pull = await client.post("/sync/pull", json={"device_id": str(device), "schema_version": SCHEMA_VERSION,
                                                         "app_version": "test"})  # fmt: skip
    assert (refused_pull.status_code, refused_pull.json()["code"]) == (409, "device_reset")
    assert "Corner Shop" not in refused.text + refused_pull.text
    row = await fresh(db, Device, device)
    assert (row.user_id, row.last_mutation_id) == (rita.id, 1)
    assert (await fresh(db, Visit, visit_id)).status is VisitStatus.PLANNED
    assert await fresh(db, Lead, lead_id) is None
    assert await count(db, MutationRecord, MutationRecord.device_id == device) == 1
    # As a new device (docs/sync.md: on device_reset, a new device id), Sam sees only his own.
    own = await pull(client, uuid.uuid4())
    assert str(shop.id) not in {change["id"] for change in own["changes"]}

    await sign_in(client, rita.id)
    answer = await push(client, device, *queued)
    assert statuses(answer) == ["applied", "applied"]
    assert (await fresh(db, Visit, visit_id)).status is VisitStatus.CHECKED_IN
    lead = await fresh(db, Lead, lead_id)
    assert (lead.owner_id, lead.captured_by_id) == (rita.id, rita.id)


# --- a device's own offline edits ------------------------------------------------------------------


async def test_an_offline_edit_that_undoes_an_earlier_offline_edit_stands(client, db, world) -> None:
    """Offline, Rita changes the city from Bury to Bolton, then back to Bury: her own first edit is
    no change on the server, so her last one stands and nothing conflicts."""
    shop = world["shop"]
    await sign_in(client, world["rita"].id)
    answer = await push(client, uuid.uuid4(),
        update(1, shop, shop.version, city="Bolton"),
        update(2, shop, shop.version, city="Bury"),  # the version the phone holds: it has not pulled
    )  # fmt: skip
    assert statuses(answer) == ["applied", "applied"]
    assert "conflicts" not in answer["results"][1]["outcome"]
    assert (await fresh(db, Account, shop.id)).city == "Bury"


async def test_two_offline_edits_of_one_field_are_not_a_conflict(client, db, world) -> None:
    """Offline, Rita adds a line to the notes, then another: the second is no conflict with anyone."""
    shop = world["shop"]
    await sign_in(client, world["rita"].id)
    answer = await push(client, uuid.uuid4(),
        update(1, shop, shop.version, notes="Opens at 9."),
        update(2, shop, shop.version, notes="Opens at 9. Closed Mondays."),
    )  # fmt: skip
    assert statuses(answer) == ["applied", "applied"]
    assert await count(db, Conflict) == 0
    assert (await fresh(db, Account, shop.id)).notes == "Opens at 9. Closed Mondays."
