"""SCIM fixtures: a bearer token the identity provider would hold, and Fieldbook served for real."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession

from server.app import create_app
from server.settings import Settings
from server.tokens import service as tokens
from server.tokens.models import TokenPurpose

SCIM = "/scim/v2"


@pytest.fixture
async def scim_token(db: AsyncSession) -> str:
    _, token = await tokens.create(db, None, "identity provider", TokenPurpose.SCIM)
    await db.commit()
    return token


@pytest.fixture
def scim_headers(scim_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {scim_token}", "Content-Type": "application/scim+json"}


@pytest.fixture
def live_server(settings: Settings) -> Iterator[str]:
    """Fieldbook on a free port of 127.0.0.1, in a thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def user_payload(user_name: str, **attributes: Any) -> dict[str, Any]:
    return {"schemas": [USER_SCHEMA], "userName": user_name, **attributes}


def group_payload(name: str, *member_ids: Any, **attributes: Any) -> dict[str, Any]:
    return {
        "schemas": [GROUP_SCHEMA],
        "displayName": name,
        "members": [{"value": str(i)} for i in member_ids],
        **attributes,
    }


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_SCHEMA], "Operations": list(operations)}


async def fresh(db: AsyncSession, model: type[Any], record_id: Any) -> Any:
    """The record as the database has it now (the app wrote it through another connection)."""
    db.expire_all()
    return await db.get(model, uuid.UUID(str(record_id)))
