"""Customer tiers from the last 12 months of orders, the organisation's thresholds, and a manager's override."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import update

from server.accounts import tiers
from server.accounts.models import Tier
from server.errors import PermissionDenied, ValidationError
from server.orders import service as orders
from server.orders.models import Order, OrderStatus
from server.organisation import service as organisation
from server.users.models import Role
from tests.conftest import run_fieldbook, sign_in
from tests.factories import make_account, make_team, make_user


def _order(days_ago: int, amount: str, status: OrderStatus = OrderStatus.DELIVERED) -> orders.OrderIn:
    return orders.OrderIn(
        customer_number="C1", status=status, ordered_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago),
        currency="GBP", lines=[orders.OrderLineIn(sku="X", quantity=Decimal(1), unit_price=Decimal(amount))],
    )  # fmt: skip


@pytest.fixture
async def people(db):
    team = await make_team(db)
    return {
        "rep": await make_user(db, Role.REP, team),
        "manager": await make_user(db, Role.MANAGER, team),
        "admin": await make_user(db, Role.ADMIN),
    }


async def test_the_tier_follows_the_last_twelve_months_of_orders(db, people) -> None:
    account = await make_account(db, people["rep"], customer_number="C1")
    assert account.tier is Tier.C
    await orders.upsert(db, "SO-OLD", _order(400, "90000"))  # too old to count
    await orders.upsert(db, "SO-GONE", _order(10, "90000", OrderStatus.CANCELLED))  # cancelled
    await orders.upsert(db, "SO-1", _order(100, "6000.50"))
    assert account.tier is Tier.C
    await orders.upsert(db, "SO-2", _order(20, "3999.50"))  # 10,000.00 exactly: tier B
    assert account.tier is Tier.B
    assert (await tiers.order_values(db, [account.id]))[account.id] == Decimal("10000.00")
    await orders.upsert(db, "SO-3", _order(5, "40000"))
    assert account.tier is Tier.A


async def test_new_thresholds_apply_to_every_account(db, people) -> None:
    account = await make_account(db, people["rep"], customer_number="C1")
    await orders.upsert(db, "SO-1", _order(30, "2000"))
    assert account.tier is Tier.C
    _, changed = await organisation.update(db, people["admin"], {"geofence_radius_m": "200", "geofence_mode": "soft",
                                                    "low_accuracy_m": "100", "tier_a_min": "1500", "tier_b_min": "500"})  # fmt: skip
    assert changed == 1
    assert account.tier is Tier.A


async def test_a_manager_overrides_the_tier_and_a_rep_cannot(db, people) -> None:
    account = await make_account(db, people["rep"])
    with pytest.raises(PermissionDenied):
        await tiers.override(db, people["rep"], account.id, {"tier_override": "A"})
    await tiers.override(db, people["manager"], account.id, {"tier_override": "A"})
    assert (account.tier, account.tier_override, account.effective_tier) == (Tier.C, Tier.A, Tier.A)
    await tiers.override(db, people["manager"], account.id, {"tier_override": ""})
    assert account.effective_tier is Tier.C


async def test_the_policy_is_for_admins_and_its_thresholds_must_make_sense(db, people) -> None:
    good = {"geofence_radius_m": "150", "geofence_mode": "hard", "low_accuracy_m": "80", "tier_a_min": "5000",
            "tier_b_min": "1000"}  # fmt: skip
    with pytest.raises(PermissionDenied):
        await organisation.update(db, people["manager"], good)
    for bad, field in [({"tier_b_min": "6000"}, "tier_b_min"), ({"geofence_radius_m": "0"}, "geofence_radius_m"),
                       ({"geofence_mode": "strict"}, "geofence_mode"), ({"low_accuracy_m": ""}, "low_accuracy_m")]:  # fmt: skip
        with pytest.raises(ValidationError) as refused:
            await organisation.update(db, people["admin"], {**good, **bad})
        assert field in refused.value.errors
    await organisation.update(db, people["admin"], good)
    await db.commit()
    policy = await organisation.policy(db)
    assert (policy.geofence_radius_m, policy.geofence_mode.value, policy.tier_a_min) == (
        150,
        "hard",
        Decimal(5000),
    )


async def test_the_account_page_shows_the_tier_and_only_managers_may_change_it(client, db, people) -> None:
    account = await make_account(db, people["rep"], name="Mill Bakery")
    await sign_in(client, people["rep"].id)
    page = (await client.get(f"/accounts/{account.id}")).text
    assert "0.00 ordered in 12 months" in page and "Change the tier" not in page
    token = await sign_in(client, people["manager"].id)
    assert "Change the tier" in (await client.get(f"/accounts/{account.id}")).text
    saved = await client.post(
        f"/accounts/{account.id}/tier", data={"_csrf_token": token, "tier_override": "A"}
    )
    assert saved.status_code == 303
    assert "set by a manager; C from orders" in (await client.get(f"/accounts/{account.id}")).text
    bad = await client.post(f"/accounts/{account.id}/tier", data={"_csrf_token": token, "tier_override": "Z"})
    assert bad.status_code == 422


async def test_the_daily_command_recomputes_tiers_as_orders_age(db, people, settings, tmp_path) -> None:
    account = await make_account(db, people["rep"], customer_number="C1")
    await orders.upsert(db, "SO-1", _order(300, "60000"))
    await db.commit()
    assert account.tier is Tier.A
    # Two months on, the order is older than a year: the tier must fall back when the command runs.
    await db.execute(update(Order).values(ordered_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=370)))
    await db.commit()
    ran = await run_fieldbook(settings, tmp_path, "tiers")
    assert ran.returncode == 0, ran.stderr
    assert "1 accounts changed tier." in ran.stdout
    await db.refresh(account)
    assert account.tier is Tier.C
