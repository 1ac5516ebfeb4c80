"""Admins' import pages: upload, map the columns, check (dry run), apply with a progress bar."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery
from sqlalchemy.ext.asyncio import async_sessionmaker

from server.auth import current_user, requires_role
from server.db import DbSession
from server.errors import Message, ValidationError
from server.i18n import N_
from server.imports import service as imports
from server.imports.models import ImportJob, JobStatus
from server.imports.runner import SPECS, Problem
from server.users.models import Role
from server.web import discard_changes, field_errors, flash, redirect, render, settings_of, translate

RUNS_KEY = "import_runs"
CHUNK = 64 * 1024


def runs_of(request: Request) -> imports.Runs:
    return request.app.state[RUNS_KEY]


def _start(request: Request, job: ImportJob) -> None:
    sessions = async_sessionmaker(request.app.state["alchemy"].get_engine(), expire_on_commit=False)
    runs_of(request).start(sessions, settings_of(request).var_dir, job.id)


def _progress(request: Request, job: ImportJob) -> tuple[int, int]:
    """(rows done, per cent): from this process if it runs the job, else what the job row says."""
    return runs_of(request).progress.get(job.id, (job.counts.get("rows", 0), job.progress))


class ImportsController(Controller):
    path = "/admin/imports"
    guards = [requires_role(Role.ADMIN)]

    async def _list(self, request: Request, db_session: DbSession, errors: dict[str, str] | None = None,
                    kind: str = "accounts", status_code: int = 200) -> Response:  # fmt: skip
        jobs = await imports.recent(db_session, current_user(request))
        context = {"jobs": jobs, "specs": SPECS, "errors": errors or {}, "kind": kind,
                   "max_mb": imports.MAX_BYTES // 2**20}  # fmt: skip
        return render(request, "imports/list.html", context, status_code=status_code)

    @get("/", name="admin.imports")
    async def index(
        self, request: Request, db_session: DbSession, kind: FromQuery[str] = "accounts"
    ) -> Response:
        return await self._list(request, db_session, kind=kind if kind in SPECS else "accounts")

    @post("/", name="admin.imports.upload", request_max_body_size=imports.MAX_BYTES + 256 * 1024)
    async def upload(self, request: Request, db_session: DbSession) -> Response:
        form = await request.form()
        kind = str(form.get("kind") or "")
        upload = form.get("file")
        try:
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise ValidationError({"file": Message(N_("Choose a .csv file."))})

            async def chunks() -> AsyncIterator[bytes]:
                while data := await upload.read(CHUNK):
                    yield data

            job = await imports.upload(
                db_session,
                current_user(request),
                settings_of(request).var_dir,
                kind,
                upload.filename,
                chunks(),
            )
        except ValidationError as error:
            await discard_changes(request, db_session)
            return await self._list(request, db_session, field_errors(request, error), kind, 422)
        await db_session.commit()
        return redirect(request, f"/admin/imports/{job.id}")

    async def _page(self, request: Request, job: ImportJob, errors: dict[str, str] | None = None,
                    status_code: int = 200) -> Response:  # fmt: skip
        spec = SPECS[job.kind]
        rows, percent = _progress(request, job)
        problems = [
            Problem(**problem).render(lambda text: translate(request, text)) for problem in job.problems
        ]
        context = {"job": job, "spec": spec, "errors": errors or {}, "rows": rows, "percent": percent,
                   "problems": problems, "Status": JobStatus}  # fmt: skip
        return render(request, "imports/job.html", context, status_code=status_code,
                      fragments={"job-progress": "progress"})  # fmt: skip

    @get("/{job_id:uuid}", name="admin.imports.show")
    async def show(self, request: Request, db_session: DbSession, job_id: FromPath[UUID]) -> Response:
        return await self._page(request, await imports.get(db_session, current_user(request), job_id))

    @get("/{job_id:uuid}/progress", name="admin.imports.progress")
    async def progress(self, request: Request, db_session: DbSession, job_id: FromPath[UUID]) -> Response:
        job = await imports.get(db_session, current_user(request), job_id)
        if not job.running:  # finished: the whole page shows the result
            return Response("", headers={"HX-Redirect": f"/admin/imports/{job.id}", "Vary": "HX-Request"})
        return await self._page(request, job)

    @post("/{job_id:uuid}/check", name="admin.imports.check")
    async def check(self, request: Request, db_session: DbSession, job_id: FromPath[UUID]) -> Response:
        user = current_user(request)
        job = await imports.get(db_session, user, job_id)
        try:
            await imports.check(db_session, user, job, dict(await request.form()))
        except ValidationError as error:
            errors = field_errors(request, error)
            await discard_changes(request, db_session)
            job = await imports.get(db_session, user, job_id)
            return await self._page(request, job, errors, 422)
        await db_session.commit()
        _start(request, job)
        return redirect(request, f"/admin/imports/{job.id}")

    @post("/{job_id:uuid}/apply", name="admin.imports.apply")
    async def apply(self, request: Request, db_session: DbSession, job_id: FromPath[UUID]) -> Response:
        user = current_user(request)
        job = await imports.get(db_session, user, job_id)
        try:
            await imports.apply(db_session, user, job)
        except ValidationError as error:
            errors = field_errors(request, error)
            await discard_changes(request, db_session)
            return await self._page(request, await imports.get(db_session, user, job_id), errors, 422)
        await db_session.commit()
        _start(request, job)
        flash(request, Message(N_("The import has started.")))
        return redirect(request, f"/admin/imports/{job.id}")
