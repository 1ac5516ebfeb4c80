"""One row of organisation-wide policy, edited by admins and read by every rep's device."""

from __future__ import annotations

import enum
from decimal import Decimal

from sqlalchemy import Enum, Integer, Numeric
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Versioned


class GeofenceMode(enum.StrEnum):
    # Soft: a check-in outside the radius is recorded and flagged for the manager.
    SOFT = "soft"
    # Hard: a check-in outside the radius is refused, with the distance shown.
    HARD = "hard"


class OrganisationPolicy(Versioned):
    __tablename__ = "organisation_policy"

    geofence_radius_m: Mapped[int] = mapped_column(Integer, default=200)
    geofence_mode: Mapped[GeofenceMode] = mapped_column(
        Enum(
            GeofenceMode, native_enum=False, length=8, values_callable=lambda modes: [m.value for m in modes]
        ),
        default=GeofenceMode.SOFT,
    )
    # A fix less precise than this is flagged as low accuracy.
    low_accuracy_m: Mapped[int] = mapped_column(Integer, default=100)
    # Order value over the last 12 months that makes a customer tier A, or at least tier B.
    tier_a_min: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal(50_000))
    tier_b_min: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal(10_000))
