from __future__ import annotations

import datetime as dt

from litestar.testing import AsyncTestClient
from sqlalchemy import select

from server.app import create_app
from server.db import KeyValueItem
from tests.conftest import make_settings


async def test_health_reports_the_database(client) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["database"] == "ok"


async def test_health_is_503_when_the_database_is_unreachable(tmp_path) -> None:
    # Nothing listens on port 1: the connection is refused at once.
    settings = make_settings("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere", tmp_path)
    async with AsyncTestClient(app=create_app(settings)) as client:
        response = await client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


async def test_starting_the_app_clears_expired_sessions(settings, db) -> None:
    now = dt.datetime.now(dt.UTC)
    for key, expires in (("old", now - dt.timedelta(days=1)), ("live", now + dt.timedelta(days=1))):
        db.add(KeyValueItem(key=key, namespace="sessions", value=b"{}", expires_at=expires))
    await db.commit()
    async with AsyncTestClient(app=create_app(settings)) as client:
        assert (await client.get("/healthz")).status_code == 200
    left = await db.scalars(select(KeyValueItem.key).execution_options(populate_existing=True))
    assert sorted(left) == ["live"]
