"""The audit log: who changed what, when, from what to what."""

from __future__ import annotations

import uuid
from typing import Any

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import JsonB
from sqlalchemy import BigInteger, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column


class AuditEvent(UUIDv7AuditBase):
    """Append-only. `actor_id` carries no foreign key so the log outlives whatever it describes."""

    __tablename__ = "audit_events"
    __table_args__ = (
        # Only the events of transactions not yet committed carry stand-in versions (below 0),
        # which each transaction replaces with the real ones as it commits (server.db.next_version).
        Index("ix_audit_events_stand_in_versions", "record_version",
              postgresql_where=text("record_version < 0"), sqlite_where=text("record_version < 0")),
    )  # fmt: skip

    actor_id: Mapped[uuid.UUID | None] = mapped_column(index=True, default=None)
    action: Mapped[str] = mapped_column(String(80), index=True)
    record_type: Mapped[str] = mapped_column(String(60), index=True)
    record_id: Mapped[uuid.UUID | None] = mapped_column(index=True, default=None)
    before: Mapped[dict[str, Any] | None] = mapped_column(JsonB, default=None)
    after: Mapped[dict[str, Any] | None] = mapped_column(JsonB, default=None)
    # The record's version after this change: which fields changed since a version a device had.
    record_version: Mapped[int | None] = mapped_column(BigInteger, default=None)
