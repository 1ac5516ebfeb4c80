"""Quotes: the named commands a rep uses (create, update, mark sent, mark accepted) and the lists.

A quote's lines are written with the quote and travel with it; its totals are worked out here
with `pricing`, never taken from the client. Submitting and deciding are in `approvals`.
Every change leaves an event in the quote's history.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from advanced_alchemy.service import OffsetPagination
from sqlalchemy import func, select
from sqlalchemy import update as update_rows

from server.accounts import service as accounts
from server.auth import get_visible, visible
from server.commands import apply_changes, client_id, insert
from server.db import new_id, stamp, utcnow
from server.errors import Message, PermissionDenied, ValidationError
from server.i18n import N_
from server.quotes import pricing
from server.quotes.models import Product, Quote, QuoteEvent, QuoteLine, QuoteNumber, QuoteStatus
from server.validation import Fields, parse_uuid

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from server.users.models import User

FIELDS = ("account_id", "currency", "discount_percent", "valid_until", "notes", "total")
LINE_VALUES = ("product_id", "quantity", "unit_price", "discount_percent")
MAX_LINES = 200
VALID_DAYS = 30  # a new quote's validity, unless the rep chooses another date
PAGE_SIZE = 25
# A rep may change a quote until it has gone to the customer.
EDITABLE = frozenset({QuoteStatus.DRAFT, QuoteStatus.PENDING, QuoteStatus.APPROVED, QuoteStatus.REJECTED,
                      QuoteStatus.EXPIRED})  # fmt: skip
# Statuses a quote can expire from when its validity date passes.
OPEN = frozenset({QuoteStatus.DRAFT, QuoteStatus.PENDING, QuoteStatus.APPROVED, QuoteStatus.SENT})
_FORM_LINE = re.compile(r"^line-([\w-]{1,40})-(\w+)$")


@dataclass(frozen=True)
class LineInput:
    """A validated line, with the product it quotes."""

    product: Product
    quantity: Decimal
    unit_price: Decimal
    discount_percent: Decimal

    def priced(self) -> pricing.Line:
        return pricing.Line(self.quantity, self.unit_price, self.product.list_price, self.discount_percent)


def decimal(
    fields: Fields, name: str, *, minimum: Decimal, maximum: Decimal, places: int, required: bool = False
) -> Decimal | None:
    """Read an exact decimal (a dot or a comma before the decimals) into `fields`."""
    value = str(fields.raw.get(name) or "").strip().replace(",", ".")
    if not value:
        if required:
            fields.error(name, Message(N_("This field is required.")))
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        fields.error(name, Message(N_("Enter a number.")))
        return None
    if not minimum <= number <= maximum:
        fields.error(
            name, Message(N_("Enter a number from %(min)s to %(max)s."), {"min": minimum, "max": maximum})
        )
        return None
    if -number.as_tuple().exponent > places:
        fields.error(name, Message(N_("Use at most %(places)s decimals."), {"places": places}))
        return None
    fields.values[name] = number
    return number


def lines_from(raw: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The lines of a quote: a list from a synced mutation, or `line-<key>-<field>` form fields
    (in the order the form holds them; each line keeps its `key`, so a form can show its errors)."""
    given = raw.get("lines")
    if isinstance(given, list):
        return [line if isinstance(line, Mapping) else {} for line in given]
    lines: dict[str, dict[str, Any]] = {}
    for name, value in raw.items():
        if match := _FORM_LINE.match(str(name)):
            lines.setdefault(match[1], {"key": match[1]})[match[2]] = value
    return list(lines.values())


async def _products(session: AsyncSession, raw_lines: list[Mapping[str, Any]]) -> dict[uuid.UUID, Product]:
    ids = {parse_uuid(line.get("product_id")) for line in raw_lines} - {None}
    if not ids:
        return {}
    rows = await session.scalars(select(Product).where(Product.id.in_(ids), Product.deleted_at.is_(None)))
    return {product.id: product for product in rows}


