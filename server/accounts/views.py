"""Account pages: the searchable list, the account page, create and edit."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Stream

from server.accounts import service as accounts
from server.accounts import tiers
from server.accounts.models import Account, Tier
from server.auth import current_user
from server.contacts import service as contacts
from server.db import DbSession, new_id
from server.errors import Message, ValidationError
from server.i18n import N_
from server.imports import export
from server.leads import service as leads
from server.orders import service as orders
from server.quotes import service as quotes
from server.users import service as users
from server.users.models import Role
from server.visits import service as visits
from server.web import Offset, field_errors, flash, redirect, render


def _as_text(value: object) -> str:
    if value is None:
        return ""
    return str(getattr(value, "value", value))


def _form_values(account: Account | None) -> dict[str, str]:
    if account is None:
        return {}
    return {name: _as_text(getattr(account, name)) for name in accounts.EDITABLE_FIELDS}


class AccountController(Controller):
    path = "/accounts"

    @get("/", name="accounts.list")
    async def index(
        self, request: Request, db_session: DbSession, q: FromQuery[str] = "", offset: Offset = 0
    ) -> Response:
        page = await accounts.search(db_session, current_user(request), q, offset=offset)
        return render(
            request,
            "accounts/list.html",
            {"page": page, "q": q},
            fragments={"account-results": "results", "account-more": "rows"},
        )

    @get("/export.csv", name="accounts.export")
    async def export_csv(self, request: Request, q: FromQuery[str] = "") -> Stream:
        """The list as CSV, with its search: the columns the accounts import takes."""
        query = export.accounts_query(current_user(request), q)
        return export.csv_response(request, "accounts", export.ACCOUNT_COLUMNS, query)

    @get("/new", name="accounts.new")
    async def new(self, request: Request, db_session: DbSession) -> Response:
        return await self._form(request, db_session, None, {**_form_values(None), "id": str(new_id())})

    @post("/", name="accounts.create")
    async def create(self, request: Request, db_session: DbSession) -> Response:
        form = dict(await request.form())
        try:
            account = await accounts.create(db_session, current_user(request), form, record_id=form.get("id"))
        except ValidationError as error:
            return await self._form(request, db_session, None, form, error)
        await db_session.commit()
        flash(request, Message(N_("Account %(name)s saved."), {"name": account.name}))
        return redirect(request, f"/accounts/{account.id}")

    @get("/{account_id:uuid}", name="accounts.show")
    async def show(self, request: Request, db_session: DbSession, account_id: FromPath[UUID]) -> Response:
        user = current_user(request)
        account = await accounts.get(db_session, user, account_id)
        context = {
            "account": account,
            "contacts": await contacts.for_account(db_session, user, account.id),
            "orders": await orders.recent_for_account(db_session, user, account.id),
            "visits": await visits.for_account(db_session, user, account.id),
            "leads": await leads.for_account(db_session, user, account.id),
            "quotes": await quotes.for_account(db_session, user, account.id),
            "order_value": (await tiers.order_values(db_session, [account.id])).get(account.id, 0),
            "can_override_tier": user.role is not Role.REP,
            "tiers": list(Tier),
            "today": visits.today_for(user),
        }
        return render(request, "accounts/show.html", context)

    @post("/{account_id:uuid}/tier", name="accounts.override_tier")
    async def override_tier(
        self, request: Request, db_session: DbSession, account_id: FromPath[UUID]
    ) -> Response:
        form = dict(await request.form())
        account = await tiers.override(db_session, current_user(request), account_id, form)
        await db_session.commit()
        flash(request, Message(N_("Tier of %(name)s saved."), {"name": account.name}))
        return redirect(request, f"/accounts/{account.id}")

    @get("/{account_id:uuid}/edit", name="accounts.edit")
    async def edit(self, request: Request, db_session: DbSession, account_id: FromPath[UUID]) -> Response:
        account = await accounts.get(db_session, current_user(request), account_id)
        return await self._form(request, db_session, account, _form_values(account))

    @post("/{account_id:uuid}/edit", name="accounts.update")
    async def update(self, request: Request, db_session: DbSession, account_id: FromPath[UUID]) -> Response:
        user = current_user(request)
        account = await accounts.get(db_session, user, account_id)
        form = dict(await request.form())
        try:
            await accounts.update(db_session, user, account.id, form)
        except ValidationError as error:
            # The command validates before it writes; the uncommitted session is simply dropped.
            return await self._form(request, db_session, account, form, error)
        await db_session.commit()
        flash(request, Message(N_("Account %(name)s saved."), {"name": account.name}))
        return redirect(request, f"/accounts/{account.id}")

    async def _form(
        self,
        request: Request,
        db_session: DbSession,
        account: Account | None,
        values: dict[str, str],
        error: ValidationError | None = None,
    ) -> Response:
        user = current_user(request)
        owners = [] if user.role is Role.REP else await users.assignable_owners(db_session, user)
        context = {
            "account": account,
            "values": values,
            "errors": field_errors(request, error),
            "owners": owners,
        }
        return render(request, "accounts/form.html", context, status_code=422 if error else 200)
