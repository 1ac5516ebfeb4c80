"""What can be imported: one spec per kind of record. Adding a kind is adding a spec here.

A spec names its columns, checks a row with its domain's own rules (the same as its form), finds
the existing record a row duplicates, and writes a row through its domain's named command.
Duplicates are found against keys of the existing records, loaded once per job (`Index`), and
against the rows before it in the same file.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from server.accounts import service as accounts
from server.accounts.models import Account
from server.auth import visible
from server.contacts import service as contacts
from server.contacts.models import Contact
from server.errors import Message, ValidationError
from server.i18n import N_
from server.leads.matching import company_key, phone_key
from server.quotes import catalogue
from server.quotes.models import Product
from server.users.models import Role, User

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class Column:
    name: str
    label: str  # a msgid, translated where shown
    required: bool = False


@dataclass
class Index:
    """Normalised keys of the existing records -> their ids: all de-duplication keeps in memory."""

    keys: dict[str, dict[str, uuid.UUID]] = field(default_factory=dict)
    # Other look-ups a kind needs (owners by email, accounts by customer number ...).
    refs: dict[str, dict[str, uuid.UUID]] = field(default_factory=dict)

    def add(self, kind: str, key: str, record_id: uuid.UUID) -> None:
        if key:
            self.keys.setdefault(kind, {}).setdefault(key, record_id)

    def find(self, keys: Mapping[str, str]) -> tuple[uuid.UUID, str] | None:
        for kind, key in keys.items():
            if key and (found := self.keys.get(kind, {}).get(key)) is not None:
                return found, kind
        return None


def name_city_key(name: str, city: str) -> str:
    key = company_key(name)
    return f"{key}|{city.strip().lower()}" if key else ""


def _required(message: str = N_("This field is required.")) -> Message:
    return Message(message)


class Spec:
    kind: str
    label: str
    columns: tuple[Column, ...]
    model: Any
    # How a duplicate was found, by key kind (for the report).
    reasons: Mapping[str, str] = {}

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    async def index(self, session: AsyncSession, actor: User) -> Index:
        raise NotImplementedError

    def check(self, index: Index, values: dict[str, str]) -> dict[str, Any]:
        """The row's values for the command, or a ValidationError naming the columns at fault."""
        raise NotImplementedError

    def keys(self, values: Mapping[str, Any]) -> dict[str, str]:
        raise NotImplementedError

    async def create(self, session: AsyncSession, actor: User, raw: dict[str, Any]) -> uuid.UUID:
        raise NotImplementedError

    async def merge(
        self, session: AsyncSession, actor: User, record_id: uuid.UUID, raw: dict[str, Any]
    ) -> bool:
        raise NotImplementedError

    def new_problems(self, raw: Mapping[str, Any]) -> dict[str, Message]:
        """What a row that makes a new record (rather than merging into one) must also have."""
        return {}

    async def names(self, session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
        rows = await session.execute(select(self.model.id, self.model.name).where(self.model.id.in_(ids)))
        return {record_id: name for record_id, name in rows}


def _filled(values: Mapping[str, Any]) -> dict[str, Any]:
    """A merge changes only what the row says: blank cells keep the existing record's values."""
    return {name: value for name, value in values.items() if value not in ("", None)}


class AccountSpec(Spec):
    kind = "accounts"
    label = N_("Accounts")
    model = Account
    columns = (
        Column("name", N_("Name"), required=True),
        Column("street", N_("Street")),
        Column("city", N_("City")),
        Column("postcode", N_("Postcode")),
        Column("phone", N_("Phone")),
        Column("customer_number", N_("Customer number")),
        Column("latitude", N_("Latitude")),
        Column("longitude", N_("Longitude")),
        Column("owner_email", N_("Owner's email")),
        Column("notes", N_("Notes")),
    )
    reasons = {
        "customer_number": N_("same customer number"),
        "name_city": N_("same name and city"),
        "phone": N_("same phone"),
    }

    async def index(self, session: AsyncSession, actor: User) -> Index:
        index = Index()
        query = select(Account.id, Account.name, Account.city, Account.phone, Account.customer_number)
        for record_id, name, city, phone, number in await session.execute(
            query.where(visible(actor, Account))
        ):
            index.add("customer_number", (number or "").lower(), record_id)
            index.add("name_city", name_city_key(name, city), record_id)
            index.add("phone", phone_key(phone), record_id)
        owners = await session.execute(
            select(User.email, User.id).where(
                visible(actor, User), User.is_active.is_(True), User.role.in_((Role.REP, Role.MANAGER))
            )
        )
        index.refs["owner"] = {email.lower(): user_id for email, user_id in owners}
        return index

    def check(self, index: Index, values: dict[str, str]) -> dict[str, Any]:
        raw = {name: value for name, value in values.items() if name != "owner_email"}
        errors: dict[str, Message] = {}
        if email := values.get("owner_email", "").strip().lower():
            if (owner := index.refs["owner"].get(email)) is None:
                errors["owner_email"] = Message(N_("No active rep or manager has this email."))
            else:
                raw["owner_id"] = str(owner)
        try:
            accounts.validate(raw)
        except ValidationError as error:
            errors = {**error.errors, **errors}
        if errors:
            raise ValidationError(errors)
        return raw

    def new_problems(self, raw: Mapping[str, Any]) -> dict[str, Message]:
        if "owner_id" not in raw:
            return {"owner_email": Message(N_("A new account needs its rep: give their email."))}
        return {}

    def keys(self, values: Mapping[str, Any]) -> dict[str, str]:
        return {
            "customer_number": str(values.get("customer_number") or "").strip().lower(),
            "name_city": name_city_key(values.get("name", ""), values.get("city", "")),
            "phone": phone_key(values.get("phone", "")),
        }

    async def create(self, session: AsyncSession, actor: User, raw: dict[str, Any]) -> uuid.UUID:
        return (await accounts.create(session, actor, raw)).id

    async def merge(
        self, session: AsyncSession, actor: User, record_id: uuid.UUID, raw: dict[str, Any]
    ) -> bool:
        account = await accounts.get(session, actor, record_id)
        before = account.version
        await accounts.update(session, actor, record_id, _filled(raw))
        return account.version != before


class ContactSpec(Spec):
    kind = "contacts"
    label = N_("Contacts")
    model = Contact
    columns = (
        Column("account_customer_number", N_("Account's customer number")),
        Column("account_name", N_("Account name")),
        Column("account_city", N_("Account's city")),
        Column("name", N_("Name"), required=True),
        Column("title", N_("Job title")),
        Column("phone", N_("Phone")),
        Column("email", N_("Email")),
    )
    reasons = {"email": N_("same email"), "phone": N_("same phone"), "name": N_("same name at the account")}

    async def index(self, session: AsyncSession, actor: User) -> Index:
        index = Index()
        by_number: dict[str, uuid.UUID] = {}
        by_name: dict[str, uuid.UUID] = {}
        query = select(Account.id, Account.name, Account.city, Account.customer_number)
        for record_id, name, city, number in await session.execute(query.where(visible(actor, Account))):
            if number:
                by_number.setdefault(number.lower(), record_id)
            if key := name_city_key(name, city):
                by_name.setdefault(key, record_id)
        index.refs["number"], index.refs["name_city"] = by_number, by_name
        query = select(Contact.id, Contact.account_id, Contact.name, Contact.phone, Contact.email)
        for record_id, account_id, name, phone, email in await session.execute(
            query.where(visible(actor, Contact))
        ):
            index.add("email", email.lower(), record_id)
            index.add("phone", phone_key(phone), record_id)
            index.add("name", f"{account_id}|{' '.join(name.lower().split())}", record_id)
        return index

    def check(self, index: Index, values: dict[str, str]) -> dict[str, Any]:
        errors: dict[str, Message] = {}
        number = values.get("account_customer_number", "").strip().lower()
        account_id = index.refs["number"].get(number) if number else None
        if account_id is None and not number:
            key = name_city_key(values.get("account_name", ""), values.get("account_city", ""))
            account_id = index.refs["name_city"].get(key) if key else None
        if account_id is None:
            column = "account_customer_number" if number else "account_name"
            errors[column] = Message(
                N_("No account you may see has this customer number, or this name and city.")
            )
        raw = {name: values.get(name, "") for name in ("name", "title", "phone", "email")}
        try:
            contacts.validate(raw)
        except ValidationError as error:
            errors = {**error.errors, **errors}
        if errors:
            raise ValidationError(errors)
        return {**raw, "account_id": account_id}

    def keys(self, values: Mapping[str, Any]) -> dict[str, str]:
        return {
            "email": str(values.get("email") or "").strip().lower(),
            "phone": phone_key(values.get("phone", "")),
            "name": f"{values['account_id']}|{' '.join(str(values.get('name', '')).lower().split())}",
        }

    async def create(self, session: AsyncSession, actor: User, raw: dict[str, Any]) -> uuid.UUID:
        values = dict(raw)
        account_id = values.pop("account_id")
        return (await contacts.create(session, actor, account_id, values)).id

    async def merge(
        self, session: AsyncSession, actor: User, record_id: uuid.UUID, raw: dict[str, Any]
    ) -> bool:
        contact = await contacts.get(session, actor, record_id)
        before = contact.version
        values = _filled({name: value for name, value in raw.items() if name != "account_id"})
        await contacts.update(session, actor, record_id, values)
        return contact.version != before


class ProductSpec(Spec):
    kind = "products"
    label = N_("Products")
    model = Product
    columns = (
        Column("code", N_("Code"), required=True),
        Column("name", N_("Name"), required=True),
        Column("unit", N_("Unit")),
        Column("list_price", N_("List price"), required=True),
        Column("currency", N_("Currency"), required=True),
        Column("active", N_("Active")),
    )
    reasons = {"code": N_("same code")}

    async def index(self, session: AsyncSession, actor: User) -> Index:
        index = Index()
        for record_id, code in await session.execute(
            select(Product.id, Product.code).where(visible(actor, Product))
        ):
            index.add("code", code.lower(), record_id)
        return index

    def check(self, index: Index, values: dict[str, str]) -> dict[str, Any]:
        catalogue.validate_product(values)
        return dict(values)

    def keys(self, values: Mapping[str, Any]) -> dict[str, str]:
        return {"code": str(values.get("code") or "").strip().lower()}

    async def create(self, session: AsyncSession, actor: User, raw: dict[str, Any]) -> uuid.UUID:
        return (await catalogue.create_product(session, actor, raw)).id

    async def merge(
        self, session: AsyncSession, actor: User, record_id: uuid.UUID, raw: dict[str, Any]
    ) -> bool:
        product = await catalogue.get_product(session, record_id)
        before = product.version
        current = {name: getattr(product, name) for name in catalogue.CSV_COLUMNS}
        current["active"] = "yes" if product.active else "no"
        await catalogue.update_product(session, actor, record_id, {**current, **_filled(raw)})
        return product.version != before
