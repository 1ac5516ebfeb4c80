"""The product catalogue and the approval rules: admins' named commands, and product search.

products.create / products.update edit one product; a CSV file of them is imported through
server/imports (the products kind: matched by code, each row through these two commands). quotes.add_rule / quotes.update_rule / quotes.remove_rule
edit the approval policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from advanced_alchemy.service import OffsetPagination
from sqlalchemy import func, or_, select

from server.commands import apply_changes, client_id, insert
from server.db import utcnow
from server.errors import Message, NotFound, PermissionDenied, ValidationError
from server.i18n import N_
from server.quotes import pricing
from server.quotes.models import ApprovalRule, ApproverLevel, Product, RuleKind
from server.quotes.service import decimal
from server.validation import Fields, parse_uuid

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from server.users.models import User

R = TypeVar("R", ApprovalRule, Product)
PRODUCT_FIELDS = ("code", "name", "unit", "list_price", "currency", "active")
RULE_FIELDS = ("kind", "threshold", "currency", "approver", "active")
CSV_COLUMNS = ("code", "name", "unit", "list_price", "currency", "active")
PAGE_SIZE = 25
TRUE_WORDS = {"1", "true", "yes", "y", "on", "active"}
FALSE_WORDS = {"0", "false", "no", "n", "off", "inactive"}


def _admin_only(actor: User) -> None:
    if not actor.is_admin:
        raise PermissionDenied(Message(N_("Only admins can change the catalogue and the approval policy.")))


def _flag(raw: Mapping[str, Any], name: str, fields: Fields, *, default: bool = True) -> bool:
    value = str(raw.get(name) if raw.get(name) is not None else "").strip().lower()
    if not value:
        return default
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    fields.error(name, Message(N_("Choose one of the options.")))
    return default


def _validate_product(raw: Mapping[str, Any]) -> dict[str, Any]:
    fields = Fields(raw)
    fields.text("code", required=True, max_length=40)
    fields.text("name", required=True, max_length=200)
    fields.text("unit", max_length=20)
    decimal(fields, "list_price", minimum=Decimal(0), maximum=Decimal(10) ** 10, places=3, required=True)
    currency = str(raw.get("currency") or "").strip().upper()
    if not pricing.is_currency(currency):
        fields.error("currency", Message(N_("Use a three-letter currency code such as GBP.")))
    active = _flag(raw, "active", fields)
    values = fields.result()
    return {**values, "unit": values.get("unit") or "each", "currency": currency, "active": active}


def validate_product(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The product form's rules (an import checks each row with them)."""
    return _validate_product(raw)


async def _code_taken(session: AsyncSession, code: str, but: Any = None) -> bool:
    where = [func.lower(Product.code) == code.lower()]
    if but is not None:
        where.append(Product.id != but)
    return await session.scalar(select(Product.id).where(*where)) is not None


async def create_product(
    session: AsyncSession, actor: User, raw: Mapping[str, Any], *, record_id: Any = None
) -> Product:
    """products.create: a new product in the catalogue."""
    _admin_only(actor)
    values = _validate_product(raw)
    if await _code_taken(session, values["code"]):
        raise ValidationError({"code": Message(N_("Another product has this code."))})
    return await insert(
        session, actor, Product(id=client_id(record_id), **values), "products.create", PRODUCT_FIELDS
    )


async def _alive(session: AsyncSession, model: type[R], record_id: Any) -> R:
    """A catalogue record (everyone may see the catalogue), or NotFound."""
    parsed = parse_uuid(record_id)
    record = await session.get(model, parsed) if parsed else None
    if record is None or record.deleted_at is not None:
        raise NotFound(Message(N_("That record does not exist or is not yours to see.")))
    return record


async def get_product(session: AsyncSession, product_id: Any) -> Product:
    return await _alive(session, Product, product_id)


async def update_product(
    session: AsyncSession, actor: User, product_id: Any, raw: Mapping[str, Any]
) -> Product:
    """products.update: correct a product, change its price, or take it off (inactive) or back on sale."""
    _admin_only(actor)
    product = await get_product(session, product_id)
    values = _validate_product(raw)
    if await _code_taken(session, values["code"], but=product.id):
        raise ValidationError({"code": Message(N_("Another product has this code."))})
    await apply_changes(session, actor, product, values, "products.update")
    return product