async def _validate_lines(
    session: AsyncSession, raw_lines: list[Mapping[str, Any]], currency: str, quoted: set[uuid.UUID] | None
) -> tuple[list[LineInput], dict[str, Message]]:
    """Each line's product (active, or already on the quote; any, for a preview: `quoted` None),
    quantity, price and discount.
    Errors are named `lines-<index>-<field>` after the line's place (0 first)."""
    errors: dict[str, Message] = {}
    if len(raw_lines) > MAX_LINES:
        return [], {"lines": Message(N_("A quote has at most %(max)s lines."), {"max": MAX_LINES})}
    products = await _products(session, raw_lines)
    lines = []
    for index, raw in enumerate(raw_lines):
        fields = Fields(raw)
        product = products.get(parse_uuid(raw.get("product_id")))  # type: ignore[arg-type]
        if product is None or not (product.active or quoted is None or product.id in quoted):
            fields.error("product_id", Message(N_("Choose a product from the catalogue.")))
        elif product.currency != currency:
            fields.error("product_id", Message(N_("This product is priced in %(currency)s; the quote is in another currency."),
                                               {"currency": product.currency}))  # fmt: skip
        quantity = decimal(
            fields, "quantity", minimum=Decimal("0.001"), maximum=Decimal(1_000_000), places=3, required=True
        )
        price = decimal(fields, "unit_price", minimum=Decimal(0), maximum=Decimal(10) ** 10, places=3)
        discount = decimal(fields, "discount_percent", minimum=Decimal(0), maximum=Decimal(100), places=2)
        errors |= {f"lines-{index}-{name}": message for name, message in fields.errors.items()}
        if not fields.errors and product is not None and quantity is not None:
            unit_price = product.list_price if price is None else price
            lines.append(LineInput(product, quantity, unit_price, discount or Decimal(0)))
    return lines, errors


async def _validate(
    session: AsyncSession, raw: Mapping[str, Any], currency: str, quoted: set[uuid.UUID]
) -> tuple[dict[str, Any], list[LineInput]]:
    fields = Fields(raw)
    fields.date("valid_until", required=True)
    fields.text("notes", max_length=5_000)
    decimal(fields, "discount_percent", minimum=Decimal(0), maximum=Decimal(100), places=2)
    lines, line_errors = await _validate_lines(session, lines_from(raw), currency, quoted)
    for name, message in line_errors.items():
        fields.error(name, message)
    values = fields.result()
    values.setdefault("discount_percent", Decimal(0))
    return values, lines


def _check_currency(raw: Mapping[str, Any]) -> str:
    currency = str(raw.get("currency") or "").strip().upper()
    if not pricing.is_currency(currency):
        raise ValidationError({"currency": Message(N_("Use a three-letter currency code such as GBP."))})
    return currency


def _totals(values: Mapping[str, Any], lines: list[LineInput], currency: str) -> pricing.Totals:
    return pricing.totals([line.priced() for line in lines], values["discount_percent"], currency)


def record_event(
    session: AsyncSession, actor: User | None, quote: Quote, action: str, comment: str = ""
) -> QuoteEvent:
    """Add a line to the quote's history (insert-only; its version is the change that made it)."""
    event = QuoteEvent(
        id=new_id(), quote_id=quote.id, actor_id=actor.id if actor else None, action=action, status=quote.status,
        revision=quote.revision, total=quote.total, comment=comment, happened_at=utcnow(),
    )  # fmt: skip
    stamp(event, quote.version)
    event.created_at = event.updated_at
    session.add(event)
    return event


async def _write_lines(
    session: AsyncSession, quote: Quote, lines: list[LineInput], amounts: tuple[Decimal, ...]
) -> None:
    """Make the quote's lines these: rewrite them by position, tombstone the rest."""
    existing = {
        line.position: line
        for line in await session.scalars(select(QuoteLine).where(QuoteLine.quote_id == quote.id))
    }
    for position, (line, amount) in enumerate(zip(lines, amounts, strict=True), start=1):
        row = existing.pop(position, None) or QuoteLine(id=new_id(), quote_id=quote.id, position=position)
        row.product_id, row.code, row.name, row.unit = (
            line.product.id,
            line.product.code,
            line.product.name,
            line.product.unit,
        )
        row.list_price, row.quantity, row.unit_price = line.product.list_price, line.quantity, line.unit_price
        row.discount_percent, row.amount, row.deleted_at = line.discount_percent, amount, None
        stamp(row, quote.version)
        session.add(row)
    for row in existing.values():
        if row.deleted_at is None:
            row.deleted_at = utcnow()
            stamp(row, quote.version)
    await session.flush()
    await session.refresh(quote, ["lines"])


def _line_key(line: Any) -> tuple[Any, ...]:
    return (line.product_id if isinstance(line, QuoteLine) else line.product.id, line.quantity, line.unit_price,
            line.discount_percent)  # fmt: skip


