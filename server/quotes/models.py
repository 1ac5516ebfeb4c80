"""Quotes: the product catalogue, quotes with their lines and history, and the approval policy."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import Any

from advanced_alchemy.base import AdvancedDeclarativeBase
from advanced_alchemy.types import DateTimeUTC, JsonB
from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.accounts.models import Account
from server.db import Versioned, text_enum
from server.users.models import User

# Money is kept with three decimals (a few currencies have them); each currency rounds to its own.
MONEY = Numeric(16, 3)
PERCENT = Numeric(5, 2)


class QuoteStatus(enum.StrEnum):
    DRAFT = "draft"
    PENDING = "pending"  # waiting for approval
    APPROVED = "approved"
    REJECTED = "rejected"
    SENT = "sent"  # given to the customer
    ACCEPTED = "accepted"  # the customer said yes
    EXPIRED = "expired"


class RuleKind(enum.StrEnum):
    DISCOUNT_ABOVE = "discount_above"  # the quote's discount against list prices, in per cent
    TOTAL_ABOVE = "total_above"  # the quote's total, in the rule's currency
    PRICE_BELOW_FLOOR = "price_below_floor"  # a line's net price under this per cent of its list price


class ApproverLevel(enum.StrEnum):
    """Who decides a step: the rep's manager (or another manager of the rep's team), or an admin."""

    MANAGER = "manager"
    ADMIN = "admin"


class ApprovalStatus(enum.StrEnum):
    QUEUED = "queued"  # a later step of the chain, not asked yet
    WAITING = "waiting"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"  # the quote changed or was withdrawn before this step was decided


class Product(Versioned):
    __tablename__ = "products"

    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    unit: Mapped[str] = mapped_column(String(20), default="each")
    list_price: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class QuoteNumber(AdvancedDeclarativeBase):
    """The last quote number handed out (one row, which the migrations make). Taking the next locks
    the row until the quote's transaction ends: quotes are numbered without gaps, in the order
    they are created, and only quote creations wait for each other."""

    __tablename__ = "quote_numbers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1: one row
    last: Mapped[int] = mapped_column(BigInteger, default=0)


class Quote(Versioned):
    __tablename__ = "quotes"

    # "Q-" and the change-sequence value the quote was made with: unique without a second counter.
    number: Mapped[str | None] = mapped_column(String(24), unique=True, default=None)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), index=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[QuoteStatus] = mapped_column(
        text_enum(QuoteStatus, 20), default=QuoteStatus.DRAFT, index=True
    )
    currency: Mapped[str] = mapped_column(String(3))
    discount_percent: Mapped[Decimal] = mapped_column(PERCENT, default=Decimal(0))
    valid_until: Mapped[dt.date] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(Text, default="")
    # What the rep tells the approver when submitting.
    comment: Mapped[str] = mapped_column(String(1000), default="")
    # Counts changes to what the quote offers; a decision names the revision its approver saw.
    revision: Mapped[int] = mapped_column(Integer, default=1)
    # Submissions so far, and the step of the current one's approval chain that is waiting.
    approval_round: Mapped[int] = mapped_column(Integer, default=0)
    approval_step: Mapped[int] = mapped_column(Integer, default=0)
    list_total: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    subtotal: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    total: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    submitted_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)

    account: Mapped[Account] = relationship(lazy="joined", innerjoin=True)
    owner: Mapped[User] = relationship(lazy="joined", innerjoin=True)
    lines: Mapped[list[QuoteLine]] = relationship(
        primaryjoin="and_(Quote.id == QuoteLine.quote_id, QuoteLine.deleted_at.is_(None))",
        order_by="QuoteLine.position",
        lazy="selectin",
        viewonly=True,
    )

    @property
    def display_number(self) -> str:
        return self.number or "—"


class QuoteLine(Versioned):
    __tablename__ = "quote_lines"
    __table_args__ = (UniqueConstraint("quote_id", "position"),)

    quote_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("quotes.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"))
    # The product as it was quoted (the catalogue may change later).
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(20))
    list_price: Mapped[Decimal] = mapped_column(MONEY)
    quantity: Mapped[Decimal] = mapped_column(Numeric(12, 3))
    unit_price: Mapped[Decimal] = mapped_column(MONEY)
    discount_percent: Mapped[Decimal] = mapped_column(PERCENT, default=Decimal(0))
    amount: Mapped[Decimal] = mapped_column(MONEY)


class QuoteEvent(Versioned):
    """Insert-only: the quote's history (made, changed, submitted, each decision, sent ...)."""

    __tablename__ = "quote_events"

    quote_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("quotes.id"), index=True)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)
    action: Mapped[str] = mapped_column(String(32))
    status: Mapped[QuoteStatus] = mapped_column(text_enum(QuoteStatus, 20))  # the status it left the quote in
    revision: Mapped[int] = mapped_column(Integer)
    total: Mapped[Decimal] = mapped_column(MONEY)
    comment: Mapped[str] = mapped_column(String(1000), default="")
    happened_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))

    actor: Mapped[User | None] = relationship(lazy="joined")


class ApprovalRule(Versioned):
    """Admin policy: when a quote needs approval, and from whom. Rules of both levels form a chain:
    the manager's step comes before the admin's."""

    __tablename__ = "approval_rules"

    kind: Mapped[RuleKind] = mapped_column(text_enum(RuleKind, 20))
    threshold: Mapped[Decimal] = mapped_column(Numeric(16, 3))
    # For a total rule: the currency its amount is in (it applies to quotes in that currency).
    currency: Mapped[str | None] = mapped_column(String(3), default=None)
    approver: Mapped[ApproverLevel] = mapped_column(text_enum(ApproverLevel, 20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class QuoteApproval(Versioned):
    """One step of a submission's approval chain, and how it was decided."""

    __tablename__ = "quote_approvals"
    __table_args__ = (UniqueConstraint("quote_id", "round", "step"),)

    quote_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("quotes.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    step: Mapped[int] = mapped_column(Integer)
    level: Mapped[ApproverLevel] = mapped_column(text_enum(ApproverLevel, 20))
    status: Mapped[ApprovalStatus] = mapped_column(text_enum(ApprovalStatus, 20), index=True)
    # The quote revision this step is asked about, and why it is asked: [{kind, threshold, actual}].
    revision: Mapped[int] = mapped_column(Integer)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JsonB, default=list)
    waiting_since: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    comment: Mapped[str] = mapped_column(String(1000), default="")

    quote: Mapped[Quote] = relationship(lazy="joined", innerjoin=True)
    decided_by: Mapped[User | None] = relationship(lazy="joined")
