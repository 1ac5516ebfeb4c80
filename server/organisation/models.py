"""One row of organisation-wide policy, edited by admins and read by every rep's device."""

from __future__ import annotations

import enum
from decimal import Decimal

from sqlalchemy import Integer, Numeric
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Versioned, text_enum


class GeofenceMode(enum.StrEnum):
    # Soft: a check-in outside the radius is recorded and flagged for the manager.
    SOFT = "soft"
    # Hard: a check-in outside the radius is refused, with the distance shown.
    HARD = "hard"


# The policy in force until an admin sets one.
DEFAULT_POLICY = {
    "geofence_radius_m": 200,
    "geofence_mode": GeofenceMode.SOFT,
    "low_accuracy_m": 100,
    "tier_a_min": Decimal(50_000),
    "tier_b_min": Decimal(10_000),
    "at_risk_days": 60,
    "lapsed_days": 180,
}


class OrganisationPolicy(Versioned):
    __tablename__ = "organisation_policy"

    geofence_radius_m: Mapped[int] = mapped_column(Integer, default=DEFAULT_POLICY["geofence_radius_m"])
    geofence_mode: Mapped[GeofenceMode] = mapped_column(
        text_enum(GeofenceMode, 8),
        default=DEFAULT_POLICY["geofence_mode"],
    )
    # A fix less precise than this is flagged as low accuracy.
    low_accuracy_m: Mapped[int] = mapped_column(Integer, default=DEFAULT_POLICY["low_accuracy_m"])
    # Order value over the last 12 months that makes a customer tier A, or at least tier B.
    tier_a_min: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=DEFAULT_POLICY["tier_a_min"])
    tier_b_min: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=DEFAULT_POLICY["tier_b_min"])
    # A customer with no order and no visit for this many days is at risk; for the second, lapsed.
    at_risk_days: Mapped[int] = mapped_column(Integer, default=DEFAULT_POLICY["at_risk_days"])
    lapsed_days: Mapped[int] = mapped_column(Integer, default=DEFAULT_POLICY["lapsed_days"])
