"""scim2-tester checks Fieldbook's SCIM API against RFC 7643/7644, as a live server."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import httpx2
import pytest
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server, filling
from scim2_tester.checkers import patch_add, patch_replace
from scim2_tester.utils import ResourceManager

from tests.scim.conftest import SCIM


@pytest.fixture
def email_user_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fieldbook's userName is the person's work email (as Entra ID and Okta send it); scim2-tester
    fills strings with UUIDs, so its userNames are made email addresses. Nothing else changes."""
    original = filling.generate_random_value

    def generate(context: Any, path: Any, *args: Any, **kwargs: Any) -> Any:
        value = original(context, path, *args, **kwargs)
        if str(path).rsplit(":", 1)[-1] == "userName" and value is not None:
            return f"{uuid.uuid4().hex}@example.test"
        return value

    for module in (filling, patch_add, patch_replace):
        monkeypatch.setattr(module, "generate_random_value", generate)


@pytest.fixture
def cleanup_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """scim2-tester deletes every resource it ever made after each check (its list is never
    emptied), so the same DELETEs come back, answered 404, hundreds of times. Deleting each once
    is enough; it changes no check."""
    original = ResourceManager.cleanup

    def cleanup(self: ResourceManager) -> None:
        original(self)
        self.resources.clear()

    monkeypatch.setattr(ResourceManager, "cleanup", cleanup)


def run_checks(base_url: str, token: str) -> list[Any]:
    with httpx2.Client(base_url=f"{base_url}{SCIM}", headers={"Authorization": f"Bearer {token}"}) as http:
        return check_server(SyncSCIMClient(http))


async def test_scim2_tester_finds_nothing_wrong(
    live_server, scim_token, email_user_names, cleanup_once
) -> None:
    results = await asyncio.to_thread(run_checks, live_server, scim_token)

    summary = Counter(result.status.name for result in results)
    by_check = Counter(
        f"{result.resource_type or '-'} {result.title}: {result.status.name}" for result in results
    )
    failed = [result for result in results if result.status in (Status.ERROR, Status.CRITICAL)]
    report = "\n".join(
        f"{result.status.name} {result.resource_type or ''} {result.title}: {result.reason}\n    {result.data!r:.400}"
        for result in failed
    )
    overview = "\n".join(f"  {count} x {line}" for line, count in sorted(by_check.items()))
    print(f"scim2-tester: {dict(summary)}\n{overview}")
    assert not failed, f"{dict(summary)}\n{report}"
    # Every part ran: discovery, and the CRUD and PATCH checks of both resource types.
    assert {result.resource_type for result in results} >= {"User", "Group"}, overview
    assert summary["SUCCESS"] >= 50, overview
