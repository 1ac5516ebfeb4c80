"""Signing in through the company's identity provider, end to end over HTTP."""

from __future__ import annotations

from dataclasses import replace

from litestar.testing import AsyncTestClient
from sqlalchemy import select

from server.app import create_app
from server.users.models import Role, User
from tests.conftest import csrf_token
from tests.factories import make_user
from tests.signin.conftest import callback_path, make_person, provider_redirect, query_of


async def test_the_authorization_request_uses_pkce_state_and_nonce(client) -> None:
    start = await client.get("/auth/oidc/start")
    params = query_of(start.headers["location"])
    assert params["response_type"] == ["code"]
    assert params["code_challenge_method"] == ["S256"] and len(params["code_challenge"][0]) >= 43
    assert len(params["state"][0]) >= 32 and len(params["nonce"][0]) >= 32
    assert params["redirect_uri"] == ["http://127.0.0.1:8000/auth/callback"]
    assert "openid" in params["scope"][0].split()


async def test_first_sign_in_creates_the_person_with_the_role_of_their_group(client, db, iam_server) -> None:
    person = make_person(iam_server, groups=("fieldbook-managers",), formatted_name="Mei Chen")
    callback = await provider_redirect(client, iam_server, person, next_path="/accounts")
    old_session = client.cookies.get("fieldbook_session")

    response = await client.get(callback_path(callback))
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/accounts"
    assert client.cookies.get("fieldbook_session") not in (None, old_session)  # a new session id

    user = await db.scalar(select(User).where(User.email == person.emails[0]))
    assert user is not None and user.role is Role.MANAGER and user.name == "Mei Chen"
    assert user.oidc_subject and user.last_sign_in_at is not None
    page = await client.get("/more")
    assert page.status_code == 200 and "Mei Chen" in page.text


async def test_an_invited_person_is_found_by_email_and_keeps_the_role_set_for_them(
    client, db, iam_server
) -> None:
    invited = await make_user(db, Role.MANAGER, email="invited.person@example.test", name="Invited Person")
    person = make_person(iam_server, email="invited.person@example.test")  # in no mapped group
    response = await client.get(callback_path(await provider_redirect(client, iam_server, person)))
    assert response.status_code == 303
    await db.refresh(invited)
    assert invited.role is Role.MANAGER and invited.oidc_subject is not None
    assert len(list(await db.scalars(select(User)))) == 1


async def test_the_providers_groups_change_the_role_at_the_next_sign_in(client, db, iam_server) -> None:
    person = make_person(iam_server, groups=("fieldbook-admins", "fieldbook-reps"))
    await client.get(callback_path(await provider_redirect(client, iam_server, person)))
    user = await db.scalar(select(User).where(User.email == person.emails[0]))
    assert user.role is Role.ADMIN  # the highest role any group grants


async def test_a_page_asked_for_while_away_at_the_provider_does_not_end_the_sign_in(
    client, db, iam_server
) -> None:
    """The service worker keeps pages in the background (/sync among them); one it asks for while
    the person is away at the identity provider must not throw the sign-in in progress away."""
    person = make_person(iam_server, formatted_name="Mei Chen")
    callback = await provider_redirect(client, iam_server, person)
    kept_in_background = await client.get("/sync", headers={"X-Fieldbook-Background": "1"})
    assert kept_in_background.status_code in {303, 401}

    response = await client.get(callback_path(callback))
    assert response.status_code == 303, response.text
    assert "Mei Chen" in (await client.get("/more")).text


async def test_a_page_asked_for_before_the_sign_in_and_answered_after_it_leaves_the_new_session(
    client, db, iam_server
) -> None:
    """The service worker keeps pages in the background; one it asked for with the session of the
    sign-in in progress may be answered after the sign-in replaced that session. Its answer
    must not point the browser back at the old session: that signed the person out again."""
    person = make_person(iam_server, formatted_name="Mei Chen")
    callback = await provider_redirect(client, iam_server, person)
    old_id = client.cookies.get("fieldbook_session")
    assert (await client.get(callback_path(callback))).status_code == 303
    new_id = client.cookies.get("fieldbook_session")

    client.cookies.set("fieldbook_session", old_id)
    for path in ("/auth/login", "/sync"):
        late = await client.get(path, headers={"X-Fieldbook-Background": "1"})
        assert "fieldbook_session" not in late.headers.get("set-cookie", ""), path
    client.cookies.set("fieldbook_session", new_id)
    assert "Mei Chen" in (await client.get("/more")).text


