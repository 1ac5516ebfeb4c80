"""Today (the rep's day in route order), planning, the visit page with check-in and outcome, and the team's day."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery
from litestar.response import File

from server.accounts import service as accounts
from server.auth import current_user, requires_role
from server.db import DbSession, new_id
from server.errors import Message, NotFound, ValidationError
from server.i18n import N_
from server.organisation import service as organisation
from server.quotes import approvals
from server.users import service as users
from server.users.models import Role, User
from server.visits import photos, team
from server.visits import service as visits
from server.visits.models import Outcome, Visit, VisitStatus
from server.web import Offset, discard_changes, field_errors, flash, redirect, render, settings_of

TIME_FORMAT = "%H:%M"


def _day(user: User, value: str) -> dt.date:
    """The day asked for, or today where the user is."""
    try:
        return dt.date.fromisoformat(value) if value else visits.today_for(user)
    except ValueError:
        return visits.today_for(user)


def _plan_values(visit: Visit) -> dict[str, str]:
    return {
        "planned_on": visit.planned_on.isoformat(),
        "window_start": visit.window_start.strftime(TIME_FORMAT) if visit.window_start else "",
        "window_end": visit.window_end.strftime(TIME_FORMAT) if visit.window_end else "",
        "purpose": visit.purpose,
    }


def _outcome_values(visit: Visit) -> dict[str, str]:
    return {
        "outcome": visit.outcome.value if visit.outcome else "",
        "notes": visit.notes,
        "next_step": visit.next_step,
        "next_step_due": visit.next_step_due.isoformat() if visit.next_step_due else "",
    }


class VisitsController(Controller):
    @get("/", name="home.today")
    async def today(self, request: Request, db_session: DbSession, day: FromQuery[str] = "") -> Response:
        user = current_user(request)
        shown = _day(user, day)
        plan = await visits.day_plan(db_session, user, user.id, shown)
        route = visits.route_of(plan, visits.start_point(user, {}))
        context = {
            "day": shown,
            "today": visits.today_for(user),
            "route": route,
            "previous_day": shown - dt.timedelta(days=1),
            "next_day": shown + dt.timedelta(days=1),
            # A manager's day starts with the quotes that wait for them.
            "approvals_waiting": await approvals.waiting_count(db_session, user),
        }
        return render(request, "visits/day.html", context)

    @post("/visits/route", name="visits.order_route")
    async def order_route(self, request: Request, db_session: DbSession) -> Response:
        user = current_user(request)
        form = dict(await request.form())
        shown = _day(user, str(form.get("day", "")))
        route = await visits.optimise(db_session, user, shown, visits.start_point(user, form))
        await db_session.commit()
        km = f"{route.total_m / 1000:.1f}"
        flash(request, Message(N_("Route ordered: %(km)s km in a straight line."), {"km": km}))
        return redirect(request, f"/?day={shown.isoformat()}")

    @post("/visits/{visit_id:uuid}/move", name="visits.move")
    async def move(self, request: Request, db_session: DbSession, visit_id: FromPath[UUID]) -> Response:
        form = dict(await request.form())
        step = -1 if form.get("direction") == "up" else 1
        ordered = await visits.move(db_session, current_user(request), visit_id, step)
        await db_session.commit()
        return redirect(request, f"/?day={ordered[0].planned_on.isoformat()}")

    @get("/visits/new", name="visits.new")
    async def new(
        self,
        request: Request,
        db_session: DbSession,
        account_id: FromQuery[str] = "",
        day: FromQuery[str] = "",
        q: FromQuery[str] = "",
        offset: Offset = 0,
    ) -> Response:
        user = current_user(request)
        if not account_id:
            page = await accounts.search(db_session, user, q, offset=offset)
            context = {"page": page, "q": q, "day": day}
            fragments = {"visit-account-results": "results", "visit-account-more": "rows"}
            return render(request, "visits/choose_account.html", context, fragments=fragments)
        values = {"id": str(new_id()), "planned_on": _day(user, day).isoformat(), "account_id": account_id}
        return await self._plan_form(request, db_session, values)

    @post("/visits", name="visits.plan")
    async def plan(self, request: Request, db_session: DbSession) -> Response:
        form = dict(await request.form())
        try:
            visit = await visits.plan(db_session, current_user(request), form, record_id=form.get("id"))
        except ValidationError as error:
            return await self._plan_form(request, db_session, form, error)
        await db_session.commit()
        flash(request, Message(N_("Visit to %(name)s planned."), {"name": visit.account.name}))
        return redirect(request, f"/?day={visit.planned_on.isoformat()}")

    async def _plan_form(
        self,
        request: Request,
        db_session: DbSession,
        values: dict[str, Any],
        error: ValidationError | None = None,
    ) -> Response:
        user = current_user(request)
        account = await accounts.get(db_session, user, values.get("account_id"))
        reps = [] if user.role is Role.REP else await users.assignable_owners(db_session, user)
        context = {"account": account, "values": values, "errors": field_errors(request, error), "reps": reps}
        return render(request, "visits/plan.html", context, status_code=422 if error else 200)

    @get("/visits/{visit_id:uuid}", name="visits.show")
    async def show(self, request: Request, db_session: DbSession, visit_id: FromPath[UUID]) -> Response:
        visit = await visits.get(db_session, current_user(request), visit_id)
        return await self._page(request, db_session, visit)

    async def _page(
        self,
        request: Request,
        db_session: DbSession,
        visit: Visit,
        error: ValidationError | None = None,
        values: dict[str, Any] | None = None,
    ) -> Response:
        context = {
            "visit": visit,
            "policy": await organisation.policy(db_session),
            "errors": field_errors(request, error),
            "values": values if values is not None else _outcome_values(visit),
            "outcomes": list(Outcome),
            "statuses": VisitStatus,
        }
        return render(request, "visits/show.html", context, status_code=422 if error else 200)

    async def _act(
        self, request: Request, db_session: DbSession, visit_id: UUID, command: Any, done: str
    ) -> Response:
        """Run a visit command with the posted form; on bad input show the visit page with the reason."""
        user = current_user(request)
        form = dict(await request.form())
        try:
            visit = await command(db_session, user, visit_id, form)
        except ValidationError as error:
            await discard_changes(request, db_session)
            return await self._page(
                request, db_session, await visits.get(db_session, user, visit_id), error, form
            )
        await db_session.commit()
        flash(request, Message(done, {"name": visit.account.name}))
        return redirect(request, f"/visits/{visit.id}")

    @post("/visits/{visit_id:uuid}/check-in", name="visits.check_in")
    async def check_in(self, request: Request, db_session: DbSession, visit_id: FromPath[UUID]) -> Response:
        return await self._act(request, db_session, visit_id, visits.check_in, N_("Checked in at %(name)s."))

    @post("/visits/{visit_id:uuid}/check-out", name="visits.check_out")
    async def check_out(self, request: Request, db_session: DbSession, visit_id: FromPath[UUID]) -> Response:
        return await self._act(
            request, db_session, visit_id, visits.check_out, N_("Checked out of %(name)s.")
        )

    @post("/visits/{visit_id:uuid}/skip", name="visits.skip")
    async def skip(self, request: Request, db_session: DbSession, visit_id: FromPath[UUID]) -> Response:
        return await self._act(request, db_session, visit_id, visits.skip, N_("Visit to %(name)s skipped."))

    @post("/visits/{visit_id:uuid}/use-location", name="visits.use_location")
    async def use_location(
        self, request: Request, db_session: DbSession, visit_id: FromPath[UUID]
    ) -> Response:
        async def command(session: Any, user: User, visit_id: UUID, _form: Any) -> Visit:
            return await visits.use_check_in_location(session, user, visit_id)

        return await self._act(request, db_session, visit_id, command, N_("%(name)s now has a location."))

    # The one route that takes more than the app-wide 1 MB: a photo from the camera.
    @post(
        "/visits/{visit_id:uuid}/outcome",
        name="visits.record_outcome",
        request_max_body_size=photos.MAX_BYTES + 2**16,
    )
    async def outcome(self, request: Request, db_session: DbSession, visit_id: FromPath[UUID]) -> Response:
        user = current_user(request)
        form = await request.form()
        values = {key: value for key, value in form.items() if not isinstance(value, UploadFile)}
        upload = form.get("photo")
        photo_file = None
        try:
            if isinstance(upload, UploadFile) and upload.filename:
                data = await upload.read()
                extension = photos.check(data)
                await visits.get(db_session, user, visit_id)  # scoping before anything is written to disk
                photo_file = photos.save(settings_of(request).var_dir, data, extension)
            visit = await visits.record_outcome(db_session, user, visit_id, values, photo_file=photo_file)
        except ValidationError as error:
            await discard_changes(request, db_session)
            if photo_file:  # the outcome was refused: keep no photo that nothing points to
                photos.remove(settings_of(request).var_dir, photo_file)
            return await self._page(
                request, db_session, await visits.get(db_session, user, visit_id), error, values
            )
        await db_session.commit()
        flash(request, Message(N_("Visit to %(name)s recorded."), {"name": visit.account.name}))
        return redirect(request, f"/visits/{visit.id}")

    @get("/visits/{visit_id:uuid}/photo", name="visits.photo")
    async def photo(self, request: Request, db_session: DbSession, visit_id: FromPath[UUID]) -> File:
        visit = await visits.get(db_session, current_user(request), visit_id)
        if not visit.photo_file:
            raise NotFound(Message(N_("This visit has no photo.")))
        path, media_type = photos.path_of(settings_of(request).var_dir, visit.photo_file)
        if not path.is_file():
            raise NotFound(Message(N_("This visit has no photo.")))
        return File(path, media_type=media_type, content_disposition_type="inline",
                    headers={"Cache-Control": "private, max-age=86400"})  # fmt: skip

    @get("/visits/{visit_id:uuid}/reschedule", name="visits.reschedule_form")
    async def reschedule_form(
        self, request: Request, db_session: DbSession, visit_id: FromPath[UUID]
    ) -> Response:
        visit = await visits.get(db_session, current_user(request), visit_id)
        context = {"visit": visit, "values": _plan_values(visit), "errors": {}}
        return render(request, "visits/reschedule.html", context)

    @post("/visits/{visit_id:uuid}/reschedule", name="visits.reschedule")
    async def reschedule(self, request: Request, db_session: DbSession, visit_id: FromPath[UUID]) -> Response:
        user = current_user(request)
        form = dict(await request.form())
        try:
            visit = await visits.reschedule(db_session, user, visit_id, form)
        except ValidationError as error:
            await discard_changes(request, db_session)
            visit = await visits.get(db_session, user, visit_id)
            context = {"visit": visit, "values": form, "errors": field_errors(request, error)}
            return render(request, "visits/reschedule.html", context, status_code=422)
        await db_session.commit()
        flash(request, Message(N_("Visit to %(name)s moved."), {"name": visit.account.name}))
        return redirect(request, f"/?day={visit.planned_on.isoformat()}")


class TeamController(Controller):
    path = "/team"
    guards = [requires_role(Role.MANAGER, Role.ADMIN)]

    @get("/", name="visits.team_day")
    async def team_day(self, request: Request, db_session: DbSession, day: FromQuery[str] = "") -> Response:
        user = current_user(request)
        shown = _day(user, day)
        context = {
            "day": shown,
            "today": visits.today_for(user),
            "reps": await team.team_day(db_session, user, shown),
            "previous_day": shown - dt.timedelta(days=1),
            "next_day": shown + dt.timedelta(days=1),
            "statuses": VisitStatus,
        }
        return render(request, "visits/team_day.html", context)
