"""Rendering pages: the full page for a normal request, only the part that changes for htmx.

Every HTML response goes through `render`, which picks the language, fills the shared context
and sets `Vary: HX-Request` so caches (including our service worker) keep the two apart.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode

from jinja2_fragments import render_block
from litestar import Request, Response
from litestar.enums import MediaType
from litestar.exceptions import HTTPException
from litestar.params import QueryParameter
from litestar.response import Redirect
from litestar.template.base import csrf_token

from server import i18n
from server.auth import current_user
from server.errors import CommandError, Message
from server.i18n import N_

if TYPE_CHECKING:
    from advanced_alchemy.service import OffsetPagination
    from jinja2 import Environment
    from sqlalchemy.ext.asyncio import AsyncSession

    from server.settings import Settings
    from server.users.models import User

LOCALE_COOKIE = "fieldbook_locale"
# The `offset` query parameter of every paged list.
Offset = Annotated[int, QueryParameter(ge=0, le=10_000_000)]
FLASH_KEY = "flash"
# Sent by the service worker when it fetches a page to keep for offline use (pwa/sw.js).
BACKGROUND_HEADER = "x-fieldbook-background"
MAIN_TARGET = "main"


def next_offset(page: OffsetPagination[Any]) -> int | None:
    """Where the next page of a paged list starts, or None after the last page."""
    following = page.offset + page.limit
    return following if following < page.total else None


def local_time(moment: dt.datetime | None, user: User | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC time as the clock reads where the user is."""
    if moment is None:
        return ""
    return moment.astimezone(user.zone if user else dt.UTC).strftime(pattern)


def settings_of(request: Request) -> Settings:
    return request.app.state["settings"]


def locale_of(request: Request) -> str:
    """The user's chosen language, else the cookie's (before sign-in), else the browser's."""
    cached = request.scope.setdefault("state", {}).get("locale")
    if cached:
        return cached
    user = current_user(request)
    locale = (user.locale if user else None) or request.cookies.get(LOCALE_COOKIE)
    if locale not in i18n.LANGUAGE_CODES:
        locale = i18n.negotiate(request.headers.get("accept-language"), settings_of(request).default_locale)
    request.scope["state"]["locale"] = locale
    return locale


def activate_locale(request: Request) -> str:
    locale = locale_of(request)
    i18n.activate(request.app.state["translations"][locale])
    return locale


def translate(request: Request, message: Message | str) -> str:
    activate_locale(request)
    if isinstance(message, Message):
        return message.render(i18n.gettext)
    return i18n.gettext(message)


def field_errors(request: Request, error: Exception | None) -> dict[str, str]:
    """A ValidationError's messages per field, in the request's language, for a form template."""
    return {name: translate(request, message) for name, message in getattr(error, "errors", {}).items()}


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def wants_partial(request: Request) -> bool:
    # A history-restore request wants the whole page back, even though htmx sends it.
    return is_htmx(request) and request.headers.get("hx-history-restore-request") != "true"


async def discard_changes(request: Request, db_session: AsyncSession) -> None:
    """Undo a refused command's unsaved writes before showing the form again.

    A rollback expires every loaded object; the signed-in user is loaded again here, because the
    page about to be rendered reads it (and async sessions cannot load it lazily).
    """
    await db_session.rollback()
    if (user := current_user(request)) is not None:
        await db_session.refresh(user)


def flash(request: Request, message: Message | str) -> None:
    """A one-time message for the next page this user sees (announced to screen readers)."""
    text = translate(request, message)
    request.session[FLASH_KEY] = [*request.session.get(FLASH_KEY, []), text]


def _pop_flashes(request: Request) -> list[str]:
    if "session" not in request.scope or not isinstance(request.scope["session"], dict):
        return []
    if request.headers.get(BACKGROUND_HEADER):  # the service worker keeping a page: not seen by anyone
        return []
    return request.session.pop(FLASH_KEY, [])