async def test_replaying_the_callback_signs_nobody_in(client, db, iam_server) -> None:
    person = make_person(iam_server)
    callback = callback_path(await provider_redirect(client, iam_server, person))
    assert (await client.get(callback)).status_code == 303
    await client.post("/auth/logout", data={"_csrf_token": csrf_token((await client.get("/more")).text)})

    replay = await client.get(callback)
    assert replay.status_code == 400
    assert "expired or was already used" in replay.text
    assert (await client.get("/more", headers={"Accept": "text/html"})).status_code == 303


async def test_a_forged_state_is_refused(client, db, iam_server) -> None:
    person = make_person(iam_server)
    callback = callback_path(await provider_redirect(client, iam_server, person))
    forged = callback.replace("state=", "state=x")
    response = await client.get(forged)
    assert response.status_code == 400
    assert await db.scalar(select(User).where(User.email == person.emails[0])) is None
    assert (await client.get("/more", headers={"Accept": "text/html"})).status_code == 303


async def test_a_callback_without_a_sign_in_in_progress_is_refused(client) -> None:
    response = await client.get("/auth/callback", params={"code": "abc", "state": "def"})
    assert response.status_code == 400
    assert "Sign-in did not work" in response.text


async def test_the_provider_saying_no_is_shown_clearly(client) -> None:
    start = await client.get("/auth/oidc/start")
    state = query_of(start.headers["location"])["state"][0]
    response = await client.get("/auth/callback", params={"error": "access_denied", "state": state})
    assert response.status_code == 403
    assert "did not sign you in" in response.text


async def test_a_deactivated_person_cannot_sign_in(client, db, iam_server) -> None:
    await make_user(db, email="gone@example.test", is_active=False)
    person = make_person(iam_server, email="gone@example.test")
    response = await client.get(callback_path(await provider_redirect(client, iam_server, person)))
    assert response.status_code == 403
    assert "deactivated" in response.text
    assert "fieldbook_session=" not in response.headers.get(
        "set-cookie", ""
    ) or "null" in response.headers.get("set-cookie", "")


async def test_sign_out_also_signs_out_at_the_provider(client, iam_server) -> None:
    person = make_person(iam_server)
    await client.get(callback_path(await provider_redirect(client, iam_server, person)))
    token = csrf_token((await client.get("/more")).text)
    response = await client.post("/auth/logout", data={"_csrf_token": token})
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(iam_server.url)
    params = query_of(location)
    assert params["post_logout_redirect_uri"] == ["http://127.0.0.1:8000/auth/login"]
    assert params["id_token_hint"][0].count(".") == 2
    assert (await client.get("/more", headers={"Accept": "text/html"})).status_code == 303


def _app_with(settings, **oidc_changes):
    return create_app(replace(settings, oidc=replace(settings.oidc, **oidc_changes)))


async def test_without_just_in_time_creation_only_known_people_get_in(settings, db, iam_server) -> None:
    stranger = make_person(iam_server)
    async with AsyncTestClient(
        app=_app_with(settings, create_users=False), base_url="http://127.0.0.1:8000"
    ) as client:
        client.follow_redirects = False
        response = await client.get(callback_path(await provider_redirect(client, iam_server, stranger)))
    assert response.status_code == 403
    assert "has not been set up" in response.text
    assert await db.scalar(select(User).where(User.email == stranger.emails[0])) is None


async def test_only_allowed_email_domains_get_in(settings, db, iam_server) -> None:
    outsider = make_person(iam_server, email="someone@elsewhere.example")
    insider = make_person(iam_server, email="someone@fieldbook.example")
    app = _app_with(settings, allowed_domains=("fieldbook.example",))
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1:8000") as client:
        client.follow_redirects = False
        refused = await client.get(callback_path(await provider_redirect(client, iam_server, outsider)))
        allowed = await client.get(callback_path(await provider_redirect(client, iam_server, insider)))
    assert refused.status_code == 403 and "email domain" in refused.text
    assert allowed.status_code == 303
