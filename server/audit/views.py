"""The audit log, for admins: who changed what, when, from what to what."""

from __future__ import annotations

import uuid

from advanced_alchemy.service import OffsetPagination
from litestar import Controller, Request, Response, get
from litestar.params import FromQuery
from litestar.response import Stream

from server.audit import service as audit
from server.auth import requires_role
from server.db import DbSession
from server.imports import export
from server.users import service as users
from server.users.models import Role
from server.validation import parse_uuid
from server.web import Offset, render

# Where a record of each kind can be opened, for links from the log.
RECORD_PAGES = {"accounts": "/accounts/{}", "users": "/admin/users/{}", "contacts": "/contacts/{}/edit"}


class AuditController(Controller):
    path = "/admin/audit"
    guards = [requires_role(Role.ADMIN)]

    @get("/export.csv", name="admin.audit.export")
    async def export_csv(
        self, request: Request, db_session: DbSession, who: FromQuery[str] = "", record: FromQuery[str] = "",
        action: FromQuery[str] = "",
    ) -> Stream:  # fmt: skip
        """The audit log as CSV, with the page's filters."""
        actor_id = None
        if who.strip():
            actor = await users.find_by_email(db_session, who) if "@" in who else None
            actor_id = actor.id if actor else parse_uuid(who) or uuid.UUID(int=0)  # unknown: matches nothing
        record_id = (parse_uuid(record) or uuid.UUID(int=0)) if record.strip() else None
        query = export.audit_query(actor_id=actor_id, record_id=record_id, action=action)
        return export.csv_response(request, "audit", export.AUDIT_COLUMNS, query)

    @get("/", name="admin.audit")
    async def index(
        self,
        request: Request,
        db_session: DbSession,
        who: FromQuery[str] = "",
        record: FromQuery[str] = "",
        action: FromQuery[str] = "",
        offset: Offset = 0,
    ) -> Response:
        actor = None
        if who.strip():
            actor = await users.find_by_email(db_session, who) if "@" in who else None
            actor_id = actor.id if actor else parse_uuid(who)
        else:
            actor_id = None
        unknown_actor = bool(who.strip()) and actor_id is None
        record_id = parse_uuid(record) if record.strip() else None
        unknown_record = bool(record.strip()) and record_id is None
        if unknown_actor or unknown_record:
            page = OffsetPagination(items=[], total=0, offset=0, limit=audit.AUDIT_PAGE_SIZE)
        else:
            page = await audit.search(
                db_session, actor_id=actor_id, record_id=record_id, action=action, offset=offset
            )
        context = {
            "page": page,
            "who": who,
            "record": record,
            "action": action,
            "actions": await audit.actions(db_session),
            "names": await users.names_by_id(db_session, {event.actor_id for event in page.items}),
            "record_pages": RECORD_PAGES,
            "unknown_actor": unknown_actor,
            "unknown_record": unknown_record,
        }
        return render(request, "audit/list.html", context, fragments={"audit-results": "results"})
