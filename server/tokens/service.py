"""Making, checking and revoking bearer tokens (stored hashed)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from server.audit import service as audit
from server.db import utcnow
from server.errors import Message, NotFound
from server.i18n import N_
from server.tokens.models import ApiToken, TokenPurpose
from server.validation import Fields, parse_uuid

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from server.users.models import User

TOKEN_PREFIX = "fbk_"
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create(
    session: AsyncSession, actor: User | None, name: str, purpose: TokenPurpose
) -> tuple[ApiToken, str]:
    """tokens.create: a new token; returns the record and the token, which is never shown again."""
    fields = Fields({"name": name})
    fields.text("name", required=True, max_length=120)
    clean_name = fields.result()["name"]
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ApiToken(
        name=clean_name, purpose=purpose, token_hash=_digest(token), created_by_id=actor.id if actor else None
    )
    session.add(record)
    await session.flush()
    audit.record(
        session, actor, "tokens.create", record, after={"name": clean_name, "purpose": purpose.value}
    )
    return record, token


async def verify(session: AsyncSession, token: str | None, purpose: TokenPurpose) -> ApiToken | None:
    """The live token of this purpose that `token` is, or None."""
    if not token or not token.startswith(TOKEN_PREFIX):
        return None
    record = await session.scalar(
        select(ApiToken).where(
            ApiToken.token_hash == _digest(token), ApiToken.purpose == purpose, ApiToken.revoked_at.is_(None)
        )
    )
    # Note the use at most once a minute, so that reads do not all become writes.
    now = utcnow()
    if record is not None and (
        record.last_used_at is None or now - record.last_used_at > LAST_USED_RESOLUTION
    ):
        record.last_used_at = now
    return record


async def revoke(session: AsyncSession, actor: User | None, token_id: Any) -> ApiToken:
    """tokens.revoke: the token stops working at once."""
    record = await session.get(ApiToken, parse_uuid(token_id)) if parse_uuid(token_id) else None
    if record is None:
        raise NotFound(Message(N_("That record does not exist or is not yours to see.")))
    if record.revoked_at is None:
        record.revoked_at = utcnow()
        audit.record(session, actor, "tokens.revoke", record, after={"name": record.name})
    return record


async def list_tokens(session: AsyncSession, purpose: TokenPurpose | None = None) -> list[ApiToken]:
    query = select(ApiToken).order_by(ApiToken.created_at.desc())
    if purpose is not None:
        query = query.where(ApiToken.purpose == purpose)
    return list(await session.scalars(query))
