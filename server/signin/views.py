"""Signing in (company identity provider, or the demo's pick-a-person) and signing out."""

from __future__ import annotations

import logging

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromQuery
from litestar.response import Redirect

from server.auth import PUBLIC, current_user, sign_in, sign_out
from server.db import DbSession
from server.errors import NotFound
from server.i18n import LANGUAGE_CODES
from server.reminders import push
from server.signin import oidc
from server.users import service as users
from server.web import full_page_redirect, remember_locale, render, settings_of, translate

log = logging.getLogger("fieldbook.signin")


def safe_next(path: str | None) -> str:
    """Only same-site paths: never let a crafted link send someone to another site after sign-in."""
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return "/"


def _base_url(request: Request) -> str:
    return settings_of(request).public_url or str(request.base_url).rstrip("/")


def _oidc(request: Request) -> tuple[object, oidc.ProviderCache]:
    config = settings_of(request).oidc
    if config is None:
        raise NotFoundException()
    return config, request.app.state["oidc_cache"]


class SignInController(Controller):
    path = "/auth"

    @get("/login", opt=PUBLIC, name="signin.login")
    async def login(self, request: Request, next: FromQuery[str | None] = None) -> Response:
        settings = settings_of(request)
        return render(
            request, "signin/login.html", {"next": safe_next(next), "oidc": settings.oidc is not None}
        )

    @get("/oidc/start", opt=PUBLIC, name="signin.oidc_start")
    async def oidc_start(self, request: Request, next: FromQuery[str | None] = None) -> Response:
        config, cache = _oidc(request)
        try:
            url, flow = await oidc.authorization_url(config, cache, f"{_base_url(request)}/auth/callback")
        except oidc.SignInFailed as failure:
            return self._failed(request, failure)
        request.session[oidc.FLOW_KEY] = {**flow, "next": safe_next(next)}
        return Redirect(url, status_code=303)

    @get("/callback", opt=PUBLIC, name="signin.callback")
    async def callback(self, request: Request, db_session: DbSession) -> Response:
        config, cache = _oidc(request)
        # The flow is used up whatever happens: a replayed callback finds nothing to continue.
        flow = (
            request.session.pop(oidc.FLOW_KEY, None)
            if isinstance(request.scope.get("session"), dict)
            else None
        )
        params = {key: str(value) for key, value in request.query_params.items()}
        try:
            claims = await oidc.complete(config, cache, f"{_base_url(request)}/auth/callback", flow, params)
            identity = users.Identity(
                subject=str(claims["sub"]),
                email=str(claims.get("email") or ""),
                name=str(claims.get("name") or ""),
                role=users.role_from_groups(claims.get(config.role_claim), settings_of(request).role_groups),
            )
            user = await users.sign_in_identity(
                db_session, identity, create_users=config.create_users, allowed_domains=config.allowed_domains
            )
        except (oidc.SignInFailed, users.SignInRefused) as failure:
            return self._failed(request, failure)
        await db_session.commit()
        await sign_in(request, user, id_token=claims["_id_token"])
        log.info("signed in user=%s via oidc", user.id)
        return Redirect(safe_next((flow or {}).get("next")), status_code=303)

    def _failed(self, request: Request, failure: oidc.SignInFailed | users.SignInRefused) -> Response:
        log.warning("sign-in failed: %s", getattr(failure, "reason", failure.message.text))
        if isinstance(request.scope.get("session"), dict):
            sign_out(request)
        return render(
            request,
            "signin/failed.html",
            {"reason": translate(request, failure.message)},
            status_code=failure.status_code,
        )

    @get("/demo", opt=PUBLIC, name="signin.demo")
    async def demo(
        self, request: Request, db_session: DbSession, next: FromQuery[str | None] = None
    ) -> Response:
        if not settings_of(request).demo:
            raise NotFoundException()
        people = await users.demo_users(db_session)
        return render(request, "signin/demo.html", {"people": people, "next": safe_next(next)})

    @post("/demo", opt=PUBLIC, name="signin.demo_sign_in")
    async def demo_sign_in(self, request: Request, db_session: DbSession) -> Response:
        if not settings_of(request).demo:
            raise NotFoundException()
        form = await request.form()
        try:
            user = await users.active_user(db_session, form.get("user_id"))
        except NotFound:
            people = await users.demo_users(db_session)
            context = {"people": people, "next": safe_next(form.get("next")), "error": True}
            return render(request, "signin/demo.html", context, status_code=422)
        await users.record_sign_in(db_session, user)
        await db_session.commit()
        await sign_in(request, user)
        return full_page_redirect(request, safe_next(form.get("next")))

    @post("/logout", name="signin.logout")
    async def logout(self, request: Request, db_session: DbSession) -> Response:
        settings = settings_of(request)
        id_token = request.session.get("id_token") if isinstance(request.scope.get("session"), dict) else None
        signed_in = current_user(request) is not None
        if signed_in:  # this sign-in's devices stop getting its person's reminders
            await push.forget(db_session, current_user(request), request.session.get(push.SESSION_KEY, []))
            await db_session.commit()
        sign_out(request)
        after = f"{_base_url(request)}/auth/login"
        if settings.oidc is not None and signed_in:
            cache: oidc.ProviderCache = request.app.state["oidc_cache"]
            if url := oidc.end_session_url(cache, settings.oidc, id_token, after):
                return full_page_redirect(request, url)
        return full_page_redirect(request, "/auth/login")

    @post("/language", opt=PUBLIC, name="signin.language")
    async def language(self, request: Request) -> Response:
        """Before sign-in the choice lives in a cookie."""
        form = await request.form()
        locale = form.get("locale") if form.get("locale") in LANGUAGE_CODES else None
        return remember_locale(request, full_page_redirect(request, safe_next(form.get("next"))), locale)
