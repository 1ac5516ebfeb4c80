"""Contacts: added and edited from the account page, always within the account's scope."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from server.contacts import service as contacts
from server.contacts.models import Contact
from server.db import new_id
from server.errors import NotFound, ValidationError
from tests.conftest import sign_in
from tests.factories import make_account, make_contact, make_user


async def test_add_a_contact_from_the_account_page(client, db) -> None:
    rep = await make_user(db)
    account = await make_account(db, rep, name="Didsbury Deli")
    token = await sign_in(client, rep.id)

    form = await client.get(f"/accounts/{account.id}/contacts/new")
    assert "Didsbury Deli" in form.text
    record_id = str(new_id())
    data = {"_csrf_token": token, "id": record_id, "name": "Grace Hall", "title": "Buyer",
            "phone": "07700 900123", "email": "Grace@Deli.example"}  # fmt: skip
    response = await client.post(f"/accounts/{account.id}/contacts", data=data)
    assert response.status_code == 303
    again = await client.post(f"/accounts/{account.id}/contacts", data=data)
    assert again.status_code == 303
    assert await db.scalar(select(func.count()).select_from(Contact)) == 1

    page = await client.get(f"/accounts/{account.id}")
    assert "Grace Hall" in page.text and "grace@deli.example" in page.text


async def test_contact_errors_show_by_the_field_and_save_nothing(client, db) -> None:
    rep = await make_user(db)
    account = await make_account(db, rep)
    token = await sign_in(client, rep.id)
    response = await client.post(
        f"/accounts/{account.id}/contacts", data={"_csrf_token": token, "name": "", "email": "not-an-email"}
    )
    assert response.status_code == 422
    assert 'id="error-name"' in response.text and 'id="error-email"' in response.text
    assert await db.scalar(select(func.count()).select_from(Contact)) == 0


async def test_edit_a_contact(client, db) -> None:
    rep = await make_user(db)
    account = await make_account(db, rep)
    contact = await make_contact(db, rep, account, name="Old", phone="0161 496 0000")
    token = await sign_in(client, rep.id)
    form = await client.get(f"/contacts/{contact.id}/edit")
    assert 'value="Old"' in form.text
    response = await client.post(
        f"/contacts/{contact.id}/edit", data={"_csrf_token": token, "name": "New", "phone": "0161 496 1111"}
    )
    assert response.status_code == 303
    await db.refresh(contact)
    assert (contact.name, contact.phone_digits) == ("New", "01614961111")


async def test_contacts_of_another_reps_account_are_out_of_reach(client, db) -> None:
    rep, other = await make_user(db), await make_user(db)
    account = await make_account(db, other)
    contact = await make_contact(db, other, account, name="Hidden")
    token = await sign_in(client, rep.id)
    html = {"Accept": "text/html"}
    assert (await client.get(f"/contacts/{contact.id}/edit", headers=html)).status_code == 404
    assert (await client.get(f"/accounts/{account.id}/contacts/new", headers=html)).status_code == 404
    created = await client.post(
        f"/accounts/{account.id}/contacts", data={"_csrf_token": token, "name": "Sneaky"}
    )
    assert created.status_code == 404
    assert await db.scalar(select(func.count()).select_from(Contact)) == 1

    with pytest.raises(NotFound):
        await contacts.update(db, rep, contact.id, {"name": "Renamed"})


async def test_contact_commands_validate_partial_edits(db) -> None:
    rep = await make_user(db)
    account = await make_account(db, rep)
    contact = await make_contact(db, rep, account, name="Kofi Evans", email="kofi@example.test")
    await contacts.update(db, rep, contact.id, {"title": "Owner"})
    await db.commit()
    assert (contact.name, contact.title, contact.email) == ("Kofi Evans", "Owner", "kofi@example.test")
    with pytest.raises(ValidationError):
        await contacts.update(db, rep, contact.id, {"email": "nope"})
