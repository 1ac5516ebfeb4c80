"""Signing in and out, and a person's own settings (language)."""

from __future__ import annotations

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromQuery
from litestar.response import Redirect

from server.auth import PUBLIC, current_user, sign_in, sign_out
from server.db import DbSession
from server.errors import NotFound, ValidationError
from server.i18n import LANGUAGE_CODES
from server.users import service as users
from server.web import LOCALE_COOKIE, is_htmx, render, settings_of

ONE_YEAR = 365 * 24 * 3600


def _full_page_redirect(request: Request, path: str) -> Response:
    """Signing in or out changes the whole app shell, so htmx reloads the page instead of swapping."""
    if is_htmx(request):
        return Response(None, headers={"HX-Redirect": path})
    return Redirect(path, status_code=303)


def _safe_next(path: str | None) -> str:
    """Only same-site paths: never let a crafted link send someone to another site after sign-in."""
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return "/"


def _remember_locale(request: Request, response: Response, locale: str | None) -> Response:
    """Keep the language in a cookie too, so the sign-in page speaks it after sign-out."""
    if locale:
        secure = settings_of(request).production
        response.set_cookie(LOCALE_COOKIE, locale, max_age=ONE_YEAR, samesite="lax", secure=secure)
    else:
        response.delete_cookie(LOCALE_COOKIE)
    return response


class SignInController(Controller):
    path = "/auth"
    opt = PUBLIC

    @get("/login", name="auth.login")
    async def login(self, request: Request, next: FromQuery[str | None] = None) -> Response:
        return render(request, "auth/login.html", {"next": _safe_next(next)})

    @get("/demo", name="auth.demo")
    async def demo(self, request: Request, db_session: DbSession, next: FromQuery[str | None] = None) -> Response:
        if not settings_of(request).demo:
            raise NotFoundException()
        people = await users.demo_users(db_session)
        return render(request, "auth/demo.html", {"people": people, "next": _safe_next(next)})

    @post("/demo", name="auth.demo.sign_in")
    async def demo_sign_in(self, request: Request, db_session: DbSession) -> Response:
        if not settings_of(request).demo:
            raise NotFoundException()
        form = await request.form()
        try:
            user = await users.active_user(db_session, form.get("user_id"))
        except NotFound:
            people = await users.demo_users(db_session)
            context = {"people": people, "next": _safe_next(form.get("next")), "error": True}
            return render(request, "auth/demo.html", context, status_code=422)
        await sign_in(request, user)
        return _full_page_redirect(request, _safe_next(form.get("next")))

    @post("/logout", name="auth.logout")
    async def logout(self, request: Request) -> Response:
        sign_out(request)
        return _full_page_redirect(request, "/auth/login")

    @post("/language", name="auth.language")
    async def language(self, request: Request) -> Response:
        """Before sign-in the choice lives in a cookie."""
        form = await request.form()
        locale = form.get("locale") if form.get("locale") in LANGUAGE_CODES else None
        return _remember_locale(request, _full_page_redirect(request, _safe_next(form.get("next"))), locale)


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
        return _remember_locale(request, _full_page_redirect(request, "/more"), locale)