async def _next_number(session: AsyncSession) -> int:
    number = await session.scalar(
        update_rows(QuoteNumber)
        .where(QuoteNumber.id == 1)
        .values(last=QuoteNumber.last + 1)
        .returning(QuoteNumber.last)
    )
    if number is None:  # a database created without migrations (only possible by hand)
        raise RuntimeError("quote_numbers is empty: run `fieldbook database upgrade`")
    return number


async def create(
    session: AsyncSession, actor: User, raw: Mapping[str, Any], *, record_id: Any = None
) -> Quote:
    """quotes.create: a draft quote for an account the rep may see. A replay makes nothing twice."""
    quote_id = client_id(record_id)
    if (existing := await session.get(Quote, quote_id)) is not None:
        if existing.owner_id != actor.id:
            raise ValidationError({"id": Message(N_("Choose one of the options."))})
        return existing
    fields = Fields(raw)
    fields.uuid("account_id", required=True)
    account = await accounts.get(session, actor, fields.result()["account_id"])
    currency = _check_currency(raw)
    values, lines = await _validate(session, raw, currency, set())
    if values["valid_until"] < utcnow().astimezone(actor.zone).date():
        raise ValidationError({"valid_until": Message(N_("Choose a date from today on."))})
    totals = _totals(values, lines, currency)
    quote = Quote(
        id=quote_id, account_id=account.id, owner_id=actor.id, currency=currency, status=QuoteStatus.DRAFT,
        list_total=totals.list_total, subtotal=totals.subtotal, total=totals.total, **values,
    )  # fmt: skip
    await insert(session, actor, quote, "quotes.create", FIELDS)
    quote.number = f"Q-{await _next_number(session)}"
    await _write_lines(session, quote, lines, totals.amounts)
    record_event(session, actor, quote, "created")
    return quote


async def get(session: AsyncSession, actor: User, quote_id: Any, *, for_change: bool = False) -> Quote:
    return await get_visible(session, actor, Quote, quote_id, for_change=for_change)


async def owned(session: AsyncSession, actor: User, quote_id: Any) -> Quote:
    quote = await get(session, actor, quote_id, for_change=True)
    if quote.owner_id != actor.id:
        raise PermissionDenied(Message(N_("Only the rep who made a quote can change it.")))
    return quote


async def update(session: AsyncSession, actor: User, quote_id: Any, raw: Mapping[str, Any]) -> Quote:
    """quotes.update: new lines, prices, discounts, validity or notes.

    A quote waiting for approval goes back to draft (its approvers are told no more); an approved
    one whose prices or discounts change goes back for approval; a rejected or expired one becomes
    a draft again. A quote already sent to the customer is not changed.
    """
    from server.quotes import approvals  # approvals builds on this module

    quote = await owned(session, actor, quote_id)
    if quote.status not in EDITABLE:
        raise ValidationError(
            {"status": Message(N_("This quote went to the customer; it can no longer be changed."))}
        )
    values, lines = await _validate(session, raw, quote.currency, {line.product_id for line in quote.lines})
    priced_anew = [_line_key(line) for line in lines] != [_line_key(line) for line in quote.lines] or (
        values["discount_percent"] != quote.discount_percent
    )
    offer_changed = (
        priced_anew or values["valid_until"] != quote.valid_until or values["notes"] != quote.notes
    )
    if not offer_changed:
        return quote
    if (
        values["valid_until"] != quote.valid_until
        and values["valid_until"] < utcnow().astimezone(actor.zone).date()
    ):
        raise ValidationError({"valid_until": Message(N_("Choose a date from today on."))})
    totals = _totals(values, lines, quote.currency)
    was = quote.status
    status = QuoteStatus.APPROVED if was is QuoteStatus.APPROVED and not priced_anew else QuoteStatus.DRAFT
    values |= {"list_total": totals.list_total, "subtotal": totals.subtotal, "total": totals.total,
               "revision": quote.revision + 1, "status": status}  # fmt: skip
    await apply_changes(session, actor, quote, values, "quotes.update")
    await _write_lines(session, quote, lines, totals.amounts)
    if was is QuoteStatus.PENDING:
        await approvals.withdraw(session, quote)
    record_event(session, actor, quote, "edited")
    if was is QuoteStatus.APPROVED and priced_anew:  # back for approval, with the rep's earlier comment
        await approvals.submit(session, actor, quote.id, {"comment": quote.comment})
    return quote


async def _move(session: AsyncSession, actor: User, quote: Quote, status: QuoteStatus, action: str) -> Quote:
    await apply_changes(session, actor, quote, {"status": status}, f"quotes.{action}")
    record_event(session, actor, quote, action)
    return quote


