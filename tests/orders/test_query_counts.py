"""No query per row: the lists and the account page cost the same few queries for 3 rows or 30."""

from __future__ import annotations

import contextlib
import datetime as dt
from decimal import Decimal

from sqlalchemy import event

from server.leads import service as leads
from server.orders import service as orders
from server.orders.models import OrderStatus
from server.visits import service as visits
from tests.conftest import sign_in
from tests.factories import make_account, make_contact, make_user


@contextlib.contextmanager
def counting(app):
    statements: list[str] = []
    engine = app.state["alchemy"].get_engine().sync_engine

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def _orders_for(db, account, how_many: int, start: int) -> None:
    for number in range(start, start + how_many):
        data = orders.OrderIn(
            customer_number=account.customer_number, status=OrderStatus.SHIPPED, currency="GBP",
            ordered_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=number),
            lines=[orders.OrderLineIn(sku=f"SKU-{line}", quantity=Decimal(1), unit_price=Decimal(2)) for line in range(3)],
        )  # fmt: skip
        await orders.upsert(db, f"SO-{number}", data)
    await db.commit()


async def _visits_and_leads(db, rep, account, how_many: int) -> None:
    for number in range(how_many):
        await visits.plan(db, rep, {"account_id": str(account.id), "planned_on": f"2026-11-{number + 1:02d}"})
        await leads.capture(
            db, rep, {"company": account.name, "name": f"Lead {number}", "phone": "0161 496 0000"}
        )
    await db.commit()


async def test_pages_cost_the_same_queries_however_many_rows(app, client, db) -> None:
    rep = await make_user(db)
    account = await make_account(db, rep, name="Busy Customer", customer_number="C1")
    await sign_in(client, rep.id)
    pages = ["/orders", f"/accounts/{account.id}", "/accounts", "/orders/SO-0"]

    async def queries_per_page() -> list[int]:
        counts = []
        for path in pages:
            with counting(app) as statements:
                assert (await client.get(path)).status_code == 200
            counts.append(len(statements))
        return counts

    await _orders_for(db, account, 3, 0)
    for number in range(3):
        await make_account(db, rep, name=f"Shop {number}")
    await make_contact(db, rep, account)
    await _visits_and_leads(db, rep, account, 1)
    few = await queries_per_page()

    await _orders_for(db, account, 27, 3)
    for number in range(3, 24):
        await make_account(db, rep, name=f"Shop {number}")
    for _ in range(8):
        await make_contact(db, rep, account)
    await _visits_and_leads(db, rep, account, 8)
    many = await queries_per_page()

    assert many == few, dict(zip(pages, zip(few, many, strict=True), strict=True))
    # The account page is the busiest: it shows contacts, visits, orders, leads and the tier's order value.
    assert max(many) <= 9, dict(zip(pages, many, strict=True))
