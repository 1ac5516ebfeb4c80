"""Visits: planned for a day, checked into at the customer, checked out of, and their outcome."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Boolean, Date, Float, ForeignKey, Index, Integer, String, Text, Time
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.accounts.models import Account
from server.db import Versioned, text_enum
from server.users.models import User


class VisitStatus(enum.StrEnum):
    PLANNED = "planned"
    CHECKED_IN = "checked_in"
    DONE = "done"
    SKIPPED = "skipped"


class Outcome(enum.StrEnum):
    ORDER_TAKEN = "order_taken"
    FOLLOW_UP = "follow_up"
    QUOTE_REQUESTED = "quote_requested"
    NO_INTEREST = "no_interest"
    NOT_AVAILABLE = "not_available"
    OTHER = "other"


class Visit(Versioned):
    __tablename__ = "visits"
    __table_args__ = (Index("ix_visits_owner_day", "owner_id", "planned_on"),)

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), index=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    planned_on: Mapped[dt.date] = mapped_column(Date)
    window_start: Mapped[dt.time | None] = mapped_column(Time, default=None)
    window_end: Mapped[dt.time | None] = mapped_column(Time, default=None)
    purpose: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[VisitStatus] = mapped_column(text_enum(VisitStatus), default=VisitStatus.PLANNED)
    # Place in the day's route, 1 first; None until the route is ordered.
    route_position: Mapped[int | None] = mapped_column(Integer, default=None)
    skip_reason: Mapped[str] = mapped_column(String(500), default="")

    # Check-in evidence. Server time is when it reached us; device time is when the rep tapped
    # (they differ when the check-in was made offline).
    checked_in_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    checked_in_device_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    check_in_latitude: Mapped[float | None] = mapped_column(Float, default=None)
    check_in_longitude: Mapped[float | None] = mapped_column(Float, default=None)
    check_in_accuracy_m: Mapped[float | None] = mapped_column(Float, default=None)
    # Distance from the account's location; None when either position is unknown.
    check_in_distance_m: Mapped[float | None] = mapped_column(Float, default=None)
    outside_geofence: Mapped[bool] = mapped_column(Boolean, default=False)
    low_accuracy: Mapped[bool] = mapped_column(Boolean, default=False)
    # Why the rep checked in without a location; flagged to their manager.
    no_location_reason: Mapped[str] = mapped_column(String(500), default="")

    checked_out_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    checked_out_device_at: Mapped[dt.datetime | None] = mapped_column(
        DateTimeUTC(timezone=True), default=None
    )
    minutes_on_site: Mapped[int | None] = mapped_column(Integer, default=None)

    outcome: Mapped[Outcome | None] = mapped_column(text_enum(Outcome, 20), default=None)
    notes: Mapped[str] = mapped_column(Text, default="")
    next_step: Mapped[str] = mapped_column(String(300), default="")
    next_step_due: Mapped[dt.date | None] = mapped_column(Date, default=None)
    # File name under <var>/photos/; served only to people who may see the visit.
    photo_file: Mapped[str | None] = mapped_column(String(80), default=None)

    account: Mapped[Account] = relationship(lazy="joined", innerjoin=True)
    owner: Mapped[User] = relationship(lazy="joined", innerjoin=True)

    @property
    def is_flagged(self) -> bool:
        """Something a manager should look at: outside the geofence, a poor fix, or no location."""
        return self.outside_geofence or self.low_accuracy or bool(self.no_location_reason)
