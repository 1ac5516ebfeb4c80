"""Quotes offline: a rep's phone drafts and submits a quote, a manager's phone decides it, both
through the sync protocol; replays decide nothing twice and each phone pulls what it may see."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import func, select

from server.quotes.models import ApprovalStatus, Quote, QuoteEvent, QuoteStatus
from tests.conftest import sign_in
from tests.quotes.conftest import quote_form


async def push(client, device: uuid.UUID, *mutations: dict) -> dict:
    body = {
        "device_id": str(device),
        "schema_version": 1,
        "app_version": "test",
        "mutations": list(mutations),
    }
    answer = await client.post("/sync/push", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def pull(client, device: uuid.UUID) -> dict[str, dict]:
    body = {"device_id": str(device), "schema_version": 1, "app_version": "test", "cursor": None}
    answer = (await client.post("/sync/pull", json=body)).json()
    return {f"{c['kind']}/{c['id']}": c.get("data") for c in answer["changes"] if c["op"] == "put"}


async def test_a_quote_drafted_and_decided_offline_reaches_the_server_once(client, db, world) -> None:
    quote_id, rep_phone, manager_phone = str(uuid.uuid4()), uuid.uuid4(), uuid.uuid4()
    draft = quote_form(world, ("widget", "10", "12")) | {"id": quote_id}
    await sign_in(client, world["rep"].id)
    held = await pull(client, rep_phone)
    assert f"products/{world['widget'].id}" in held and any(key.startswith("approval_rules/") for key in held)
    answer = await push(client, rep_phone,
        {"id": 1, "name": "quotes.create", "args": draft},
        {"id": 2, "name": "quotes.submit", "args": {"quote_id": quote_id, "comment": "New customer"}},
    )  # fmt: skip
    assert [r["status"] for r in answer["results"]] == ["applied", "applied"]

    await sign_in(client, world["manager"].id)
    on_phone = (await pull(client, manager_phone))[f"quotes/{quote_id}"]
    assert (on_phone["status"], Decimal(on_phone["total"]), on_phone["comment"]) == (
        "pending",
        880,
        "New customer",
    )
    assert [(line["code"], Decimal(line["amount"])) for line in on_phone["lines"]] == [("W-1", 880)]
    assert [(step["level"], step["status"]) for step in on_phone["approvals"]] == [("manager", "waiting")]
    decision = {
        "id": 1,
        "name": "quotes.approve",
        "args": {"quote_id": quote_id, "revision": on_phone["revision"]},
    }
    assert (await push(client, manager_phone, decision))["results"][0]["status"] == "applied"
    replayed = await push(client, manager_phone, decision)  # the answer was lost: the same mutation again
    assert replayed["results"][0]["status"] == "applied" and replayed["last_mutation_id"] == 1

    await sign_in(client, world["rep"].id)
    assert (await pull(client, rep_phone))[f"quotes/{quote_id}"]["status"] == "approved"
    assert await db.scalar(select(func.count()).select_from(Quote)) == 1
    assert (
        await db.scalar(select(func.count()).select_from(QuoteEvent).where(QuoteEvent.action == "approved"))
        == 1
    )


async def test_a_stale_offline_decision_is_refused_with_its_reason_and_does_not_jam_the_queue(
    client, db, world
) -> None:
    quote_id, rep_phone, manager_phone = str(uuid.uuid4()), uuid.uuid4(), uuid.uuid4()
    await sign_in(client, world["rep"].id)
    await push(client, rep_phone,
        {"id": 1, "name": "quotes.create", "args": quote_form(world, ("widget", "10", "12")) | {"id": quote_id}},
        {"id": 2, "name": "quotes.submit", "args": {"quote_id": quote_id}},
    )  # fmt: skip
    await sign_in(client, world["manager"].id)
    seen = (await pull(client, manager_phone))[f"quotes/{quote_id}"]["revision"]
    # Meanwhile the rep changes the quote and submits it again.
    await sign_in(client, world["rep"].id)
    changed = quote_form(world, ("widget", "20", "12")) | {"quote_id": quote_id}
    await push(client, rep_phone, {"id": 3, "name": "quotes.update", "args": changed},
               {"id": 4, "name": "quotes.submit", "args": {"quote_id": quote_id}})  # fmt: skip
    await sign_in(client, world["manager"].id)
    answer = await push(client, manager_phone,
        {"id": 1, "name": "quotes.approve", "args": {"quote_id": quote_id, "revision": seen}},
        {"id": 2, "name": "reminders.create", "args": {"id": str(uuid.uuid4()), "title": "Call Rita", "due_on": "2030-01-01"}},
    )  # fmt: skip
    refused, after = answer["results"]
    assert (
        refused["status"] == "rejected"
        and "changed since you opened it" in refused["outcome"]["fields"]["revision"]
    )
    assert after["status"] == "applied"
    quote = await db.get(Quote, uuid.UUID(quote_id))
    await db.refresh(quote)
    assert quote.status is QuoteStatus.PENDING


async def test_a_phone_holds_only_the_quotes_its_person_may_see(client, db, world) -> None:
    from server.quotes import service as quotes

    mine = await quotes.create(db, world["rep"], quote_form(world, ("bolt", "1", "0")))
    theirs = await quotes.create(
        db,
        world["other_rep"],
        quote_form(world, ("bolt", "1", "0")) | {"account_id": str(world["other_account"].id)},
    )
    await db.commit()
    await sign_in(client, world["colleague"].id)
    assert not [key for key in await pull(client, uuid.uuid4()) if key.startswith("quotes/")]
    await sign_in(client, world["manager"].id)
    held = await pull(client, uuid.uuid4())
    assert f"quotes/{mine.id}" in held and f"quotes/{theirs.id}" not in held


async def test_an_approval_step_travels_with_its_quote(client, db, world) -> None:
    from server.quotes import approvals
    from server.quotes import service as quotes

    quote = await quotes.create(db, world["rep"], quote_form(world, ("widget", "1", "30")))
    await approvals.submit(db, world["rep"], quote.id, {})
    await approvals.approve(db, world["manager"], quote.id, {"revision": 1})
    await db.commit()
    await sign_in(client, world["admin"].id)
    steps = (await pull(client, uuid.uuid4()))[f"quotes/{quote.id}"]["approvals"]
    assert [(s["level"], s["status"], s["decided_by_id"]) for s in steps] == [
        ("manager", ApprovalStatus.APPROVED.value, str(world["manager"].id)), ("admin", "waiting", None)]  # fmt: skip
