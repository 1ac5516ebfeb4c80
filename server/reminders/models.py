"""Reminders: a title, a due time, and the record it is about."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from advanced_alchemy.types import GUID, DateTimeUTC
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Versioned, text_enum


class LinkKind(enum.StrEnum):
    """The kinds of record a reminder can be about."""

    ACCOUNT = "account"
    VISIT = "visit"
    LEAD = "lead"
    QUOTE = "quote"


class ReminderSource(enum.StrEnum):
    """Where the reminder came from: the person, one of their records, or the system."""

    MANUAL = "manual"
    VISIT = "visit"
    LEAD = "lead"
    SYSTEM = "system"


class Reminder(Versioned):
    __tablename__ = "reminders"

    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    # When it is due (UTC); the person chose it on their own clock (users.time_zone).
    due_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)
    link_kind: Mapped[LinkKind | None] = mapped_column(text_enum(LinkKind), default=None)
    link_id: Mapped[uuid.UUID | None] = mapped_column(GUID, default=None)
    source: Mapped[ReminderSource] = mapped_column(text_enum(ReminderSource), default=ReminderSource.MANUAL)
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)

    @property
    def is_done(self) -> bool:
        return self.done_at is not None
