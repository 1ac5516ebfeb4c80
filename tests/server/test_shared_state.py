"""Sessions and rate limits live where every server process sees them: the database, or Redis."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace

import pytest
from litestar.stores.redis import RedisStore
from litestar.testing import AsyncTestClient

from server.app import create_app
from tests.conftest import sign_in
from tests.factories import make_user

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture(params=["database", "redis"])
async def shared_settings(request, settings):
    if request.param == "database":
        yield settings
        return
    # A namespace of its own for each test, so parallel runs never meet; removed afterwards.
    namespace = f"fieldbook-test-{uuid.uuid4().hex}"
    yield replace(settings, redis_url=REDIS_URL, redis_namespace=namespace)
    store = RedisStore.with_client(url=REDIS_URL, namespace=namespace)
    async with store:  # closes its connection on the way out
        await store.delete_all()


async def test_a_session_started_on_one_server_works_on_another(shared_settings, db) -> None:
    user = await make_user(db, name=f"Person {uuid.uuid4().hex[:6]}")
    async with (
        AsyncTestClient(app=create_app(shared_settings), base_url="http://127.0.0.1:8000") as first,
        AsyncTestClient(app=create_app(shared_settings), base_url="http://127.0.0.1:8000") as second,
    ):
        first.follow_redirects = second.follow_redirects = False
        await sign_in(first, user.id)
        second.cookies.set("fieldbook_session", first.cookies.get("fieldbook_session"))
        page = await second.get("/more")
        assert page.status_code == 200 and user.name in page.text


async def test_sign_in_is_rate_limited_per_address(shared_settings) -> None:
    limited = replace(shared_settings, sign_in_rate_limit=3)
    async with AsyncTestClient(app=create_app(limited), base_url="http://127.0.0.1:8000") as client:
        statuses = [(await client.get("/auth/demo")).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        assert (await client.get("/healthz")).status_code == 200  # other pages are not limited


async def test_the_database_store_replaces_expires_and_renews_values(app) -> None:
    """Every request reads its session and its rate-limit window from this store and most write
    one back, so it must replace what is there, ignore what has expired and keep namespaces apart."""
    sessions, limits = app.stores.get("sessions"), app.stores.get("api_limits")
    key = uuid.uuid4().hex
    await sessions.set(key, b"first", expires_in=60)
    await sessions.set(key, "second", expires_in=60)
    assert await sessions.get(key) == b"second"
    assert await limits.get(key) is None and await sessions.exists(key)

    await sessions.set(key, b"stale", expires_in=dt.timedelta(seconds=-1))
    assert await sessions.get(key) is None

    await sessions.set(key, b"kept", expires_in=60)
    assert 0 < await sessions.expires_in(key) <= 60
    assert await sessions.get(key, renew_for=600) == b"kept"
    assert 60 < await sessions.expires_in(key) <= 600
    await sessions.delete(key)
    assert await sessions.get(key) is None
    await app.state["alchemy"].get_engine().dispose()
