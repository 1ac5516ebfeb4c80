from __future__ import annotations

import asyncio
import math

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from server.db import create_engine
from tests.conftest import PG_ADMIN_DSN


async def drop_connection(pid: int) -> None:
    """End one server connection from the database's side, as a restart would, and wait until it is gone."""
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
        while await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid):
            await asyncio.sleep(0.02)
    finally:
        await admin.close()


async def use_after_the_database_dropped_it(database_url: str, ping_after_idle: float) -> int:
    engine = create_engine(database_url, ping_after_idle=ping_after_idle)
    try:
        async with engine.connect() as connection:
            pid = await connection.scalar(text("SELECT pg_backend_pid()"))
        await drop_connection(pid)  # while it sits in the pool
        async with engine.connect() as connection:
            return await connection.scalar(text("SELECT 1"))
    finally:
        await engine.dispose()


async def test_a_pooled_connection_the_database_dropped_is_replaced_before_a_request_meets_it(
    backend, database_url
) -> None:
    if backend != "postgresql":
        pytest.skip("only a database server can drop a connection")
    assert await use_after_the_database_dropped_it(database_url, ping_after_idle=0.0) == 1
    with pytest.raises(DBAPIError):  # never pinged, the dropped connection reaches the request
        await use_after_the_database_dropped_it(database_url, ping_after_idle=math.inf)
