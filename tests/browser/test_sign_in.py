"""Signing in through the company's identity provider, in Chromium, the whole way round."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from server.settings import Settings
from tests.identity_provider import (  # noqa: F401 - fixtures
    allow_base_url,
    forget_unused_codes,
    make_person,
    oidc_client,
    with_identity_provider,
)


@pytest.fixture
def settings(settings: Settings, iam_server, oidc_client) -> Settings:  # noqa: F811
    return with_identity_provider(settings, iam_server, oidc_client)


@pytest.fixture
def signed_in_at_provider(iam_server, oidc_client, live_server):  # noqa: F811
    """A manager whose session at the identity provider is open (as after they typed a password)."""
    allow_base_url(iam_server, oidc_client, live_server)
    person = make_person(iam_server, groups=("fieldbook-managers",), formatted_name="Mei Chen")
    iam_server.login(person)
    iam_server.consent(person)
    yield person
    iam_server.logout()


def test_sign_in_with_the_company_account_and_out_again(phone, signed_in_at_provider, iam_server) -> None:
    page = phone.page
    page.goto("/accounts")
    expect(page).to_have_url(re.compile(r"/auth/login\?next=%2Faccounts$"))
    expect(page.get_by_role("link", name="Choose a demo user")).to_have_count(0)  # demo is off

    page.get_by_role("link", name="Sign in with your company account").click()
    # Off to the identity provider and straight back (the person is signed in there already).
    expect(page).to_have_url(re.compile(r"/accounts$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Accounts")

    page.goto("/more")
    expect(page.get_by_role("heading", name="Mei Chen")).to_be_visible()
    expect(page.get_by_text("Manager", exact=True)).to_be_visible()  # from the provider's group

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(lambda url: "/auth/login" in url or url.startswith(iam_server.url))
    page.goto("/more")
    expect(page).to_have_url(re.compile(r"/auth/login"))
