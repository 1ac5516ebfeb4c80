"""Admins read the audit log, filtered by person, record and action."""

from __future__ import annotations

from server.accounts import service as accounts
from server.audit import service as audit
from server.db import batched
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


async def test_a_batch_writes_its_audit_events_at_its_end_with_the_versions_they_commit_with(db) -> None:
    """A batch (a sync push's group, an import) holds its audit events back and writes them in one
    go at its end; each carries the version its change commits with. The sync merge asks for the
    changes since a version: within the batch it sees the other transactions' changes, not the
    batch's own (they are the device's own edits)."""
    rep = await make_user(db, Role.REP)
    account = await make_account(db, rep, name="Heaton Kiosk", city="Stockport")
    created = account.version
    async with batched(db):
        await accounts.update(db, rep, account.id, {"city": "Didsbury"})
        await accounts.update(db, rep, account.id, {"name": "Heaton Florist"})
        assert await audit.changed_since(db, account.id, created) == {}
        await accounts.update(db, rep, account.id, {"city": "Chorlton"})
    await db.commit()
    trail = await audit.events_for(db, account.id)
    assert [event.action for event in trail] == ["accounts.update"] * 3 + ["accounts.create"]
    versions = [event.record_version for event in trail]  # newest first, each its own
    assert versions == sorted(set(versions), reverse=True) and versions[0] == account.version
    assert await audit.changed_since(db, account.id, created) == {"city": "Stockport", "name": "Heaton Kiosk"}
