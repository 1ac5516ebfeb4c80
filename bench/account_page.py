"""Server time and SQL statements of the account page (`GET /accounts/{id}`, the account 360 view).

    .venv/bin/python bench/account_page.py [sqlite|postgresql] [--scale 1] [--rounds 200] [--accounts 60]

Loads the demo data set at the given scale (scale 1: 2,000 accounts, about 10,000 orders, 250
visits and 60 leads; scale 6: 12,000 accounts) into a throwaway database, then times the account
page in-process (the ASGI app, no network) as a rep, their team's manager and the admin. Each
person's sample is accounts they can see: the ones with the most orders, the most visits and the
most leads, the rest at random. Every request's SQL statements are counted (and timed) with a
`before_cursor_execute` event. Prints p50/p95/max and statements per page as Markdown, then the
page's statements by time.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import re
import statistics
import sys
import time
import uuid
from pathlib import Path

from litestar.testing import AsyncTestClient
from sqlalchemy import event, func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.throwaway import throwaway_settings
from server.accounts.models import Account
from server.app import create_app
from server.auth import visible
from server.demo import load_demo
from server.leads.models import Lead
from server.orders.models import Order
from server.users.models import Role, TeamManager, User
from server.visits.models import Visit
from tests.conftest import csrf_token

BUSIEST = 10  # accounts with the most orders, visits and leads: in every person's sample
IN_LIST = re.compile(r"IN \((?:\?|\$\d+(?:::\w+)?)(?:, (?:\?|\$\d+(?:::\w+)?))*\)")


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def same_shape(statement: str) -> str:
    """The statement with `IN (?, ?, ?)` written `IN (...)`: one shape however many ids it lists."""
    return IN_LIST.sub("IN (...)", statement)


def label(statement: str) -> str:
    """`SELECT orders, order_lines`: the verb and the tables of the outer FROM, to name a statement."""
    verb = statement.split(None, 1)[0].upper()
    if verb == "INSERT":
        return "INSERT " + statement.split()[2]
    outer = re.split(r"\bWHERE\b", statement.split("FROM", 1)[-1], maxsplit=1)[0]
    tables = dict.fromkeys(re.findall(r"(?:^|JOIN)\s+(\w+)", outer))
    return f"{verb} {', '.join(tables)}"


class Statements:
    """Every SQL statement the engine sends, with the time from sending it to having its rows."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.seen: list[tuple[str, float]] = []
        self._started: list[float] = []

    def before(self, _conn, _cursor, statement, *_args) -> None:
        self._started.append(time.perf_counter())

    def after(self, _conn, _cursor, statement, *_args) -> None:
        self.seen.append((statement, (time.perf_counter() - self._started.pop()) * 1000))

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self.before)
        event.listen(self.engine, "after_cursor_execute", self.after)
        return self

    def __exit__(self, *_exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self.before)
        event.remove(self.engine, "after_cursor_execute", self.after)


async def sample_accounts(session, user: User, size: int, rng: random.Random) -> list[uuid.UUID]:
    """Accounts `user` can see: the busiest (orders, visits, leads) first, then random ones."""
    mine = select(Account.id).where(visible(user, Account))
    chosen: list[uuid.UUID] = []
    for model in (Order, Visit, Lead):
        busiest = await session.scalars(
            select(model.account_id)
            .where(model.account_id.in_(mine), model.deleted_at.is_(None))
            .group_by(model.account_id)
            .order_by(func.count().desc(), model.account_id)
            .limit(BUSIEST)
        )
        chosen += [account_id for account_id in busiest if account_id not in chosen]
    rest = sorted(set(await session.scalars(mine)) - set(chosen))
    return chosen + rng.sample(rest, max(0, min(len(rest), size - len(chosen))))


