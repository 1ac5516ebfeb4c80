"""Customer tiers: A, B or C from the last 12 months of orders, unless a manager says otherwise."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from server.accounts.models import Account, Tier
from server.auth import get_visible
from server.commands import apply_changes
from server.db import utcnow
from server.errors import Message, PermissionDenied
from server.i18n import N_
from server.orders.models import Order, OrderStatus
from server.organisation import service as organisation
from server.users.models import Role
from server.validation import Fields

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from server.organisation.models import OrganisationPolicy
    from server.users.models import User

WINDOW = dt.timedelta(days=365)


def tier_for(value: Decimal, policy: OrganisationPolicy) -> Tier:
    if value >= policy.tier_a_min:
        return Tier.A
    if value >= policy.tier_b_min:
        return Tier.B
    return Tier.C


async def order_values(
    session: AsyncSession, account_ids: Iterable[uuid.UUID] | None = None
) -> dict[uuid.UUID, Decimal]:
    """Order value per account over the last 12 months, cancelled orders left out.

    Summed in cents: SQLite keeps NUMERIC as a float, and this keeps the sum exact on both.
    """
    query = (
        select(Order.account_id, func.sum(func.round(Order.total * 100)))
        .where(
            Order.deleted_at.is_(None),
            Order.status != OrderStatus.CANCELLED,
            Order.ordered_at >= utcnow() - WINDOW,
        )
        .group_by(Order.account_id)
    )
    if account_ids is not None:
        query = query.where(Order.account_id.in_(list(account_ids)))
    return {account_id: Decimal(int(cents)) / 100 for account_id, cents in await session.execute(query)}


async def refresh(session: AsyncSession, account_ids: Iterable[uuid.UUID] | None = None) -> int:
    """accounts.refresh_tier: recompute the tier of these accounts (all when None); returns how many changed."""
    policy = await organisation.policy(session)
    ids = None if account_ids is None else list(account_ids)
    values = await order_values(session, ids)
    query = select(Account).where(Account.deleted_at.is_(None))
    if ids is not None:
        query = query.where(Account.id.in_(ids))
    changed = 0
    for account in await session.scalars(query):
        tier = tier_for(values.get(account.id, Decimal(0)), policy)
        if await apply_changes(session, None, account, {"tier": tier}, "accounts.refresh_tier"):
            changed += 1
    return changed


async def override(session: AsyncSession, actor: User, account_id: Any, raw: Mapping[str, Any]) -> Account:
    """accounts.override_tier: a manager fixes an account's tier by hand, or (empty) hands it back to the orders."""
    if actor.role not in (Role.MANAGER, Role.ADMIN):
        raise PermissionDenied(Message(N_("Only managers can change an account's tier.")))
    account = await get_visible(session, actor, Account, account_id)
    chosen: Tier | None = None
    if str(raw.get("tier_override") or "").strip():
        fields = Fields(raw)
        fields.choice("tier_override", Tier)
        chosen = fields.result()["tier_override"]
    await apply_changes(session, actor, account, {"tier_override": chosen}, "accounts.override_tier")
    return account
