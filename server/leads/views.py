"""Lead pages: open leads by score, quick capture with duplicate hints, the lead page and its actions."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Stream

from server.auth import current_user
from server.db import DbSession, new_id
from server.errors import Message, ValidationError
from server.i18n import N_
from server.imports import export
from server.leads import matching
from server.leads import service as leads
from server.leads.models import Lead, LeadSource
from server.users import service as users
from server.users.models import Role
from server.validation import parse_uuid
from server.web import Offset, discard_changes, field_errors, flash, redirect, render


def _values(lead: Lead) -> dict[str, str]:
    return {
        name: str(getattr(lead, name).value if name == "source" else getattr(lead, name))
        for name in leads.FIELDS
    }


class LeadsController(Controller):
    path = "/leads"

    @get("/", name="leads.list")
    async def index(
        self, request: Request, db_session: DbSession, mine: FromQuery[bool] = False, offset: Offset = 0
    ) -> Response:
        user = current_user(request)
        page = await leads.open_leads(
            db_session, user, mine_only=mine or user.role is Role.REP, offset=offset
        )
        return render(
            request, "leads/list.html", {"page": page, "mine": mine}, fragments={"lead-more": "rows"}
        )

    @get("/export.csv", name="leads.export")
    async def export_csv(self, request: Request, mine: FromQuery[bool] = False) -> Stream:
        """The open leads as CSV, as the list shows them (a rep's own)."""
        user = current_user(request)
        query = export.leads_query(user, mine_only=mine or user.role is Role.REP)
        return export.csv_response(request, "leads", export.LEAD_COLUMNS, query)

    @get("/new", name="leads.new")
    async def new(self, request: Request) -> Response:
        return self._form(request, None, {"id": str(new_id()), "source": LeadSource.OTHER.value}, [])

    @get("/matches", name="leads.matches")
    async def matches(
        self, request: Request, db_session: DbSession, phone: FromQuery[str] = "", email: FromQuery[str] = "",
        company: FromQuery[str] = "", lead_id: FromQuery[str] = "",
    ) -> Response:  # fmt: skip
        """Possible duplicates while the rep types; the form's live hint."""
        found = await matching.find(
            db_session, current_user(request), phone=phone[:40], email=email[:320], company=company[:200],
            exclude_lead=parse_uuid(lead_id),
        )  # fmt: skip
        return render(
            request, "leads/_matches.html", {"matches": found, "asked": bool(phone or email or company)}
        )

    @post("/", name="leads.capture")
    async def capture(self, request: Request, db_session: DbSession) -> Response:
        user = current_user(request)
        form = dict(await request.form())
        try:
            lead = await leads.capture(db_session, user, form, record_id=form.get("id"))
        except ValidationError as error:
            found = await matching.find(db_session, user, phone=str(form.get("phone", ""))[:40],
                                        email=str(form.get("email", ""))[:320], company=str(form.get("company", ""))[:200])  # fmt: skip
            return self._form(request, None, form, found, error)
        await db_session.commit()
        flash(request, Message(N_("Lead %(name)s saved."), {"name": lead.company or lead.name}))
        return redirect(request, f"/leads/{lead.id}")

    def _form(
        self, request: Request, lead: Lead | None, values: dict[str, Any], found: list[matching.Match],
        error: ValidationError | None = None,
    ) -> Response:  # fmt: skip
        context = {"lead": lead, "values": values, "errors": field_errors(request, error), "sources": list(LeadSource),
                   "matches": found, "asked": bool(found)}  # fmt: skip
        return render(request, "leads/form.html", context, status_code=422 if error else 200)

    @get("/{lead_id:uuid}", name="leads.show")
    async def show(self, request: Request, db_session: DbSession, lead_id: FromPath[UUID]) -> Response:
        return await self._page(request, db_session, lead_id)

    async def _page(
        self, request: Request, db_session: DbSession, lead_id: UUID, error: ValidationError | None = None
    ) -> Response:
        user = current_user(request)
        lead = await leads.get(db_session, user, lead_id)
        score, reasons = await leads.score_of(db_session, lead)
        found = await matching.find(
            db_session, user, phone=lead.phone, email=lead.email, company=lead.company, exclude_lead=lead.id
        )
        context = {
            "lead": lead,
            "score": score,
            "reasons": reasons,
            "matches": found,
            "merge_targets": [m for m in found if m.kind == "account"],
            "owners": [] if user.role is Role.REP else await users.assignable_owners(db_session, user),
            "errors": field_errors(request, error),
            "new_ids": {"account": str(new_id()), "contact": str(new_id())},
        }
        return render(request, "leads/show.html", context, status_code=422 if error else 200)

    @get("/{lead_id:uuid}/edit", name="leads.edit")
    async def edit(self, request: Request, db_session: DbSession, lead_id: FromPath[UUID]) -> Response:
        lead = await leads.get(db_session, current_user(request), lead_id)
        return self._form(request, lead, _values(lead), [])

    @post("/{lead_id:uuid}/edit", name="leads.update")
    async def update(self, request: Request, db_session: DbSession, lead_id: FromPath[UUID]) -> Response:
        user = current_user(request)
        form = dict(await request.form())
        try:
            lead = await leads.update(db_session, user, lead_id, form)
        except ValidationError as error:
            await discard_changes(request, db_session)
            return self._form(request, await leads.get(db_session, user, lead_id), form, [], error)
        await db_session.commit()
        flash(request, Message(N_("Lead %(name)s saved."), {"name": lead.company or lead.name}))
        return redirect(request, f"/leads/{lead.id}")

    async def _act(
        self,
        request: Request,
        db_session: DbSession,
        lead_id: UUID,
        command: Any,
        done: str,
        *,
        then_account: bool = False,
    ) -> Response:
        """Run a lead command with the posted form; show the lead page with the reason if it is refused."""
        form = dict(await request.form())
        try:
            lead = await command(db_session, current_user(request), lead_id, form)
        except ValidationError as error:
            await discard_changes(request, db_session)
            return await self._page(request, db_session, lead_id, error)
        await db_session.commit()
        flash(request, Message(done, {"name": lead.company or lead.name}))
        return redirect(request, f"/accounts/{lead.account_id}" if then_account else f"/leads/{lead.id}")

    @post("/{lead_id:uuid}/convert", name="leads.convert")
    async def convert(self, request: Request, db_session: DbSession, lead_id: FromPath[UUID]) -> Response:
        return await self._act(
            request,
            db_session,
            lead_id,
            leads.convert,
            N_("Lead %(name)s converted into a customer."),
            then_account=True,
        )

    @post("/{lead_id:uuid}/disqualify", name="leads.disqualify")
    async def disqualify(self, request: Request, db_session: DbSession, lead_id: FromPath[UUID]) -> Response:
        return await self._act(request, db_session, lead_id, leads.disqualify, N_("Lead %(name)s closed."))

    @post("/{lead_id:uuid}/assign", name="leads.assign")
    async def assign(self, request: Request, db_session: DbSession, lead_id: FromPath[UUID]) -> Response:
        return await self._act(request, db_session, lead_id, leads.assign, N_("Lead %(name)s reassigned."))
