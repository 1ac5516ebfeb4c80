"""CSV exports of the lists: streamed, with the list's own filters, always behind `visible`.

Importable kinds export the columns their import takes (a file exported here imports back).
Cells that a spreadsheet would run as a formula (= + - @ at the start) get a ' before them; the
import takes it off again.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import io
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from litestar.response import Stream
from sqlalchemy import select

from server.accounts import service as accounts
from server.accounts.models import Account
from server.audit import service as audit
from server.audit.models import AuditEvent
from server.auth import visible
from server.contacts.models import Contact
from server.leads import service as leads
from server.leads.models import Lead
from server.orders import importer
from server.orders import service as orders
from server.orders.models import Order, OrderLine
from server.users.models import User

if TYPE_CHECKING:
    from litestar import Request
    from sqlalchemy import Select

FLUSH_AT = 64 * 1024
YIELD_PER = 1000

ACCOUNT_COLUMNS = (
    "name",
    "street",
    "city",
    "postcode",
    "phone",
    "customer_number",
    "latitude",
    "longitude",
    "owner_email",
    "notes",
)
CONTACT_COLUMNS = (
    "account_customer_number",
    "account_name",
    "account_city",
    "name",
    "title",
    "phone",
    "email",
)
# The columns the orders import takes (status_changed_at aside), so an export imports back.
ORDER_COLUMNS = (*importer.REQUIRED_COLUMNS, "customer_po", "description")
LEAD_COLUMNS = ("name", "company", "phone", "email", "source", "status", "score", "owner_email", "created_at")
AUDIT_COLUMNS = (
    "created_at",
    "actor_id",
    "action",
    "record_type",
    "record_id",
    "record_version",
    "before",
    "after",
)


def cell(value: Any) -> str:
    """One value as text a spreadsheet will not run."""
    if value is None:
        text = ""
    elif isinstance(value, enum.Enum):
        text = str(value.value)
    elif isinstance(value, dt.datetime):
        text = value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    elif isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    else:
        text = str(value)
    return "'" + text if text.startswith(importer.FORMULA_START) else text


def csv_response(request: Request, name: str, columns: Sequence[str], query: Select[Any]) -> Stream:
    """Stream the rows of `query` (already scoped by the caller) as a CSV download."""
    alchemy = request.app.state["alchemy"]

    async def body() -> AsyncIterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        buffer.write("\ufeff")  # so that spreadsheets read UTF-8
        writer.writerow(columns)
        async with alchemy.get_session() as session:
            result = await session.stream(query.execution_options(yield_per=YIELD_PER))
            async for row in result:
                writer.writerow([cell(value) for value in row])
                if buffer.tell() >= FLUSH_AT:
                    yield buffer.getvalue().encode()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue().encode()

    return csv_stream(body(), name)


def csv_stream(body: AsyncIterator[bytes], name: str) -> Stream:
    """A CSV download named after `name` and the time, never cached."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M")
    return Stream(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )


def accounts_query(actor: User, term: str = "") -> Select[Any]:
    return (
        select(
            Account.name,
            Account.street,
            Account.city,
            Account.postcode,
            Account.phone,
            Account.customer_number,
            Account.latitude,
            Account.longitude,
            User.email,
            Account.notes,
        )
        .join(User, User.id == Account.owner_id)
        .where(*accounts.filters(actor, term))
        .order_by(*accounts.ORDER)
    )


def contacts_query(actor: User, account_id: uuid.UUID | None = None) -> Select[Any]:
    query = (
        select(
            Account.customer_number,
            Account.name,
            Account.city,
            Contact.name,
            Contact.title,
            Contact.phone,
            Contact.email,
        )
        .join(Account, Account.id == Contact.account_id)
        .where(visible(actor, Contact))
        .order_by(Account.name, Account.id, Contact.name, Contact.id)
    )
    return query.where(Contact.account_id == account_id) if account_id is not None else query


def orders_query(actor: User, term: str = "", status: str = "") -> Select[Any]:
    """One row per order line, in the ERP export's format (server/orders/importer.py)."""
    return (
        select(
            Order.number,
            Account.customer_number,
            Order.status,
            Order.ordered_at,
            Order.currency,
            OrderLine.sku,
            OrderLine.quantity,
            OrderLine.unit_price,
            Order.customer_po,
            OrderLine.description,
        )
        .join(Account, Account.id == Order.account_id)
        .join(OrderLine, OrderLine.order_id == Order.id)
        .where(*orders.filters(actor, term, status))
        .order_by(Order.ordered_at.desc(), Order.id.desc(), OrderLine.position)
    )


def leads_query(actor: User, *, mine_only: bool = False) -> Select[Any]:
    return (
        select(
            Lead.name,
            Lead.company,
            Lead.phone,
            Lead.email,
            Lead.source,
            Lead.status,
            Lead.score,
            User.email,
            Lead.created_at,
        )
        .join(User, User.id == Lead.owner_id)
        .where(*leads.filters(actor, mine_only=mine_only))
        .order_by(Lead.score.desc(), Lead.created_at.desc(), Lead.id)
    )


def audit_query(**filters: Any) -> Select[Any]:
    """The audit log (admins only: the caller's guard)."""
    return (
        select(
            AuditEvent.created_at,
            AuditEvent.actor_id,
            AuditEvent.action,
            AuditEvent.record_type,
            AuditEvent.record_id,
            AuditEvent.record_version,
            AuditEvent.before,
            AuditEvent.after,
        )
        .where(*audit.filters(**filters))
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    )
