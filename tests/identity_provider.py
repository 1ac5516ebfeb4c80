"""A real OpenID Connect provider for the tests: pytest-iam runs Canaille on localhost.

Shared by the sign-in tests over HTTP (tests/signin) and in Chromium (tests/browser).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace

import pytest

from server.settings import OIDCSettings, Settings

TEST_CLIENT_BASE = "http://127.0.0.1:8000"


@pytest.fixture(scope="session")
def oidc_client(iam_server):
    """Fieldbook as a client the identity provider knows."""
    with iam_server.app.app_context():
        client = iam_server.models.Client(
            client_id=f"fieldbook-{uuid.uuid4().hex[:8]}",
            client_secret=uuid.uuid4().hex,
            client_name="Fieldbook",
            client_id_issued_at=dt.datetime.now(dt.UTC),
            redirect_uris=[f"{TEST_CLIENT_BASE}/auth/callback"],
            post_logout_redirect_uris=[f"{TEST_CLIENT_BASE}/auth/login"],
            grant_types=["authorization_code"],
            response_types=["code"],
            token_endpoint_auth_method="client_secret_basic",
            scope=["openid", "email", "profile", "groups"],
        )
        iam_server.backend.save(client)
        client.audience = [client]  # without it the id_token's `aud` is empty
        iam_server.backend.save(client)
    return client


def allow_base_url(iam_server, client, base_url: str) -> None:
    """Let the provider send people back to a Fieldbook on another address (a live test server)."""
    with iam_server.app.app_context():
        client.redirect_uris = [*client.redirect_uris, f"{base_url}/auth/callback"]
        client.post_logout_redirect_uris = [*client.post_logout_redirect_uris, f"{base_url}/auth/login"]
        iam_server.backend.save(client)


def with_identity_provider(settings: Settings, iam_server, client) -> Settings:
    """The usual test settings, with demo sign-in off and this identity provider configured."""
    oidc = OIDCSettings(
        issuer=iam_server.url.rstrip("/"), client_id=client.client_id, client_secret=client.client_secret
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


@pytest.fixture(autouse=True)
def forget_unused_codes(request):
    """Canaille's in-memory store can answer a token request with an older, unredeemed code of the
    same client (seen after a test that refuses a callback); start every test without any."""
    yield
    if "iam_server" in request.fixturenames:
        iam_server = request.getfixturevalue("iam_server")
        with iam_server.app.app_context():
            for code in iam_server.backend.query(iam_server.models.AuthorizationCode):
                iam_server.backend.delete(code)
