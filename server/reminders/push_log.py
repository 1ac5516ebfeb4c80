"""For admins: every push delivery and each attempt at it, to see why a notification did not arrive."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.params import FromQuery
from sqlalchemy import select

from server.auth import requires_role
from server.db import DbSession
from server.reminders.models import Reminder
from server.reminders.push_models import PushAttempt, PushDelivery
from server.users import service as users
from server.users.models import Role, User
from server.web import render

SHOWN = 100


class PushLogController(Controller):
    path = "/admin/notifications"
    guards = [requires_role(Role.ADMIN)]

    @get("/", name="admin.notifications")
    async def index(self, request: Request, db_session: DbSession, who: FromQuery[str] = "") -> Response:
        person = await users.find_by_email(db_session, who.strip()) if "@" in who else None
        query = (
            select(PushDelivery, User.name, Reminder.title)
            .join(User, User.id == PushDelivery.user_id)
            .join(Reminder, Reminder.id == PushDelivery.reminder_id)
            .order_by(PushDelivery.created_at.desc())
            .limit(SHOWN)
        )
        if who.strip():
            query = query.where(PushDelivery.user_id == (person.id if person else None))
        rows = list(await db_session.execute(query))
        attempts: dict[Any, list[PushAttempt]] = defaultdict(list)
        if rows:
            found = await db_session.scalars(
                select(PushAttempt)
                .where(PushAttempt.delivery_id.in_([row[0].id for row in rows]))
                .order_by(PushAttempt.created_at)
            )
            for attempt in found:
                attempts[attempt.delivery_id].append(attempt)
        context = {
            "rows": rows,
            "attempts": attempts,
            "who": who,
            "unknown": bool(who.strip()) and person is None,
        }
        return render(request, "reminders/push_log.html", context)
