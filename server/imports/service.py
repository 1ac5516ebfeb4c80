"""Imports: the named commands of an import job (upload, check, apply) and running them.

imports.upload keeps the file under <var>/imports/ and guesses the column mapping;
imports.check saves the mapping and the duplicates choice and starts the dry run;
imports.apply starts the apply. The dry run and the apply run in the background (an asyncio
task in the server process) or inline (the CLI); the apply is ONE transaction that commits only
if every row was written, and the job says "failed" with the reason otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from server.audit import service as audit
from server.db import new_id, utcnow
from server.errors import Message, NotFound, PermissionDenied, ValidationError
from server.i18n import N_
from server.imports import runner
from server.imports.models import Duplicates, ImportJob, JobStatus
from server.imports.runner import SPECS, ImportFailed, Problem, Report
from server.users.models import User

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

MAX_BYTES = 50 * 1024 * 1024
RECENT = 20
log = logging.getLogger("fieldbook.imports")


def import_dir(var_dir: Path) -> Path:
    return var_dir / "imports"


def file_of(var_dir: Path, job: ImportJob) -> Path:
    return import_dir(var_dir) / Path(job.stored_name).name


def _admin_only(actor: User) -> None:
    if not actor.is_admin:
        raise PermissionDenied(Message(N_("Only admins can import.")))


async def upload(
    session: AsyncSession, actor: User, var_dir: Path, kind: str, file_name: str, chunks: AsyncIterator[bytes]
) -> ImportJob:
    """imports.upload: keep the file (CSV, UTF-8, at most MAX_BYTES) and guess its column mapping."""
    _admin_only(actor)
    spec = SPECS.get(kind)
    if spec is None:
        raise ValidationError({"kind": Message(N_("Choose one of the options."))})
    if not file_name.lower().endswith(".csv"):
        raise ValidationError({"file": Message(N_("Choose a .csv file."))})
    folder = import_dir(var_dir)
    folder.mkdir(parents=True, exist_ok=True)
    stored = f"{new_id().hex}.csv"
    partial = folder / f".{stored}.part"
    size = 0
    try:
        with partial.open("wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > MAX_BYTES:
                    raise ValidationError(
                        {"file": Message(N_("Files can be at most %(max)s MB."), {"max": MAX_BYTES // 2**20})}
                    )
                out.write(chunk)
        header = runner.read_header(partial)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, folder / stored)
    job = ImportJob(
        kind=kind, file_name=Path(file_name).name[:200], stored_name=stored, size=size, header=header,
        mapping=runner.suggest_mapping(spec, header), created_by_id=actor.id,
    )  # fmt: skip
    session.add(job)
    await session.flush()
    audit.record(
        session, actor, "imports.upload", job, after={"kind": kind, "file_name": job.file_name, "size": size}
    )
    return job


async def get(session: AsyncSession, actor: User, job_id: Any) -> ImportJob:
    _admin_only(actor)
    job = await session.get(ImportJob, job_id)
    if job is None:
        raise NotFound(Message(N_("That record does not exist or is not yours to see.")))
    return job


async def recent(session: AsyncSession, actor: User) -> list[ImportJob]:
    _admin_only(actor)
    return list(await session.scalars(select(ImportJob).order_by(ImportJob.created_at.desc()).limit(RECENT)))


def _idle(job: ImportJob) -> None:
    if job.running or job.status is JobStatus.DONE:
        raise ValidationError({"job": Message(N_("This import has already started."))})


async def check(session: AsyncSession, actor: User, job: ImportJob, raw: Mapping[str, Any]) -> ImportJob:
    """imports.check: save the mapping (`column_N` = field or "") and the duplicates choice; start the dry run."""
    _admin_only(actor)
    _idle(job)
    spec = SPECS[job.kind]
    names = set(spec.column_names)
    mapping: list[str | None] = []
    for position in range(len(job.header)):
        value = str(raw.get(f"column_{position}") or "").strip()
        if value and value not in names:
            raise ValidationError({f"column_{position}": Message(N_("Choose one of the options."))})
        mapping.append(value or None)
    try:
        duplicates = Duplicates(str(raw.get("duplicates") or "merge"))
    except ValueError:
        raise ValidationError({"duplicates": Message(N_("Choose one of the options."))}) from None
    job.mapping, job.duplicates = mapping, duplicates
    if problems := runner.check_mapping(spec, job.header, mapping):
        raise ValidationError({"mapping": Message(problems[0].text, problems[0].params)})
    _reset(job, JobStatus.CHECKING)
    audit.record(
        session, actor, "imports.check", job, after={"mapping": mapping, "duplicates": duplicates.value}
    )
    return job


async def apply(session: AsyncSession, actor: User, job: ImportJob) -> ImportJob:
    """imports.apply: after a clean dry run, write every row (in the background, all or nothing)."""
    _admin_only(actor)
    if job.status is not JobStatus.CHECKED or job.counts.get("bad"):
        raise ValidationError(
            {"job": Message(N_("Check the file, and correct every problem, before importing it."))}
        )
    _reset(job, JobStatus.APPLYING)
    audit.record(session, actor, "imports.apply", job, after={"kind": job.kind, "file_name": job.file_name})
    return job


def _reset(job: ImportJob, status: JobStatus) -> None:
    job.status, job.progress, job.error, job.finished_at = status, 0, "", None
    if status is JobStatus.CHECKING:
        job.counts, job.problems, job.matches = {}, [], []


def _report_into(job: ImportJob, report: Report) -> None:
    job.counts = {name: report.counts[name] for name in ("rows", "new", "merge", "skip", "bad", "problems",
                                                          "created", "updated", "unchanged")}  # fmt: skip
    job.problems = [problem.as_json() for problem in report.problems]
    job.matches = report.matches
    job.total = report.counts["rows"]
    job.progress = 100


# --- running a job ----------------------------------------------------------------------------


class Runs:
    """The jobs this server process is running, and how far each has got (the page polls this)."""

    def __init__(self) -> None:
        self.progress: dict[Any, tuple[int, int]] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def start(self, sessions: async_sessionmaker[AsyncSession], var_dir: Path, job_id: Any) -> None:
        self.progress[job_id] = (0, 0)
        task = asyncio.create_task(self._run(sessions, var_dir, job_id))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, sessions: async_sessionmaker[AsyncSession], var_dir: Path, job_id: Any) -> None:
        def progress(rows: int, percent: int) -> None:
            self.progress[job_id] = (rows, percent)

        try:
            await execute(sessions, var_dir, job_id, progress)
        finally:
            self.progress.pop(job_id, None)

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self.tasks, return_exceptions=True)


async def execute(
    sessions: async_sessionmaker[AsyncSession],
    var_dir: Path,
    job_id: Any,
    progress: runner.Progress | None = None,
) -> ImportJob | None:
    """Run a job's dry run or apply to its end, in a session of its own."""
    async with sessions() as session:
        job = await session.get(ImportJob, job_id)
        if job is None or not job.running:
            return job
        actor = await session.get(User, job.created_by_id)
        write = job.status is JobStatus.APPLYING
        path = file_of(var_dir, job)
        try:
            if actor is None or not actor.is_active or not actor.is_admin:
                raise PermissionDenied(Message(N_("Only admins can import.")))
            report = await runner.run(session, actor, job.kind, path, list(job.mapping), job.duplicates,
                                      write=write, progress=progress)  # fmt: skip
        except ImportFailed as failed:
            await _fail(session, job_id, failed.problem)
        except (SQLAlchemyError, OSError, PermissionDenied) as error:
            log.warning("import %s failed: %s", job_id, error)
            detail = str(error).splitlines()[0][:300] if str(error) else type(error).__name__
            reason = N_("The database refused a row (%(error)s); nothing was written.")
            await _fail(session, job_id, Problem(0, "database", reason, {"error": detail}))
        except asyncio.CancelledError:
            reason = N_("The server stopped before the import finished; nothing was written.")
            with contextlib.suppress(Exception):
                await asyncio.shield(_fail(session, job_id, Problem(0, "server", reason)))
            raise
        else:
            job = await session.get(ImportJob, job_id)  # the batches let go of every loaded object
            assert job is not None
            _report_into(job, report)
            job.status = JobStatus.DONE if write else JobStatus.CHECKED
            job.finished_at = utcnow()
            await session.commit()  # the import's rows and its job's "done", together
            return job
    return None


