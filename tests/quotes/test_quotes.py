"""Quotes: building, the totals the server works out, states, history, and who may see what."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from server.errors import NotFound, PermissionDenied, ValidationError
from server.quotes import approvals, catalogue
from server.quotes import service as quotes
from server.quotes.models import Quote, QuoteLine, QuoteStatus
from tests.conftest import run_fieldbook
from tests.quotes.conftest import quote_form


async def test_a_rep_builds_a_quote_and_the_server_works_out_the_totals(db, world) -> None:
    form = quote_form(world, ("widget", "3", "5"), ("bolt", "7", "0"), discount_percent="2.5")
    form["lines"][1]["unit_price"] = "0.33"  # a price of the rep's own
    quote = await quotes.create(db, world["rep"], form, record_id="01936d3a-0000-7000-8000-00000000a001")
    await db.commit()
    assert quote.number == "Q-1"  # the first quote of this organisation
    assert [(line.code, line.quantity, line.unit_price, line.amount) for line in quote.lines] == [
        ("W-1", Decimal(3), Decimal(100), Decimal("285.00")),
        ("B-2", Decimal(7), Decimal("0.33"), Decimal("2.31")),
    ]
    # 287.31 less 2.5 % (7.18275 -> 7.18) = 280.13
    assert (quote.subtotal, quote.total, quote.status) == (
        Decimal("287.31"),
        Decimal("280.13"),
        QuoteStatus.DRAFT,
    )
    again = await quotes.create(db, world["rep"], form, record_id="01936d3a-0000-7000-8000-00000000a001")
    assert again.id == quote.id and await db.scalar(select(func.count()).select_from(Quote)) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"currency": "pounds"}, "currency"),
        ({"valid_until": "soon"}, "valid_until"),
        ({"valid_until": "2001-01-01"}, "valid_until"),
        ({"discount_percent": "101"}, "discount_percent"),
        ({"discount_percent": "1.234"}, "discount_percent"),
        ({"lines": [{"product_id": "nope", "quantity": "1"}]}, "lines-0-product_id"),
        ({"lines": [{"product_id": "EURO", "quantity": "1"}]}, "lines-0-product_id"),
        ({"lines": [{"product_id": "WIDGET", "quantity": "0"}]}, "lines-0-quantity"),
        ({"lines": [{"product_id": "WIDGET", "quantity": "x"}]}, "lines-0-quantity"),
        ({"lines": [{"product_id": "WIDGET", "quantity": "1", "unit_price": "-1"}]}, "lines-0-unit_price"),
        ({"lines": [{"product_id": "WIDGET", "quantity": "1", "discount_percent": "150"}]}, "lines-0-discount_percent"),
    ],
)  # fmt: skip
async def test_bad_input_is_refused_field_by_field_and_nothing_is_written(db, world, change, field) -> None:
    form = quote_form(world) | change
    for line in form.get("lines", []):
        line["product_id"] = {"EURO": str(world["euro"].id), "WIDGET": str(world["widget"].id)}.get(
            line["product_id"], line["product_id"]
        )
    with pytest.raises(ValidationError) as refused:
        await quotes.create(db, world["rep"], form)
    assert field in refused.value.errors
    await db.rollback()
    assert await db.scalar(select(func.count()).select_from(Quote)) == 0
    assert await db.scalar(select(func.count()).select_from(QuoteLine)) == 0


async def test_a_quote_is_only_for_an_account_the_rep_may_see(db, world) -> None:
    with pytest.raises(NotFound):
        await quotes.create(
            db,
            world["rep"],
            quote_form(world, ("widget", "1", "0")) | {"account_id": str(world["other_account"].id)},
        )


async def test_editing_rewrites_the_lines_and_keeps_a_history(db, world) -> None:
    quote = await quotes.create(
        db, world["rep"], quote_form(world, ("widget", "1", "0"), ("bolt", "10", "0"))
    )
    await quotes.update(
        db, world["rep"], quote.id, quote_form(world, ("bolt", "20", "0"), notes="Delivery on Fridays")
    )
    await db.commit()
    assert [(line.code, line.quantity) for line in quote.lines] == [("B-2", Decimal(20))]
    assert (quote.total, quote.revision, quote.notes) == (Decimal("7.00"), 2, "Delivery on Fridays")
    # A line no longer on the quote is a tombstone (a device may hold it), not gone.
    assert (
        await db.scalar(select(func.count()).select_from(QuoteLine).where(QuoteLine.quote_id == quote.id))
        == 2
    )
    assert [event.action for event in await quotes.history(db, quote)] == ["created", "edited"]
    unchanged = await quotes.update(
        db, world["rep"], quote.id, quote_form(world, ("bolt", "20", "0"), notes="Delivery on Fridays")
    )
    assert unchanged.revision == 2  # an edit that changes nothing writes nothing


async def test_reps_see_their_own_quotes_and_managers_their_teams(db, world) -> None:
    mine = await quotes.create(db, world["rep"], quote_form(world, ("widget", "1", "0")))
    await db.commit()
    with pytest.raises(NotFound):
        await quotes.get(db, world["colleague"], mine.id)
    with pytest.raises(NotFound):
        await quotes.get(db, world["other_manager"], mine.id)
    assert (await quotes.get(db, world["manager"], mine.id)).id == mine.id
    assert (await quotes.list_quotes(db, world["colleague"])).total == 0
    assert [q.id for q in (await quotes.list_quotes(db, world["manager"])).items] == [mine.id]
    with pytest.raises(PermissionDenied):  # the manager sees it but it is the rep's to change
        await quotes.update(db, world["manager"], mine.id, quote_form(world, ("bolt", "1", "0")))


async def test_within_policy_a_submitted_quote_is_approved_at_once_then_sent_and_accepted(db, world) -> None:
    quote = await quotes.create(db, world["rep"], quote_form(world, ("widget", "2", "10")))
    await approvals.submit(db, world["rep"], quote.id, {"comment": ""})
    assert quote.status is QuoteStatus.APPROVED
    with pytest.raises(ValidationError):
        await quotes.mark_accepted(db, world["rep"], quote.id)  # not sent yet
    await quotes.mark_sent(db, world["rep"], quote.id)
    await quotes.mark_accepted(db, world["rep"], quote.id)
    await db.commit()
    assert quote.status is QuoteStatus.ACCEPTED
    with pytest.raises(ValidationError):  # what the customer accepted stays as it was
        await quotes.update(db, world["rep"], quote.id, quote_form(world, ("widget", "1", "0")))
    assert [e.action for e in await quotes.history(db, quote)] == [
        "created",
        "approved_within_policy",
        "sent",
        "accepted",
    ]


async def test_an_empty_quote_cannot_be_submitted(db, world) -> None:
    quote = await quotes.create(db, world["rep"], quote_form(world))
    with pytest.raises(ValidationError) as refused:
        await approvals.submit(db, world["rep"], quote.id, {})
    assert "lines" in refused.value.errors


async def test_quotes_past_their_date_expire_and_cannot_be_sent(db, world) -> None:
    quote = await quotes.create(db, world["rep"], quote_form(world, ("widget", "1", "0")))
    await approvals.submit(db, world["rep"], quote.id, {})
    await db.commit()
    assert await quotes.expire_due(db, quote.valid_until) == 0
    assert await quotes.expire_due(db, quote.valid_until + dt.timedelta(days=1)) == 1
    await db.commit()
    assert quote.status is QuoteStatus.EXPIRED
    with pytest.raises(ValidationError):
        await quotes.mark_sent(db, world["rep"], quote.id)
    # A new validity date makes a draft of it again.
    await quotes.update(
        db,
        world["rep"],
        quote.id,
        quote_form(
            world, ("widget", "1", "0"), valid_until=(dt.date.today() + dt.timedelta(days=60)).isoformat()
        ),
    )
    assert quote.status is QuoteStatus.DRAFT


async def test_only_admins_edit_the_catalogue(db, world) -> None:
    with pytest.raises(PermissionDenied):
        await catalogue.create_product(
            db, world["manager"], {"code": "X", "name": "X", "list_price": "1", "currency": "GBP"}
        )
    with pytest.raises(ValidationError) as refused:
        await catalogue.create_product(
            db, world["admin"], {"code": "w-1", "name": "Copy", "list_price": "1", "currency": "GBP"}
        )
    assert "code" in refused.value.errors  # codes are unique, whatever their case
    await catalogue.update_product(db, world["admin"], world["bolt"].id, {"code": "B-2", "name": "Bolt", "list_price": "0.40",
                                                                          "currency": "GBP", "active": "no"})  # fmt: skip
    await db.commit()
    assert [p.code for p in (await catalogue.search_products(db, currency="GBP")).items] == ["W-1"]


async def test_the_daily_command_expires_quotes_past_their_date(db, world, settings, tmp_path) -> None:
    quote = await quotes.create(db, world["rep"], quote_form(world, ("widget", "1", "0")))
    await db.commit()
    await db.execute(update(Quote).where(Quote.id == quote.id).values(valid_until=dt.date(2020, 1, 1)))
    await db.commit()
    done = await run_fieldbook(settings, tmp_path, "expire-quotes")
    assert done.returncode == 0, done.stderr
    assert "1 quotes expired." in done.stdout
    await db.refresh(quote)
    assert quote.status is QuoteStatus.EXPIRED
