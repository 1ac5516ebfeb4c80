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

FIELDS = (
    "geofence_radius_m", "geofence_mode", "low_accuracy_m", "tier_a_min", "tier_b_min", "at_risk_days", "lapsed_days",
)  # fmt: skip
# Added later than the others: a form (or a device) that does not send them keeps what is set.
OPTIONAL = ("at_risk_days", "lapsed_days")


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


def _validate(raw: Mapping[str, Any], current: OrganisationPolicy) -> dict[str, Any]:
    raw = {**{name: getattr(current, name) for name in OPTIONAL if name not in raw}, **raw}
    fields = Fields(raw)
    fields.number("geofence_radius_m", minimum=10, maximum=10_000)
    fields.choice("geofence_mode", GeofenceMode)
    fields.number("low_accuracy_m", minimum=5, maximum=10_000)
    fields.number("tier_a_min", minimum=0, maximum=1e11)
    fields.number("tier_b_min", minimum=0, maximum=1e11)
    fields.number("at_risk_days", minimum=1, maximum=3650)
    fields.number("lapsed_days", minimum=1, maximum=3650)
    for name in FIELDS:
        if fields.values.get(name) is None and name not in fields.errors:
            fields.error(name, Message(N_("This field is required.")))
    values = fields.result()
    values["geofence_radius_m"] = round(values["geofence_radius_m"])
    for name in ("low_accuracy_m", "at_risk_days", "lapsed_days"):
        values[name] = round(values[name])
    for name in ("tier_a_min", "tier_b_min"):
        values[name] = Decimal(str(values[name])).quantize(Decimal("0.01"))
    if values["tier_b_min"] > values["tier_a_min"]:
        raise ValidationError({"tier_b_min": Message(N_("Tier B cannot start above tier A."))})
    if values["lapsed_days"] <= values["at_risk_days"]:
        raise ValidationError(
            {"lapsed_days": Message(N_("A customer lapses later than they become at risk."))}
        )
    return values


async def update(
    session: AsyncSession, actor: User, raw: Mapping[str, Any]
) -> tuple[OrganisationPolicy, int]:
    """organisation.update_policy: change the geofence, the tier thresholds and the at-risk days.

    New thresholds apply to every account at once; returns the policy and how many accounts
    changed tier.
    """
    # Imported here: tiers reads this module's policy, so a module-level import would be circular.
    from server.accounts import tiers

    if not actor.is_admin:
        raise PermissionDenied(Message(N_("Only admins can change the organisation's policy.")))
    current = await policy(session)
    values = _validate(raw, current)
    if current not in session:
        current = await insert(
            session, actor, OrganisationPolicy(**values), "organisation.update_policy", FIELDS
        )
    else:
        await apply_changes(session, actor, current, values, "organisation.update_policy")
    return current, await tiers.refresh(session)
