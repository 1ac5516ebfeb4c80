"""A person's own settings (language); the admins' user pages come below."""

from __future__ import annotations

from litestar import Controller, Request, Response, post

from server.auth import current_user
from server.db import DbSession
from server.errors import ValidationError
from server.users import service as users
from server.web import full_page_redirect, remember_locale, render


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
