"""Orders: the ERP's upsert (the one command that writes them) and the lookup reps use."""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

import msgspec
from advanced_alchemy.service import OffsetPagination
from sqlalchemy import func, or_, select
from sqlalchemy.orm import raiseload

from server.accounts import tiers
from server.accounts.models import Account
from server.auth import visible
from server.commands import apply_changes, insert
from server.db import next_version, stamp, utcnow
from server.errors import Message, NotFound, ValidationError
from server.i18n import N_
from server.orders.models import Order, OrderLine, OrderStatus, OrderStatusEvent

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from server.users.models import User

NUMBER_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,39}$")
CURRENCY_PATTERN = re.compile(r"^[A-Z]{3}$")
CENT = Decimal("0.01")
MAX_LINES = 500
PAGE_SIZE = 25
RECENT_FOR_ACCOUNT = 5
# Order rows in a list show no lines or timeline: do not load them (two queries per page saved).
LIST_ONLY = (raiseload(Order.lines), raiseload(Order.timeline))


class OrderLineIn(msgspec.Struct, forbid_unknown_fields=True):
    sku: str
    quantity: Decimal
    unit_price: Decimal
    description: str = ""


class OrderIn(msgspec.Struct, forbid_unknown_fields=True):
    """What the ERP sends: `PUT /api/v1/orders/{number}`."""

    customer_number: str
    status: OrderStatus
    ordered_at: dt.datetime
    currency: str
    lines: list[OrderLineIn]
    customer_po: str = ""
    # When the order reached `status`; the time it arrives here if the ERP does not say.
    status_changed_at: dt.datetime | None = None


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _check(number: str, data: OrderIn) -> list[dict[str, Any]]:
    """Field errors for an order the ERP sent, and its lines with their amounts worked out."""
    errors: dict[str, Message] = {}
    if not NUMBER_PATTERN.match(number):
        errors["number"] = Message(N_("Order numbers are 1 to 40 letters, digits and . _ / -"))
    if not CURRENCY_PATTERN.match(data.currency):
        errors["currency"] = Message(N_("Use a three-letter currency code such as GBP."))
    if len(data.customer_po) > 60:
        errors["customer_po"] = Message(N_("Use at most %(max)s characters."), {"max": 60})
    if not 1 <= len(data.lines) <= MAX_LINES:
        errors["lines"] = Message(N_("An order has 1 to %(max)s lines."), {"max": MAX_LINES})
    lines = []
    for position, line in enumerate(data.lines, start=1):
        if not line.sku.strip() or len(line.sku) > 60 or len(line.description) > 200:
            errors[f"lines[{position}].sku"] = Message(
                N_("Each line needs a product code of at most 60 characters.")
            )
        if not line.quantity.is_finite() or line.quantity <= 0 or line.quantity >= Decimal("1e9"):
            errors[f"lines[{position}].quantity"] = Message(N_("Quantities must be above 0."))
        if not line.unit_price.is_finite() or line.unit_price < 0 or line.unit_price >= Decimal("1e12"):
            errors[f"lines[{position}].unit_price"] = Message(N_("Prices cannot be negative."))
        if not errors:
            amount = (line.quantity * line.unit_price).quantize(CENT, rounding=ROUND_HALF_UP)
            lines.append({"position": position, "sku": line.sku.strip(), "description": line.description.strip(),
                          "quantity": line.quantity.quantize(Decimal("0.001")),
                          "unit_price": line.unit_price.quantize(CENT, rounding=ROUND_HALF_UP), "amount": amount})  # fmt: skip
    if errors:
        raise ValidationError(errors)
    return lines


def validate(number: str, data: OrderIn) -> None:
    """upsert's checks that need no database (an import's dry run uses them)."""
    _check(number, data)


def filters(actor: User, term: str = "", status: str = "") -> list[Any]:
    """The order list's WHERE clauses (the CSV export uses them too)."""
    where = [visible(actor, Order)]
    if term := term.strip()[:100]:
        like = f"%{term.lower()}%"
        where.append(
            or_(
                func.lower(Order.number).like(like),
                func.lower(Order.customer_po).like(like),
                Order.account_id.in_(select(Account.id).where(func.lower(Account.name).like(like))),
            )
        )
    if status in {value.value for value in OrderStatus}:
        where.append(Order.status == OrderStatus(status))
    return where


