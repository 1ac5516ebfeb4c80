"""Server time and answer size of `POST /sync/pull`: a new device's first sync, then a quiet pull.

    .venv/bin/python bench/sync_pull.py [sqlite|postgresql] [--scale 1] [--rounds 20]

Loads the demo data set into a throwaway database and, as a rep, their team's manager and the
admin, times a first sync (every page, until `more` is false) on a fresh device and then a pull
with nothing new, in-process (the ASGI app, no network). Prints Markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import time
import uuid
from pathlib import Path

from litestar.testing import AsyncTestClient
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.account_page import percentile
from bench.throwaway import throwaway_settings
from server.app import create_app
from server.demo import load_demo
from server.users.models import Role, User
from tests.conftest import csrf_token


async def first_sync(client, device: uuid.UUID) -> tuple[float, int, int, str]:
    """Milliseconds, pages, bytes and the final cursor of a new device's whole first sync."""
    cursor, pages, size = None, 0, 0
    begin = time.perf_counter()
    while True:
        body = {"device_id": str(device), "schema_version": 1, "app_version": "bench", "cursor": cursor}
        response = await client.post("/sync/pull", json=body)
        assert response.status_code == 200, response.text
        answer = response.json()
        pages, size, cursor = pages + 1, size + len(json.dumps(answer)), answer["cursor"]
        if not answer["more"]:
            return (time.perf_counter() - begin) * 1000, pages, size, cursor


async def run(settings, scale: int, rounds: int) -> list[tuple]:
    app = create_app(settings)
    await load_demo(app.state["alchemy"], scale=scale)
    async with app.state["alchemy"].get_session() as session:
        people = {role: await session.scalar(select(User.id).where(User.role == role).order_by(User.email))
                  for role in (Role.REP, Role.MANAGER, Role.ADMIN)}  # fmt: skip
    await app.state["alchemy"].get_engine().dispose()
    rows = []
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1:8000") as client:
        for role, user_id in people.items():
            client.cookies.clear()
            page = await client.get("/auth/demo")
            await client.post(
                "/auth/demo", data={"_csrf_token": csrf_token(page.text), "user_id": str(user_id)}
            )
            firsts, quiets, pages, size = [], [], 0, 0
            for _ in range(rounds):
                device = uuid.uuid4()
                took, pages, size, cursor = await first_sync(client, device)
                firsts.append(took)
                body = {
                    "device_id": str(device),
                    "schema_version": 1,
                    "app_version": "bench",
                    "cursor": cursor,
                }
                begin = time.perf_counter()
                assert (await client.post("/sync/pull", json=body)).json()["changes"] == []
                quiets.append((time.perf_counter() - begin) * 1000)
            rows.append((role.value, pages, size, firsts, quiets))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("backend", choices=["sqlite", "postgresql"], nargs="?", default="sqlite")
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with throwaway_settings(args.backend) as settings:
        rows = asyncio.run(run(settings, args.scale, args.rounds))
    print(
        f"| sync pull ({args.backend}, scale {args.scale}) | first sync p50 | p95 | pages | JSON | quiet pull p50 | p95 |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for who, pages, size, firsts, quiets in rows:
        print(f"| as {who} | {statistics.median(firsts):.0f} ms | {percentile(firsts, 0.95):.0f} ms | {pages} "
              f"| {size / 1024:.0f} KB | {statistics.median(quiets):.1f} ms | {percentile(quiets, 0.95):.1f} ms |")  # fmt: skip


if __name__ == "__main__":
    main()
