"""Account pages over HTTP, as the browser and htmx ask for them."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from server.accounts.models import Account
from server.db import new_id
from server.users.models import Role
from tests.conftest import csrf_token, sign_in
from tests.factories import make_account, make_team, make_user

HTMX_NAV = {"HX-Request": "true", "HX-Target": "main"}


async def test_list_shows_only_the_reps_accounts_alphabetically(client, db) -> None:
    rep, other = await make_user(db), await make_user(db)
    await make_account(db, rep, name="Zeta Tools")
    await make_account(db, rep, name="alpha Cafe")
    await make_account(db, other, name="Not Mine")
    await sign_in(client, rep.id)

    page = await client.get("/accounts")
    assert page.status_code == 200
    text = page.text
    assert text.index("alpha Cafe") < text.index("Zeta Tools")
    assert "Not Mine" not in text
    assert "2 accounts" in text


async def test_search_as_you_type_returns_only_the_result_list(client, db) -> None:
    rep = await make_user(db)
    await make_account(db, rep, name="Heaton Florist", city="Stockport")
    await make_account(db, rep, name="Gorton Garage", city="Manchester")
    await sign_in(client, rep.id)

    response = await client.get(
        "/accounts", params={"q": "stock"}, headers={"HX-Request": "true", "HX-Target": "account-results"}
    )
    assert response.status_code == 200
    assert "Heaton Florist" in response.text
    assert "Gorton Garage" not in response.text
    assert "<html" not in response.text and "<h1" not in response.text
    assert "HX-Request" in response.headers["vary"]


async def test_paging_serves_the_next_rows_with_a_link_for_more(client, db) -> None:
    rep = await make_user(db)
    for number in range(30):
        await make_account(db, rep, name=f"Shop {number:02d}")
    await sign_in(client, rep.id)

    first = await client.get("/accounts")
    assert "Shop 24" in first.text and "Shop 25" not in first.text
    assert 'href="/accounts?q=&amp;offset=25"' in first.text  # works without JavaScript too

    more = await client.get(
        "/accounts", params={"offset": 25}, headers={"HX-Request": "true", "HX-Target": "account-more"}
    )
    assert "Shop 25" in more.text and "Shop 29" in more.text and "Shop 24" not in more.text
    assert 'id="account-more"' not in more.text  # nothing after the last page


async def test_bad_paging_input_is_a_clear_400_not_a_crash(client, db) -> None:
    await sign_in(client, (await make_user(db)).id)
    response = await client.get("/accounts", params={"offset": "-5"}, headers={"Accept": "text/html"})
    assert response.status_code == 400
    assert "could not be understood" in response.text


async def test_create_with_errors_shows_them_by_the_fields_and_saves_nothing(client, db) -> None:
    rep = await make_user(db)
    token = await sign_in(client, rep.id)
    form = await client.get("/accounts/new")
    assert 'name="id"' in form.text

    response = await client.post(
        "/accounts",
        data={"_csrf_token": token, "id": str(new_id()), "name": "", "latitude": "95", "longitude": "1"},
    )
    assert response.status_code == 422
    assert 'id="error-name"' in response.text and "This field is required." in response.text
    assert 'id="error-latitude"' in response.text
    assert 'aria-invalid="true"' in response.text
    assert 'value="95"' in response.text  # what the rep typed is kept
    assert await db.scalar(select(func.count()).select_from(Account)) == 0


async def test_create_then_see_it_and_a_double_submit_makes_one(client, db) -> None:
    rep = await make_user(db)
    token = await sign_in(client, rep.id)
    record_id = str(new_id())
    data = {
        "_csrf_token": token,
        "id": record_id,
        "name": "Castlefield Bistro",
        "city": "Manchester",
        "tier": "B",
    }

    first = await client.post("/accounts", data=data)
    second = await client.post("/accounts", data=data)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == f"/accounts/{record_id}"
    assert await db.scalar(select(func.count()).select_from(Account)) == 1

    page = await client.get(f"/accounts/{record_id}")
    assert "Castlefield Bistro" in page.text
    assert "Account Castlefield Bistro saved." in page.text


async def test_htmx_create_navigates_with_hx_location(client, db) -> None:
    rep = await make_user(db)
    token = await sign_in(client, rep.id)
    record_id = str(new_id())
    response = await client.post(
        "/accounts", data={"id": record_id, "name": "Via htmx"}, headers={**HTMX_NAV, "x-csrftoken": token}
    )
    assert response.status_code == 200
    location = json.loads(response.headers["hx-location"])
    assert location == {"path": f"/accounts/{record_id}", "target": "#main", "swap": "innerHTML"}


async def test_edit_changes_the_account(client, db) -> None:
    rep = await make_user(db)
    account = await make_account(db, rep, name="Old Name", city="Bury")
    token = await sign_in(client, rep.id)
    form = await client.get(f"/accounts/{account.id}/edit")
    assert 'value="Old Name"' in form.text

    response = await client.post(
        f"/accounts/{account.id}/edit",
        data={"_csrf_token": token, "name": "New Name", "city": "Bury", "tier": "A"},
    )
    assert response.status_code == 303
    page = await client.get(f"/accounts/{account.id}")
    assert "New Name" in page.text

    refused = await client.post(
        f"/accounts/{account.id}/edit", data={"_csrf_token": token, "name": "", "tier": "A"}
    )
    assert refused.status_code == 422
    await db.refresh(account)
    assert account.name == "New Name"


async def test_another_reps_account_is_not_found(client, db) -> None:
    rep, other = await make_user(db), await make_user(db)
    theirs = await make_account(db, other, name="Theirs")
    token = await sign_in(client, rep.id)
    headers = {"Accept": "text/html"}
    assert (await client.get(f"/accounts/{theirs.id}", headers=headers)).status_code == 404
    assert (await client.get(f"/accounts/{theirs.id}/edit", headers=headers)).status_code == 404
    response = await client.post(
        f"/accounts/{theirs.id}/edit", data={"_csrf_token": token, "name": "Mine now"}
    )
    assert response.status_code == 404
    await db.refresh(theirs)
    assert theirs.name == "Theirs"


async def test_managers_choose_an_owner_from_their_team(client, db) -> None:
    team = await make_team(db)
    manager = await make_user(db, Role.MANAGER, team)
    rep = await make_user(db, Role.REP, team, name="Priya Patel")
    outsider = await make_user(db, Role.REP, await make_team(db), name="Someone Else")
    token = await sign_in(client, manager.id)

    form = await client.get("/accounts/new")
    assert "Priya Patel" in form.text and "Someone Else" not in form.text

    refused = await client.post(
        "/accounts", data={"_csrf_token": token, "name": "X", "owner_id": str(outsider.id)}
    )
    assert refused.status_code == 422 and 'id="error-owner_id"' in refused.text
    created = await client.post(
        "/accounts", data={"_csrf_token": token, "name": "For Priya", "owner_id": str(rep.id)}
    )
    assert created.status_code == 303
    assert (await db.scalar(select(Account.owner_id).where(Account.name == "For Priya"))) == rep.id


async def test_forms_without_the_csrf_token_are_refused(client, db) -> None:
    await sign_in(client, (await make_user(db)).id)
    response = await client.post("/accounts", data={"name": "Forged"})
    assert response.status_code == 403
    assert await db.scalar(select(func.count()).select_from(Account)) == 0


async def test_the_page_token_works_as_htmx_header(client, db) -> None:
    await sign_in(client, (await make_user(db)).id)
    token = csrf_token((await client.get("/accounts/new")).text)
    response = await client.post("/accounts", data={"name": "Header Token"}, headers={"x-csrftoken": token})
    assert response.status_code == 303


async def test_the_account_page_title_is_the_account_name(client, db) -> None:
    rep = await make_user(db)
    account = await make_account(db, rep, name="Heaton Florist")
    await sign_in(client, rep.id)
    page = await client.get(f"/accounts/{account.id}")
    assert "<title>Heaton Florist · Fieldbook</title>" in page.text