def _context(request: Request, extra: Mapping[str, Any]) -> dict[str, Any]:
    settings = settings_of(request)
    locale = activate_locale(request)
    return {
        "request": request,
        "user": current_user(request),
        "csrf_token": csrf_token({"request": request}),
        "lang": i18n.language(locale),
        "languages": i18n.LANGUAGES,
        "demo": settings.demo,
        "app_version": settings.app_version,
        "flashes": _pop_flashes(request),
        "current_path": request.url.path,
        **extra,
    }


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    fragments: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response[str]:
    """Render `template` as a whole page, or as the part an htmx request asked for.

    An htmx navigation gets the layout's partial form (title, content, navigation marker).
    `fragments` maps an htmx target id to the one block that fills it, for example the result
    list under a search box.
    """
    env: Environment = request.app.template_engine.engine
    partial = wants_partial(request)
    ctx = _context(request, {"partial": partial, **(context or {})})
    block = (fragments or {}).get(request.headers.get("hx-target", "")) if partial else None
    html = render_block(env, template, block, ctx) if block else env.get_template(template).render(ctx)
    extra = dict(headers or {})
    if status_code >= 400 and is_htmx(request):
        # A refused form stays on the page it came from: its POST address must not enter history.
        extra.setdefault("HX-Push-Url", "false")
    return Response(
        html,
        status_code=status_code,
        media_type=MediaType.HTML,
        headers={"Vary": "HX-Request", "Cache-Control": "private, no-cache", **extra},
    )


def full_page_redirect(request: Request, path: str) -> Response[Any]:
    """For changes to the whole app shell (signing in or out, the language): htmx reloads the page."""
    if is_htmx(request):
        return Response(None, headers={"HX-Redirect": path})
    return Redirect(path, status_code=303)


def remember_locale(request: Request, response: Response[Any], locale: str | None) -> Response[Any]:
    """Keep the language in a cookie too, so the sign-in page speaks it after sign-out."""
    if locale:
        secure = settings_of(request).production
        response.set_cookie(LOCALE_COOKIE, locale, max_age=365 * 24 * 3600, samesite="lax", secure=secure)
    else:
        response.delete_cookie(LOCALE_COOKIE)
    return response


def redirect(request: Request, path: str) -> Response[Any]:
    """After a successful form: htmx swaps in the new page and pushes its URL; plain browsers get a 303."""
    if is_htmx(request):
        location = json.dumps({"path": path, "target": f"#{MAIN_TARGET}", "swap": "innerHTML"})
        return Response(None, status_code=200, headers={"HX-Location": location})
    return Redirect(path, status_code=303)


# --- errors ---------------------------------------------------------------------------------

ERROR_TITLES = {
    400: Message(N_("That request could not be understood.")),
    401: Message(N_("Please sign in again.")),
    403: Message(N_("You do not have access to this.")),
    404: Message(N_("We could not find that page.")),
    405: Message(N_("That request could not be understood.")),
    413: Message(N_("That upload is too large.")),
    422: Message(N_("Please correct the highlighted fields.")),
    429: Message(N_("Too many attempts. Please wait a minute and try again.")),
    500: Message(N_("Something went wrong on our side. Nothing was saved; please try again.")),
}


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return is_htmx(request) or "text/html" in accept


def sign_in_path(request: Request) -> str:
    base = "/auth/demo" if settings_of(request).demo else "/auth/login"
    return f"{base}?{urlencode({'next': request.url.path})}" if request.method == "GET" else base


def error_page(
    request: Request, status_code: int, message: Message | None = None, details: Any = None
) -> Response[Any]:
    if not _wants_html(request):
        text = (message or ERROR_TITLES.get(status_code) or ERROR_TITLES[400]).render()
        body = {"status_code": status_code, "detail": text}
        if details:  # e.g. which fields of a JSON body were wrong
            body["errors"] = details
        return Response(body, status_code=status_code)
    if status_code == 401:
        path = sign_in_path(request)
        if is_htmx(request):
            return Response(None, status_code=401, headers={"HX-Redirect": path})
        return Redirect(path, status_code=303)
    shown = message or ERROR_TITLES.get(status_code) or ERROR_TITLES[500 if status_code >= 500 else 400]
    return render(request, "error.html", {"status_code": status_code, "message": translate(request, shown)},
                  status_code=status_code)  # fmt: skip


def handle_http_exception(request: Request, exc: HTTPException) -> Response[Any]:
    return error_page(request, exc.status_code, details=exc.extra if exc.status_code < 500 else None)


def handle_command_error(request: Request, exc: CommandError) -> Response[Any]:
    return error_page(request, exc.status_code, exc.message)


def handle_unexpected(request: Request, exc: Exception) -> Response[Any]:
    logging.getLogger("fieldbook").exception("unhandled error on %s %s", request.method, request.url.path)
    return error_page(request, 500)


EXCEPTION_HANDLERS = {
    HTTPException: handle_http_exception,
    CommandError: handle_command_error,
    Exception: handle_unexpected,
}
