"""Notifications: the VAPID public key for the app, this device's subscription, quiet hours."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import SerializationException
from litestar.params import FromPath

from server.auth import current_user
from server.db import DbSession
from server.errors import Message, ValidationError
from server.i18n import N_
from server.reminders import push, vapid
from server.users import service as users
from server.web import discard_changes, field_errors, flash, redirect, render, settings_of


def _quiet_values(request: Request) -> dict[str, str]:
    user = current_user(request)
    show = lambda value: value.strftime("%H:%M") if value else ""  # noqa: E731
    return {"quiet_start": show(user.quiet_start), "quiet_end": show(user.quiet_end)}


async def _json(request: Request) -> Any:
    try:
        return await request.json()
    except SerializationException as error:
        raise ValidationError({"body": Message(N_("That request could not be understood."))}) from error


class NotificationsController(Controller):
    path = "/notifications"

    @get("/", name="notifications.settings")
    async def settings(self, request: Request, db_session: DbSession) -> Response:
        return await self._page(request, db_session, _quiet_values(request))

    async def _page(
        self, request: Request, db_session: DbSession, values: dict[str, Any], error: Any = None
    ) -> Response:
        context = {
            "devices": await push.devices(db_session, current_user(request)),
            "values": values,
            "errors": field_errors(request, error),
        }
        return render(request, "reminders/notifications.html", context, status_code=422 if error else 200)

    @get("/key", name="notifications.key")
    async def key(self, request: Request) -> dict[str, str]:
        """The application server key this app's devices subscribe with."""
        key = request.app.state.get("vapid") or vapid.load(settings_of(request))
        return {"public_key": vapid.public_key(key)}

    @post("/subscriptions", name="notifications.subscribe", status_code=201)
    async def subscribe(self, request: Request, db_session: DbSession) -> dict[str, str]:
        body = await _json(request)
        subscription = await push.subscribe(
            db_session, current_user(request), body if isinstance(body, dict) else {},
            user_agent=request.headers.get("user-agent", ""),
        )  # fmt: skip
        await db_session.commit()
        made = request.session.get(push.SESSION_KEY, [])
        request.session[push.SESSION_KEY] = [
            *[i for i in made if i != str(subscription.id)],
            str(subscription.id),
        ]
        return {"id": str(subscription.id)}

    @post("/subscriptions/delete", name="notifications.unsubscribe", status_code=200)
    async def unsubscribe(self, request: Request, db_session: DbSession) -> dict[str, int]:
        body = await _json(request)
        endpoint = body.get("endpoint") if isinstance(body, dict) else None
        removed = await push.unsubscribe(db_session, current_user(request), endpoint)
        await db_session.commit()
        return {"removed": removed}

    @post("/devices/{subscription_id:uuid}/delete", name="notifications.remove_device")
    async def remove_device(
        self, request: Request, db_session: DbSession, subscription_id: FromPath[UUID]
    ) -> Response:
        await push.remove_device(db_session, current_user(request), subscription_id)
        await db_session.commit()
        flash(request, Message(N_("That device gets no more notifications.")))
        return redirect(request, "/notifications")

    @post("/quiet-hours", name="notifications.quiet_hours")
    async def quiet_hours(self, request: Request, db_session: DbSession) -> Response:
        form = dict(await request.form())
        try:
            await users.set_quiet_hours(db_session, current_user(request), form)
        except ValidationError as error:
            await discard_changes(request, db_session)
            return await self._page(request, db_session, form, error)
        await db_session.commit()
        flash(request, Message(N_("Quiet hours saved.")))
        return redirect(request, "/notifications")
