"""A real OpenID Connect provider (pytest-iam runs Canaille on localhost) and a Fieldbook set up
to sign in through it."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from server.settings import OIDCSettings, Settings

REDIRECT_URI = "http://127.0.0.1:8000/auth/callback"


@pytest.fixture(scope="session")
def oidc_client(iam_server):
    """Fieldbook as a client the identity provider knows."""
    with iam_server.app.app_context():
        client = iam_server.models.Client(
            client_id=f"fieldbook-{uuid.uuid4().hex[:8]}",
            client_secret=uuid.uuid4().hex,
            client_name="Fieldbook",
            client_id_issued_at=dt.datetime.now(dt.UTC),
            redirect_uris=[REDIRECT_URI],
            post_logout_redirect_uris=["http://127.0.0.1:8000/auth/login"],
            grant_types=["authorization_code"],
            response_types=["code"],
            token_endpoint_auth_method="client_secret_basic",
            scope=["openid", "email", "profile", "groups"],
        )
        iam_server.backend.save(client)
        client.audience = [client]  # without it the id_token's `aud` is empty
        iam_server.backend.save(client)
    return client


@pytest.fixture
def settings(settings: Settings, iam_server, oidc_client) -> Settings:
    """The usual test settings, with demo sign-in off and the identity provider configured."""
    oidc = OIDCSettings(
        issuer=iam_server.url.rstrip("/"),
        client_id=oidc_client.client_id,
        client_secret=oidc_client.client_secret,
    )
    return replace(settings, demo=False, oidc=oidc)


def make_person(iam_server, *, email: str | None = None, groups: tuple[str, ...] = (), **values):
    """A person in the identity provider, optionally in some of its groups."""
    email = email or f"{uuid.uuid4().hex[:10]}@example.test"
    user = iam_server.random_user(emails=[email], user_name=email.split("@")[0], **values)
    for name in groups:
        with iam_server.app.app_context():
            existing = iam_server.backend.query(iam_server.models.Group, display_name=name)
        group = existing[0] if existing else iam_server.random_group(display_name=name, members=[])
        with iam_server.app.app_context():
            group.members = [*group.members, user]
            iam_server.backend.save(group)
    return user


async def provider_redirect(client, iam_server, person, *, next_path: str = "/") -> str:
    """Start sign-in in Fieldbook, let the provider sign `person` in; returns the callback URL."""
    start = await client.get("/auth/oidc/start", params={"next": next_path})
    assert start.status_code == 303, start.text
    authorize_url = start.headers["location"]
    iam_server.login(person)
    iam_server.consent(person)
    try:
        with httpx.Client(follow_redirects=False) as browser:
            answer = browser.get(authorize_url)
    finally:
        iam_server.logout()
    assert answer.status_code == 302, answer.text[:500]
    callback = answer.headers["location"]
    assert callback.startswith(REDIRECT_URI), callback
    return callback


def callback_path(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.path}?{parsed.query}"


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlparse(url).query)


@pytest.fixture(autouse=True)
def forget_unused_codes(iam_server):
    """Canaille's in-memory store can answer a token request with an older, unredeemed code of the
    same client (seen after a test that refuses a callback); start every test without any."""
    yield
    with iam_server.app.app_context():
        for code in iam_server.backend.query(iam_server.models.AuthorizationCode):
            iam_server.backend.delete(code)
