"""Import jobs: an uploaded CSV file on its way from "uploaded" to "done" (or "failed")."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC, JsonB
from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db import text_enum


class JobStatus(enum.StrEnum):
    UPLOADED = "uploaded"  # the file is kept; its columns still to be mapped
    CHECKING = "checking"  # the dry run is going through the file
    CHECKED = "checked"  # the dry run's report is ready; nothing was written
    APPLYING = "applying"  # the one transaction is open
    DONE = "done"  # committed
    FAILED = "failed"  # rolled back: nothing was written; `error` says why


class Duplicates(enum.StrEnum):
    MERGE = "merge"  # update the existing record with the file's values
    SKIP = "skip"  # leave the existing record as it is


class ImportJob(UUIDv7AuditBase):
    """Not synced to phones: an admin's tool, so no version or tombstone."""

    __tablename__ = "import_jobs"

    kind: Mapped[str] = mapped_column(String(20))
    file_name: Mapped[str] = mapped_column(String(200))
    # The copy kept under <var>/imports/ (a random name, never the uploaded one).
    stored_name: Mapped[str] = mapped_column(String(80))
    size: Mapped[int] = mapped_column(Integer, default=0)
    # The file's header, and for each of its columns the field it fills (None: ignored).
    header: Mapped[list[str]] = mapped_column(JsonB, default=list)
    mapping: Mapped[list[str | None]] = mapped_column(JsonB, default=list)
    duplicates: Mapped[Duplicates] = mapped_column(text_enum(Duplicates, 20), default=Duplicates.MERGE)
    status: Mapped[JobStatus] = mapped_column(
        text_enum(JobStatus, 20), default=JobStatus.UPLOADED, index=True
    )
    # rows, new, merge, skip, bad (and unchanged after an apply)
    counts: Mapped[dict[str, Any]] = mapped_column(JsonB, default=dict)
    # The first problems ("line N: column: message") and duplicates found, for the report.
    problems: Mapped[list[str]] = mapped_column(JsonB, default=list)
    matches: Mapped[list[dict[str, Any]]] = mapped_column(JsonB, default=list)
    progress: Mapped[int] = mapped_column(Integer, default=0)  # rows done
    total: Mapped[int] = mapped_column(Integer, default=0)  # rows in the file (known after the check)
    error: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None, index=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)

    @property
    def running(self) -> bool:
        return self.status in (JobStatus.CHECKING, JobStatus.APPLYING)
