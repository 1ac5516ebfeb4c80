"""Accounts: the customers reps visit."""

from __future__ import annotations

import enum
import uuid

from sqlalchemy import Enum, Float, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db import Versioned
from server.users.models import User


class Tier(enum.StrEnum):
    A = "A"
    B = "B"
    C = "C"


class Account(Versioned):
    __tablename__ = "accounts"

    name: Mapped[str] = mapped_column(String(200), index=True)
    street: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(120), default="", index=True)
    postcode: Mapped[str] = mapped_column(String(20), default="")
    latitude: Mapped[float | None] = mapped_column(Float, default=None)
    longitude: Mapped[float | None] = mapped_column(Float, default=None)
    phone: Mapped[str] = mapped_column(String(40), default="")
    # Digits only, so "0161 496 0000" is found by typing "1614960".
    phone_digits: Mapped[str] = mapped_column(String(40), default="", index=True)
    # Computed from the last 12 months of orders (accounts.refresh_tier) ...
    tier: Mapped[Tier] = mapped_column(
        Enum(Tier, native_enum=False, length=1, validate_strings=True), default=Tier.C
    )
    # ... unless a manager set it by hand.
    tier_override: Mapped[Tier | None] = mapped_column(
        Enum(Tier, native_enum=False, length=1, validate_strings=True), default=None
    )
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    # The ERP's number for this customer; orders arrive addressed to it.
    customer_number: Mapped[str | None] = mapped_column(String(40), unique=True, default=None)
    notes: Mapped[str] = mapped_column(Text, default="")

    owner: Mapped[User] = relationship(lazy="joined", innerjoin=True)

    @property
    def effective_tier(self) -> Tier:
        return self.tier_override or self.tier

    @property
    def has_location(self) -> bool:
        return self.latitude is not None and self.longitude is not None
