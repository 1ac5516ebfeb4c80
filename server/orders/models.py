"""Orders, as the company's ERP reports them: lines, totals and a status timeline."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import ForeignKey, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.accounts.models import Account
from server.db import Versioned, text_enum


class OrderStatus(enum.StrEnum):
    PLACED = "placed"
    CONFIRMED = "confirmed"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class Order(Versioned):
    __tablename__ = "orders"

    number: Mapped[str] = mapped_column(String(40), unique=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), index=True)
    customer_po: Mapped[str] = mapped_column(String(60), default="", index=True)
    status: Mapped[OrderStatus] = mapped_column(text_enum(OrderStatus), index=True)
    ordered_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[Decimal] = mapped_column(Numeric(14, 2))

    account: Mapped[Account] = relationship(lazy="joined", innerjoin=True)
    lines: Mapped[list[OrderLine]] = relationship(
        primaryjoin="and_(Order.id == OrderLine.order_id, OrderLine.deleted_at.is_(None))",
        order_by="OrderLine.position",
        lazy="selectin",
        viewonly=True,
    )
    timeline: Mapped[list[OrderStatusEvent]] = relationship(
        order_by="OrderStatusEvent.happened_at", lazy="selectin", viewonly=True
    )


class OrderLine(Versioned):
    __tablename__ = "order_lines"
    __table_args__ = (UniqueConstraint("order_id", "position"),)

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(String(60))
    description: Mapped[str] = mapped_column(String(200), default="")
    quantity: Mapped[Decimal] = mapped_column(Numeric(12, 3))
    unit_price: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))


class OrderStatusEvent(Versioned):
    """Insert-only: when the order reached each status."""

    __tablename__ = "order_status_events"

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), index=True)
    status: Mapped[OrderStatus] = mapped_column(text_enum(OrderStatus))
    happened_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
