"""Quote pages: the list, the builder with live totals, the quote page with its history and
actions, the printable quote, and the approvers' inbox."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery

from server.accounts import service as accounts
from server.auth import current_user, requires_role
from server.db import DbSession, new_id, utcnow
from server.errors import Message, ValidationError
from server.i18n import N_
from server.quotes import approvals, catalogue, policy, pricing
from server.quotes import service as quotes
from server.quotes.models import ApprovalStatus, Quote, QuoteApproval, QuoteStatus
from server.users.models import Role, User
from server.web import Offset, discard_changes, field_errors, flash, redirect, render, translate

PREVIOUS_QUOTES = 5


def _line_errors(request: Request, raw: Mapping[str, Any], error: ValidationError | None) -> dict[str, str]:
    """The form's errors, with a line's named after its form key (`line-<key>-<field>`)."""
    errors = field_errors(request, error)
    keys = [line.get("key", str(index)) for index, line in enumerate(quotes.lines_from(raw))]
    named = {}
    for name, text in errors.items():
        parts = name.split("-", 2)
        if parts[0] == "lines" and len(parts) == 3 and parts[1].isdigit() and int(parts[1]) < len(keys):
            named[f"line-{keys[int(parts[1])]}-{parts[2]}"] = text
        else:
            named[name] = text
    return named


def _form_lines(
    quote: Quote | None, raw: Mapping[str, Any] | None, products: dict[str, Any]
) -> list[dict[str, Any]]:
    """The builder's rows: what was posted (shown again with its errors), else the quote's lines."""
    if raw is not None:
        rows = []
        for line in quotes.lines_from(raw):
            product = products.get(str(line.get("product_id")))
            rows.append({**line, "product": product})
        return rows
    if quote is None:
        return []
    return [
        {"key": str(line.position), "product_id": str(line.product_id), "quantity": pricing.plain(line.quantity),
         "unit_price": pricing.plain(line.unit_price), "discount_percent": pricing.plain(line.discount_percent),
         "product": line}
        for line in quote.lines
    ]  # fmt: skip


def _header_values(quote: Quote | None, today: dt.date) -> dict[str, Any]:
    if quote is None:
        return {
            "valid_until": (today + dt.timedelta(days=quotes.VALID_DAYS)).isoformat(),
            "discount_percent": "0",
            "notes": "",
        }
    return {"valid_until": quote.valid_until.isoformat(), "discount_percent": pricing.plain(quote.discount_percent),
            "notes": quote.notes, "currency": quote.currency}  # fmt: skip


async def _totals_context(db_session: DbSession, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Totals, each line's amount (by form key) and the approvals the policy would ask for."""
    found = await quotes.preview(db_session, raw)
    fired: list[policy.Fired] = []
    if found.totals is not None and found.lines:
        priced = [line.priced() for line in found.lines]
        fired = policy.evaluate(
            await approvals.rules(db_session), priced, found.discount_percent, found.currency
        )
    keys = [line.get("key", "") for line in quotes.lines_from(raw)]
    complete = found.totals is not None and len(found.lines) == len(
        keys
    )  # else some line is wrong: no amounts
    return {"totals": found.totals, "currency": found.currency, "steps": policy.chain(fired),
            "amounts": dict(zip(keys, found.totals.amounts, strict=True)) if complete else {}}  # fmt: skip


