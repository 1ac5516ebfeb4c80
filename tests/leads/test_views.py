"""Lead pages over HTTP: capture with duplicate hints, the list by score, the lead page and conversion."""

from __future__ import annotations

from server.leads.models import Lead
from server.users.models import Role
from tests.conftest import sign_in
from tests.factories import make_account, make_contact, make_team, make_user


async def test_typing_a_known_phone_shows_the_contact_before_saving(client, db) -> None:
    rep = await make_user(db, Role.REP, await make_team(db))
    account = await make_account(db, rep, name="Mill Bakery")
    await make_contact(db, rep, account, name="Jo Baker", phone="0161 496 0123")
    await sign_in(client, rep.id)
    hint = await client.get(
        "/leads/matches", params={"phone": "+44 161 496 0123"}, headers={"HX-Request": "true"}
    )
    assert hint.status_code == 200
    assert (
        "Possibly already known: 1 match" in hint.text
        and "Jo Baker" in hint.text
        and "same phone" in hint.text
    )
    nothing = await client.get(
        "/leads/matches", params={"company": "Nobody Alike"}, headers={"HX-Request": "true"}
    )
    assert "No similar leads, accounts or contacts." in nothing.text


async def test_capture_refuses_with_the_reason_then_saves_and_shows_the_score(client, db) -> None:
    rep = await make_user(db, Role.REP, await make_team(db))
    token = await sign_in(client, rep.id)
    form = (await client.get("/leads/new")).text
    assert 'name="id"' in form
    refused = await client.post("/leads", data={"_csrf_token": token, "name": "Sam"})
    assert refused.status_code == 422 and "Give a phone number or an email address." in refused.text
    saved = await client.post("/leads", data={"_csrf_token": token, "name": "Sam", "company": "Patel Stores",
                                               "phone": "07700 900123", "source": "referral"})  # fmt: skip
    assert saved.status_code == 303
    page = (await client.get(saved.headers["location"])).text
    assert "Score 60 of 100" in page and "Patel Stores" in page
    assert "Patel Stores" in (await client.get("/leads")).text


async def test_convert_from_the_lead_page_opens_the_new_account(client, db) -> None:
    rep = await make_user(db, Role.REP, await make_team(db))
    token = await sign_in(client, rep.id)
    saved = await client.post("/leads", data={"_csrf_token": token, "name": "Sam", "company": "Patel Stores",
                                               "phone": "07700 900123"})  # fmt: skip
    lead_path = saved.headers["location"]
    converted = await client.post(f"{lead_path}/convert", data={"_csrf_token": token, "account_id": ""})
    assert converted.status_code == 303 and converted.headers["location"].startswith("/accounts/")
    account_page = (await client.get(converted.headers["location"])).text
    assert "Patel Stores" in account_page and "Sam" in account_page
    lead = await db.get(Lead, lead_path.rsplit("/", 1)[1])
    assert lead.status.value == "converted"
