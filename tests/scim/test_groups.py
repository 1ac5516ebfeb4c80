"""SCIM groups: what the identity provider's groups mean in Fieldbook (roles and teams)."""

from __future__ import annotations

from dataclasses import replace

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from server.app import create_app
from server.users.models import Group, Role, Team, User
from tests.factories import make_team, make_user
from tests.scim.conftest import SCIM, fresh, group_payload, patch, user_payload


async def provision(client, headers, email: str) -> str:
    response = await client.post(f"{SCIM}/Users", headers=headers, json=user_payload(email))
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def new_group(client, headers, name: str, *members: str) -> dict:
    response = await client.post(f"{SCIM}/Groups", headers=headers, json=group_payload(name, *members))
    assert response.status_code == 201, response.text
    return response.json()


def remove_member(user_id: str) -> dict:
    return patch({"op": "remove", "path": f'members[value eq "{user_id}"]'})


def add_member(user_id: str) -> dict:
    return patch({"op": "add", "path": "members", "value": [{"value": user_id}]})


async def role_of(db, user_id: str) -> Role:
    return (await fresh(db, User, user_id)).role


async def test_role_groups_give_and_take_roles(client, db, scim_headers) -> None:
    ann = await provision(client, scim_headers, "ann@example.com")
    managers = await new_group(client, scim_headers, "fieldbook-managers", ann)
    assert managers["members"] == [{"value": ann, "$ref": f"http://127.0.0.1:8000{SCIM}/Users/{ann}"}]
    assert await role_of(db, ann) is Role.MANAGER
    user = (await client.get(f"{SCIM}/Users/{ann}", headers=scim_headers)).json()
    assert [(g["value"], g["display"]) for g in user["groups"]] == [(managers["id"], "fieldbook-managers")]

    admins = await new_group(client, scim_headers, "fieldbook-admins")
    await client.patch(f"{SCIM}/Groups/{admins['id']}", headers=scim_headers, json=add_member(ann))
    assert await role_of(db, ann) is Role.ADMIN  # the highest role of their groups
    await client.patch(f"{SCIM}/Groups/{admins['id']}", headers=scim_headers, json=remove_member(ann))
    assert await role_of(db, ann) is Role.MANAGER

    # Microsoft Entra removes members with a value rather than a path filter.
    entra = patch({"op": "Remove", "path": "members", "value": [{"value": ann}]})
    assert (
        await client.patch(f"{SCIM}/Groups/{managers['id']}", headers=scim_headers, json=entra)
    ).status_code == 204
    assert await role_of(db, ann) is Role.REP  # no role group left: back to the least access
    group = (await client.get(f"{SCIM}/Groups/{managers['id']}", headers=scim_headers)).json()
    assert "members" not in group
    assert "groups" not in (await client.get(f"{SCIM}/Users/{ann}", headers=scim_headers)).json()


async def test_other_groups_leave_a_given_role_alone(client, db, scim_headers) -> None:
    mo = await make_user(db, Role.MANAGER, email="mo@example.com")  # an administrator made Mo a manager
    sales = await new_group(client, scim_headers, "sales-emea", str(mo.id))
    await client.patch(f"{SCIM}/Groups/{sales['id']}", headers=scim_headers, json=remove_member(str(mo.id)))
    assert await role_of(db, mo.id) is Role.MANAGER

    reps = await new_group(client, scim_headers, "fieldbook-reps", str(mo.id))
    assert await role_of(db, mo.id) is Role.REP  # the identity provider says rep now
    await client.put(
        f"{SCIM}/Groups/{reps['id']}", headers=scim_headers, json=group_payload("fieldbook-managers", mo.id)
    )
    assert await role_of(db, mo.id) is Role.MANAGER  # renaming the group changes what it gives
    assert (await client.delete(f"{SCIM}/Groups/{reps['id']}", headers=scim_headers)).status_code == 204
    assert await role_of(db, mo.id) is Role.REP
    assert (await client.get(f"{SCIM}/Groups/{reps['id']}", headers=scim_headers)).status_code == 404
    assert (await fresh(db, Group, reps["id"])).deleted_at is not None  # a tombstone, not gone
    again = await client.post(
        f"{SCIM}/Groups", headers=scim_headers, json=group_payload("fieldbook-managers")
    )
    assert again.status_code == 201  # its name is free again


