from __future__ import annotations

from litestar.testing import AsyncTestClient

from server.app import create_app
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