class QuotesController(Controller):
    path = "/quotes"

    @get("/", name="quotes.list")
    async def index(
        self, request: Request, db_session: DbSession, status: FromQuery[str] = "", mine: FromQuery[bool] = False,
        offset: Offset = 0,
    ) -> Response:  # fmt: skip
        user = current_user(request)
        chosen = QuoteStatus(status) if status in set(QuoteStatus) else None
        page = await quotes.list_quotes(
            db_session, user, status=chosen, mine_only=mine or user.role is Role.REP, offset=offset
        )
        return render(request, "quotes/list.html", {"page": page, "status": chosen, "mine": mine, "statuses": list(QuoteStatus)},
                      fragments={"quote-more": "rows"})  # fmt: skip

    # --- building ---------------------------------------------------------------------------

    @get("/new", name="quotes.new")
    async def new(
        self, request: Request, db_session: DbSession, account_id: FromQuery[UUID | None] = None
    ) -> Response:
        user = current_user(request)
        if account_id is None:
            return render(request, "quotes/choose_account.html", {})
        account = await accounts.get(db_session, user, account_id)
        currencies = await catalogue.currencies(db_session)
        values = {**_header_values(None, utcnow().astimezone(user.zone).date()), "id": str(new_id()),
                  "account_id": str(account.id), "currency": currencies[0] if currencies else "GBP"}  # fmt: skip
        return await self._form(request, db_session, None, account, values, None)

    async def _form(
        self, request: Request, db_session: DbSession, quote: Quote | None, account: Any, values: Mapping[str, Any],
        raw: Mapping[str, Any] | None, error: ValidationError | None = None,
    ) -> Response:  # fmt: skip
        products = {}
        if raw is not None:
            ids = [line.get("product_id") for line in quotes.lines_from(raw)]
            found = await catalogue.products_by_id(db_session, ids)
            products = {str(product.id): product for product in found}
        lines = _form_lines(quote, raw, products)
        preview_raw = raw if raw is not None else {**values, **{f"line-{line['key']}-{name}": line[name] for line in lines
                                                                 for name in quotes.LINE_VALUES}}  # fmt: skip
        context = {
            "quote": quote, "account": account, "values": values, "lines": lines,
            "errors": _line_errors(request, raw or {}, error), "currencies": await catalogue.currencies(db_session),
            **await _totals_context(db_session, {**preview_raw, "currency": values.get("currency", "")}),
        }  # fmt: skip
        return render(request, "quotes/form.html", context, status_code=422 if error else 200)

    @post("/", name="quotes.create")
    async def create(self, request: Request, db_session: DbSession) -> Response:
        user = current_user(request)
        form = dict(await request.form())
        try:
            quote = await quotes.create(db_session, user, form, record_id=form.get("id"))
        except ValidationError as error:
            await discard_changes(request, db_session)
            account = await accounts.get(db_session, user, form.get("account_id"))
            return await self._form(request, db_session, None, account, form, form, error)
        await db_session.commit()
        flash(request, Message(N_("Quote %(number)s saved as a draft."), {"number": quote.number}))
        return redirect(request, f"/quotes/{quote.id}")

    @post("/preview", name="quotes.preview")
    async def preview(self, request: Request, db_session: DbSession) -> Response:
        """The live totals while the rep changes lines (nothing is written)."""
        form = dict(await request.form())
        return render(
            request, "quotes/_totals.html", {**await _totals_context(db_session, form), "oob": True}
        )

    @get("/products", name="quotes.products")
    async def products(
        self, request: Request, db_session: DbSession, q: FromQuery[str] = "", currency: FromQuery[str] = ""
    ) -> Response:
        page = await catalogue.search_products(
            db_session, q[:100], currency=currency[:3].upper() or None, limit=10
        )
        return render(request, "quotes/_products.html", {"page": page, "q": q})

    @get("/line", name="quotes.line")
    async def line(
        self, request: Request, db_session: DbSession, product_id: FromQuery[UUID | None] = None
    ) -> Response:
        """A new row of the builder for a product (the rep then sets quantity, price, discount).

        The totals are asked for again once the row is in the form (after the swap): asked on
        arrival, they would be worked out without it."""
        product = await catalogue.get_product(db_session, product_id)
        row = {"key": new_id().hex[-12:], "product_id": str(product.id), "quantity": "1",
               "unit_price": pricing.plain(product.list_price), "discount_percent": "0", "product": product}  # fmt: skip
        return render(request, "quotes/_line.html", {"line": row, "errors": {}, "amounts": {}, "currency": product.currency},
                      headers={"HX-Trigger-After-Swap": "quote-lines-changed"})  # fmt: skip

    @get("/{quote_id:uuid}/edit", name="quotes.edit")
    async def edit(self, request: Request, db_session: DbSession, quote_id: FromPath[UUID]) -> Response:
        quote = await quotes.owned(db_session, current_user(request), quote_id)
        return await self._form(
            request, db_session, quote, quote.account, _header_values(quote, quote.valid_until), None
        )

    @post("/{quote_id:uuid}/edit", name="quotes.update")
    async def update(self, request: Request, db_session: DbSession, quote_id: FromPath[UUID]) -> Response:
        user = current_user(request)
        form = dict(await request.form())
        try:
            quote = await quotes.update(db_session, user, quote_id, form)
        except ValidationError as error:
            await discard_changes(request, db_session)
            quote = await quotes.owned(db_session, user, quote_id)
            return await self._form(
                request, db_session, quote, quote.account, {**form, "currency": quote.currency}, form, error
            )
        await db_session.commit()
        flash(request, Message(N_("Quote %(number)s saved."), {"number": quote.number}))
        return redirect(request, f"/quotes/{quote.id}")

    # --- the quote page -----------------------------------------------------------------------

    @get("/{quote_id:uuid}", name="quotes.show")
    async def show(self, request: Request, db_session: DbSession, quote_id: FromPath[UUID]) -> Response:
        return await self._page(request, db_session, quote_id)

    async def _page(
        self, request: Request, db_session: DbSession, quote_id: UUID, error: ValidationError | None = None
    ) -> Response:
        user = current_user(request)
        quote = await quotes.get(db_session, user, quote_id)
        context = {"quote": quote, "errors": field_errors(request, error), "history": await quotes.history(db_session, quote),
                   **await card_context(db_session, user, quote)}  # fmt: skip
        return render(request, "quotes/show.html", context, status_code=422 if error else 200)

    @get("/{quote_id:uuid}/print", name="quotes.print")
    async def print_view(self, request: Request, db_session: DbSession, quote_id: FromPath[UUID]) -> Response:
        quote = await quotes.get(db_session, current_user(request), quote_id)
        return render(request, "quotes/print.html", {"quote": quote, "discount": _discount_amount(quote)})

    async def _act(
        self, request: Request, db_session: DbSession, quote_id: UUID,
        command: Callable[..., Awaitable[Quote]], done: str, *, with_form: bool = True,
    ) -> Response:  # fmt: skip
        user = current_user(request)
        form = dict(await request.form())
        try:
            args = (form,) if with_form else ()
            quote = await command(db_session, user, quote_id, *args)
        except ValidationError as error:
            await discard_changes(request, db_session)
            return await self._page(request, db_session, quote_id, error)
        await db_session.commit()
        flash(request, Message(done, {"number": quote.number}))
        return redirect(request, f"/quotes/{quote.id}")

    @post("/{quote_id:uuid}/submit", name="quotes.submit")
    async def submit(self, request: Request, db_session: DbSession, quote_id: FromPath[UUID]) -> Response:
        return await self._act(
            request, db_session, quote_id, approvals.submit, N_("Quote %(number)s submitted.")
        )

    @post("/{quote_id:uuid}/sent", name="quotes.sent")
    async def sent(self, request: Request, db_session: DbSession, quote_id: FromPath[UUID]) -> Response:
        return await self._act(
            request,
            db_session,
            quote_id,
            quotes.mark_sent,
            N_("Quote %(number)s marked as sent."),
            with_form=False,
        )

    @post("/{quote_id:uuid}/accepted", name="quotes.accepted")
    async def accepted(self, request: Request, db_session: DbSession, quote_id: FromPath[UUID]) -> Response:
        return await self._act(request, db_session, quote_id, quotes.mark_accepted,
                               N_("Quote %(number)s accepted by the customer."), with_form=False)  # fmt: skip

    @post("/{quote_id:uuid}/approve", name="quotes.approve")
    async def approve(self, request: Request, db_session: DbSession, quote_id: FromPath[UUID]) -> Response:
        return await self._decide(
            request, db_session, quote_id, approvals.approve, N_("Quote %(number)s approved.")
        )

    @post("/{quote_id:uuid}/reject", name="quotes.reject")
    async def reject(self, request: Request, db_session: DbSession, quote_id: FromPath[UUID]) -> Response:
        return await self._decide(
            request, db_session, quote_id, approvals.reject, N_("Quote %(number)s rejected.")
        )

    async def _decide(
        self,
        request: Request,
        db_session: DbSession,
        quote_id: UUID,
        command: Callable[..., Awaitable[Quote]],
        done: str,
    ) -> Response:
        """From the inbox (htmx swaps the card for the outcome) or from the quote page."""
        if request.headers.get("hx-target", "").startswith("approval-"):
            user = current_user(request)
            form = dict(await request.form())
            error = None
            try:
                quote = await command(db_session, user, quote_id, form)
                await db_session.commit()
            except ValidationError as refused:
                await discard_changes(request, db_session)
                error = refused
                quote = await quotes.get(db_session, user, quote_id)
            context = {"quote": quote, "errors": field_errors(request, error), "message": None if error else translate(request, Message(done, {"number": quote.number})),
                       **await card_context(db_session, user, quote)}  # fmt: skip
            return render(request, "quotes/_card.html", context, status_code=422 if error else 200)
        return await self._act(request, db_session, quote_id, command, done)


