"""Admins see the machine tokens (never the tokens themselves) and revoke them."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath

from server.auth import current_user, requires_role
from server.db import DbSession
from server.errors import Message
from server.i18n import N_
from server.tokens import service as tokens
from server.users.models import Role
from server.web import flash, redirect, render


class TokensController(Controller):
    path = "/admin/tokens"
    guards = [requires_role(Role.ADMIN)]

    @get("/", name="admin.tokens")
    async def index(self, request: Request, db_session: DbSession) -> Response:
        return render(request, "tokens/list.html", {"tokens": await tokens.list_tokens(db_session)})

    @post("/{token_id:uuid}/revoke", name="admin.tokens.revoke")
    async def revoke(self, request: Request, db_session: DbSession, token_id: FromPath[UUID]) -> Response:
        token = await tokens.revoke(db_session, current_user(request), token_id)
        await db_session.commit()
        flash(
            request, Message(N_("Token %(name)s revoked: it stopped working at once."), {"name": token.name})
        )
        return redirect(request, "/admin/tokens")
