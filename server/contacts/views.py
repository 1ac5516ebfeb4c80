"""Contact forms, reached from the account page."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Stream

from server.accounts import service as accounts
from server.accounts.models import Account
from server.auth import current_user
from server.contacts import service as contacts
from server.contacts.models import Contact
from server.db import DbSession, new_id
from server.errors import Message, ValidationError
from server.i18n import N_
from server.imports import export
from server.validation import parse_uuid
from server.web import field_errors, flash, redirect, render


def _render_form(
    request: Request,
    account: Account,
    contact: Contact | None,
    values: dict[str, str],
    error: ValidationError | None = None,
) -> Response:
    return render(
        request,
        "contacts/form.html",
        {"account": account, "contact": contact, "values": values, "errors": field_errors(request, error)},
        status_code=422 if error else 200,
    )


class ContactController(Controller):
    path = "/"

    @get("/contacts/export.csv", name="contacts.export")
    async def export_csv(self, request: Request, account: FromQuery[str] = "") -> Stream:
        """Every contact one may see, or one account's: the columns the contacts import takes."""
        query = export.contacts_query(current_user(request), parse_uuid(account) if account else None)
        return export.csv_response(request, "contacts", export.CONTACT_COLUMNS, query)

    @get("/accounts/{account_id:uuid}/contacts/new", name="contacts.new")
    async def new(self, request: Request, db_session: DbSession, account_id: FromPath[UUID]) -> Response:
        account = await accounts.get(db_session, current_user(request), account_id)
        return _render_form(request, account, None, {"id": str(new_id())})

    @post("/accounts/{account_id:uuid}/contacts", name="contacts.create")
    async def create(self, request: Request, db_session: DbSession, account_id: FromPath[UUID]) -> Response:
        user = current_user(request)
        account = await accounts.get(db_session, user, account_id)
        form = dict(await request.form())
        try:
            contact = await contacts.create(db_session, user, account.id, form, record_id=form.get("id"))
        except ValidationError as error:
            return _render_form(request, account, None, form, error)
        await db_session.commit()
        flash(request, Message(N_("Contact %(name)s saved."), {"name": contact.name}))
        return redirect(request, f"/accounts/{account.id}")

    @get("/contacts/{contact_id:uuid}/edit", name="contacts.edit")
    async def edit(self, request: Request, db_session: DbSession, contact_id: FromPath[UUID]) -> Response:
        user = current_user(request)
        contact = await contacts.get(db_session, user, contact_id)
        account = await accounts.get(db_session, user, contact.account_id)
        values = {name: getattr(contact, name) or "" for name in contacts.EDITABLE_FIELDS}
        return _render_form(request, account, contact, values)

    @post("/contacts/{contact_id:uuid}/edit", name="contacts.update")
    async def update(self, request: Request, db_session: DbSession, contact_id: FromPath[UUID]) -> Response:
        user = current_user(request)
        contact = await contacts.get(db_session, user, contact_id)
        account = await accounts.get(db_session, user, contact.account_id)
        form = dict(await request.form())
        try:
            await contacts.update(db_session, user, contact.id, form)
        except ValidationError as error:
            return _render_form(request, account, contact, form, error)
        await db_session.commit()
        flash(request, Message(N_("Contact %(name)s saved."), {"name": contact.name}))
        return redirect(request, f"/accounts/{account.id}")
