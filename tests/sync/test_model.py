"""A model of offline sync: phones that queue, push and pull over a network that loses things.

Hypothesis drives a few simulated devices against the real `/sync/push` and `/sync/pull`
endpoints (docs/sync.md): two reps of one team, each with one or two phones, and their manager's
phone. Each device keeps what a real one keeps: its outbox (mutations numbered 1, 2, 3 ... with no
gaps), its snapshot (kind -> id -> record), its cursor, and the pages of an unfinished pull. The
network drops requests, drops answers after the server committed, sends a push twice and delivers
an old push late; a device may be killed in the middle of a paged pull. Meanwhile an admin
reassigns accounts between the reps and moves a rep to another team, through the server's own
commands.

After every step: nothing acknowledged is lost (every applied create exists; every account field
holds the value of the last edit the server applied to it); nothing is applied twice (the ledger
has exactly one row per mutation, 1 ... last, and a mutation's answer never changes). After every
completed pull the device holds exactly the records its person may see now (ids and versions, by
the same `visible()` and kinds as sync/pull.py), and after `settle` (a reliable network: push
everything, then pull to the end) every device does, with an empty outbox.

Every example makes its own team, people and accounts, and checks only those. The pull page size
is lowered so first syncs come in pages. Sessions and rate limits are kept in Redis when it runs
(scripts/test starts it), which halves the cost of a request; without it, in the database.

In CI each database runs MODEL_EXAMPLES examples of up to 25 steps (PostgreSQL 70, about 1,500
steps; SQLite 50, about 1,000; 40 to 60 s each on the 2-core CI machine). For a longer hunt set
the number of examples for both:

    FIELDBOOK_MODEL_EXAMPLES=1000 .venv/bin/pytest tests/sync/test_model.py -p no:randomly
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from litestar.stores.redis import RedisStore
from litestar.testing import TestClient
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from server.accounts import service as accounts
from server.accounts.models import Account
from server.app import create_app
from server.contacts.models import Contact
from server.db import new_id
from server.leads.models import Lead
from server.users import service as users
from server.users.models import Role, User
from server.visits.models import Visit
from sync import pull as pulling
from sync.models import Device as DeviceRow
from sync.models import MutationRecord
from sync.protocol import SCHEMA_VERSION
from tests.conftest import csrf_token, make_settings
from tests.factories import make_account, make_team, make_user

# SQLite opens a connection per database session, so its requests cost about twice PostgreSQL's.
MODEL_EXAMPLES = {"postgresql": 70, "sqlite": 50}
STEPS = 25
PAGE_SIZE = 5  # so that first syncs, and a manager's catching up, come in several pages
VALUES = {
    "city": ("Bury", "Bolton", "Rochdale", "Wigan"),
    "phone": ("0161 496 0001", "0161 496 0002", "0161 496 0003", "0161 496 0004"),
}
CREATES = {"contacts.create": Contact, "leads.capture": Lead, "visits.plan": Visit}
PUSH_NETWORK = ("ok", "drop_request", "drop_response", "duplicate", "stale")
# One page in five goes wrong; most pulls of a few pages get through.
PULL_NETWORK = ("ok", "ok", "ok", "ok", "drop_request", "drop_response")
REDIS_URL = "redis://127.0.0.1:6379/15"
KIND_NAMES = [kind.name for kind in pulling.KINDS]
_numbers = itertools.count(1)
T = TypeVar("T")


# --- the server, reached as a phone reaches it ---------------------------------------------------


@dataclass
class Server:
    """The app over HTTP (one sign-in per person, each with its own cookies) and a database session
    of the test's own for the admin's commands and the checks."""

    client: TestClient
    runner: asyncio.Runner
    sessions: async_sessionmaker[AsyncSession]
    jars: dict[uuid.UUID | None, httpx.Cookies] = field(default_factory=dict)

    def run(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async def in_a_session() -> T:
            async with self.sessions() as session:
                return await work(session)

        return self.runner.run(in_a_session())

    csrf: str = ""

    def sign_in(self, user_id: uuid.UUID) -> None:
        """Sign in on the demo page; without the last person's session cookie, so theirs lives on."""
        self.client.cookies = self.jars.get(None, httpx.Cookies())
        if not self.csrf:
            self.csrf = csrf_token(self.client.get("/auth/demo").text)
            self.jars[None] = httpx.Cookies(self.client.cookies)  # the CSRF cookie alone
        response = self.client.post(
            "/auth/demo", data={"_csrf_token": self.csrf, "user_id": str(user_id), "next": "/"}
        )
        assert response.status_code == 303, response.text
        self.jars[user_id] = httpx.Cookies(self.client.cookies)

    def post(self, user_id: uuid.UUID, path: str, body: dict[str, Any]) -> dict[str, Any]:
        self.client.cookies = self.jars[user_id]
        response = self.client.post(path, json=body)
        self.jars[user_id] = httpx.Cookies(self.client.cookies)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()


