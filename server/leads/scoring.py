"""The lead score: plain rules a rep can read on the lead's page (source, completeness, tier, engagement)."""

from __future__ import annotations

from dataclasses import dataclass

from server.accounts.models import Tier
from server.i18n import N_
from server.leads.models import Lead, LeadSource

SOURCE_POINTS = {
    LeadSource.REFERRAL: 30,
    LeadSource.EVENT: 20,
    LeadSource.INBOUND: 20,
    LeadSource.WALK_IN: 15,
    LeadSource.COLD_CALL: 5,
    LeadSource.OTHER: 5,
}
FIELD_POINTS = {"name": 10, "company": 10, "phone": 10, "email": 10, "note": 5}
TIER_POINTS = {Tier.A: 25, Tier.B: 15, Tier.C: 5}
POINTS_PER_RECENT_VISIT = 5
MAX_VISIT_POINTS = 15
RECENT_ORDER_POINTS = 10
MAX_SCORE = 100


@dataclass(frozen=True)
class Engagement:
    """What the matched account has done lately: visits made in 90 days, and whether it ordered in 12 months."""

    recent_visits: int = 0
    ordered_recently: bool = False


def score(lead: Lead, tier: Tier | None, engagement: Engagement) -> tuple[int, list[tuple[str, int]]]:
    """The score (0-100) and the rules that gave it, as (reason, points)."""
    parts = [(N_("Source"), SOURCE_POINTS[lead.source])]
    filled = sum(points for name, points in FIELD_POINTS.items() if (getattr(lead, name) or "").strip())
    parts.append((N_("Details given"), filled))
    if tier is not None:
        parts.append((N_("Matching account's tier"), TIER_POINTS[tier]))
    if engagement.recent_visits:
        parts.append(
            (
                N_("Visits in the last 90 days"),
                min(MAX_VISIT_POINTS, POINTS_PER_RECENT_VISIT * engagement.recent_visits),
            )
        )
    if engagement.ordered_recently:
        parts.append((N_("Ordered in the last 12 months"), RECENT_ORDER_POINTS))
    return min(MAX_SCORE, sum(points for _, points in parts)), parts
