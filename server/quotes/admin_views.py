"""Admin pages of the quotes domain: the product catalogue and the approval rules (a CSV of products
loads through the imports domain, like every other CSV)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery

from server.auth import current_user, requires_role
from server.db import DbSession
from server.errors import Message, ValidationError
from server.i18n import N_
from server.quotes import catalogue, pricing
from server.quotes.models import ApprovalRule, ApproverLevel, Product, RuleKind
from server.users.models import Role
from server.web import Offset, discard_changes, field_errors, flash, redirect, render


def _product_values(product: Product) -> dict[str, str]:
    return {"code": product.code, "name": product.name, "unit": product.unit, "currency": product.currency,
            "list_price": pricing.plain(product.list_price), "active": "yes" if product.active else "no"}  # fmt: skip


def _rule_values(rule: ApprovalRule) -> dict[str, str]:
    return {"kind": rule.kind.value, "approver": rule.approver.value, "threshold": pricing.plain(rule.threshold),
            "currency": rule.currency or "", "active": "yes" if rule.active else "no"}  # fmt: skip


class CatalogueController(Controller):
    path = "/admin"
    guards = [requires_role(Role.ADMIN)]

    # --- products ---------------------------------------------------------------------------

    @get("/products", name="catalogue.products")
    async def products(
        self, request: Request, db_session: DbSession, q: FromQuery[str] = "", offset: Offset = 0
    ) -> Response:
        page = await catalogue.search_products(db_session, q, include_inactive=True, offset=offset)
        return render(request, "quotes/admin_products.html", {"page": page, "q": q},
                      fragments={"product-results": "results", "product-more": "rows"})  # fmt: skip

    @get("/products/new", name="catalogue.new_product")
    async def new_product(self, request: Request) -> Response:
        return self._product_form(request, None, {"unit": "each", "active": "yes"})

    def _product_form(
        self,
        request: Request,
        product: Product | None,
        values: dict[str, Any],
        error: ValidationError | None = None,
    ) -> Response:
        context = {"product": product, "values": values, "errors": field_errors(request, error)}
        return render(request, "quotes/admin_product_form.html", context, status_code=422 if error else 200)

    @post("/products", name="catalogue.create_product")
    async def create_product(self, request: Request, db_session: DbSession) -> Response:
        form = dict(await request.form())
        try:
            product = await catalogue.create_product(db_session, current_user(request), form)
        except ValidationError as error:
            await discard_changes(request, db_session)
            return self._product_form(request, None, form, error)
        await db_session.commit()
        flash(request, Message(N_("Product %(code)s saved."), {"code": product.code}))
        return redirect(request, "/admin/products")

    @get("/products/{product_id:uuid}", name="catalogue.edit_product")
    async def edit_product(
        self, request: Request, db_session: DbSession, product_id: FromPath[UUID]
    ) -> Response:
        product = await catalogue.get_product(db_session, product_id)
        return self._product_form(request, product, _product_values(product))

    @post("/products/{product_id:uuid}", name="catalogue.update_product")
    async def update_product(
        self, request: Request, db_session: DbSession, product_id: FromPath[UUID]
    ) -> Response:
        form = dict(await request.form())
        try:
            product = await catalogue.update_product(db_session, current_user(request), product_id, form)
        except ValidationError as error:
            await discard_changes(request, db_session)
            return self._product_form(
                request, await catalogue.get_product(db_session, product_id), form, error
            )
        await db_session.commit()
        flash(request, Message(N_("Product %(code)s saved."), {"code": product.code}))
        return redirect(request, "/admin/products")

    # --- approval rules ---------------------------------------------------------------------

    @get("/approval-rules", name="catalogue.rules")
    async def rules(self, request: Request, db_session: DbSession) -> Response:
        return await self._rules(
            request, db_session, {"approver": "manager", "kind": "discount_above", "active": "yes"}
        )

    async def _rules(
        self, request: Request, db_session: DbSession, values: dict[str, Any], error: ValidationError | None = None,
        editing: UUID | None = None,
    ) -> Response:  # fmt: skip
        rows = await catalogue.list_rules(db_session)
        context = {"rules": [(rule, _rule_values(rule)) for rule in rows], "values": values, "errors": field_errors(request, error),
                   "editing": editing, "kinds": list(RuleKind), "levels": list(ApproverLevel)}  # fmt: skip
        return render(request, "quotes/admin_rules.html", context, status_code=422 if error else 200)

    @post("/approval-rules", name="catalogue.add_rule")
    async def add_rule(self, request: Request, db_session: DbSession) -> Response:
        form = dict(await request.form())
        try:
            await catalogue.add_rule(db_session, current_user(request), form)
        except ValidationError as error:
            await discard_changes(request, db_session)
            return await self._rules(request, db_session, form, error)
        await db_session.commit()
        flash(request, Message(N_("Approval rule saved.")))
        return redirect(request, "/admin/approval-rules")

    @post("/approval-rules/{rule_id:uuid}", name="catalogue.update_rule")
    async def update_rule(self, request: Request, db_session: DbSession, rule_id: FromPath[UUID]) -> Response:
        form = dict(await request.form())
        try:
            await catalogue.update_rule(db_session, current_user(request), rule_id, form)
        except ValidationError as error:
            await discard_changes(request, db_session)
            return await self._rules(request, db_session, form, error, editing=rule_id)
        await db_session.commit()
        flash(request, Message(N_("Approval rule saved.")))
        return redirect(request, "/admin/approval-rules")

    @post("/approval-rules/{rule_id:uuid}/remove", name="catalogue.remove_rule")
    async def remove_rule(self, request: Request, db_session: DbSession, rule_id: FromPath[UUID]) -> Response:
        await catalogue.remove_rule(db_session, current_user(request), rule_id)
        await db_session.commit()
        flash(request, Message(N_("Approval rule removed.")))
        return redirect(request, "/admin/approval-rules")