@pytest.fixture
def server(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    monkeypatch.setattr(pulling, "PAGE_SIZE", PAGE_SIZE)
    # Pages of several chunks: on PostgreSQL, read on two connections at once (sync.pull._records_of).
    monkeypatch.setattr(pulling, "CHUNK", 2)
    monkeypatch.setattr(pulling, "PARALLEL_FROM", 2)
    # Thousands of requests a minute; sessions and rate limits in Redis, as several servers keep them
    # (tests/server/test_shared_state.py), which saves the database store's round trips per request.
    namespace = f"fieldbook-model-{uuid.uuid4().hex}" if _redis_runs() else None
    redis = {"redis_url": REDIS_URL, "redis_namespace": namespace} if namespace else {}
    app = create_app(make_settings(database_url, tmp_path, sign_in_rate_limit=1_000_000, api_rate_limit=1_000_000,
                                   **redis))  # fmt: skip
    engine = create_async_engine(database_url)  # pooled: the checks run after every step
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_busy_timeout)
    with asyncio.Runner() as runner, TestClient(app=app, base_url="http://127.0.0.1:8000") as client:
        client.follow_redirects = False
        yield Server(client, runner, async_sessionmaker(engine, expire_on_commit=False))
        runner.run(engine.dispose())
        if namespace:
            runner.run(_forget(namespace))


def _redis_runs() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        return False
    return True


async def _forget(namespace: str) -> None:
    store = RedisStore.with_client(url=REDIS_URL, namespace=namespace)
    async with store:
        await store.delete_all()


def _sqlite_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


async def visible_versions(session: AsyncSession, user_id: uuid.UUID) -> dict[str, dict[str, int]]:
    """What `user_id` may see now, per kind: id -> version (the kinds and scopes of a pull)."""
    actor = await session.get(User, user_id, populate_existing=True)
    assert actor is not None
    return {
        kind.name: {
            str(record_id): version
            for record_id, version in await session.execute(
                select(kind.model.id, kind.model.version).where(kind.scope(actor))
            )
        }
        for kind in pulling.KINDS
    }


# --- a phone --------------------------------------------------------------------------------------


