"""A person's own settings (language); the admins' user pages come below."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery

from server.audit import service as audit
from server.auth import current_user, requires_role
from server.db import DbSession, new_id
from server.errors import Message, ValidationError
from server.i18n import N_
from server.users import service as users
from server.users.models import Role, User
from server.web import (
    Offset,
    discard_changes,
    field_errors,
    flash,
    full_page_redirect,
    redirect,
    remember_locale,
    render,
)


class SettingsController(Controller):
    path = "/settings"

    @post("/language", name="settings.language")
    async def language(self, request: Request, db_session: DbSession) -> Response:
        form = await request.form()
        locale = form.get("locale") or None
        try:
            await users.set_locale(db_session, current_user(request), locale)
        except ValidationError:
            return render(request, "home/more.html", {"language_error": True}, status_code=422)
        await db_session.commit()
        return remember_locale(request, full_page_redirect(request, "/more"), locale)

    @post("/day", name="settings.day")
    async def day(self, request: Request, db_session: DbSession) -> Response:
        form = dict(await request.form())
        try:
            await users.set_day_settings(db_session, current_user(request), form)
        except ValidationError as error:
            await discard_changes(request, db_session)
            context = {"day_errors": field_errors(request, error), "day_values": form}
            return render(request, "home/more.html", context, status_code=422)
        await db_session.commit()
        flash(request, Message(N_("Settings saved.")))
        return redirect(request, "/more")


def _status_label(user: User) -> str:
    if not user.is_active:
        return "inactive"
    return "invited" if user.invited else "active"


class AdminUsersController(Controller):
    """Admins manage people: find them, invite them, change role and team, deactivate."""

    path = "/admin/users"
    guards = [requires_role(Role.ADMIN)]

    @get("/", name="admin.users")
    async def index(
        self,
        request: Request,
        db_session: DbSession,
        q: FromQuery[str] = "",
        role: FromQuery[str] = "",
        status: FromQuery[str] = "",
        offset: Offset = 0,
    ) -> Response:
        page = await users.search_users(
            db_session, current_user(request), q, role=role, status=status, offset=offset
        )
        context = {
            "page": page,
            "q": q,
            "role": role,
            "status": status,
            "roles": list(Role),
            "status_of": _status_label,
        }
        return render(request, "users/admin_list.html", context, fragments={"user-results": "results"})

    @get("/invite", name="admin.users.invite_form")
    async def invite_form(self, request: Request, db_session: DbSession) -> Response:
        return await self._form(request, db_session, None, {"id": str(new_id()), "role": Role.REP.value})

    @post("/invite", name="admin.users.invite")
    async def invite(self, request: Request, db_session: DbSession) -> Response:
        form = dict(await request.form())
        try:
            person = await users.invite(db_session, current_user(request), form, record_id=form.get("id"))
        except ValidationError as error:
            return await self._form(request, db_session, None, form, error)
        await db_session.commit()
        flash(
            request,
            Message(
                N_("%(name)s is invited. Their first sign-in finds their role ready."), {"name": person.name}
            ),
        )
        return redirect(request, f"/admin/users/{person.id}")

    @get("/{user_id:uuid}", name="admin.users.show")
    async def show(self, request: Request, db_session: DbSession, user_id: FromPath[UUID]) -> Response:
        person = await users.get_for_admin(db_session, current_user(request), user_id)
        return await self._form(request, db_session, person, _profile_values(person))

    @post("/{user_id:uuid}", name="admin.users.change")
    async def change(self, request: Request, db_session: DbSession, user_id: FromPath[UUID]) -> Response:
        person = await users.get_for_admin(db_session, current_user(request), user_id)
        form = dict(await request.form())
        try:
            await users.change(db_session, current_user(request), person.id, form)
        except ValidationError as error:
            return await self._form(request, db_session, person, form, error)
        await db_session.commit()
        flash(request, Message(N_("Changes to %(name)s saved."), {"name": person.name}))
        return redirect(request, f"/admin/users/{person.id}")

    @post("/{user_id:uuid}/active", name="admin.users.set_active")
    async def set_active(self, request: Request, db_session: DbSession, user_id: FromPath[UUID]) -> Response:
        person = await users.get_for_admin(db_session, current_user(request), user_id)
        active = (await request.form()).get("active") == "1"
        try:
            await users.set_active(db_session, current_user(request), person.id, active)
        except ValidationError as error:
            return await self._form(request, db_session, person, _profile_values(person), error)
        await db_session.commit()
        message = (
            N_("%(name)s can sign in again.") if active else N_("%(name)s is deactivated and signed out.")
        )
        flash(request, Message(message, {"name": person.name}))
        return redirect(request, f"/admin/users/{person.id}")

    async def _form(
        self,
        request: Request,
        db_session: DbSession,
        person: User | None,
        values: dict[str, str],
        error: ValidationError | None = None,
    ) -> Response:
        context = {
            "person": person,
            "values": values,
            "errors": field_errors(request, error),
            "roles": list(Role),
            "teams": await users.teams(db_session),
            "managers": [m for m in await users.managers(db_session) if person is None or m.id != person.id],
            "history": await audit.events_for(db_session, person.id, limit=20) if person else [],
            "status_of": _status_label,
        }
        return render(request, "users/admin_user.html", context, status_code=422 if error else 200)


def _profile_values(person: User) -> dict[str, str]:
    return {
        "email": person.email,
        "name": person.name,
        "role": person.role.value,
        "team_id": str(person.team_id or ""),
        "manager_id": str(person.manager_id or ""),
    }
