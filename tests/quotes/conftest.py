"""A small world for quotes: a team (rep, colleague, their manager), another team, an admin, a
catalogue in pounds and the policy of the issue: above 10 % the rep's manager, above 25 % also an admin."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from server.quotes import catalogue
from server.users.models import Role
from tests.factories import make_account, make_team, make_user


@pytest.fixture
async def world(db) -> dict[str, Any]:
    team, other_team = await make_team(db, "North"), await make_team(db, "South")
    people = {
        "rep": await make_user(db, Role.REP, team, name="Rita"),
        "colleague": await make_user(db, Role.REP, team, name="Colin"),
        "manager": await make_user(db, Role.MANAGER, team, name="Max"),
        "other_rep": await make_user(db, Role.REP, other_team, name="Sven"),
        "other_manager": await make_user(db, Role.MANAGER, other_team, name="Sue"),
        "admin": await make_user(db, Role.ADMIN, name="Ada"),
    }
    admin = people["admin"]
    widget = await catalogue.create_product(
        db, admin, {"code": "W-1", "name": "Widget", "unit": "box", "list_price": "100", "currency": "GBP"}
    )
    bolt = await catalogue.create_product(
        db, admin, {"code": "B-2", "name": "Bolt", "list_price": "0.35", "currency": "GBP"}
    )
    euro = await catalogue.create_product(
        db, admin, {"code": "E-3", "name": "Euro gadget", "list_price": "10", "currency": "EUR"}
    )
    await catalogue.add_rule(db, admin, {"kind": "discount_above", "threshold": "10", "approver": "manager"})
    await catalogue.add_rule(db, admin, {"kind": "discount_above", "threshold": "25", "approver": "admin"})
    await db.commit()
    return {
        **people,
        "account": await make_account(db, people["rep"], name="Acme Ltd"),
        "other_account": await make_account(db, people["other_rep"], name="Globex"),
        "widget": widget,
        "bolt": bolt,
        "euro": euro,
    }


def quote_form(world: dict[str, Any], *lines: tuple[str, str, str], **values: Any) -> dict[str, Any]:
    """A quote's fields as a device sends them: lines of (product key, quantity, line discount %)."""
    return {
        "account_id": str(world["account"].id),
        "currency": "GBP",
        "valid_until": (dt.date.today() + dt.timedelta(days=30)).isoformat(),
        "discount_percent": "0",
        "lines": [
            {"product_id": str(world[product].id), "quantity": quantity, "discount_percent": discount}
            for product, quantity, discount in lines
        ],
        **values,
    }