async def upsert(session: AsyncSession, number: str, data: OrderIn) -> tuple[Order, str]:
    """orders.upsert: create or update order `number` as the ERP describes it.

    Idempotent: sending the same order again changes nothing. Returns the order and what
    happened: "created", "updated" or "unchanged".
    """
    lines = _check(number, data)
    account = await session.scalar(
        select(Account).where(Account.customer_number == data.customer_number, Account.deleted_at.is_(None))
    )
    if account is None:
        raise ValidationError({"customer_number": Message(N_("No account has this customer number."))})
    values = {
        "account_id": account.id,
        "customer_po": data.customer_po.strip(),
        "status": data.status,
        "ordered_at": _aware(data.ordered_at),
        "currency": data.currency,
        "total": sum((line["amount"] for line in lines), Decimal("0.00")),
    }
    order = await session.scalar(select(Order).where(Order.number == number))
    if order is None:
        order = await insert(
            session, None, Order(number=number, **values), "orders.create", ("number", *values)
        )
        outcome = "created"
        status_changed = True
        await _replace_lines(session, order, lines)
    else:
        changed = await apply_changes(session, None, order, values, "orders.update")
        lines_changed = await _replace_lines(session, order, lines)
        if lines_changed and not changed:
            stamp(order, await next_version(session))
        outcome = "updated" if changed or lines_changed else "unchanged"
        status_changed = "status" in changed
    if status_changed:
        happened = _aware(data.status_changed_at) if data.status_changed_at else utcnow()
        event = OrderStatusEvent(order_id=order.id, status=data.status, happened_at=happened)
        stamp(event, order.version)
        session.add(event)
    await session.flush()
    if outcome != "unchanged":
        await tiers.refresh(session, [account.id])
    await session.refresh(order, ["lines", "timeline", "account"])
    return order, outcome


async def _replace_lines(session: AsyncSession, order: Order, lines: list[dict[str, Any]]) -> bool:
    """Make the order's lines these; lines that are gone become tombstones. True if anything changed."""
    current = {
        line.position: line
        for line in await session.scalars(select(OrderLine).where(OrderLine.order_id == order.id))
    }
    changed = False
    version: int | None = None
    for wanted in lines:
        line = current.pop(wanted["position"], None)
        if line is None:
            line = OrderLine(order_id=order.id, **wanted)
            session.add(line)
        elif line.deleted_at is None and all(getattr(line, key) == value for key, value in wanted.items()):
            continue
        else:
            for key, value in wanted.items():
                setattr(line, key, value)
            line.deleted_at = None
        version = version or await next_version(session)
        stamp(line, version)
        changed = True
    for line in current.values():
        if line.deleted_at is None:
            version = version or await next_version(session)
            line.deleted_at = utcnow()
            stamp(line, version)
            changed = True
    return changed


async def search(
    session: AsyncSession,
    actor: User,
    term: str = "",
    *,
    status: str = "",
    offset: int = 0,
    limit: int = PAGE_SIZE,
) -> OffsetPagination[Order]:
    """Orders the actor may see, newest first, by number, customer PO or account name."""
    where = filters(actor, term, status)
    total = await session.scalar(select(func.count()).select_from(Order).where(*where)) or 0
    rows = await session.scalars(
        select(Order)
        .where(*where)
        .options(*LIST_ONLY)
        .order_by(Order.ordered_at.desc(), Order.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return OffsetPagination(items=list(rows), total=total, offset=offset, limit=limit)


async def get_by_number(session: AsyncSession, actor: User, number: str) -> Order:
    order = await session.scalar(select(Order).where(Order.number == number, visible(actor, Order)))
    if order is None:
        raise NotFound(Message(N_("That record does not exist or is not yours to see.")))
    return order


async def recent_for_account(session: AsyncSession, actor: User, account_id: Any) -> list[Order]:
    rows = await session.scalars(
        select(Order)
        .where(Order.account_id == account_id, visible(actor, Order))
        .options(*LIST_ONLY)
        .order_by(Order.ordered_at.desc())
        .limit(RECENT_FOR_ACCOUNT)
    )
    return list(rows)