async def search_products(
    session: AsyncSession, query: str = "", *, currency: str | None = None, include_inactive: bool = False,
    offset: int = 0, limit: int = PAGE_SIZE,
) -> OffsetPagination[Product]:  # fmt: skip
    where = [Product.deleted_at.is_(None)]
    if not include_inactive:
        where.append(Product.active.is_(True))
    if currency:
        where.append(Product.currency == currency)
    if text := query.strip()[:100].lower():
        pattern = f"%{text}%"
        where.append(or_(func.lower(Product.code).like(pattern), func.lower(Product.name).like(pattern)))
    total = await session.scalar(select(func.count()).select_from(Product).where(*where)) or 0
    rows = await session.scalars(
        select(Product).where(*where).order_by(Product.name, Product.code).offset(offset).limit(limit)
    )
    return OffsetPagination(items=list(rows), total=total, offset=offset, limit=limit)


async def products_by_id(session: AsyncSession, ids: list[Any]) -> list[Product]:
    wanted = {parse_uuid(value) for value in ids} - {None}
    if not wanted:
        return []
    return list(await session.scalars(select(Product).where(Product.id.in_(wanted))))


async def currencies(session: AsyncSession) -> list[str]:
    rows = await session.scalars(
        select(Product.currency).where(Product.active.is_(True), Product.deleted_at.is_(None)).distinct()
    )
    return sorted(rows)


# --- approval rules -------------------------------------------------------------------------


async def list_rules(session: AsyncSession) -> list[ApprovalRule]:
    rows = await session.scalars(
        select(ApprovalRule)
        .where(ApprovalRule.deleted_at.is_(None))
        .order_by(ApprovalRule.approver, ApprovalRule.kind, ApprovalRule.threshold)
    )
    return list(rows)


def _validate_rule(raw: Mapping[str, Any]) -> dict[str, Any]:
    fields = Fields(raw)
    fields.choice("kind", RuleKind)
    fields.choice("approver", ApproverLevel)
    kind = fields.values.get("kind")
    maximum = Decimal(10) ** 12 if kind is RuleKind.TOTAL_ABOVE else Decimal(100)
    decimal(fields, "threshold", minimum=Decimal(0), maximum=maximum, places=2, required=True)
    currency = str(raw.get("currency") or "").strip().upper() or None
    if kind is RuleKind.TOTAL_ABOVE and (currency is None or not pricing.is_currency(currency)):
        fields.error("currency", Message(N_("Use a three-letter currency code such as GBP.")))
    active = _flag(raw, "active", fields)
    for name in ("kind", "approver"):
        if name not in fields.values and name not in fields.errors:
            fields.error(name, Message(N_("This field is required.")))
    values = fields.result()
    return {**values, "currency": currency if kind is RuleKind.TOTAL_ABOVE else None, "active": active}


async def add_rule(
    session: AsyncSession, actor: User, raw: Mapping[str, Any], *, record_id: Any = None
) -> ApprovalRule:
    """quotes.add_rule: a new approval rule."""
    _admin_only(actor)
    rule = ApprovalRule(id=client_id(record_id), **_validate_rule(raw))
    return await insert(session, actor, rule, "quotes.add_rule", RULE_FIELDS)


async def get_rule(session: AsyncSession, rule_id: Any) -> ApprovalRule:
    return await _alive(session, ApprovalRule, rule_id)


async def update_rule(
    session: AsyncSession, actor: User, rule_id: Any, raw: Mapping[str, Any]
) -> ApprovalRule:
    """quotes.update_rule: change a rule's threshold, approver, or switch it off."""
    _admin_only(actor)
    rule = await get_rule(session, rule_id)
    await apply_changes(session, actor, rule, _validate_rule(raw), "quotes.update_rule")
    return rule


async def remove_rule(session: AsyncSession, actor: User, rule_id: Any) -> ApprovalRule:
    """quotes.remove_rule: the rule no longer applies (quotes already waiting keep their chain)."""
    _admin_only(actor)
    rule = await get_rule(session, rule_id)
    await apply_changes(session, actor, rule, {"deleted_at": utcnow()}, "quotes.remove_rule")
    return rule
