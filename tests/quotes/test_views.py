"""The quote pages as people use them: the builder with live totals, the quote page, the printable
quote, the approvers' inbox (one tap each), and the admins' catalogue and rules."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from sqlalchemy import func, select

from server.quotes import approvals
from server.quotes import service as quotes
from server.quotes.models import ApprovalRule, Product, Quote, QuoteStatus
from tests.conftest import sign_in
from tests.quotes.conftest import quote_form

HTMX = {"HX-Request": "true"}


def builder_form(world, token: str, *lines: tuple[str, str, str, str], **values) -> dict[str, str]:
    """The builder's fields as the browser posts them: lines of (key, product, quantity, discount)."""
    form = {"_csrf_token": token, "id": "01936d3a-0000-7000-8000-00000000b001", "account_id": str(world["account"].id),
            "currency": "GBP", "valid_until": (dt.date.today() + dt.timedelta(days=14)).isoformat(),
            "discount_percent": "0", "notes": ""}  # fmt: skip
    for key, product, quantity, discount in lines:
        form |= {f"line-{key}-product_id": str(world[product].id), f"line-{key}-quantity": quantity,
                 f"line-{key}-unit_price": str(world[product].list_price), f"line-{key}-discount_percent": discount}  # fmt: skip
    return form | values


async def test_the_rep_builds_a_quote_with_live_totals_and_saves_it(client, db, world) -> None:
    token = await sign_in(client, world["rep"].id)
    page = await client.get(f"/quotes/new?account_id={world['account'].id}")
    assert page.status_code == 200 and "Acme Ltd" in page.text
    found = await client.get("/quotes/products", params={"q": "wid", "currency": "GBP"}, headers=HTMX)
    assert "Widget" in found.text and "Bolt" not in found.text and "Euro gadget" not in found.text
    row = await client.get("/quotes/line", params={"product_id": str(world["widget"].id)}, headers=HTMX)
    assert 'name="line-' in row.text and row.headers["HX-Trigger-After-Swap"] == "quote-lines-changed"
    assert "HX-Trigger" not in row.headers  # before the swap, the totals would miss the new row

    form = builder_form(world, token, ("a1", "widget", "3", "5"), ("b2", "bolt", "10", "0"))
    preview = await client.post("/quotes/preview", data=form, headers=HTMX)
    # 285.00 + 3.50: each line's amount goes into its row, the totals under the lines.
    assert 'id="amount-a1" hx-swap-oob="true">GBP 285.00' in preview.text
    assert 'id="amount-b2" hx-swap-oob="true">GBP 3.50' in preview.text
    assert "GBP 288.50" in preview.text and "Within policy" in preview.text
    deep = await client.post("/quotes/preview", data=form | {"discount_percent": "30"}, headers=HTMX)
    assert "needs approval" in deep.text and "An admin" in deep.text

    saved = await client.post("/quotes", data=form)
    assert saved.status_code == 303
    quote = await db.scalar(select(Quote))
    assert saved.headers["location"] == f"/quotes/{quote.id}"
    assert (quote.total, quote.status) == (Decimal("288.50"), QuoteStatus.DRAFT)
    shown = await client.get(f"/quotes/{quote.id}")
    assert "GBP 288.50" in shown.text and "Submit" in shown.text and "Created" in shown.text


async def test_the_rep_changes_a_quote_from_its_edit_page(client, db, world) -> None:
    quote = await quotes.create(db, world["rep"], quote_form(world, ("widget", "2", "0")))
    await db.commit()
    token = await sign_in(client, world["rep"].id)
    page = await client.get(f"/quotes/{quote.id}/edit")
    assert (
        page.status_code == 200
        and 'name="line-1-quantity" value="2"' in page.text
        and "GBP 200.00" in page.text
    )
    form = builder_form(world, token, ("1", "widget", "3", "0"), ("x9", "bolt", "4", "0")) | {
        "notes": "Two items now"
    }
    saved = await client.post(f"/quotes/{quote.id}/edit", data=form)
    assert saved.status_code == 303
    await db.refresh(quote)
    assert (quote.total, quote.revision, quote.notes) == (Decimal("301.40"), 2, "Two items now")


async def test_a_wrong_line_is_shown_next_to_its_field_and_nothing_is_saved(client, db, world) -> None:
    token = await sign_in(client, world["rep"].id)
    form = builder_form(world, token, ("a1", "widget", "3", "5"), ("b2", "bolt", "many", "0"))
    refused = await client.post("/quotes", data=form)
    assert refused.status_code == 422
    assert re.search(r'id="line-b2-quantity"[^>]*aria-invalid="true"', refused.text)
    assert 'id="line-b2-quantity-error">Enter a number.' in refused.text
    assert 'value="many"' in refused.text  # what the rep typed is kept
    assert await db.scalar(select(func.count()).select_from(Quote)) == 0


