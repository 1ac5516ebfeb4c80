"""Many phones syncing at once: a server process works on a bounded number of syncs, tells the rest
to come back later (503 with Retry-After), and never holds one database connection while it waits
for another, so a small pool serves a crowd instead of stalling (docs/sync.md, "Capacity")."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from litestar import Litestar
from sqlalchemy import func, select

from server.app import create_app
from server.users.models import Role
from sync.models import MutationRecord
from tests.conftest import make_settings, sign_in
from tests.factories import make_account, make_team, make_user
from tests.sync.test_failures import body, pull, update
from tests.sync.test_model import REDIS_URL


@asynccontextmanager
async def serving(app: Litestar) -> AsyncIterator[AsyncExitStack]:
    """The app running on this event loop (so requests really overlap), and a stack for its clients."""
    async with app.lifespan(), AsyncExitStack() as clients:
        yield clients


async def signed_in(app: Litestar, clients: AsyncExitStack, user_id: uuid.UUID) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    client = await clients.enter_async_context(
        httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000")
    )
    await sign_in(client, user_id)
    return client


async def test_a_sync_beyond_the_limit_is_told_to_come_back_later(db, database_url, tmp_path) -> None:
    rita = await make_user(db, Role.REP, await make_team(db), name="Rita")
    sam = await make_user(db, Role.REP, await make_team(db), name="Sam")
    shop, yard = (
        await make_account(db, rita, name="Corner Shop"),
        await make_account(db, sam, name="Timber Yard"),
    )
    # Sessions and rate limits in Redis: on SQLite, the rate limit's write in the database would
    # wait for the first push's writer lock, so the second push would arrive only after it.
    settings = make_settings(database_url, tmp_path, sync_concurrency=1, sync_queue_seconds=0.05,
                             redis_url=REDIS_URL, redis_namespace=f"capacity-{uuid.uuid4()}")  # fmt: skip
    app = create_app(settings)
    sams_phone = uuid.uuid4()
    sams_change = body(sams_phone, update(1, yard, yard.version, city="Wigan"))
    async with serving(app) as clients:
        ritas, sams = await signed_in(app, clients, rita.id), await signed_in(app, clients, sam.id)
        long_day = [update(number, shop, shop.version, city=f"Town {number}") for number in range(1, 301)]
        first = asyncio.create_task(ritas.post("/sync/push", json=body(uuid.uuid4(), *long_day)))
        while "sync_slots" not in app.state or not app.state["sync_slots"].all_taken:
            await asyncio.sleep(0.001)
        turned_away = await sams.post("/sync/push", json=sams_change)
        assert (turned_away.status_code, turned_away.json()["code"]) == (503, "busy")
        assert int(turned_away.headers["Retry-After"]) >= 1
        assert (await first).status_code == 200
        later = await sams.post("/sync/push", json=sams_change)
        assert [result["status"] for result in later.json()["results"]] == ["applied"]
    # Turned away before anything ran: the one mutation is in the ledger once, from the second try.
    ledger = select(func.count()).select_from(MutationRecord).where(MutationRecord.device_id == sams_phone)
    assert await db.scalar(ledger) == 1


async def test_a_small_pool_serves_a_crowd_of_phones_and_pages_at_once(db, database_url, tmp_path) -> None:
    """Two connections for requests (pool 1, burst 1), two syncs at a time, and eight phones
    pushing and pulling while pages load. A request that held its sign-in read's connection while
    waiting for the sync's would leave every connection held by a waiter: nothing answered until
    the pool's 30 s time-out, then 500s."""
    team = await make_team(db)
    reps = [await make_user(db, Role.REP, team, name=f"Rep {number}") for number in range(8)]
    accounts = [await make_account(db, rep, name=f"Shop {number}") for number, rep in enumerate(reps)]
    app = create_app(make_settings(database_url, tmp_path, database_pool_size=1, sync_concurrency=2))

    async def phone(client: httpx.AsyncClient, account) -> list[int]:
        device, statuses = uuid.uuid4(), []
        for number in range(1, 4):
            change = body(device, update(number, account, account.version, city=f"Town {number}"))
            while True:  # as the phone does: come back when told to
                answer = await client.post("/sync/push", json=change)
                statuses.append(answer.status_code)
                if answer.status_code != 503:
                    break
                await asyncio.sleep(0.05)
            statuses.append((await client.get("/accounts")).status_code)
        return statuses

    async with serving(app) as clients:
        phones = [await signed_in(app, clients, rep.id) for rep in reps]
        answers = await asyncio.wait_for(
            asyncio.gather(
                *(phone(client, account) for client, account in zip(phones, accounts, strict=True))
            ),
            timeout=25,
        )
        pulled = await pull(phones[0], uuid.uuid4())
    assert {status for statuses in answers for status in statuses} <= {200, 503}
    assert [sum(status == 200 for status in statuses) for statuses in answers] == [6] * len(reps)
    assert {change["data"]["city"] for change in pulled["changes"] if change["kind"] == "accounts"} == {
        "Town 3"
    }
