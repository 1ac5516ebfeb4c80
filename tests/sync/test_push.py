"""`POST /sync/push`: every mutation applied exactly once, in order, whatever the network did."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from server.accounts import service as accounts
from server.accounts.models import Account
from server.errors import Message
from server.leads.models import Lead, LeadStatus
from server.users.models import Role
from server.visits.models import Visit, VisitStatus
from sync import push as pushing
from sync.models import Device, MutationRecord
from sync.protocol import SCHEMA_VERSION, Mutation, PushRequest
from sync.registry import Registry
from tests.conftest import sign_in
from tests.factories import make_account, make_team, make_user

TODAY = "2026-11-23"


@pytest.fixture
async def rep(db):
    return await make_user(db, Role.REP, await make_team(db), name="Rita")


@pytest.fixture
async def shop(db, rep):
    return await make_account(db, rep, name="Corner Shop", latitude="53.48", longitude="-2.24")


def body(device_id: uuid.UUID, *mutations: dict, schema_version: int = SCHEMA_VERSION) -> dict:
    return {"device_id": str(device_id), "schema_version": schema_version, "app_version": "test",
            "mutations": list(mutations)}  # fmt: skip


def plan(number: int, visit_id: uuid.UUID, account_id: uuid.UUID) -> dict:
    args = {
        "id": str(visit_id),
        "account_id": str(account_id),
        "planned_on": TODAY,
        "purpose": "Offline plan",
    }
    return {"id": number, "name": "visits.plan", "args": args}


def check_in(number: int, visit_id: uuid.UUID, **fix) -> dict:
    args = {"visit_id": str(visit_id), "latitude": 53.48, "longitude": -2.24, "accuracy": 12, **fix}
    return {"id": number, "name": "visits.check_in", "args": args}


async def count(db, model) -> int:
    return await db.scalar(select(func.count()).select_from(model).execution_options(populate_existing=True))


async def test_mutations_are_applied_in_order_with_a_result_each(client, db, rep, shop) -> None:
    await sign_in(client, rep.id)
    device, visit_id = uuid.uuid4(), uuid.uuid4()
    response = await client.post(
        "/sync/push", json=body(device, plan(1, visit_id, shop.id), check_in(2, visit_id))
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["last_mutation_id"] == 2
    assert [(r["id"], r["status"]) for r in answer["results"]] == [(1, "applied"), (2, "applied")]
    visit = await db.get(Visit, visit_id)
    assert (
        visit.status is VisitStatus.CHECKED_IN and answer["results"][1]["outcome"]["version"] == visit.version
    )
    assert (await db.get(Device, device)).user_id == rep.id


async def test_a_push_retried_after_its_response_was_lost_applies_nothing_twice(
    client, db, rep, shop
) -> None:
    await sign_in(client, rep.id)
    device, visit_id = uuid.uuid4(), uuid.uuid4()
    request = body(device, plan(1, visit_id, shop.id), check_in(2, visit_id))
    first = (await client.post("/sync/push", json=request)).json()
    version = (await db.get(Visit, visit_id)).version
    again = await client.post("/sync/push", json=request)  # the device never saw the first answer
    assert again.status_code == 200
    assert again.json() == first
    assert (await count(db, Visit), (await db.get(Visit, visit_id, populate_existing=True)).version) == (
        1,
        version,
    )


async def test_a_mutation_that_skips_ahead_is_refused_and_nothing_runs(client, db, rep, shop) -> None:
    await sign_in(client, rep.id)
    device = uuid.uuid4()
    await client.post("/sync/push", json=body(device, plan(1, uuid.uuid4(), shop.id)))
    gap = await client.post("/sync/push", json=body(device, plan(3, uuid.uuid4(), shop.id)))
    assert gap.status_code == 409
    assert gap.json()["code"] == "mutation_gap" and gap.json()["last_mutation_id"] == 1
    assert await count(db, Visit) == 1


async def test_a_refused_change_is_recorded_and_does_not_block_the_queue(client, db, rep, shop) -> None:
    await sign_in(client, rep.id)
    device, visit_id = uuid.uuid4(), uuid.uuid4()
    answer = (await client.post("/sync/push", json=body(
        device,
        plan(1, visit_id, shop.id),
        {"id": 2, "name": "visits.check_in", "args": {"visit_id": str(visit_id)}},  # no fix and no reason
        {"id": 3, "name": "visits.teleport", "args": {}},  # a command this server does not know
        check_in(4, visit_id),
    ))).json()  # fmt: skip
    assert [r["status"] for r in answer["results"]] == ["applied", "rejected", "rejected", "applied"]
    refused = answer["results"][1]["outcome"]
    assert refused["code"] == "invalid" and "no_location_reason" in refused["fields"]
    assert "does not know this kind of change" in answer["results"][2]["outcome"]["message"]
    assert answer["last_mutation_id"] == 4
    assert (await db.get(Visit, visit_id)).status is VisitStatus.CHECKED_IN
    ledger = await db.scalars(select(MutationRecord.status).order_by(MutationRecord.mutation_id))
    assert list(ledger) == ["applied", "rejected", "rejected", "applied"]


async def test_a_change_to_someone_elses_record_is_refused_as_not_found(client, db, rep) -> None:
    stranger = await make_user(db, Role.REP, await make_team(db))
    theirs = await make_account(db, stranger, name="Not Yours")
    await sign_in(client, rep.id)
    answer = (
        await client.post("/sync/push", json=body(uuid.uuid4(), plan(1, uuid.uuid4(), theirs.id)))
    ).json()
    assert answer["results"][0]["status"] == "rejected"
    assert answer["results"][0]["outcome"]["code"] == "not_found"
    assert await count(db, Visit) == 0


async def test_refusals_are_in_the_reps_language(client, db, rep, shop) -> None:
    await sign_in(client, rep.id)
    mutation = {"id": 1, "name": "leads.capture", "args": {"name": "Sam"}}
    answer = await client.post(
        "/sync/push", json=body(uuid.uuid4(), mutation), headers={"Accept-Language": "zh-CN"}
    )
    fields = answer.json()["results"][0]["outcome"]["fields"]
    assert fields["phone"] != "Give a phone number or an email address." and fields["phone"]
    assert await count(db, Lead) == 0


async def test_a_change_refused_half_way_leaves_nothing_and_its_neighbours_stand(
    client, db, rep, shop
) -> None:
    """Converting a lead makes its account first; a bad contact id then refuses the conversion.
    In the same transaction as the mutations around it, the account must go with it."""
    await sign_in(client, rep.id)
    lead_id, new_account_id, later_lead_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    capture = {
        "name": "Sam Patel",
        "company": "Patel Hardware",
        "phone": "0161 496 0000",
        "source": "walk_in",
    }
    answer = (await client.post("/sync/push", json=body(
        uuid.uuid4(),
        {"id": 1, "name": "leads.capture", "args": {"id": str(lead_id), **capture}},
        {"id": 2, "name": "leads.convert", "args": {"lead_id": str(lead_id), "new_account_id": str(new_account_id),
                                                   "new_contact_id": "not-an-id"}},
        {"id": 3, "name": "leads.capture", "args": {**capture, "id": str(later_lead_id), "name": "Ann Lee",
                                                   "phone": "0161 496 0001"}},
    ))).json()  # fmt: skip
    assert [r["status"] for r in answer["results"]] == ["applied", "rejected", "applied"]
    assert await db.get(Account, new_account_id) is None  # made, then rolled back with its refusal
    assert (await db.get(Lead, lead_id)).status is LeadStatus.OPEN
    assert await db.get(Lead, later_lead_id) is not None
    # The group ran twice (first without savepoints); what the first run did is gone.
    assert await count(db, Lead) == 2 and await count(db, MutationRecord) == 3


def _failing_registry(app, fault: Exception | None = None) -> Registry:
    """The app's commands and one that fails as a server fault would (not a refusal: an exception)."""
    registry = Registry(dict(app.state["sync_commands"].handlers), dict(app.state["sync_commands"].merges))

    async def fail(*_args) -> None:
        raise fault or RuntimeError("the database went away")

    registry.register("test.fail", fail)
    return registry