async def _fail(session: AsyncSession, job_id: Any, problem: Problem) -> None:
    """Roll back everything the run wrote, then record why the job failed."""
    await session.rollback()
    await session.execute(
        update(ImportJob).where(ImportJob.id == job_id).values(
            status=JobStatus.FAILED, error=problem.render(), problems=[problem.as_json()], finished_at=utcnow(),
        )
    )  # fmt: skip
    await session.commit()


async def abandon_unfinished(session: AsyncSession) -> int:
    """On start: jobs a stopped server left running never finished, and their transaction was rolled back."""
    result = await session.execute(
        update(ImportJob).where(ImportJob.status.in_((JobStatus.CHECKING, JobStatus.APPLYING))).values(
            status=JobStatus.FAILED, finished_at=utcnow(),
            error="The server stopped before the import finished; nothing was written.",
        )
    )  # fmt: skip
    return result.rowcount or 0


# --- the CLI: `fieldbook import KIND FILE.csv` ----------------------------------------------------


async def first_admin(session: AsyncSession, email: str | None = None) -> User | None:
    query = select(User).where(User.is_active.is_(True), User.deleted_at.is_(None))
    if email:
        query = query.where(User.email == email.strip().lower())
    users = [
        user for user in await session.scalars(query.order_by(User.created_at, User.id)) if user.is_admin
    ]
    return users[0] if users else None


