"""Reminder pages: overdue, today and upcoming; the form to make or edit one; done, snooze, delete."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery

from server.auth import current_user
from server.db import DbSession, new_id
from server.errors import Message, ValidationError
from server.i18n import N_
from server.reminders import service as reminders
from server.reminders.models import Reminder
from server.users.models import User
from server.web import discard_changes, field_errors, flash, redirect, render


def _values(reminder: Reminder, user: User) -> dict[str, str]:
    due = reminder.due_at.astimezone(user.zone)
    return {"title": reminder.title, "due_on": due.date().isoformat(), "due_time": due.strftime("%H:%M")}


class RemindersController(Controller):
    path = "/reminders"

    @get("/", name="reminders.list")
    async def index(self, request: Request, db_session: DbSession) -> Response:
        return await self._list(request, db_session)

    async def _list(
        self, request: Request, db_session: DbSession, snoozing: UUID | None = None, error: Any = None
    ) -> Response:
        user = current_user(request)
        agenda = await reminders.agenda(db_session, user)
        every = [*agenda.overdue, *agenda.today, *agenda.upcoming]
        context = {
            "agenda": agenda,
            "names": await reminders.link_names(db_session, user, every),
            "paths": {r.id: reminders.record_path(r) for r in every},
            "snoozing": snoozing,
            "errors": field_errors(request, error),
        }
        return render(request, "reminders/list.html", context, status_code=422 if error else 200)

    @get("/new", name="reminders.new")
    async def new(
        self, request: Request, db_session: DbSession, link_kind: FromQuery[str] = "",
        link_id: FromQuery[str] = "", title: FromQuery[str] = "", due_on: FromQuery[str] = "",
    ) -> Response:  # fmt: skip
        """The form, filled in from where it was opened (a visit's next step, a lead)."""
        values = {"id": str(new_id()), "title": title[:200], "due_on": due_on[:10], "due_time": "09:00",
                  "link_kind": link_kind[:16], "link_id": link_id[:40]}  # fmt: skip
        return await self._form(request, db_session, None, values)

    async def _form(
        self, request: Request, db_session: DbSession, reminder: Reminder | None, values: dict[str, Any],
        error: ValidationError | None = None,
    ) -> Response:  # fmt: skip
        user = current_user(request)
        if reminder is not None:
            about = (await reminders.link_names(db_session, user, [reminder])).get(reminder.id)
        else:
            about = await reminders.link_name(
                db_session, user, values.get("link_kind"), values.get("link_id")
            )
        context = {
            "reminder": reminder,
            "values": values,
            "about": about,
            "errors": field_errors(request, error),
        }
        return render(request, "reminders/form.html", context, status_code=422 if error else 200)

    @post("/", name="reminders.create")
    async def create(self, request: Request, db_session: DbSession) -> Response:
        form = dict(await request.form())
        try:
            reminder = await reminders.create(
                db_session, current_user(request), form, record_id=form.get("id")
            )
        except ValidationError as error:
            await discard_changes(request, db_session)
            return await self._form(request, db_session, None, form, error)
        await db_session.commit()
        flash(request, Message(N_("Reminder “%(title)s” saved."), {"title": reminder.title}))
        return redirect(request, "/reminders")

    @get("/{reminder_id:uuid}/edit", name="reminders.edit")
    async def edit(self, request: Request, db_session: DbSession, reminder_id: FromPath[UUID]) -> Response:
        user = current_user(request)
        reminder = await reminders.get(db_session, user, reminder_id)
        return await self._form(request, db_session, reminder, _values(reminder, user))

    @post("/{reminder_id:uuid}/edit", name="reminders.update")
    async def update(self, request: Request, db_session: DbSession, reminder_id: FromPath[UUID]) -> Response:
        user = current_user(request)
        form = dict(await request.form())
        try:
            reminder = await reminders.update(db_session, user, reminder_id, form)
        except ValidationError as error:
            await discard_changes(request, db_session)
            reminder = await reminders.get(db_session, user, reminder_id)
            return await self._form(request, db_session, reminder, form, error)
        await db_session.commit()
        flash(request, Message(N_("Reminder “%(title)s” saved."), {"title": reminder.title}))
        return redirect(request, "/reminders")

    async def _act(
        self, request: Request, db_session: DbSession, reminder_id: UUID, command: Any, done: str
    ) -> Response:
        form = dict(await request.form())
        try:
            reminder = await command(db_session, current_user(request), reminder_id, form)
        except ValidationError as error:
            await discard_changes(request, db_session)
            return await self._list(request, db_session, snoozing=reminder_id, error=error)
        await db_session.commit()
        flash(request, Message(done, {"title": reminder.title}))
        return redirect(request, "/reminders")

    @post("/{reminder_id:uuid}/done", name="reminders.complete")
    async def complete(
        self, request: Request, db_session: DbSession, reminder_id: FromPath[UUID]
    ) -> Response:
        async def command(session: Any, user: User, target: UUID, _form: Any) -> Reminder:
            return await reminders.complete(session, user, target)

        return await self._act(request, db_session, reminder_id, command, N_("“%(title)s” done."))

    @post("/{reminder_id:uuid}/snooze", name="reminders.snooze")
    async def snooze(self, request: Request, db_session: DbSession, reminder_id: FromPath[UUID]) -> Response:
        return await self._act(request, db_session, reminder_id, reminders.snooze, N_("“%(title)s” snoozed."))

    @post("/{reminder_id:uuid}/delete", name="reminders.delete")
    async def delete(self, request: Request, db_session: DbSession, reminder_id: FromPath[UUID]) -> Response:
        async def command(session: Any, user: User, target: UUID, _form: Any) -> Reminder:
            return await reminders.delete(session, user, target)

        return await self._act(request, db_session, reminder_id, command, N_("“%(title)s” deleted."))
