"""Server time of the order lookup and the account page with at least 50,000 orders.

    .venv/bin/python bench/order_lookup.py [sqlite|postgresql] [--scale 6] [--rounds 200]

Loads the demo data set at the given scale (scale 6: 12,000 accounts, about 59,000 orders) into
a throwaway database, then times each page in-process (the ASGI app, no network) as the admin,
who sees everything (the widest queries), and as a rep. Prints p50/p95 per page as Markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from pathlib import Path

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.throwaway import throwaway_settings
from server.accounts.models import Account
from server.app import create_app
from server.demo import load_demo
from server.orders.models import Order
from server.users.models import Role, User
from tests.conftest import csrf_token


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def run(settings, scale: int, rounds: int) -> list[tuple[str, str, float, float]]:
    app = create_app(settings)
    started = time.perf_counter()
    await load_demo(app.state["alchemy"], scale=scale)
    print(f"loaded scale {scale} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    async with app.state["alchemy"].get_session() as session:
        orders = await session.scalar(select(func.count()).select_from(Order))
        admin = await session.scalar(select(User.id).where(User.role == Role.ADMIN))
        rep = await session.scalar(select(User.id).where(User.role == Role.REP).order_by(User.email))
        # Each person looks up what they can see (a rep's sample is their own customers' orders).
        numbers, names = {}, {}
        for who, user_id in (("admin", admin), ("rep", rep)):
            mine = (
                select(Account.id)
                if who == "admin"
                else select(Account.id).where(Account.owner_id == user_id)
            )
            numbers[who] = list(await session.scalars(
                select(Order.number).where(Order.account_id.in_(mine)).order_by(func.random()).limit(rounds)
            ))  # fmt: skip
            names[who] = list(
                await session.scalars(select(Account.name).where(Account.id.in_(mine)).limit(50))
            )
    print(f"{orders} orders", file=sys.stderr)
    # The test client serves the app from an event loop of its own: start it with no pooled
    # connections from this one (asyncpg connections belong to the loop that opened them).
    await app.state["alchemy"].get_engine().dispose()
    rows = []
    rng = random.Random(1)
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1:8000") as client:
        for who, user_id in (("admin", admin), ("rep", rep)):
            client.cookies.clear()
            page = await client.get("/auth/demo")
            await client.post(
                "/auth/demo", data={"_csrf_token": csrf_token(page.text), "user_id": str(user_id)}
            )
            # The account page has a benchmark of its own: bench/account_page.py.
            pages = {
                "order lookup by number": lambda who=who: f"/orders?q={rng.choice(numbers[who])}",
                "order lookup by account name": lambda who=who: (
                    f"/orders?q={rng.choice(names[who]).split()[0]}"
                ),
                "orders, first page": lambda: "/orders",
                "order page": lambda who=who: f"/orders/{rng.choice(numbers[who])}",
            }
            for label, make_path in pages.items():
                samples = []
                for _ in range(rounds):
                    path = make_path()
                    begin = time.perf_counter()
                    response = await client.get(path)
                    samples.append((time.perf_counter() - begin) * 1000)
                    assert response.status_code == 200, (path, response.status_code)
                rows.append((label, who, statistics.median(samples), percentile(samples, 0.95)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("backend", choices=["sqlite", "postgresql"], nargs="?", default="sqlite")
    parser.add_argument("--scale", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    with throwaway_settings(args.backend) as settings:
        rows = asyncio.run(run(settings, args.scale, args.rounds))
    print(f"| page ({args.backend}) | as | p50 | p95 |\n| --- | --- | ---: | ---: |")
    for label, who, p50, p95 in rows:
        print(f"| {label} | {who} | {p50:.1f} ms | {p95:.1f} ms |")


if __name__ == "__main__":
    main()