async def test_a_fault_part_way_keeps_the_groups_committed_before_it_and_nothing_after(
    app, db, rep, shop
) -> None:
    """Mutations commit in groups (here of two): a fault in the fourth loses the third with it,
    and the device is told 2, so it sends 3 and 4 again and nothing is applied twice."""
    device, visits = uuid.uuid4(), [uuid.uuid4() for _ in range(3)]
    mutations = [Mutation(id=n + 1, name="visits.plan", args=plan(n + 1, visit_id, shop.id)["args"])
                 for n, visit_id in enumerate(visits)] + [Mutation(id=4, name="test.fail", args={})]  # fmt: skip
    request = PushRequest(
        device_id=device, schema_version=SCHEMA_VERSION, app_version="test", mutations=mutations
    )
    limits = pushing.GroupLimits(size=2, seconds=60)
    with pytest.raises(RuntimeError):
        await pushing.push(app.state["alchemy"].get_session, rep.id, request, _failing_registry(app), Message.render, limits)  # fmt: skip
    assert [await db.get(Visit, visit_id) is not None for visit_id in visits] == [True, True, False]
    assert (await db.get(Device, device, populate_existing=True)).last_mutation_id == 2
    assert await count(db, MutationRecord) == 2

    retried = PushRequest(
        device_id=device, schema_version=SCHEMA_VERSION, app_version="test", mutations=mutations[:3]
    )
    answer = await pushing.push(app.state["alchemy"].get_session, rep.id, retried, _failing_registry(app), Message.render, limits)  # fmt: skip
    assert answer.last_mutation_id == 3 and [r.status for r in answer.results] == ["applied"] * 3
    assert await count(db, Visit) == 3 and await count(db, MutationRecord) == 3