async def run(settings, scale: int, rounds: int, size: int) -> tuple[list[tuple], dict[str, list[float]]]:
    app = create_app(settings)
    started = time.perf_counter()
    await load_demo(app.state["alchemy"], scale=scale)
    print(f"loaded scale {scale} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    rng = random.Random(1)
    async with app.state["alchemy"].get_session() as session:
        counts = {
            model.__tablename__: await session.scalar(select(func.count()).select_from(model))
            for model in (Account, Order, Visit, Lead)
        }
        admin = await session.scalar(select(User).where(User.role == Role.ADMIN))
        rep = await session.scalar(select(User).where(User.role == Role.REP).order_by(User.email))
        manager = await session.scalar(
            select(User)
            .join(TeamManager, TeamManager.user_id == User.id)
            .where(TeamManager.team_id == rep.team_id)
            .order_by(User.email)
        )
        people = []
        for who, user in (("rep", rep), ("manager", manager), ("admin", admin)):
            can_see = await session.scalar(
                select(func.count()).select_from(Account).where(visible(user, Account))
            )
            people.append((who, user.id, can_see, await sample_accounts(session, user, size, rng)))
        most = await session.execute(
            select(func.count(), Order.account_id).group_by(Order.account_id).order_by(func.count().desc())
        )
    print(f"{counts}; most orders on one account: {most.first()[0]}", file=sys.stderr)
    # The test client serves the app from an event loop of its own: start it with no pooled
    # connections from this one (asyncpg connections belong to the loop that opened them).
    await app.state["alchemy"].get_engine().dispose()
    engine = app.state["alchemy"].get_engine().sync_engine
    rows = []
    by_statement: dict[str, list[float]] = {}
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1:8000") as client:
        for who, user_id, can_see, accounts in people:
            client.cookies.clear()
            page = await client.get("/auth/demo")
            await client.post(
                "/auth/demo", data={"_csrf_token": csrf_token(page.text), "user_id": str(user_id)}
            )
            assert (await client.get(f"/accounts/{accounts[0]}")).status_code == 200  # warm-up, not counted
            samples, in_sql, statements = [], [], []
            for round_number in range(rounds):
                path = f"/accounts/{accounts[round_number % len(accounts)]}"
                with Statements(engine) as sent:
                    begin = time.perf_counter()
                    response = await client.get(path)
                    samples.append((time.perf_counter() - begin) * 1000)
                assert response.status_code == 200, (path, response.status_code)
                statements.append(len(sent.seen))
                in_sql.append(sum(took for _, took in sent.seen))
                for statement, took in sent.seen:
                    by_statement.setdefault(f"{who}\n{same_shape(statement)}", []).append(took)
            rows.append((who, can_see, len(accounts), samples, in_sql, min(statements), max(statements)))
    return rows, by_statement


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("backend", choices=["sqlite", "postgresql"], nargs="?", default="sqlite")
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--accounts", type=int, default=60, help="accounts in each person's sample")
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request on stderr
    with throwaway_settings(args.backend) as settings:
        rows, by_statement = asyncio.run(run(settings, args.scale, args.rounds, args.accounts))
    print(
        f"| account page ({args.backend}, scale {args.scale}) | accounts seen | sampled "
        "| p50 | p95 | max | SQL statements | of which in SQL (p50) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for who, can_see, sampled, samples, in_sql, fewest, most in rows:
        count = f"{fewest}" if fewest == most else f"{fewest} to {most}"
        print(
            f"| as {who} | {can_see:,} | {sampled} | {statistics.median(samples):.1f} ms "
            f"| {percentile(samples, 0.95):.1f} ms | {max(samples):.1f} ms | {count} "
            f"| {statistics.median(in_sql):.1f} ms |"
        )
    print(f"\n| statement ({args.backend}, scale {args.scale}) | as | per page | p50 | p95 |")
    print("| --- | --- | ---: | ---: | ---: |")
    slowest = sorted(by_statement.items(), key=lambda item: -statistics.median(item[1]))
    for key, took in slowest[:8]:
        who, statement = key.split("\n", 1)
        per_page = len(took) / args.rounds
        print(
            f"| `{label(statement)}` | {who} | {per_page:g} | {statistics.median(took):.2f} ms "
            f"| {percentile(took, 0.95):.2f} ms |"
        )
    print("\nslowest statement:\n" + slowest[0][0].split("\n", 1)[1], file=sys.stderr)


if __name__ == "__main__":
    main()