async def test_team_groups_put_people_in_teams(client, db, scim_headers) -> None:
    north = await make_team(db, "North")
    ann = await provision(client, scim_headers, "ann@example.com")
    await new_group(client, scim_headers, "team:North", ann)
    assert (await fresh(db, User, ann)).team_id == north.id  # the existing team

    south = await new_group(client, scim_headers, "team:South", ann)
    user = await fresh(db, User, ann)
    team = await db.get(Team, user.team_id)
    assert team.name == "South"  # made on the way; the team joined last wins
    await client.patch(f"{SCIM}/Groups/{south['id']}", headers=scim_headers, json=remove_member(ann))
    assert (await fresh(db, User, ann)).team_id == north.id
    assert (await fresh(db, User, ann)).role is Role.REP  # team groups give no role


async def test_a_group_is_one_transaction(client, db, scim_headers) -> None:
    ann = await provision(client, scim_headers, "ann@example.com")
    unknown = "01a20000-0000-7000-8000-000000000000"
    refused = await client.post(
        f"{SCIM}/Groups", headers=scim_headers, json=group_payload("fieldbook-admins", ann, unknown)
    )
    assert refused.status_code == 400 and unknown in refused.json()["detail"]
    assert await db.scalar(select(func.count()).select_from(Group)) == 0
    assert await role_of(db, ann) is Role.REP

    await new_group(client, scim_headers, "Sales")
    taken = await client.post(f"{SCIM}/Groups", headers=scim_headers, json=group_payload("SALES"))
    assert taken.status_code == 409 and taken.json()["scimType"] == "uniqueness"
    found = await client.get(
        f"{SCIM}/Groups", headers=scim_headers, params={"filter": 'displayName eq "sales"'}
    )
    assert [g["displayName"] for g in found.json()["Resources"]] == ["Sales"]


async def test_deleting_a_user_takes_them_out_of_their_groups(client, db, scim_headers) -> None:
    ann = await provision(client, scim_headers, "ann@example.com")
    bob = await provision(client, scim_headers, "bob@example.com")
    group = await new_group(client, scim_headers, "fieldbook-managers", ann, bob)
    await client.delete(f"{SCIM}/Users/{ann}", headers=scim_headers)

    after = (await client.get(f"{SCIM}/Groups/{group['id']}", headers=scim_headers)).json()
    assert [m["value"] for m in after["members"]] == [bob]
    assert after["meta"]["version"] != group["meta"]["version"]
    shown = await client.get(
        f"{SCIM}/Groups/{group['id']}", headers=scim_headers, params={"attributes": "members.display"}
    )
    assert shown.json()["members"] == [{"display": "bob@example.com"}]


async def test_group_names_follow_the_settings(settings, db, scim_headers) -> None:
    """Another organisation's group names (FIELDBOOK_ROLE_GROUPS, FIELDBOOK_TEAM_GROUP_PREFIX)."""
    ours = replace(settings, role_groups={"Sales Leads": "manager"}, team_group_prefix="Team - ")
    async with AsyncTestClient(app=create_app(ours), base_url="http://127.0.0.1:8000") as client:
        ann = await provision(client, scim_headers, "ann@example.com")
        await new_group(client, scim_headers, "Sales Leads", ann)
        await new_group(client, scim_headers, "Team - East", ann)
        await new_group(client, scim_headers, "fieldbook-admins", ann)
    user = await fresh(db, User, ann)
    assert user.role is Role.MANAGER
    assert (await db.get(Team, user.team_id)).name == "East"
