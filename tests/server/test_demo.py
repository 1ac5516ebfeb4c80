"""The demo data set: realistic, deterministic, and safe to load twice."""

from __future__ import annotations

from sqlalchemy import func, select

from server.accounts.models import Account
from server.contacts.models import Contact
from server.db import current_version
from server.demo import generate, load_demo
from server.orders.models import Order, OrderLine
from server.users.models import Role, Team, User


async def test_demo_loads_a_whole_organisation_once(app, db) -> None:
    added = await load_demo(app.state["alchemy"])
    assert added["accounts"] == 2000
    version = await current_version(db)

    teams = await db.scalar(select(func.count()).select_from(Team))
    reps = await db.scalar(select(func.count()).select_from(User).where(User.role == Role.REP))
    managers = await db.scalar(select(func.count()).select_from(User).where(User.role == Role.MANAGER))
    admins = await db.scalar(select(func.count()).select_from(User).where(User.role == Role.ADMIN))
    assert teams >= 3 and reps >= 20 and managers >= 3 and admins >= 1
    assert await db.scalar(select(func.count()).select_from(Contact)) >= 2000

    # Around Greater Manchester, every account with a location and an owning rep.
    lat_min, lat_max, lon_min, lon_max = (
        await db.execute(
            select(
                func.min(Account.latitude),
                func.max(Account.latitude),
                func.min(Account.longitude),
                func.max(Account.longitude),
            )
        )
    ).one()
    assert 53.3 < lat_min < lat_max < 53.7 and -2.5 < lon_min < lon_max < -2.0

    # Order history for the order lookup and the account page: totals add up to their lines.
    assert await db.scalar(select(func.count()).select_from(Order)) >= 5000
    # Compared in Python: SQLite keeps NUMERIC as floating point, read back exactly at the column's scale.
    totals = dict((await db.execute(select(Order.id, Order.total))).tuples().all())
    line_sums = (await db.execute(
        select(OrderLine.order_id, func.sum(OrderLine.amount, type_=OrderLine.amount.type)).group_by(OrderLine.order_id)
    )).tuples().all()  # fmt: skip
    assert {order_id: amount for order_id, amount in line_sums} == totals

    again = await load_demo(app.state["alchemy"])
    assert set(again.values()) == {0}
    assert await current_version(db) == version  # nothing was touched the second time
    assert await db.scalar(select(func.count()).select_from(Account)) == 2000


def test_demo_is_deterministic_and_scales() -> None:
    first, second = generate(), generate()
    assert first.rows[Account] == second.rows[Account]
    assert len(generate(scale=2).rows[Account]) == 4000
