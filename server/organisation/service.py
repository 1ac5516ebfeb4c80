"""Reading and changing the organisation policy (admins only)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from server.commands import apply_changes, insert
from server.errors import Message, PermissionDenied, ValidationError
from server.i18n import N_
from server.organisation.models import DEFAULT_POLICY, GeofenceMode, OrganisationPolicy
from server.validation import Fields

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from server.users.models import User

FIELDS = ("geofence_radius_m", "geofence_mode", "low_accuracy_m", "tier_a_min", "tier_b_min")


def defaults() -> OrganisationPolicy:
    """The policy in force until an admin changes it (not stored, so reading never writes)."""
    return OrganisationPolicy(**DEFAULT_POLICY)


async def policy(session: AsyncSession) -> OrganisationPolicy:
    stored = await session.scalar(
        select(OrganisationPolicy)
        .where(OrganisationPolicy.deleted_at.is_(None))
        .order_by(OrganisationPolicy.id)
    )
    return stored or defaults()


def _validate(raw: Mapping[str, Any]) -> dict[str, Any]:
    fields = Fields(raw)
    fields.number("geofence_radius_m", minimum=10, maximum=10_000)
    fields.choice("geofence_mode", GeofenceMode)
    fields.number("low_accuracy_m", minimum=5, maximum=10_000)
    fields.number("tier_a_min", minimum=0, maximum=1e11)
    fields.number("tier_b_min", minimum=0, maximum=1e11)
    for name in FIELDS:
        if fields.values.get(name) is None and name not in fields.errors:
            fields.error(name, Message(N_("This field is required.")))
    values = fields.result()
    values["geofence_radius_m"] = round(values["geofence_radius_m"])
    values["low_accuracy_m"] = round(values["low_accuracy_m"])
    for name in ("tier_a_min", "tier_b_min"):
        values[name] = Decimal(str(values[name])).quantize(Decimal("0.01"))
    if values["tier_b_min"] > values["tier_a_min"]:
        raise ValidationError({"tier_b_min": Message(N_("Tier B cannot start above tier A."))})
    return values


async def update(
    session: AsyncSession, actor: User, raw: Mapping[str, Any]
) -> tuple[OrganisationPolicy, int]:
    """organisation.update_policy: change the geofence and tier thresholds.

    New thresholds apply to every account at once; returns the policy and how many accounts
    changed tier.
    """
    # Imported here: tiers reads this module's policy, so a module-level import would be circular.
    from server.accounts import tiers

    if not actor.is_admin:
        raise PermissionDenied(Message(N_("Only admins can change the organisation's policy.")))
    values = _validate(raw)
    current = await policy(session)
    if current not in session:
        current = await insert(
            session, actor, OrganisationPolicy(**values), "organisation.update_policy", FIELDS
        )
    else:
        await apply_changes(session, actor, current, values, "organisation.update_policy")
    return current, await tiers.refresh(session)
