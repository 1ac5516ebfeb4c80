"""Provisioning people over SCIM, as the company's identity provider does it."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from server.audit.models import AuditEvent
from server.tokens import service as tokens
from server.tokens.models import TokenPurpose
from server.users.models import Role, User
from tests.conftest import csrf_token, sign_in
from tests.scim.conftest import SCIM, USER_SCHEMA, fresh, patch, user_payload

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
HTML = {"Accept": "text/html"}


async def count_users(db) -> int:
    return await db.scalar(select(func.count()).select_from(User))


async def test_create_read_and_find_a_user(client, db, scim_headers) -> None:
    created = await client.post(
        f"{SCIM}/Users",
        headers=scim_headers,
        json=user_payload(
            "Ann.Lee@Example.COM",
            name={"givenName": "Ann", "familyName": "Lee"},
            externalId="00u1ann",
            title="Field rep",  # an RFC 7643 attribute Fieldbook does not keep: accepted, dropped
            emails=[{"value": "ann.lee@example.com", "type": "work", "primary": True}],
        ),
    )
    assert created.status_code == 201, created.text
    assert created.headers["content-type"].startswith("application/scim+json")
    body = created.json()
    assert created.headers["location"] == f"http://127.0.0.1:8000{SCIM}/Users/{body['id']}"
    assert created.headers["etag"] == body["meta"]["version"]
    assert body["userName"] == "ann.lee@example.com"
    assert body["displayName"] == body["name"]["formatted"] == "Ann Lee"
    assert body["active"] is True and body["externalId"] == "00u1ann"
    assert body["emails"] == [{"value": "ann.lee@example.com", "type": "work", "primary": True}]
    assert "title" not in body and "groups" not in body

    user = await fresh(db, User, body["id"])
    assert (user.email, user.name, user.role, user.is_active) == (
        "ann.lee@example.com",
        "Ann Lee",
        Role.REP,
        True,
    )
    event = await db.scalar(select(AuditEvent).where(AuditEvent.record_id == user.id))
    assert event.action == "users.invite" and event.actor_id is None

    read = await client.get(f"{SCIM}/Users/{body['id']}", headers=scim_headers)
    assert read.status_code == 200 and read.json() == body

    found = await client.get(
        f"{SCIM}/Users", headers=scim_headers, params={"filter": 'userName eq "ANN.LEE@example.com"'}
    )
    assert found.status_code == 200
    assert found.json()["totalResults"] == 1 and found.json()["Resources"] == [body]
    for scim_filter in (
        'externalId eq "00u1ann"',
        'emails.value eq "ann.lee@example.com"',
        'displayName eq "ann lee"',
    ):
        found = await client.get(f"{SCIM}/Users", headers=scim_headers, params={"filter": scim_filter})
        assert [r["id"] for r in found.json()["Resources"]] == [body["id"]], scim_filter
    nobody = await client.get(
        f"{SCIM}/Users", headers=scim_headers, params={"filter": 'userName eq "bob@example.com"'}
    )
    assert nobody.json()["totalResults"] == 0 and nobody.json().get("Resources", []) == []


async def test_list_pages_and_sorts(client, db, scim_headers) -> None:
    ids = []
    for name in ("erin", "carol", "alice", "dave", "bob"):
        response = await client.post(
            f"{SCIM}/Users", headers=scim_headers, json=user_payload(f"{name}@example.com")
        )
        ids.append(response.json()["id"])

    page = (
        await client.get(f"{SCIM}/Users", headers=scim_headers, params={"startIndex": 2, "count": 2})
    ).json()
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (5, 2, 2)
    assert [r["id"] for r in page["Resources"]] == ids[1:3]  # creation order when unsorted
    last = (
        await client.get(f"{SCIM}/Users", headers=scim_headers, params={"startIndex": 5, "count": 10})
    ).json()
    assert [r["id"] for r in last["Resources"]] == ids[4:]
    beyond = (await client.get(f"{SCIM}/Users", headers=scim_headers, params={"startIndex": 9})).json()
    assert beyond["totalResults"] == 5 and beyond.get("Resources", []) == []

    sorted_page = await client.get(
        f"{SCIM}/Users",
        headers=scim_headers,
        params={"sortBy": "userName", "sortOrder": "descending", "count": 3},
    )
    assert [r["userName"] for r in sorted_page.json()["Resources"]] == [
        "erin@example.com",
        "dave@example.com",
        "carol@example.com",
    ]
    searched = await client.post(
        f"{SCIM}/Users/.search",
        headers=scim_headers,
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": 'userName sw "a" or userName sw "b"',
            "attributes": ["userName"],
        },
    )
    assert searched.status_code == 200
    assert sorted(r["userName"] for r in searched.json()["Resources"]) == [
        "alice@example.com",
        "bob@example.com",
    ]
    assert all(set(r) == {"schemas", "id", "userName"} for r in searched.json()["Resources"])


async def test_replace_a_user(client, db, scim_headers) -> None:
    body = (
        await client.post(
            f"{SCIM}/Users",
            headers=scim_headers,
            json=user_payload("old@example.com", displayName="Old Name"),
        )
    ).json()
    url = f"{SCIM}/Users/{body['id']}"
    # The identity provider turns them off, then replaces them without saying `active`: they stay off.
    await client.patch(
        url, headers=scim_headers, json=patch({"op": "replace", "path": "active", "value": False})
    )
    replaced = await client.put(
        url,
        headers=scim_headers,
        json=user_payload("New@Example.com", displayName="New Name", externalId="x-1"),
    )
    assert replaced.status_code == 200, replaced.text
    assert (replaced.json()["userName"], replaced.json()["displayName"], replaced.json()["active"]) == (
        "new@example.com",
        "New Name",
        False,
    )
    assert replaced.json()["meta"]["version"] != body["meta"]["version"]
    user = await fresh(db, User, body["id"])
    assert (user.email, user.name, user.external_id, user.is_active) == (
        "new@example.com",
        "New Name",
        "x-1",
        False,
    )

    stale = await client.put(
        url,
        headers={**scim_headers, "If-Match": body["meta"]["version"]},
        json=user_payload("stale@example.com"),
    )
    assert stale.status_code == 412
    assert (await fresh(db, User, body["id"])).email == "new@example.com"


async def test_deactivating_signs_the_person_out_and_reactivating_lets_them_back(
    client, db, scim_headers
) -> None:
    body = (
        await client.post(f"{SCIM}/Users", headers=scim_headers, json=user_payload("rae@example.com"))
    ).json()
    url = f"{SCIM}/Users/{body['id']}"
    await sign_in(client, body["id"])

    # Microsoft Entra's way: capitalised op, no path, the boolean as a string.
    off = await client.patch(
        url, headers=scim_headers, json=patch({"op": "Replace", "value": {"active": "False"}})
    )
    assert off.status_code == 204, off.text
    assert (await client.get("/more", headers=HTML)).status_code == 303  # the session stopped working
    page = await client.get("/auth/demo")
    refused = await client.post(
        "/auth/demo", data={"_csrf_token": csrf_token(page.text), "user_id": body["id"]}
    )
    assert refused.status_code == 422
    assert (await client.get(url, headers=scim_headers)).json()["active"] is False
    actions = await db.scalars(select(AuditEvent.action).where(AuditEvent.record_id == uuid.UUID(body["id"])))
    assert "users.deactivate" in set(actions)

    on = await client.patch(
        url, headers=scim_headers, json=patch({"op": "replace", "path": "active", "value": True})
    )
    assert on.status_code == 204
    await sign_in(client, body["id"])


async def test_delete_tombstones_the_user_and_frees_their_address(client, db, scim_headers) -> None:
    body = (
        await client.post(f"{SCIM}/Users", headers=scim_headers, json=user_payload("gone@example.com"))
    ).json()
    url = f"{SCIM}/Users/{body['id']}"
    await sign_in(client, body["id"])

    assert (await client.delete(url, headers=scim_headers)).status_code == 204
    missing = await client.get(url, headers=scim_headers)
    assert missing.status_code == 404 and missing.json()["schemas"] == [ERROR_SCHEMA]
    assert (await client.delete(url, headers=scim_headers)).status_code == 404
    listed = await client.get(f"{SCIM}/Users", headers=scim_headers)
    assert body["id"] not in [r["id"] for r in listed.json().get("Resources", [])]
    assert (await client.get("/more", headers=HTML)).status_code == 303
    page = await client.get("/auth/demo")
    refused = await client.post(
        "/auth/demo", data={"_csrf_token": csrf_token(page.text), "user_id": body["id"]}
    )
    assert refused.status_code == 422

    user = await fresh(db, User, body["id"])  # the record stays, as a tombstone
    assert user.deleted_at is not None and user.is_active is False and user.email != "gone@example.com"

    again = await client.post(f"{SCIM}/Users", headers=scim_headers, json=user_payload("gone@example.com"))
    assert again.status_code == 201 and again.json()["id"] != body["id"]


async def test_requests_without_a_valid_token_are_refused(client, db, scim_headers) -> None:
    _, api_token = await tokens.create(db, None, "erp", TokenPurpose.API)
    revoked, revoked_token = await tokens.create(db, None, "old idp", TokenPurpose.SCIM)
    await tokens.revoke(db, None, revoked.id)
    await db.commit()
    for headers in (
        {},
        {"Authorization": "Bearer fbk_not-a-token"},
        {"Authorization": f"Basic {scim_headers['Authorization'].split()[1]}"},
        {"Authorization": f"Bearer {api_token}"},
        {"Authorization": f"Bearer {revoked_token}"},
    ):
        for method, path in (("GET", "/Users"), ("POST", "/Users"), ("GET", "/ServiceProviderConfig")):
            response = await client.request(
                method, f"{SCIM}{path}", headers=headers, json=user_payload("x@example.com")
            )
            assert response.status_code == 401, (headers, method, path)
            assert response.json()["schemas"] == [ERROR_SCHEMA]
            assert response.headers["www-authenticate"] == 'Bearer realm="SCIM"'
    assert await count_users(db) == 0


async def test_bad_input_is_a_scim_400_and_writes_nothing(client, db, scim_headers) -> None:
    body = (
        await client.post(
            f"{SCIM}/Users", headers=scim_headers, json=user_payload("kept@example.com", displayName="Kept")
        )
    ).json()
    url = f"{SCIM}/Users/{body['id']}"

    cases = [
        (
            "POST",
            f"{SCIM}/Users",
            b'{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": ',
            "invalidSyntax",
        ),
        ("POST", f"{SCIM}/Users", user_payload("new@example.com", favouriteColour="blue"), "invalidSyntax"),
        ("POST", f"{SCIM}/Users", user_payload("not-an-email"), "invalidValue"),
        ("POST", f"{SCIM}/Users", {"schemas": [USER_SCHEMA], "displayName": "No userName"}, None),
        ("POST", f"{SCIM}/Users", user_payload("long@example.com", displayName="x" * 201), "invalidValue"),
        ("PUT", url, user_payload("kept@example.com", shoeSize=44), "invalidSyntax"),
        ("PATCH", url, patch({"op": "replace", "path": "favouriteColour", "value": "blue"}), None),
        (
            "PATCH",
            url,
            patch({"op": "replace", "path": "emails", "value": [{"value": "other@example.com"}]}),
            "mutability",
        ),
        ("PATCH", url, patch({"op": "remove", "path": "userName"}), None),
        ("PATCH", url, {"Operations": "nope"}, None),
        # Two operations, the second refused: the first is not kept either.
        (
            "PATCH",
            url,
            patch(
                {"op": "replace", "path": "displayName", "value": "Changed"},
                {"op": "replace", "path": "userName", "value": "nope"},
            ),
            "invalidValue",
        ),
    ]
    for method, path, payload, scim_type in cases:
        content = payload if isinstance(payload, bytes) else None
        response = await client.request(
            method, path, headers=scim_headers, content=content, json=None if content else payload
        )
        assert response.status_code == 400, (method, payload, response.text)
        error = response.json()
        assert error["schemas"] == [ERROR_SCHEMA] and error["status"] == "400"
        if scim_type:
            assert error["scimType"] == scim_type, (payload, error)

    plain = await client.post(
        f"{SCIM}/Users", headers={**scim_headers, "Content-Type": "text/plain"}, content=b"hi"
    )
    assert plain.status_code == 415 and plain.json()["schemas"] == [ERROR_SCHEMA]
    huge = await client.post(f"{SCIM}/Users", headers=scim_headers, content=b" " * (1024 * 1024 + 1))
    assert huge.status_code == 413 and huge.json()["schemas"] == [ERROR_SCHEMA]

    assert await count_users(db) == 1
    user = await fresh(db, User, body["id"])
    assert (user.email, user.name) == ("kept@example.com", "Kept")
    assert (await client.get(url, headers=scim_headers)).json()["meta"]["version"] == body["meta"]["version"]


async def test_a_taken_user_name_is_a_409(client, db, scim_headers) -> None:
    first = (
        await client.post(f"{SCIM}/Users", headers=scim_headers, json=user_payload("taken@example.com"))
    ).json()
    other = (
        await client.post(f"{SCIM}/Users", headers=scim_headers, json=user_payload("other@example.com"))
    ).json()

    again = await client.post(f"{SCIM}/Users", headers=scim_headers, json=user_payload("TAKEN@example.com"))
    assert again.status_code == 409 and again.json()["scimType"] == "uniqueness"
    moved = await client.patch(
        f"{SCIM}/Users/{other['id']}",
        headers=scim_headers,
        json=patch({"op": "replace", "path": "userName", "value": "taken@example.com"}),
    )
    assert moved.status_code == 409 and moved.json()["scimType"] == "uniqueness"
    assert await count_users(db) == 2
    assert (await fresh(db, User, other["id"])).email == "other@example.com"
    assert (await fresh(db, User, first["id"])).email == "taken@example.com"


async def test_discovery_describes_what_fieldbook_keeps(client, scim_headers) -> None:
    config = (await client.get(f"{SCIM}/ServiceProviderConfig", headers=scim_headers)).json()
    assert config["patch"]["supported"] and config["filter"]["supported"] and config["etag"]["supported"]
    assert not config["bulk"]["supported"] and not config["changePassword"]["supported"]
    assert config["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    types = (await client.get(f"{SCIM}/ResourceTypes", headers=scim_headers)).json()
    assert {r["endpoint"] for r in types["Resources"]} == {"/Users", "/Groups"}
    user_schema = (await client.get(f"{SCIM}/Schemas/{USER_SCHEMA}", headers=scim_headers)).json()
    attributes = {a["name"]: a for a in user_schema["attributes"]}
    assert set(attributes) == {"userName", "name", "displayName", "active", "emails", "groups"}
    assert (
        attributes["userName"]["uniqueness"] == "server" and "email" in attributes["userName"]["description"]
    )
    assert attributes["emails"]["mutability"] == attributes["groups"]["mutability"] == "readOnly"
    unknown = await client.get(f"{SCIM}/Widgets", headers=scim_headers)
    assert unknown.status_code == 404 and unknown.json()["schemas"] == [ERROR_SCHEMA]
