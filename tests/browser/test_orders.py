"""Looking up an order by number on the phone, in Chromium."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from playwright.sync_api import expect
from sqlalchemy import update

from server.accounts.models import Account
from server.orders import service as orders
from server.orders.models import OrderStatus
from tests.browser.conftest import BAKERY, run_db, sign_in


async def _an_order_for_the_bakery(db) -> None:
    await db.execute(update(Account).where(Account.name == BAKERY).values(customer_number="C-BAKERY"))
    line = orders.OrderLineIn
    await orders.upsert(
        db,
        "SO-77001",
        orders.OrderIn(
            customer_number="C-BAKERY", status=OrderStatus.SHIPPED, currency="GBP", customer_po="PO-4411",
            ordered_at=dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC),
            lines=[line(sku="FLOUR-16", description="Strong flour, 16 kg", quantity=Decimal(4), unit_price=Decimal("18.60")),
                   line(sku="CUPS-12", description="Paper cups 12 oz, 1000", quantity=Decimal(1), unit_price=Decimal("41.00"))],
        ),
    )  # fmt: skip
    # A second order, so that a search which stopped filtering would show two.
    await orders.upsert(
        db,
        "SO-88002",
        orders.OrderIn(
            customer_number="C-BAKERY", status=OrderStatus.PLACED, currency="GBP",
            ordered_at=dt.datetime(2026, 11, 9, 9, tzinfo=dt.UTC),
            lines=[line(sku="CUPS-12", quantity=Decimal(2), unit_price=Decimal("41.00"))],
        ),
    )  # fmt: skip
    await db.commit()


def test_look_up_an_order_by_number(phone, seed, database_url) -> None:
    run_db(database_url, _an_order_for_the_bakery)
    page = phone.page
    sign_in(page, seed.rep)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Orders").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Orders")
    expect(page.get_by_role("status").filter(has_text="order")).to_have_text(re.compile(r"^\s*2 orders\s*$"))

    page.get_by_label("Search orders by number, account or PO").fill("77001")
    # The search answers after a short pause and puts the query in the address: wait for it, so
    # the tap below is not overtaken by the results arriving.
    expect(page).to_have_url(re.compile(r"/orders\?q=77001"))
    expect(page.get_by_role("status").filter(has_text="order")).to_have_text(re.compile(r"^\s*1 order\s*$"))
    page.get_by_role("link", name=re.compile("SO-77001")).click()

    expect(page).to_have_url(re.compile(r"/orders/SO-77001$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Order SO-77001")
    expect(page.get_by_role("cell", name=re.compile("Strong flour, 16 kg"))).to_be_visible()
    expect(page.locator("tfoot")).to_contain_text("GBP 115.40")  # 4 x 18.60 + 41.00
    expect(page.locator(".timeline li.done")).to_have_count(3)  # placed, confirmed, shipped
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
