"""Quotes in Chromium: a rep submits a quote over the policy's threshold, the manager approves it
from the inbox on a phone-sized screen and the rep sees it approved; a manager decides with no
signal and the decision reaches the server once; a rep drafts a quote with no signal, its totals
worked out on the phone exactly as the server then stores them.

Data is arranged through the server's own commands; the network is really cut (`go_offline`).
"""

from __future__ import annotations

import datetime as dt
import random
import re
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from playwright.sync_api import Page, expect
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.quotes import approvals, catalogue, pricing
from server.quotes import service as quotes
from server.quotes.models import Quote, QuoteEvent, QuoteStatus
from server.users.models import Role, User
from tests.browser.conftest import (
    BAKERY,
    Phone,
    Seed,
    expect_synced,
    go_offline,
    ready_for_the_road,
    run_db,
    sign_in,
    status,
)
from tests.browser.test_offline import badge, heading, ledger, sync_now, wait_until
from tests.factories import make_user

# The manager's phone: a common phone's screen, and touch.
MANAGER_PHONE = {"viewport": {"width": 390, "height": 844}}


def arrange_catalogue(database_url: str) -> dict[str, uuid.UUID]:
    """Products in pounds and the issue's policy: above 10 % the rep's manager, above 25 % an admin."""

    async def work(db: AsyncSession) -> dict[str, uuid.UUID]:
        admin = await make_user(db, Role.ADMIN, name="Ada Admin")
        made = {}
        for key, code, name, price in (("widget", "W-1", "Widget", "100"), ("bolt", "B-2", "Bolt", "0.35")):
            raw = {"code": code, "name": name, "unit": "box", "list_price": price, "currency": "GBP"}
            made[key] = (await catalogue.create_product(db, admin, raw)).id
        for threshold, approver in (("10", "manager"), ("25", "admin")):
            await catalogue.add_rule(
                db, admin, {"kind": "discount_above", "threshold": threshold, "approver": approver}
            )
        await db.commit()
        return made

    return run_db(database_url, work)


def arrange_pending_quote(database_url: str, seed: Seed, products: dict[str, uuid.UUID]) -> uuid.UUID:
    """The rep's quote for the bakery, 12 % off the widget, submitted with a comment."""

    async def work(db: AsyncSession) -> uuid.UUID:
        rep = await db.get(User, seed.rep.id)
        raw = {"account_id": str(seed.account(BAKERY).id), "currency": "GBP", "discount_percent": "0",
               "valid_until": (dt.date.today() + dt.timedelta(days=30)).isoformat(),
               "lines": [{"product_id": str(products["widget"]), "quantity": "10", "discount_percent": "12"}]}  # fmt: skip
        quote = await quotes.create(db, rep, raw)
        await approvals.submit(db, rep, quote.id, {"comment": "They order every month"})
        await db.commit()
        return quote.id

    return run_db(database_url, work)


def quote_facts(database_url: str, quote_id: Any = None) -> dict[str, Any]:
    """The quote (the only one, unless named) and how often each event of its history happened."""

    async def work(db: AsyncSession) -> dict[str, Any]:
        quote = await db.get(Quote, quote_id) if quote_id else await db.scalar(select(Quote))
        if quote is None:
            return {}
        events = await db.execute(
            select(QuoteEvent.action, func.count())
            .where(QuoteEvent.quote_id == quote.id)
            .group_by(QuoteEvent.action)
        )
        count = await db.scalar(select(func.count()).select_from(Quote))
        return {"quote": quote, "events": dict(events.all()), "quotes": count}

    return run_db(database_url, work)


def no_problems_but_the_cut(phone: Phone) -> None:
    """Nothing went wrong in the page, but the requests that found no network while it was cut."""
    assert [p for p in phone.problems.all() if "net::ERR_INTERNET_DISCONNECTED" not in p] == []


def totals_box(page: Page):
    return page.locator("#quote-totals")


# --- online: the scenario through the real pages ----------------------------------------