@dataclass(repr=False)
class Phone:
    name: str
    id: uuid.UUID
    user_id: uuid.UUID
    next_id: int = 1
    issued: dict[int, dict[str, Any]] = field(default_factory=dict)  # every mutation it ever made
    outbox: list[dict[str, Any]] = field(default_factory=list)
    snapshot: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {k: {} for k in KIND_NAMES}
    )
    cursor: str | None = None
    last_pulled_mutation: int = 0
    staged: list[dict[str, Any]] = field(default_factory=list)  # pages of a pull not yet applied
    pushes: list[dict[str, Any]] = field(default_factory=list)  # every push it built, for late delivery

    def __repr__(self) -> str:  # how Hypothesis names the device in a failing example
        return self.name

    def queue(self, name: str, args: dict[str, Any], base_version: int | None = None) -> None:
        mutation: dict[str, Any] = {"id": self.next_id, "name": name, "args": args}
        if base_version is not None:
            mutation["base_version"] = base_version
        self.issued[self.next_id] = mutation
        self.outbox.append(copy.deepcopy(mutation))
        self.next_id += 1

    def push_body(self) -> dict[str, Any]:
        body = {"device_id": str(self.id), "schema_version": SCHEMA_VERSION, "app_version": "model",
                "mutations": copy.deepcopy(self.outbox)}  # fmt: skip
        self.pushes.append(body)
        return body

    def pull_body(self) -> dict[str, Any]:
        cursor = self.staged[-1]["cursor"] if self.staged else self.cursor
        return {"device_id": str(self.id), "schema_version": SCHEMA_VERSION, "app_version": "model",
                "cursor": cursor}  # fmt: skip

    def stage(self, page: dict[str, Any]) -> None:
        if page["reset"]:  # start afresh: whatever was staged or held goes
            self.staged = []
        self.staged.append(page)

    def apply_staged(self) -> None:
        """All pages at once, after the last one, as the device does (docs/sync.md)."""
        held = {k: {} for k in KIND_NAMES} if self.staged[0]["reset"] else self.snapshot
        for page in self.staged:
            for change in page["changes"]:
                if change["op"] == "put":
                    assert change["data"]["id"] == change["id"]
                    held[change["kind"]][change["id"]] = change["data"]
                else:  # the server's view of this device says it holds the record
                    assert change["id"] in held[change["kind"]], change
                    del held[change["kind"]][change["id"]]
        last = self.staged[-1]
        assert self.last_pulled_mutation <= last["last_mutation_id"] < self.next_id
        self.snapshot, self.cursor, self.staged = held, last["cursor"], []
        self.last_pulled_mutation = last["last_mutation_id"]
        self.outbox = [m for m in self.outbox if m["id"] > self.last_pulled_mutation]

    def versions(self) -> dict[str, dict[str, int]]:
        return {
            kind: {i: data["version"] for i, data in records.items()}
            for kind, records in self.snapshot.items()
        }

    def shown(self, account_id: str, name: str) -> Any:
        """The field as the rep sees it: the snapshot with the outbox on top."""
        pending = [m["args"][name] for m in self.outbox
                   if m["name"] == "accounts.update" and m["args"]["account_id"] == account_id and name in m["args"]]  # fmt: skip
        return pending[-1] if pending else self.snapshot["accounts"][account_id][name]


# --- the model ------------------------------------------------------------------------------------