async def test_a_mutation_that_keeps_losing_a_race_holds_back_nothing_before_it(app, db, rep, shop) -> None:
    """A conflict on commit (another tab's push, SQLite's busy writer) is tried again, the rest of
    the push a mutation at a time: the ones before the stubborn one are applied and acknowledged."""
    device, visits = uuid.uuid4(), [uuid.uuid4() for _ in range(3)]
    mutations = [Mutation(id=n + 1, name="visits.plan", args=plan(n + 1, visit_id, shop.id)["args"])
                 for n, visit_id in enumerate(visits)] + [Mutation(id=4, name="test.fail", args={})]  # fmt: skip
    request = PushRequest(
        device_id=device, schema_version=SCHEMA_VERSION, app_version="test", mutations=mutations
    )
    race = IntegrityError("INSERT INTO sync_mutations ...", {}, Exception("duplicate key"))
    with pytest.raises(pushing.SyncRefused) as refused:
        await pushing.push(app.state["alchemy"].get_session, rep.id, request, _failing_registry(app, race),
                           Message.render, pushing.GroupLimits(size=50, seconds=60))  # fmt: skip
    assert (refused.value.status_code, refused.value.last_mutation_id) == (503, 3)
    assert all([await db.get(Visit, visit_id) is not None for visit_id in visits])
    assert (await db.get(Device, device, populate_existing=True)).last_mutation_id == 3


async def test_a_push_in_many_groups_applies_each_mutation_once_in_order(app, db, rep, shop) -> None:
    visit_id = uuid.uuid4()
    mutations = [Mutation(id=1, name="visits.plan", args=plan(1, visit_id, shop.id)["args"])] + [
        Mutation(id=n, name="visits.reschedule", args={"visit_id": str(visit_id), "planned_on": f"2026-12-{n:02d}"})
        for n in range(2, 8)
    ]  # fmt: skip
    request = PushRequest(
        device_id=uuid.uuid4(), schema_version=SCHEMA_VERSION, app_version="test", mutations=mutations
    )
    answer = await pushing.push(app.state["alchemy"].get_session, rep.id, request, app.state["sync_commands"],
                                Message.render, pushing.GroupLimits(size=3, seconds=60))  # fmt: skip
    assert [r.id for r in answer.results] == list(range(1, 8)) and answer.last_mutation_id == 7
    assert {r.status for r in answer.results} == {"applied"}
    assert str((await db.get(Visit, visit_id, populate_existing=True)).planned_on) == "2026-12-07"
    assert await count(db, MutationRecord) == 7


async def test_two_pushes_of_the_same_mutations_at_once_apply_them_once(app, db, rep, shop) -> None:
    device, visit_id = uuid.uuid4(), uuid.uuid4()
    request = PushRequest(device_id=device, schema_version=SCHEMA_VERSION, app_version="test", mutations=[
        Mutation(id=1, name="visits.plan", args=plan(1, visit_id, shop.id)["args"]),
        Mutation(id=2, name="visits.check_in", args=check_in(2, visit_id)["args"]),
    ])  # fmt: skip
    registry, sessions = app.state["sync_commands"], app.state["alchemy"].get_session

    async def one_tab():
        try:
            return await pushing.push(sessions, rep.id, request, registry, Message.render)
        except pushing.SyncRefused as refused:  # SQLite's one writer may turn a tab away: it retries later
            assert refused.status_code == 503
            return None

    answers = [answer for answer in await asyncio.gather(one_tab(), one_tab()) if answer is not None]
    assert answers and all(answer.last_mutation_id == 2 for answer in answers)
    assert await count(db, Visit) == 1 and await count(db, MutationRecord) == 2
    assert (await db.get(Visit, visit_id)).status is VisitStatus.CHECKED_IN


