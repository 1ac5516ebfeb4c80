"""Contacts: the people at an account, and the named commands that change them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from server.accounts import service as accounts
from server.auth import get_visible, visible
from server.commands import apply_changes, client_id, insert
from server.contacts.models import Contact
from server.validation import Fields, digits, parse_uuid

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from server.users.models import User

EDITABLE_FIELDS = ("name", "title", "phone", "email")


async def for_account(session: AsyncSession, actor: User, account_id: Any) -> list[Contact]:
    rows = await session.scalars(
        select(Contact)
        .where(Contact.account_id == parse_uuid(account_id), visible(actor, Contact))
        .order_by(func.lower(Contact.name), Contact.id)
    )
    return list(rows)


async def get(session: AsyncSession, actor: User, contact_id: Any, *, for_change: bool = False) -> Contact:
    return await get_visible(session, actor, Contact, contact_id, for_change=for_change)


def _validate(raw: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    fields = Fields(raw, partial=partial)
    fields.text("name", required=True, max_length=200)
    fields.text("title", max_length=120)
    fields.phone("phone")
    fields.email("email")
    return fields.result()


def validate(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The contact form's rules (an import checks each row with them)."""
    return _validate(raw, partial=False)


async def create(
    session: AsyncSession, actor: User, account_id: Any, raw: Mapping[str, Any], *, record_id: Any = None
) -> Contact:
    """contacts.create: a new contact at an account the actor may see; replaying an id is a no-op."""
    contact_id = client_id(record_id)
    if await session.get(Contact, contact_id):
        return await get(session, actor, contact_id, for_change=True)
    account = await accounts.get(session, actor, account_id)
    values = _validate(raw, partial=False)
    contact = Contact(
        id=contact_id, account_id=account.id, phone_digits=digits(values.get("phone", "")), **values
    )
    return await insert(session, actor, contact, "contacts.create", EDITABLE_FIELDS)


async def update(session: AsyncSession, actor: User, contact_id: Any, raw: Mapping[str, Any]) -> Contact:
    """contacts.update: change the fields named in `raw`."""
    contact = await get(session, actor, contact_id, for_change=True)
    values = _validate(raw, partial=True)
    if "phone" in values:
        values["phone_digits"] = digits(values["phone"])
    await apply_changes(session, actor, contact, values, "contacts.update")
    return contact