def test_a_manager_approves_a_quote_over_the_threshold_from_a_phone(
    open_phone: Callable[..., Phone], seed: Seed, database_url: str
) -> None:
    arrange_catalogue(database_url)
    bakery = seed.account(BAKERY)
    rep = open_phone()
    page = rep.page
    sign_in(page, seed.rep, f"/accounts/{bakery.id}")
    page.get_by_role("link", name="New quote").click()
    expect(page.locator("h1")).to_have_text("New quote")
    page.get_by_label("Add a product").fill("wid")
    page.get_by_role("button", name="Add Widget").click()
    expect(page.get_by_label("Quantity (Widget)")).to_have_value("1")
    expect(totals_box(page)).to_contain_text("GBP 100.00")  # the new line counted at once
    expect(totals_box(page)).to_contain_text("Within policy")
    page.get_by_label("Quantity (Widget)").fill("10")
    page.get_by_label("Discount % (Widget)").fill("12")
    expect(totals_box(page)).to_contain_text("This quote needs approval")
    expect(totals_box(page)).to_contain_text("Discount 12 % — policy: above 10 %")
    expect(totals_box(page)).to_contain_text("GBP 880.00")
    page.get_by_role("button", name="Save quote").click()
    expect(page.locator("h1")).to_have_text(re.compile(r"^Quote Q-\d+$"))
    quote_id = quote_facts(database_url)["quote"].id
    page.get_by_label("A word for the approver (optional)").fill("They order every month")
    page.get_by_role("button", name="Submit").click()
    expect(page.locator(".page-head .badge")).to_have_text("Waiting for approval")

    manager = open_phone(**MANAGER_PHONE)
    inbox = manager.page
    sign_in(inbox, seed.manager, "/approvals")
    card = inbox.locator(f"#approval-{quote_id}")
    expect(card).to_contain_text(BAKERY)
    expect(card).to_contain_text("GBP 880.00")
    expect(card).to_contain_text("Discount 12 % — policy: above 10 %")
    expect(card).to_contain_text("They order every month")
    card.get_by_role("button", name="Approve").click()
    expect(inbox.locator(f"#approval-{quote_id}")).to_contain_text("approved")

    page.reload()
    expect(page.locator(".page-head .badge")).to_have_text("Approved")
    page.goto("/reminders")
    expect(page.locator("main")).to_contain_text(re.compile(r"Quote Q-\d+ for .* was approved"))
    facts = quote_facts(database_url, quote_id)
    assert facts["quote"].status is QuoteStatus.APPROVED and facts["events"]["approved"] == 1
    assert rep.problems.all() == [] and manager.problems.all() == []


# --- offline ------------------------------------------------------------------------------------------


def test_a_manager_approves_with_no_signal_and_the_decision_reaches_the_server_once(
    open_phone: Callable[..., Phone], seed: Seed, database_url: str
) -> None:
    quote_id = arrange_pending_quote(database_url, seed, arrange_catalogue(database_url))
    phone = open_phone(**MANAGER_PHONE)
    page = phone.page
    ready_for_the_road(phone, seed.manager)
    go_offline(phone)

    page.goto("/approvals")
    expect(heading(page)).to_have_text("Approvals")
    card = page.locator(f"#approval-{quote_id}")
    expect(card).to_contain_text(BAKERY)
    expect(card).to_contain_text("£880.00")
    expect(card).to_contain_text("12.00 %")
    expect(card).to_contain_text("Discount 12 % — policy: above 10 %")
    expect(card).to_contain_text("They order every month")
    card.get_by_label("Comment (optional)").fill("Fine for a monthly customer")
    card.get_by_role("button", name="Approve").click()
    expect(page.get_by_text("Nothing waits for your approval.")).to_be_visible()
    decided = page.locator("#briefcase li", has_text=BAKERY)
    expect(decided).to_contain_text("Approved")
    expect(decided).to_contain_text("Pending")
    expect(status(page)).to_have_text("Offline · 1 waiting to sync")
    assert quote_facts(database_url, quote_id)["quote"].status is QuoteStatus.PENDING

    phone.context.set_offline(False)
    sync_now(page)
    expect_synced(page)
    wait_until(page, lambda: quote_facts(database_url, quote_id)["quote"].status is QuoteStatus.APPROVED,
               "the decision did not reach the server")  # fmt: skip
    facts = quote_facts(database_url, quote_id)
    assert facts["events"]["approved"] == 1
    assert ledger(database_url, seed.manager.id) == [(1, "quotes.approve", "applied")]
    page.goto(f"/quotes/{quote_id}")
    expect(page.locator("main")).to_contain_text("Fine for a monthly customer")
    no_problems_but_the_cut(phone)


PRICING = """(cases) => cases.map(([lines, discount, currency]) => FieldbookPricing.totals(lines, discount, currency))"""


def pricing_cases(count: int) -> list[tuple[list[dict[str, str]], str, str]]:
    """Quotes with awkward numbers (halves of a cent, three-decimal quantities) in 0, 2 and 3 decimal currencies."""
    chance = random.Random(6)
    cases = []
    for _ in range(count):
        lines = []
        for _ in range(chance.randint(1, 4)):
            unit = Decimal(chance.randint(0, 10**7)).scaleb(-3)
            lines.append({"quantity": str(Decimal(chance.randint(1, 10**5)).scaleb(-chance.randint(0, 3))),
                          "unit_price": str(unit), "list_price": str(unit + Decimal(chance.randint(0, 5000)).scaleb(-2)),
                          "discount_percent": str(Decimal(chance.randint(0, 10000)).scaleb(-2))})  # fmt: skip
        discount = str(Decimal(chance.choice([0, 250, 1250, 3333, 5, 9999])).scaleb(-2))
        cases.append((lines, discount, chance.choice(["GBP", "JPY", "KWD", "EUR"])))
    return cases