async def test_submit_then_the_manager_approves_from_the_inbox_in_one_tap(client, db, world) -> None:
    quote = await quotes.create(db, world["rep"], quote_form(world, ("widget", "10", "12")))
    await db.commit()
    token = await sign_in(client, world["rep"].id)
    submitted = await client.post(
        f"/quotes/{quote.id}/submit", data={"_csrf_token": token, "comment": "First order"}
    )
    assert submitted.status_code == 303

    token = await sign_in(client, world["manager"].id)
    assert "1 quote waits for you" in (await client.get("/")).text  # the manager's Today says so
    inbox = await client.get("/approvals")
    assert "1 quote waits for you" in inbox.text and "First order" in inbox.text
    assert "Discount 12 % — policy: above 10 %" in inbox.text
    tap = {"_csrf_token": token, "revision": "1", "comment": ""}
    card = await client.post(
        f"/quotes/{quote.id}/approve", data=tap, headers=HTMX | {"HX-Target": f"approval-{quote.id}"}
    )
    assert card.status_code == 200 and f"Quote {quote.number} approved." in card.text
    again = await client.post(
        f"/quotes/{quote.id}/approve", data=tap, headers=HTMX | {"HX-Target": f"approval-{quote.id}"}
    )
    assert again.status_code == 200  # a double tap: the same outcome, decided once
    await db.refresh(quote)
    assert quote.status is QuoteStatus.APPROVED
    assert len(await quotes.history(db, quote)) == 3
    assert "Nothing waits for your approval." in (await client.get("/approvals")).text
    assert quote.number in (await client.get("/approvals?decided=true")).text

    await sign_in(client, world["rep"].id)
    shown = await client.get(f"/quotes/{quote.id}")
    assert "Approved" in shown.text and "Mark as sent" in shown.text
    assert "was approved" in (await client.get("/reminders")).text  # the rep's inbox


async def test_a_stale_decision_is_refused_on_the_card_with_the_reason(client, db, world) -> None:
    quote = await quotes.create(db, world["rep"], quote_form(world, ("widget", "10", "12")))
    await approvals.submit(db, world["rep"], quote.id, {})
    await quotes.update(db, world["rep"], quote.id, quote_form(world, ("widget", "11", "12")))
    await approvals.submit(db, world["rep"], quote.id, {})
    await db.commit()
    token = await sign_in(client, world["manager"].id)
    tap = {"_csrf_token": token, "revision": "1"}
    card = await client.post(
        f"/quotes/{quote.id}/reject", data=tap, headers=HTMX | {"HX-Target": f"approval-{quote.id}"}
    )
    assert card.status_code == 422 and "changed since you opened it" in card.text
    await db.refresh(quote)
    assert quote.status is QuoteStatus.PENDING


async def test_who_may_see_and_decide(client, db, world) -> None:
    quote = await quotes.create(db, world["rep"], quote_form(world, ("widget", "10", "12")))
    await approvals.submit(db, world["rep"], quote.id, {})
    await db.commit()
    await sign_in(client, world["colleague"].id)
    assert (await client.get(f"/quotes/{quote.id}")).status_code == 404
    assert (await client.get("/approvals")).status_code == 403
    assert (await client.get("/admin/products")).status_code == 403
    token = await sign_in(client, world["other_manager"].id)
    assert (await client.get(f"/quotes/{quote.id}")).status_code == 404
    assert "Nothing waits" in (await client.get("/approvals")).text
    refused = await client.post(f"/quotes/{quote.id}/approve", data={"_csrf_token": token, "revision": "1"})
    assert refused.status_code == 404
    token = await sign_in(client, world["rep"].id)
    own = await client.post(f"/quotes/{quote.id}/approve", data={"_csrf_token": token, "revision": "1"})
    assert own.status_code == 403
    await db.refresh(quote)
    assert quote.status is QuoteStatus.PENDING


async def test_the_printable_quote_is_a_clean_page(client, db, world) -> None:
    quote = await quotes.create(
        db, world["rep"], quote_form(world, ("widget", "2", "0"), notes="Delivery within a week")
    )
    await db.commit()
    await sign_in(client, world["rep"].id)
    page = await client.get(f"/quotes/{quote.id}/print")
    assert page.status_code == 200
    assert "bottom-nav" not in page.text and "print.css" in page.text
    assert "Acme Ltd" in page.text and "GBP 200.00" in page.text and "Delivery within a week" in page.text
    assert "Draft: not yet approved" in page.text


async def test_admins_keep_the_catalogue_and_the_rules(client, db, world) -> None:
    token = await sign_in(client, world["admin"].id)
    made = await client.post("/admin/products", data={"_csrf_token": token, "code": "N-9", "name": "Nut", "unit": "each",
                                                      "list_price": "0.05", "currency": "GBP", "active": "yes"})  # fmt: skip
    assert made.status_code == 303
    clash = await client.post(
        "/admin/products",
        data={"_csrf_token": token, "code": "n-9", "name": "Other", "list_price": "1", "currency": "GBP"},
    )
    assert clash.status_code == 422 and "Another product has this code." in clash.text
    products = await client.get("/admin/products")
    assert "N-9" in products.text and 'href="/admin/imports?kind=products"' in products.text
    importer = await client.get("/admin/imports?kind=products")
    assert re.search(r'<option value="products"\s+selected>', importer.text)
    assert (await db.scalar(select(Product).where(Product.code == "N-9"))).name == "Nut"

    rules = await client.get("/admin/approval-rules")
    assert "Discount against list above 10 %" in rules.text
    bad = await client.post(
        "/admin/approval-rules",
        data={"_csrf_token": token, "kind": "total_above", "threshold": "5000", "approver": "admin"},
    )
    assert bad.status_code == 422 and "three-letter currency" in bad.text
    good = await client.post("/admin/approval-rules", data={"_csrf_token": token, "kind": "total_above", "threshold": "5000",
                                                            "currency": "gbp", "approver": "admin", "active": "yes"})  # fmt: skip
    assert good.status_code == 303
    assert "Total above GBP 5000" in (await client.get("/admin/approval-rules")).text
    assert await db.scalar(select(func.count()).select_from(ApprovalRule)) == 3