async def test_a_change_after_a_push_is_newer_than_every_change_in_it(client, db, rep, shop) -> None:
    """A group counts change versions on in memory from one take of the counter; the counter must
    end past them all, or a later edit at the office would look older than the device's base and
    the device's next edit would overwrite it without a conflict."""
    await sign_in(client, rep.id)
    device = uuid.uuid4()

    def new_phone(number: int, base_version: int) -> dict:
        args = {"account_id": str(shop.id), "phone": f"0161 496 000{number}"}
        return {"id": number, "name": "accounts.update", "base_version": base_version, "args": args}

    answer = (await client.post("/sync/push", json=body(device, *[new_phone(n, shop.version) for n in (1, 2, 3)]))).json()  # fmt: skip
    versions = [result["outcome"]["version"] for result in answer["results"]]
    assert versions == sorted(set(versions)) and not any(
        "conflicts" in r["outcome"] for r in answer["results"]
    )
    await accounts.update(db, rep, shop.id, {"phone": "0161 496 9999"})  # at the office, afterwards
    await db.commit()
    answer = (await client.post("/sync/push", json=body(device, new_phone(4, versions[-1])))).json()
    conflict = answer["results"][0]["outcome"]["conflicts"][0]
    assert (conflict["field"], conflict["server"], conflict["yours"]) == (
        "phone",
        "0161 496 9999",
        "0161 496 0004",
    )


async def test_a_device_belongs_to_the_person_it_first_synced_for(client, db, rep, shop) -> None:
    colleague = await make_user(db, Role.REP, await make_team(db))
    device = uuid.uuid4()
    await sign_in(client, rep.id)
    await client.post("/sync/push", json=body(device))
    await sign_in(client, colleague.id)
    refused = await client.post("/sync/push", json=body(device, plan(1, uuid.uuid4(), shop.id)))
    assert (refused.status_code, refused.json()["code"]) == (409, "device_reset")


async def test_an_old_app_is_told_to_update_and_loses_nothing(client, db, rep, shop) -> None:
    await sign_in(client, rep.id)
    device = uuid.uuid4()
    old = await client.post("/sync/push", json=body(device, plan(1, uuid.uuid4(), shop.id), schema_version=0))
    assert (old.status_code, old.json()["code"]) == (426, "update_required")
    assert await count(db, Visit) == 0  # the device keeps mutation 1 and sends it after updating


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"device_id": "not-a-uuid", "schema_version": 1, "app_version": "x", "mutations": []}, 400),
        (
            {
                "device_id": str(uuid.uuid4()),
                "schema_version": 1,
                "app_version": "x",
                "mutations": [{"id": 1}],
            },
            400,
        ),
        (
            {
                "device_id": str(uuid.uuid4()),
                "schema_version": 1,
                "app_version": "x",
                "mutations": [{"id": 2, "name": "a", "args": {}}, {"id": 1, "name": "b", "args": {}}],
            },
            400,
        ),
    ],
)
async def test_malformed_pushes_get_a_4xx_and_change_nothing(client, db, rep, payload, status) -> None:
    await sign_in(client, rep.id)
    response = await client.post("/sync/push", json=payload)
    assert response.status_code == status
    assert await count(db, Device) == 0 or payload["mutations"] == []


async def test_only_json_from_a_signed_in_active_person(client, db, rep) -> None:
    anonymous = await client.post("/sync/push", json=body(uuid.uuid4()))
    # Not signed in: the device keeps what it holds and asks the person to sign in again.
    assert (anonymous.status_code, anonymous.json().get("errors")) == (401, None)
    await sign_in(client, rep.id)
    form = await client.post("/sync/push", data={"device_id": str(uuid.uuid4())})
    assert form.status_code in {400, 415}
    rep.is_active = False
    await db.commit()
    deactivated = await client.post("/sync/push", json=body(uuid.uuid4()))
    # Deactivated: the device wipes what it holds for this person.
    assert (deactivated.status_code, deactivated.json()["errors"]) == (401, {"reason": "account_inactive"})
