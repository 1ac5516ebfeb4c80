"""Web Push: the devices that receive reminders, the outbox of rings, and every delivery attempt."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import GUID, DateTimeUTC
from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column


class PushSubscription(UUIDv7AuditBase):
    """One device (browser profile) that turned notifications on; a person may have several."""

    __tablename__ = "push_subscriptions"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    endpoint: Mapped[str] = mapped_column(Text, unique=True)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    user_agent: Mapped[str] = mapped_column(String(300), default="")


class RingStatus(enum.StrEnum):
    PENDING = "pending"
    FANNED_OUT = "fanned_out"
    CANCELLED = "cancelled"


class ReminderRing(UUIDv7AuditBase):
    """The side-effect outbox: a reminder should ring at `ring_at`.

    Written by the command that made or moved the reminder, in its transaction, so a dispatcher
    sees it only once that commits. At its time a dispatcher turns it into one delivery per device.
    """

    __tablename__ = "reminder_rings"
    __table_args__ = (Index("ix_reminder_rings_status_ring_at", "status", "ring_at"),)

    reminder_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reminders.id"), index=True)
    ring_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default=RingStatus.PENDING.value)


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt
    SENDING = "sending"  # claimed by a dispatcher until lease_until
    SENT = "sent"
    FAILED = "failed"  # refused, or out of retries
    GONE = "gone"  # the push service no longer knows the device: its subscription was removed
    CANCELLED = "cancelled"  # the reminder was done or deleted before it was sent


class PushDelivery(UUIDv7AuditBase):
    """One ring to one device: sent exactly once (unique per ring and subscription)."""

    __tablename__ = "push_deliveries"
    __table_args__ = (
        UniqueConstraint("ring_id", "subscription_id", name="uq_push_deliveries_ring_subscription"),
        Index("ix_push_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    )

    ring_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reminder_rings.id"))
    reminder_id: Mapped[uuid.UUID] = mapped_column(GUID, index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(GUID, index=True)
    # No foreign key: the history stays when a subscription is removed.
    subscription_id: Mapped[uuid.UUID] = mapped_column(GUID)
    push_service: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class PushAttempt(UUIDv7AuditBase):
    """One try at handing a delivery to the push service, and what came of it (for admins)."""

    __tablename__ = "push_attempts"

    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("push_deliveries.id"), index=True)
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(String(500), default="")
    dispatcher: Mapped[str] = mapped_column(String(100), default="")
