"""Leads: people and companies a rep met who may become customers."""

from __future__ import annotations

import enum
import uuid

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db import Versioned, text_enum
from server.users.models import User


class LeadSource(enum.StrEnum):
    REFERRAL = "referral"
    EVENT = "event"
    INBOUND = "inbound"
    WALK_IN = "walk_in"
    COLD_CALL = "cold_call"
    OTHER = "other"


class LeadStatus(enum.StrEnum):
    OPEN = "open"
    CONVERTED = "converted"
    DISQUALIFIED = "disqualified"


class Lead(Versioned):
    __tablename__ = "leads"

    name: Mapped[str] = mapped_column(String(200), default="")
    company: Mapped[str] = mapped_column(String(200), default="")
    # Lower case, without punctuation or legal suffixes: "Smith & Sons Ltd." -> "smith sons".
    company_key: Mapped[str] = mapped_column(String(200), default="", index=True)
    phone: Mapped[str] = mapped_column(String(40), default="")
    phone_digits: Mapped[str] = mapped_column(String(40), default="", index=True)
    email: Mapped[str] = mapped_column(String(320), default="", index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[LeadSource] = mapped_column(text_enum(LeadSource), default=LeadSource.OTHER)
    status: Mapped[LeadStatus] = mapped_column(text_enum(LeadStatus), default=LeadStatus.OPEN, index=True)
    score: Mapped[int] = mapped_column(Integer, default=0)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    captured_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    # The account this lead matched or became; set on capture when it matched one, or on conversion.
    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"), index=True, default=None)
    contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contacts.id"), default=None)
    disqualify_reason: Mapped[str] = mapped_column(String(500), default="")

    owner: Mapped[User] = relationship(foreign_keys=[owner_id], lazy="joined", innerjoin=True)