def check_valid(quote: Quote, today: dt.date) -> None:
    if quote.valid_until < today:
        raise ValidationError({"valid_until": Message(N_("This quote expired on %(date)s: choose a new validity date first."),
                                                      {"date": quote.valid_until.isoformat()})})  # fmt: skip


async def mark_sent(session: AsyncSession, actor: User, quote_id: Any) -> Quote:
    """quotes.mark_sent: the approved quote went to the customer. Sending it again changes nothing."""
    quote = await owned(session, actor, quote_id)
    if quote.status is QuoteStatus.SENT:
        return quote
    if quote.status is not QuoteStatus.APPROVED:
        raise ValidationError({"status": Message(N_("Only an approved quote can be sent."))})
    check_valid(quote, utcnow().astimezone(actor.zone).date())
    return await _move(session, actor, quote, QuoteStatus.SENT, "sent")


async def mark_accepted(session: AsyncSession, actor: User, quote_id: Any) -> Quote:
    """quotes.mark_accepted: the customer said yes to the quote they were sent."""
    quote = await owned(session, actor, quote_id)
    if quote.status is QuoteStatus.ACCEPTED:
        return quote
    if quote.status is not QuoteStatus.SENT:
        raise ValidationError({"status": Message(N_("Only a quote that was sent can be accepted."))})
    return await _move(session, actor, quote, QuoteStatus.ACCEPTED, "accepted")


async def expire_due(session: AsyncSession, today: dt.date) -> int:
    """quotes.expire: open quotes whose validity date has passed expire (run daily, and before lists)."""
    from server.quotes import approvals

    due = list(await session.scalars(
        select(Quote).where(Quote.status.in_(OPEN), Quote.valid_until < today, Quote.deleted_at.is_(None))
    ))  # fmt: skip
    for quote in due:
        if quote.status is QuoteStatus.PENDING:
            await approvals.withdraw(session, quote)
        await _move(session, None, quote, QuoteStatus.EXPIRED, "expired")
    return len(due)


async def history(session: AsyncSession, quote: Quote) -> list[QuoteEvent]:
    rows = await session.scalars(
        select(QuoteEvent)
        .where(QuoteEvent.quote_id == quote.id)
        .order_by(QuoteEvent.happened_at, QuoteEvent.version)
    )
    return list(rows)


async def list_quotes(
    session: AsyncSession, actor: User, *, status: QuoteStatus | None = None, mine_only: bool = False,
    offset: int = 0, limit: int = PAGE_SIZE,
) -> OffsetPagination[Quote]:  # fmt: skip
    """Quotes the actor may see, newest change first."""
    where = [visible(actor, Quote)]
    if status is not None:
        where.append(Quote.status == status)
    if mine_only:
        where.append(Quote.owner_id == actor.id)
    total = await session.scalar(select(func.count()).select_from(Quote).where(*where)) or 0
    rows = await session.scalars(
        select(Quote).where(*where).order_by(Quote.updated_at.desc(), Quote.id).offset(offset).limit(limit)
    )
    return OffsetPagination(items=list(rows), total=total, offset=offset, limit=limit)


async def for_account(
    session: AsyncSession, actor: User, account_id: uuid.UUID, *, but: Any = None, limit: int = 10
) -> list[Quote]:
    """The account's quotes the actor may see, newest first."""
    where = [visible(actor, Quote), Quote.account_id == account_id]
    if but is not None:
        where.append(Quote.id != but)
    rows = await session.scalars(select(Quote).where(*where).order_by(Quote.created_at.desc()).limit(limit))
    return list(rows)


@dataclass(frozen=True)
class Preview:
    """A quote being edited, worked out for the live totals: nothing is written."""

    currency: str
    discount_percent: Decimal
    lines: list[LineInput]
    totals: pricing.Totals | None  # None while the currency is not a known one
    errors: dict[str, Message]


async def preview(session: AsyncSession, raw: Mapping[str, Any]) -> Preview:
    try:
        currency = _check_currency(raw)
    except ValidationError as error:
        return Preview(str(raw.get("currency") or ""), Decimal(0), [], None, error.errors)
    lines, errors = await _validate_lines(session, lines_from(raw), currency, quoted=None)
    fields = Fields(raw)
    discount = decimal(
        fields, "discount_percent", minimum=Decimal(0), maximum=Decimal(100), places=2
    ) or Decimal(0)
    totals = pricing.totals([line.priced() for line in lines], discount, currency)
    return Preview(currency, discount, lines, totals, errors | fields.errors)