def _discount_amount(quote: Quote) -> Any:
    return quote.subtotal - quote.total


async def card_context(
    db_session: DbSession, user: User, quote: Quote, waiting_for_user: QuoteApproval | None = None
) -> dict[str, Any]:
    """What an approver needs at a glance: the steps, the rules that fired, the account's earlier
    quotes. The inbox passes the step it knows waits for this user (nothing more to look up)."""
    if waiting_for_user is not None:
        steps, waiting, can_decide = [waiting_for_user], waiting_for_user, True
    else:
        steps = await approvals.chain_of(db_session, quote)
        waiting = next((step for step in steps if step.status is ApprovalStatus.WAITING), None)
        deciders = {step.decided_by_id for step in steps}
        can_decide = (
            waiting is not None and quote.status is QuoteStatus.PENDING and user.id not in deciders
            and await approvals.may_decide(db_session, user, quote, waiting.level)
        )  # fmt: skip
    return {
        "steps": steps, "waiting": waiting, "can_decide": can_decide,
        "discount_against_list": pricing.discount_percent(quote.list_total, quote.total),
        "previous": await quotes.for_account(db_session, user, quote.account_id, but=quote.id, limit=PREVIOUS_QUOTES),
        "age": approvals.age(waiting) if waiting else None,
    }  # fmt: skip


class ApprovalsController(Controller):
    path = "/approvals"
    guards = [requires_role(Role.MANAGER, Role.ADMIN)]

    @get("/", name="approvals.inbox")
    async def inbox(
        self, request: Request, db_session: DbSession, decided: FromQuery[bool] = False, offset: Offset = 0
    ) -> Response:
        user = current_user(request)
        if decided:
            page = await approvals.decided_by(db_session, user, offset=offset)
            return render(request, "quotes/inbox.html", {"decided": True, "page": page, "cards": []},
                          fragments={"decided-more": "rows"})  # fmt: skip
        cards = []
        for step in await approvals.waiting_for(db_session, user):
            cards.append(
                {
                    "quote": step.quote,
                    "errors": {},
                    "message": None,
                    **await card_context(db_session, user, step.quote, waiting_for_user=step),
                }
            )
        return render(request, "quotes/inbox.html", {"decided": False, "cards": cards, "page": None})