class SyncModel(RuleBasedStateMachine):
    server: Server  # set by the test

    @initialize(rita_phones=st.integers(1, 2), sam_phones=st.integers(1, 2), accounts_each=st.integers(1, 3))
    def world(self, rita_phones: int, sam_phones: int, accounts_each: int) -> None:
        async def arrange(db: AsyncSession) -> dict[str, Any]:
            north, south = await make_team(db), await make_team(db)
            rita, sam = await make_user(db, Role.REP, north), await make_user(db, Role.REP, north)
            max_ = await make_user(db, Role.MANAGER, north)
            admin = await make_user(db, Role.ADMIN)
            owned = [await make_account(db, rep, phone=VALUES["phone"][0]) for rep in (rita, sam)
                     for _ in range(accounts_each)]  # fmt: skip
            return {"north": north.id, "south": south.id, "rita": rita.id, "sam": sam.id, "max": max_.id,
                    "admin": admin.id, "accounts": [str(a.id) for a in owned]}  # fmt: skip

        self.ids = self.server.run(arrange)
        for person in ("rita", "sam", "max"):
            self.server.sign_in(self.ids[person])
        self.phones = [
            *(Phone(f"rita{n}", uuid.uuid4(), self.ids["rita"]) for n in range(rita_phones)),
            *(Phone(f"sam{n}", uuid.uuid4(), self.ids["sam"]) for n in range(sam_phones)),
            Phone("max", uuid.uuid4(), self.ids["max"]),
        ]
        self.sam_in_north = True
        self.answers: dict[tuple[uuid.UUID, int], dict[str, Any]] = {}  # every answer the network delivered
        self.acknowledged: dict[tuple[uuid.UUID, int], str] = {}  # answers a device took in
        self.recorded = {phone.id: 0 for phone in self.phones}  # ledger rows seen so far, per device
        self.applied_edits: list[dict[str, Any]] = []  # accounts.update mutations in the order applied
        self.changed = True  # the server's records may have changed since the last check

    def _phone(self, data: st.DataObject, phones: list[Phone] | None = None) -> Phone:
        return data.draw(st.sampled_from(phones or self.phones), label="device")

    def _holding_accounts(self) -> list[Phone]:
        return [phone for phone in self.phones if phone.snapshot["accounts"]]

    # --- the rep taps ---------------------------------------------------------------------------

    @precondition(lambda self: self._holding_accounts())
    @rule(data=st.data(), name=st.sampled_from(sorted(VALUES)))
    def edit_account(self, data: st.DataObject, name: str) -> None:
        phone = self._phone(data, self._holding_accounts())
        account_id = data.draw(st.sampled_from(sorted(phone.snapshot["accounts"])), label="account")
        held = phone.snapshot["accounts"][account_id]
        shown = phone.shown(account_id, name)
        value = data.draw(st.sampled_from([v for v in VALUES[name] if v != shown]), label=name)
        phone.queue("accounts.update", {"account_id": account_id, name: value}, base_version=held["version"])

    @precondition(lambda self: self._holding_accounts())
    @rule(data=st.data())
    def add_contact(self, data: st.DataObject) -> None:
        phone = self._phone(data, self._holding_accounts())
        account_id = data.draw(st.sampled_from(sorted(phone.snapshot["accounts"])), label="account")
        phone.queue("contacts.create", {"id": str(new_id()), "account_id": account_id,
                                        "name": f"Contact {next(_numbers)}"})  # fmt: skip

    @precondition(lambda self: self._holding_accounts())
    @rule(data=st.data())
    def plan_visit(self, data: st.DataObject) -> None:
        phone = self._phone(data, self._holding_accounts())
        account_id = data.draw(st.sampled_from(sorted(phone.snapshot["accounts"])), label="account")
        phone.queue("visits.plan", {"id": str(new_id()), "account_id": account_id, "planned_on": "2026-11-23",
                                    "purpose": "Model visit"})  # fmt: skip

    @rule(data=st.data())
    def capture_lead(self, data: st.DataObject) -> None:
        number = next(_numbers)
        self._phone(data).queue("leads.capture", {"id": str(new_id()), "name": f"Lead {number}",
                                                  "phone": f"07700 {number:06d}", "source": "walk_in"})  # fmt: skip

    @rule(data=st.data())
    def repeat_a_create(self, data: st.DataObject) -> None:
        """The app sends a creation again under a new mutation id (the same client id)."""
        phone = self._phone(data)
        creates = [m for m in phone.issued.values() if m["name"] in CREATES]
        if creates:
            again = data.draw(st.sampled_from(creates), label="create")
            phone.queue(again["name"], copy.deepcopy(again["args"]))

    # --- the network ----------------------------------------------------------------------------

    @rule(data=st.data(), network=st.sampled_from(PUSH_NETWORK))
    def push(self, data: st.DataObject, network: str) -> None:
        phone = self._phone(data)
        if network == "stale":  # a push from earlier, held up somewhere, arrives now; nobody listens
            if phone.pushes:
                self._send(
                    phone, data.draw(st.sampled_from(phone.pushes), label="stale push"), listening=False
                )
            return
        body = phone.push_body()
        if network == "drop_request":
            return
        answer = self._send(phone, body, listening=network != "drop_response")
        if network == "duplicate":
            assert self._send(phone, body, listening=True) == answer

    @rule(data=st.data())
    def pull(self, data: st.DataObject) -> None:
        phone = self._phone(data)
        self._pull(phone, lambda: data.draw(st.sampled_from(PULL_NETWORK), label="page"))

    @precondition(lambda self: any(phone.staged for phone in self.phones))
    @rule(data=st.data())
    def kill_the_app(self, data: st.DataObject) -> None:
        """Killed mid-pull: the staged pages go; the next pull starts from the committed cursor."""
        self._phone(data, [phone for phone in self.phones if phone.staged]).staged = []

    @rule()
    def settle(self) -> None:
        """A reliable network at last: every device pushes everything, then pulls to the end."""
        for phone in self.phones:
            if phone.outbox:
                self._send(phone, phone.push_body(), listening=True)
        for phone in self.phones:
            assert self._pull(phone, lambda: "ok")
        for phone in self.phones:
            assert phone.outbox == [], f"{phone.name}: the pull did not report its pushed mutations"
            assert phone.versions() == self._visible(phone.user_id), f"{phone.name} differs from the server"

    # --- the admin, meanwhile -------------------------------------------------------------------

    @rule(data=st.data())
    def reassign_an_account(self, data: st.DataObject) -> None:
        account_id = data.draw(st.sampled_from(self.ids["accounts"]), label="reassigned")

        async def reassign(db: AsyncSession) -> None:
            admin = await db.get(User, self.ids["admin"])
            account = await db.get(Account, uuid.UUID(account_id))
            other = self.ids["sam"] if account.owner_id == self.ids["rita"] else self.ids["rita"]
            await accounts.update(db, admin, account.id, {"owner_id": str(other)})
            await db.commit()

        self.server.run(reassign)
        self.changed = True

    @rule()
    def move_sam_to_the_other_team(self) -> None:
        self.sam_in_north = not self.sam_in_north
        team = self.ids["north"] if self.sam_in_north else self.ids["south"]

        async def move(db: AsyncSession) -> None:
            admin = await db.get(User, self.ids["admin"])
            await users.change(db, admin, self.ids["sam"], {"team_id": str(team)})
            await db.commit()

        self.server.run(move)
        self.changed = True

    # --- the device's side of the protocol ------------------------------------------------------

    def _send(self, phone: Phone, body: dict[str, Any], *, listening: bool) -> dict[str, Any]:
        self.changed = True
        answer = self.server.post(phone.user_id, "/sync/push", body)
        sent = [m["id"] for m in body["mutations"]]
        assert [r["id"] for r in answer["results"]] == sent
        assert answer["last_mutation_id"] >= (sent[-1] if sent else 0)
        for result in answer["results"]:  # a mutation's answer never changes, however often it is asked
            assert self.answers.setdefault((phone.id, result["id"]), result) == result
            if listening:
                self.acknowledged[(phone.id, result["id"])] = result["status"]
        self._note_what_was_applied(phone)
        return answer

    def _note_what_was_applied(self, phone: Phone) -> None:
        async def new_rows(db: AsyncSession) -> list[MutationRecord]:
            rows = await db.scalars(
                select(MutationRecord)
                .where(
                    MutationRecord.device_id == phone.id, MutationRecord.mutation_id > self.recorded[phone.id]
                )
                .order_by(MutationRecord.mutation_id)
            )
            return list(rows)

        for row in self.server.run(new_rows):
            mutation = phone.issued[row.mutation_id]
            assert row.name == mutation["name"]
            if row.status == "applied" and mutation["name"] == "accounts.update":
                self.applied_edits.append(mutation)
            self.recorded[phone.id] = row.mutation_id

    def _pull(self, phone: Phone, network: Callable[[], str]) -> bool:
        """Pull page after page until `more` is false and apply them; False if the network failed."""
        fetched: list[dict[str, Any]] = []
        while True:
            fault = network()
            if fault == "drop_request":
                return False
            page = self.server.post(phone.user_id, "/sync/pull", phone.pull_body())
            if fault == "drop_response":
                return False
            assert len(fetched) < 200, "a pull that never ends"
            fetched.append(page)
            phone.stage(page)
            if not page["more"]:
                break
        phone.apply_staged()
        # Nothing changed on the server since the last page: the device holds exactly what its
        # person may see now, and no page sent anything beyond it.
        now = self._visible(phone.user_id)
        assert phone.versions() == now, f"{phone.name} after a pull differs from the server"
        for page in fetched:
            for change in page["changes"]:
                assert change["op"] == "delete" or change["id"] in now[change["kind"]], "sent out of scope"
        return True

    def _visible(self, user_id: uuid.UUID) -> dict[str, dict[str, int]]:
        return self.server.run(lambda db: visible_versions(db, user_id))

    # --- after every step -----------------------------------------------------------------------

    @invariant()
    def nothing_lost_and_nothing_twice(self) -> None:
        if not self.changed:  # a tap, a pull or a killed app changes no record on the server
            return
        self.changed = False
        created = {m["args"]["id"]: name for phone in self.phones for m in phone.issued.values()
                   if (name := m["name"]) in CREATES}  # fmt: skip

        async def facts(db: AsyncSession) -> dict[str, Any]:
            ids = [phone.id for phone in self.phones]
            devices = {
                row.id: row for row in await db.scalars(select(DeviceRow).where(DeviceRow.id.in_(ids)))
            }
            ledger = [
                (row.device_id, row.mutation_id, row.status)
                for row in await db.scalars(select(MutationRecord).where(MutationRecord.device_id.in_(ids)))
            ]
            account_rows = await db.scalars(
                select(Account).where(Account.id.in_([uuid.UUID(a) for a in self.ids["accounts"]]))
            )
            existing: dict[str, int] = {}
            for model in CREATES.values():
                wanted = [uuid.UUID(i) for i, name in created.items() if CREATES[name] is model]
                for record_id in await db.scalars(select(model.id).where(model.id.in_(wanted))):
                    existing[str(record_id)] = existing.get(str(record_id), 0) + 1
            return {"devices": devices, "ledger": ledger, "existing": existing,
                    "accounts": {str(a.id): {"city": a.city, "phone": a.phone} for a in account_rows}}  # fmt: skip

        found = self.server.run(facts)
        statuses: dict[uuid.UUID, dict[int, str]] = {}
        for device_id, mutation_id, status in found["ledger"]:
            assert mutation_id not in statuses.setdefault(device_id, {}), "a mutation recorded twice"
            statuses[device_id][mutation_id] = status
        for phone in self.phones:
            row = found["devices"].get(phone.id)
            last = row.last_mutation_id if row else 0
            if row is not None:
                assert row.user_id == phone.user_id
            assert last < phone.next_id, f"{phone.name}: the server is ahead of the device"
            assert set(statuses.get(phone.id, {})) == set(range(1, last + 1)), (
                f"{phone.name}: ledger has gaps"
            )
        # Nothing acknowledged is lost, and the ledger says what the device was told.
        for (device_id, mutation_id), status in self.acknowledged.items():
            assert statuses[device_id][mutation_id] == status
        for phone in self.phones:
            for mutation_id, mutation in phone.issued.items():
                if (
                    mutation["name"] in CREATES
                    and self.acknowledged.get((phone.id, mutation_id)) == "applied"
                ):
                    assert found["existing"].get(mutation["args"]["id"]) == 1, "an applied create is missing"
        assert all(count == 1 for count in found["existing"].values())
        # Every account field holds the value of the last edit of it the server applied.
        latest: dict[tuple[str, str], Any] = {}
        for mutation in self.applied_edits:
            for name in VALUES:
                if name in mutation["args"]:
                    latest[(mutation["args"]["account_id"], name)] = mutation["args"][name]
        for (account_id, name), value in latest.items():
            assert found["accounts"][account_id][name] == value, f"{name} of {account_id} lost its last edit"


def test_offline_devices_on_a_faulty_network_converge(server: Server, backend: str) -> None:
    machine = type("Model", (SyncModel,), {"server": server})
    examples = int(os.environ.get("FIELDBOOK_MODEL_EXAMPLES", MODEL_EXAMPLES[backend]))
    run_state_machine_as_test(machine, settings=settings(
        max_examples=examples, stateful_step_count=STEPS, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    ))  # fmt: skip