async def import_file(
    session: AsyncSession, actor: User | None, kind: str, path: Path, duplicates: Duplicates, *, dry_run: bool
) -> tuple[Report, bool]:
    """Check the whole file, then (if it is clean) apply it in one transaction: commit unless `dry_run`.

    Returns the report (the apply's counts, or every problem found) and whether anything was written.
    """
    spec = SPECS[kind]
    report = Report()
    try:
        header = runner.read_header(path)
    except ValidationError as error:
        report.problem(1, "file", error.errors["file"])
        return report, False
    mapping, problems = runner.header_mapping(spec, header)
    if problems:
        for problem in problems:
            report.problem(problem.line, problem.column, Message(problem.text, problem.params))
        return report, False
    checked = await runner.run(session, actor, kind, path, mapping, duplicates, write=False)  # type: ignore[arg-type]
    if checked.problems:
        await session.rollback()
        return checked, False
    try:
        applied = await runner.run(session, actor, kind, path, mapping, duplicates, write=True)  # type: ignore[arg-type]
    except ImportFailed as failed:
        await session.rollback()
        report.problem(
            failed.problem.line, failed.problem.column, Message(failed.problem.text, failed.problem.params)
        )
        return report, False
    if dry_run:
        await session.rollback()
        return applied, False
    await session.commit()
    return applied, True


def summary(kind: str, report: Report, source: str, *, dry_run: bool) -> str:
    counts = report.counts
    rows = counts["rows"]
    noun = kind if rows != 1 else kind.rstrip("s")
    skipped = f", {counts['skip']:,} duplicates skipped" if counts["skip"] else ""
    if dry_run:
        return (
            f"Checked {rows:,} {noun} from {source}: {counts['created']:,} would be created, "
            f"{counts['updated']:,} updated, {counts['unchanged']:,} unchanged{skipped}; nothing was written."
        )
    return (
        f"Imported {rows:,} {noun} from {source}: {counts['created']:,} created, "
        f"{counts['updated']:,} updated, {counts['unchanged']:,} unchanged{skipped}."
    )
