"""The admin page for the organisation policy."""

from __future__ import annotations

from litestar import Controller, Request, Response, get, post

from server.auth import current_user, requires_role
from server.db import DbSession
from server.errors import Message, ValidationError
from server.i18n import N_
from server.organisation import service as organisation
from server.organisation.models import GeofenceMode, OrganisationPolicy
from server.users.models import Role
from server.web import field_errors, flash, redirect, render


def _values(policy: OrganisationPolicy) -> dict[str, str]:
    return {name: str(getattr(policy, name).value if name == "geofence_mode" else getattr(policy, name))
            for name in organisation.FIELDS}  # fmt: skip


class OrganisationController(Controller):
    path = "/admin/organisation"
    guards = [requires_role(Role.ADMIN)]

    @get("/", name="organisation.show")
    async def show(self, request: Request, db_session: DbSession) -> Response:
        return self._form(request, _values(await organisation.policy(db_session)))

    @post("/", name="organisation.update")
    async def update(self, request: Request, db_session: DbSession) -> Response:
        form = dict(await request.form())
        try:
            _, changed = await organisation.update(db_session, current_user(request), form)
        except ValidationError as error:
            return self._form(request, form, error)
        await db_session.commit()
        flash(request, Message(N_("Policy saved. %(count)s accounts changed tier."), {"count": changed}))
        return redirect(request, "/admin/organisation")

    def _form(
        self, request: Request, values: dict[str, str], error: ValidationError | None = None
    ) -> Response:
        context = {"values": values, "errors": field_errors(request, error), "modes": list(GeofenceMode)}
        return render(request, "organisation/policy.html", context, status_code=422 if error else 200)
