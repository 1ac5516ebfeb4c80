"""The at-risk and lapsed days of the organisation policy (the dashboard's customer stages)."""

from __future__ import annotations

import pytest

from server.errors import ValidationError
from server.organisation import service as organisation
from server.users.models import Role
from tests.conftest import sign_in
from tests.factories import make_user

FORM = {"geofence_radius_m": "200", "geofence_mode": "soft", "low_accuracy_m": "100",
        "tier_a_min": "50000", "tier_b_min": "10000"}  # fmt: skip


async def test_defaults_and_keeping_what_is_set(db) -> None:
    admin = await make_user(db, Role.ADMIN)
    assert ((await organisation.policy(db)).at_risk_days, (await organisation.policy(db)).lapsed_days) == (
        60,
        180,
    )
    await organisation.update(db, admin, {**FORM, "at_risk_days": "30", "lapsed_days": "90"})
    await db.commit()
    # A form that does not send the days (an older page or device) keeps them.
    policy, _ = await organisation.update(db, admin, FORM)
    await db.commit()
    assert (policy.at_risk_days, policy.lapsed_days) == (30, 90)


@pytest.mark.parametrize(
    ("days", "field", "message"),
    [
        ({"at_risk_days": "0"}, "at_risk_days", "from 1 to 3650"),
        ({"at_risk_days": "", "lapsed_days": "90"}, "at_risk_days", "required"),
        ({"at_risk_days": "90", "lapsed_days": "90"}, "lapsed_days", "lapses later"),
        ({"lapsed_days": "many"}, "lapsed_days", "number"),
    ],
)
async def test_bad_days_are_refused(db, days, field, message) -> None:
    admin = await make_user(db, Role.ADMIN)
    with pytest.raises(ValidationError) as refused:
        await organisation.update(db, admin, {**FORM, **days})
    assert field in refused.value.errors
    assert message in refused.value.errors[field].render()


async def test_the_admin_page_edits_the_days(client, db) -> None:
    admin = await make_user(db, Role.ADMIN)
    token = await sign_in(client, admin.id)
    page = await client.get("/admin/organisation")
    assert 'name="at_risk_days" type="number" value="60"' in page.text
    response = await client.post(
        "/admin/organisation", data={**FORM, "at_risk_days": "45", "lapsed_days": "120", "_csrf_token": token}
    )
    assert response.status_code == 303
    assert 'name="lapsed_days" type="number" value="120"' in (await client.get("/admin/organisation")).text
    refused = await client.post(
        "/admin/organisation", data={**FORM, "at_risk_days": "45", "lapsed_days": "10", "_csrf_token": token}
    )
    assert refused.status_code == 422 and "A customer lapses later than they become at risk." in refused.text
