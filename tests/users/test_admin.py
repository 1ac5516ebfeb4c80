"""Admins manage people from their phone: find, invite, change role and team, deactivate."""

from __future__ import annotations

import uuid

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from server.app import create_app
from server.audit.models import AuditEvent
from server.db import new_id
from server.users.models import Role, User
from tests.conftest import sign_in
from tests.factories import make_team, make_user

HTML = {"Accept": "text/html"}


async def test_only_admins_reach_user_administration(client, db) -> None:
    for role in (Role.REP, Role.MANAGER):
        await sign_in(client, (await make_user(db, role)).id)
        assert (await client.get("/admin/users", headers=HTML)).status_code == 403
        assert (await client.get("/admin/audit", headers=HTML)).status_code == 403


async def test_list_search_and_filter_people(client, db) -> None:
    admin = await make_user(db, Role.ADMIN, name="Ada Admin")
    await make_user(db, Role.MANAGER, name="Mo Manager", email="mo@example.test")
    await make_user(db, Role.REP, name="Rae Rep", is_active=False)
    await sign_in(client, admin.id)

    everyone = await client.get("/admin/users")
    for name in ("Ada Admin", "Mo Manager", "Rae Rep"):
        assert name in everyone.text
    found = await client.get(
        "/admin/users", params={"q": "mo@ex"}, headers={"HX-Request": "true", "HX-Target": "user-results"}
    )
    assert "Mo Manager" in found.text and "Rae Rep" not in found.text and "<h1" not in found.text
    inactive = await client.get("/admin/users", params={"status": "inactive"})
    assert "Rae Rep" in inactive.text and "Mo Manager" not in inactive.text
    managers = await client.get("/admin/users", params={"role": "manager"})
    assert "Mo Manager" in managers.text and "Ada Admin" not in managers.text


async def test_invite_someone_with_a_role_and_team(client, db) -> None:
    admin = await make_user(db, Role.ADMIN)
    team = await make_team(db, "South")
    token = await sign_in(client, admin.id)
    record_id = str(new_id())
    response = await client.post(
        "/admin/users/invite",
        data={"_csrf_token": token, "id": record_id, "name": "Nia New", "email": "Nia@Example.test",
              "role": "manager", "team_id": str(team.id)},
    )  # fmt: skip
    assert response.status_code == 303
    invited = await db.get(User, uuid.UUID(record_id))
    assert (invited.email, invited.role, invited.team_id, invited.invited) == (
        "nia@example.test",
        Role.MANAGER,
        team.id,
        True,
    )

    duplicate = await client.post(
        "/admin/users/invite",
        data={"_csrf_token": token, "name": "Again", "email": "nia@example.test", "role": "rep"},
    )
    assert duplicate.status_code == 422 and "already has this email" in duplicate.text
    assert await db.scalar(select(func.count()).select_from(User)) == 2


async def test_change_role_team_and_manager_and_it_is_audited(client, db) -> None:
    admin = await make_user(db, Role.ADMIN)
    team = await make_team(db, "North")
    boss = await make_user(db, Role.MANAGER, team, name="Boss")
    rep = await make_user(db, Role.REP, name="Riley")
    token = await sign_in(client, admin.id)

    response = await client.post(
        f"/admin/users/{rep.id}",
        data={"_csrf_token": token, "name": "Riley", "email": rep.email, "role": "rep",
              "team_id": str(team.id), "manager_id": str(boss.id)},
    )  # fmt: skip
    assert response.status_code == 303
    await db.refresh(rep)
    assert (rep.team_id, rep.manager_id) == (team.id, boss.id)
    event = await db.scalar(select(AuditEvent).where(AuditEvent.action == "users.change"))
    assert event.actor_id == admin.id and event.record_id == rep.id
    assert event.before == {"team_id": None, "manager_id": None}
    assert event.after == {"team_id": str(team.id), "manager_id": str(boss.id)}

    not_a_manager = await client.post(
        f"/admin/users/{boss.id}", data={"_csrf_token": token, "manager_id": str(rep.id), "name": "Boss",
                                         "email": boss.email, "role": "manager"},
    )  # fmt: skip
    assert not_a_manager.status_code == 422 and 'id="error-manager_id"' in not_a_manager.text


async def test_deactivate_ends_their_session_and_reactivate_lets_them_back(client, db, settings) -> None:
    admin = await make_user(db, Role.ADMIN)
    rep = await make_user(db, Role.REP, name="Soon Gone")
    # The rep's phone: a second server process on the same database.
    async with AsyncTestClient(app=create_app(settings), base_url="http://127.0.0.1:8000") as rep_phone:
        rep_phone.follow_redirects = False
        await sign_in(rep_phone, rep.id)
        assert (await rep_phone.get("/more")).status_code == 200

        token = await sign_in(client, admin.id)
        response = await client.post(
            f"/admin/users/{rep.id}/active", data={"_csrf_token": token, "active": "0"}
        )
        assert response.status_code == 303
        assert (await rep_phone.get("/more", headers=HTML)).status_code == 303  # signed out at once

        await client.post(f"/admin/users/{rep.id}/active", data={"_csrf_token": token, "active": "1"})
        await sign_in(rep_phone, rep.id)
        assert (await rep_phone.get("/more")).status_code == 200
    actions = list(await db.scalars(select(AuditEvent.action).where(AuditEvent.record_id == rep.id)))
    assert "users.deactivate" in actions and "users.reactivate" in actions


async def test_admins_cannot_lock_themselves_out(client, db) -> None:
    admin = await make_user(db, Role.ADMIN)
    token = await sign_in(client, admin.id)
    response = await client.post(
        f"/admin/users/{admin.id}/active", data={"_csrf_token": token, "active": "0"}
    )
    assert response.status_code == 422 and "cannot deactivate yourself" in response.text
    demote = await client.post(
        f"/admin/users/{admin.id}",
        data={"_csrf_token": token, "role": "rep", "name": admin.name, "email": admin.email},
    )
    assert demote.status_code == 422
    await db.refresh(admin)
    assert admin.is_active and admin.role is Role.ADMIN
