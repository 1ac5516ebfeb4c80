"""Admins read the audit log, filtered by person, record and action."""

from __future__ import annotations

from server.accounts import service as accounts
from server.users.models import Role
from tests.conftest import sign_in
from tests.factories import make_account, make_user


async def test_the_log_shows_who_changed_what_from_what_to_what(client, db) -> None:
    admin = await make_user(db, Role.ADMIN, email="ada@example.test")
    rep = await make_user(db, Role.REP, name="Rae Rep", email="rae@example.test")
    account = await make_account(db, rep, name="Heaton Florist", city="Stockport")
    await accounts.update(db, rep, account.id, {"city": "Didsbury"})
    await db.commit()
    await sign_in(client, admin.id)

    page = await client.get("/admin/audit")
    assert page.status_code == 200
    assert "accounts.update" in page.text and "accounts.create" in page.text
    assert "<del>Stockport</del>" in page.text and "<ins>Didsbury</ins>" in page.text
    assert "Rae Rep" in page.text

    by_record = await client.get(
        "/admin/audit", params={"record": str(account.id), "action": "accounts.update"}
    )
    assert "1 event" in by_record.text
    by_person = await client.get("/admin/audit", params={"who": "ada@example.test"})
    assert "1 event" in by_person.text and "users.sign_in" in by_person.text  # her own sign-in, nothing else
    by_rep = await client.get("/admin/audit", params={"who": "rae@example.test"})
    assert "2 events" in by_rep.text


async def test_bad_filters_say_what_is_wrong(client, db) -> None:
    await sign_in(client, (await make_user(db, Role.ADMIN)).id)
    page = await client.get("/admin/audit", params={"who": "nobody@example.test", "record": "not-an-id"})
    assert page.status_code == 200
    assert "Nobody has this email address." in page.text and "That is not a record id." in page.text
