"""The device ledger: which device belongs to whom, and what became of each mutation it sent."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from advanced_alchemy.base import AdvancedDeclarativeBase
from advanced_alchemy.types import GUID, DateTimeUTC, JsonB
from sqlalchemy import JSON, BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column


class Device(AdvancedDeclarativeBase):
    """A browser profile that syncs, bound to the one user it first synced for."""

    __tablename__ = "sync_devices"

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True)  # chosen by the device
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    # Mutations are numbered 1, 2, 3 ... per device; this is the last one applied or rejected.
    last_mutation_id: Mapped[int] = mapped_column(BigInteger, default=0)
    app_version: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))


class MutationRecord(AdvancedDeclarativeBase):
    """What a device's mutation came to, kept so a retried push gets the same answer."""

    __tablename__ = "sync_mutations"

    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sync_devices.id"), primary_key=True)
    mutation_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(16))  # "applied" or "rejected"
    # For "applied": what the command returned (the record's id and version); for "rejected": why.
    outcome: Mapped[dict[str, Any]] = mapped_column(JsonB)
    # The version an applied mutation gave its record: the merge of this device's later edits
    # knows these changes for its own, not the server's.
    record_version: Mapped[int | None] = mapped_column(BigInteger, default=None)
    received_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))


class ClientView(AdvancedDeclarativeBase):
    """What a device was sent by one pull: per kind of record, each id and the version it has.

    The next pull compares the records the person may see now with this, so it finds what is
    new, what changed and what left (deleted, reassigned, or out of the person's reach), whatever
    the reason. A pull whose answer was lost is simply asked again with the same cursor.
    """

    __tablename__ = "sync_client_views"

    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sync_devices.id"), primary_key=True)
    cursor: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # {"accounts": {"<id>": version, ...}, "contacts": {...}, ...}; loaded only when something changed
    # Plain JSON, not PostgreSQL's JSONB: a view is only ever written and read whole, and JSONB
    # took twice as long to store (and six times as long to read) a view of 16,000 records.
    records: Mapped[dict[str, Any]] = mapped_column(JSON, deferred=True)
    # The change counter when the view was made: while it has not moved, nothing anyone may see has
    # changed (every command takes a value from it; see server.db.ChangeCounter), and a pull can
    # answer "nothing new" without working out the person's scope.
    high_water: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # A page of a pull that `more` pages follow: what the device is still owed, as worked out when
    # the first page was ({"high_water": ..., "records": {kind: {id: version}}}). The next pages
    # send from this instead of working out the person's whole scope again for every page.
    pending: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None, deferred=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))


class Conflict(AdvancedDeclarativeBase):
    """A field a device and the server both changed: what each said, and what it was before."""

    __tablename__ = "sync_conflicts"

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sync_devices.id"))
    mutation_id: Mapped[int] = mapped_column(BigInteger)
    record_kind: Mapped[str] = mapped_column(String(60))
    record_id: Mapped[uuid.UUID] = mapped_column(GUID)
    field: Mapped[str] = mapped_column(String(60))
    # JSON values as the device sent them and as the server had them; `kept` says which stands.
    values: Mapped[dict[str, Any]] = mapped_column(JsonB)
    kept: Mapped[str] = mapped_column(String(16))  # "yours" (the later arrival) or "server" (long notes)
    created_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
