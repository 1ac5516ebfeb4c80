"""Accounts: queries behind the scoping function, and the named commands that change them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from advanced_alchemy.service import OffsetPagination
from sqlalchemy import func, or_, select

from server.accounts.models import Account
from server.auth import check_assignable_owner, get_visible, visible
from server.commands import apply_changes, client_id, insert
from server.errors import Message, ValidationError
from server.i18n import N_
from server.validation import Fields, digits

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from server.users.models import User

EDITABLE_FIELDS = (
    "name", "street", "city", "postcode", "latitude", "longitude", "phone", "owner_id", "customer_number",
    "notes",
)  # fmt: skip
PAGE_SIZE = 25


def _search_clause(term: str) -> Any:
    like = f"%{term.lower()}%"
    conditions = [func.lower(Account.name).like(like), func.lower(Account.city).like(like)]
    if len(term_digits := digits(term)) >= 3:
        conditions.append(Account.phone_digits.like(f"%{term_digits}%"))
    return or_(*conditions)


async def search(
    session: AsyncSession, actor: User, term: str = "", *, offset: int = 0, limit: int = PAGE_SIZE
) -> OffsetPagination[Account]:
    """Accounts the actor may see, matching `term` in name, city or phone; alphabetical."""
    where = filters(actor, term)
    total = await session.scalar(select(func.count()).select_from(Account).where(*where)) or 0
    rows = await session.scalars(select(Account).where(*where).order_by(*ORDER).offset(offset).limit(limit))
    return OffsetPagination(items=list(rows), total=total, offset=offset, limit=limit)


async def get(session: AsyncSession, actor: User, account_id: Any, *, for_change: bool = False) -> Account:
    return await get_visible(session, actor, Account, account_id, for_change=for_change)


def _validate(raw: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    fields = Fields(raw, partial=partial)
    fields.text("name", required=True, max_length=200)
    fields.text("street", max_length=200)
    fields.text("city", max_length=120)
    fields.text("postcode", max_length=20)
    fields.number("latitude", minimum=-90, maximum=90)
    fields.number("longitude", minimum=-180, maximum=180)
    fields.phone("phone")
    fields.uuid("owner_id")
    fields.text("customer_number", max_length=40)
    fields.text("notes", max_length=10_000)
    values = fields.result()
    if "customer_number" in values:
        values["customer_number"] = values["customer_number"] or None
    return values


async def _check_customer_number(session: AsyncSession, values: dict[str, Any], account_id: Any) -> None:
    """The ERP addresses orders by customer number, so no two accounts may share one."""
    if number := values.get("customer_number"):
        taken = await session.scalar(
            select(Account.id).where(Account.customer_number == number, Account.id != account_id)
        )
        if taken is not None:
            raise ValidationError(
                {"customer_number": Message(N_("Another account has this customer number."))}
            )


def _check_coordinates(values: Mapping[str, Any]) -> None:
    """Latitude and longitude come as a pair or not at all."""
    if (values.get("latitude") is None) != (values.get("longitude") is None):
        missing = "longitude" if values.get("longitude") is None else "latitude"
        raise ValidationError({missing: Message(N_("Enter both latitude and longitude, or neither."))})


def validate(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The new-account form's rules, without the database (an import checks each row with them)."""
    values = _validate(raw, partial=False)
    _check_coordinates(values)
    return values


def filters(actor: User, term: str = "") -> list[Any]:
    """The list's WHERE clauses: what the actor may see, matching `term` (the CSV export uses them too)."""
    where = [visible(actor, Account)]
    if term := term.strip()[:100]:
        where.append(_search_clause(term))
    return where


ORDER = (func.lower(Account.name), Account.id)


async def create(
    session: AsyncSession, actor: User, raw: Mapping[str, Any], *, record_id: Any = None
) -> Account:
    """accounts.create: a new account, owned by the actor unless they may and do choose another rep.

    `record_id` is the client-generated UUIDv7; creating the same id again returns the record
    already made instead of a second one.
    """
    account_id = client_id(record_id)
    if await session.get(Account, account_id):
        return await get(session, actor, account_id, for_change=True)
    values = _validate(raw, partial=False)
    _check_coordinates(values)
    await _check_customer_number(session, values, account_id)
    owner_id = values.pop("owner_id", None) or actor.id
    await check_assignable_owner(session, actor, owner_id)
    account = Account(
        id=account_id, owner_id=owner_id, phone_digits=digits(values.get("phone", "")), **values
    )
    return await insert(session, actor, account, "accounts.create", EDITABLE_FIELDS)


async def update(session: AsyncSession, actor: User, account_id: Any, raw: Mapping[str, Any]) -> Account:
    """accounts.update: change the fields named in `raw`; unnamed fields stay as they are."""
    account = await get(session, actor, account_id, for_change=True)
    values = _validate(raw, partial=True)
    _check_coordinates(
        {
            "latitude": values.get("latitude", account.latitude),
            "longitude": values.get("longitude", account.longitude),
        }
    )
    await _check_customer_number(session, values, account.id)
    if values.get("owner_id") is None:
        values.pop("owner_id", None)
    elif values["owner_id"] != account.owner_id:
        await check_assignable_owner(session, actor, values["owner_id"])
    if "phone" in values:
        values["phone_digits"] = digits(values["phone"])
    await apply_changes(session, actor, account, values, "accounts.update")
    return account
