"""Bearer tokens for machines: the identity provider's SCIM client, and later the ERP."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from server.db import text_enum


class TokenPurpose(enum.StrEnum):
    SCIM = "scim"
    API = "api"


class ApiToken(UUIDv7AuditBase):
    """Only a hash of the token is kept; the token itself is shown once, when it is made."""

    __tablename__ = "api_tokens"

    name: Mapped[str] = mapped_column(String(120))
    purpose: Mapped[TokenPurpose] = mapped_column(text_enum(TokenPurpose))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