def server_totals(lines: list[dict[str, str]], discount: str, currency: str) -> dict[str, Any]:
    priced = [pricing.Line(Decimal(line["quantity"]), Decimal(line["unit_price"]), Decimal(line["list_price"]),
                           Decimal(line["discount_percent"])) for line in lines]  # fmt: skip
    found = pricing.totals(priced, Decimal(discount), currency)
    return {"amounts": [str(amount) for amount in found.amounts], "list_total": str(found.list_total),
            "subtotal": str(found.subtotal), "discount": str(found.discount), "total": str(found.total),
            "discount_percent": str(found.discount_percent)}  # fmt: skip


def test_a_rep_drafts_a_quote_with_no_signal_and_it_reaches_the_server_once_with_the_same_totals(
    open_phone: Callable[..., Phone], seed: Seed, database_url: str
) -> None:
    arrange_catalogue(database_url)
    bakery = seed.account(BAKERY)
    phone = open_phone()
    page = phone.page
    ready_for_the_road(phone, seed.rep)
    go_offline(phone)

    # The phone's arithmetic is the server's, to the last minor unit, in every currency.
    cases = pricing_cases(300)
    page.goto("/quotes")
    expect(heading(page)).to_have_text("Quotes")
    assert page.evaluate(PRICING, cases) == [server_totals(*case) for case in cases]

    page.goto(f"/accounts/{bakery.id}")
    page.get_by_role("link", name="New quote").click()
    expect(heading(page)).to_have_text("New quote")
    page.get_by_label("Add a product").fill("wid")
    page.get_by_role("button", name="Add Widget").click()
    expect(page.get_by_label("Quantity (Widget)")).to_be_focused()
    page.get_by_label("Quantity (Widget)").fill("3")
    page.get_by_label("Discount % (Widget)").fill("5")
    expect(page.locator("#amount-n1")).to_have_text("£285.00")
    expect(totals_box(page)).to_contain_text("Within policy")
    page.get_by_label("Add a product").fill("b-2")
    page.get_by_role("button", name="Add Bolt").click()
    page.get_by_label("Quantity (Bolt)").fill("10")
    page.get_by_label("Discount on the whole quote (%)").fill("2.5")
    expect(totals_box(page)).to_contain_text("£288.50")  # the lines
    expect(totals_box(page)).to_contain_text("\u2212 £7.21")  # 2.5 % of 288.50 is 7.2125
    expect(totals_box(page)).to_contain_text("£281.29")
    page.get_by_label("Discount on the whole quote (%)").fill("9.5")  # 13.97 % against list
    expect(totals_box(page)).to_contain_text("This quote needs approval")
    page.get_by_label("Discount on the whole quote (%)").fill("2.5")
    expect(totals_box(page)).not_to_contain_text("needs approval")
    page.get_by_label("Notes for the customer").fill("Delivery in March")
    page.get_by_role("button", name="Save quote").click()

    expect(page).to_have_url(re.compile(r"/quotes/[0-9a-f-]{36}$"))
    quote_id = uuid.UUID(page.url.rsplit("/", 1)[1])
    expect(badge(page, "Draft")).to_be_visible()
    expect(badge(page, "Pending")).to_be_visible()
    expect(page.locator("#briefcase tfoot")).to_contain_text("£281.29")
    page.goto("/quotes")
    expect(page.locator("#briefcase li", has_text=BAKERY)).to_contain_text("Pending")
    assert quote_facts(database_url) == {}

    phone.context.set_offline(False)
    sync_now(page)
    expect_synced(page)
    wait_until(page, lambda: bool(quote_facts(database_url)), "the quote did not reach the server")
    facts = quote_facts(database_url)
    quote = facts["quote"]
    assert (quote.id, quote.status, quote.owner_id, quote.account_id) == (
        quote_id,
        QuoteStatus.DRAFT,
        seed.rep.id,
        bakery.id,
    )
    assert (quote.subtotal, quote.total, quote.notes) == (
        Decimal("288.50"),
        Decimal("281.29"),
        "Delivery in March",
    )
    assert facts["quotes"] == 1 and facts["events"] == {"created": 1}
    assert ledger(database_url, seed.rep.id) == [(1, "quotes.create", "applied")]
    page.goto(f"/quotes/{quote_id}")
    expect(page.locator("h1")).to_have_text(f"Quote {quote.number}")
    no_problems_but_the_cut(phone)
