"""Fieldbook set up to sign in through the test identity provider, and helpers to walk the flow."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from server.settings import Settings
from tests.identity_provider import (  # noqa: F401 - fixtures
    TEST_CLIENT_BASE,
    forget_unused_codes,
    make_person,
    oidc_client,
    with_identity_provider,
)

REDIRECT_URI = f"{TEST_CLIENT_BASE}/auth/callback"


@pytest.fixture
def settings(settings: Settings, iam_server, oidc_client) -> Settings:  # noqa: F811
    return with_identity_provider(settings, iam_server, oidc_client)


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
