"""Orders from the ERP (the upsert API) and the order lookup reps use on the phone."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from server.orders import service as orders
from server.orders.models import Order, OrderLine, OrderStatus, OrderStatusEvent
from server.tokens import service as tokens
from server.tokens.models import TokenPurpose
from server.users.models import Role
from tests.conftest import csrf_token, sign_in
from tests.factories import make_account, make_team, make_user

ORDER = {
    "customer_number": "C100001",
    "status": "confirmed",
    "ordered_at": "2026-11-20T09:30:00Z",
    "currency": "GBP",
    "customer_po": "PO-7781",
    "lines": [
        {"sku": "BOLT-M8", "description": "M8 bolts, box of 100", "quantity": 3, "unit_price": "12.50"},
        {"sku": "GLUE-1L", "quantity": "2", "unit_price": "7.99"},
    ],
}


@pytest.fixture
async def erp(db) -> dict[str, str]:
    """The ERP's request headers, with a live API token."""
    _, token = await tokens.create(db, None, "ERP", TokenPurpose.API)
    await db.commit()
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def customer(db):
    rep = await make_user(db, Role.REP, await make_team(db), name="Rae Rep")
    return await make_account(db, rep, name="Ardwick Hardware", customer_number="C100001")


async def count(db, model) -> int:
    return await db.scalar(select(func.count()).select_from(model).where(model.deleted_at.is_(None)))


async def test_the_erp_creates_an_order_and_sending_it_again_changes_nothing(
    client, db, erp, customer
) -> None:
    first = await client.put("/api/v1/orders/SO-1001", json=ORDER, headers=erp)
    assert first.status_code == 201, first.text
    body = first.json()["order"]
    assert body["total"] == "53.48"  # 3 x 12.50 + 2 x 7.99, exactly
    assert [line["amount"] for line in body["lines"]] == ["37.50", "15.98"]
    version = body["version"]

    again = await client.put("/api/v1/orders/SO-1001", json=ORDER, headers=erp)
    assert again.status_code == 200 and again.json()["outcome"] == "unchanged"
    assert again.json()["order"]["version"] == version
    assert await count(db, Order) == 1 and await count(db, OrderLine) == 2
    assert await count(db, OrderStatusEvent) == 1


async def test_status_changes_build_the_timeline_and_removed_lines_go(client, db, erp, customer) -> None:
    await client.put(
        "/api/v1/orders/SO-1001", json={**ORDER, "status_changed_at": "2026-11-20T10:00:00Z"}, headers=erp
    )
    shipped = {
        **ORDER,
        "status": "shipped",
        "status_changed_at": "2026-11-21T15:00:00Z",
        "lines": ORDER["lines"][:1],
    }
    response = await client.put("/api/v1/orders/SO-1001", json=shipped, headers=erp)
    assert response.json()["outcome"] == "updated"
    order = response.json()["order"]
    assert [event["status"] for event in order["timeline"]] == ["confirmed", "shipped"]
    assert order["timeline"][1]["at"].startswith("2026-11-21T15:00:00")
    assert order["total"] == "37.50" and len(order["lines"]) == 1
    removed = await db.scalar(select(OrderLine).where(OrderLine.sku == "GLUE-1L"))
    assert removed.deleted_at is not None  # a tombstone, for devices that hold the line


async def test_without_a_valid_token_nothing_happens(client, db, customer) -> None:
    assert (await client.put("/api/v1/orders/SO-1", json=ORDER)).status_code == 401
    bad = await client.put("/api/v1/orders/SO-1", json=ORDER, headers={"Authorization": "Bearer fbk_nope"})
    assert bad.status_code == 401
    record, token = await tokens.create(db, None, "Old ERP", TokenPurpose.API)
    await tokens.revoke(db, None, record.id)
    await db.commit()
    revoked = await client.put(
        "/api/v1/orders/SO-1", json=ORDER, headers={"Authorization": f"Bearer {token}"}
    )
    assert revoked.status_code == 401
    _, scim_token = await tokens.create(db, None, "SCIM", TokenPurpose.SCIM)
    await db.commit()
    wrong_kind = await client.put(
        "/api/v1/orders/SO-1", json=ORDER, headers={"Authorization": f"Bearer {scim_token}"}
    )
    assert wrong_kind.status_code == 401
    assert await count(db, Order) == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"customer_number": "C999"}, "customer_number"),
        ({"currency": "pounds"}, "currency"),
        ({"lines": []}, "lines"),
        ({"lines": [{"sku": "X", "quantity": 0, "unit_price": "1"}]}, "lines[1].quantity"),
        ({"lines": [{"sku": "X", "quantity": 1, "unit_price": "-1"}]}, "lines[1].unit_price"),
    ],
)
async def test_an_order_that_cannot_be_accepted_names_the_field_and_writes_nothing(
    client, db, erp, customer, change, field
) -> None:
    response = await client.put("/api/v1/orders/SO-1001", json={**ORDER, **change}, headers=erp)
    assert response.status_code == 422
    assert field in response.json()["errors"]
    assert await count(db, Order) == 0 and await count(db, OrderLine) == 0


async def test_a_malformed_body_is_a_clear_400(client, db, erp, customer) -> None:
    response = await client.put("/api/v1/orders/SO-1001", json={**ORDER, "status": "lost"}, headers=erp)
    assert response.status_code == 400
    assert response.json()["errors"][0]["key"] == "status"
    bad_number = await client.put("/api/v1/orders/%20bad%20number", json=ORDER, headers=erp)
    assert bad_number.status_code == 422
    assert await count(db, Order) == 0


async def test_reps_look_orders_up_by_number_account_or_po(client, db, erp, customer) -> None:
    await client.put("/api/v1/orders/SO-1001", json=ORDER, headers=erp)
    await client.put(
        "/api/v1/orders/SO-1002", json={**ORDER, "customer_po": "PO-9", "status": "delivered"}, headers=erp
    )
    rep = customer.owner_id
    await sign_in(client, rep)

    for term, expected in (
        ("SO-1001", {"SO-1001"}),
        ("ardwick", {"SO-1001", "SO-1002"}),
        ("po-9", {"SO-1002"}),
    ):
        page = await client.get("/orders", params={"q": term})
        assert {number for number in ("SO-1001", "SO-1002") if number in page.text} == expected, term
    delivered = await client.get(
        "/orders",
        params={"status": "delivered"},
        headers={"HX-Request": "true", "HX-Target": "order-results"},
    )
    assert "SO-1002" in delivered.text and "SO-1001" not in delivered.text and "<h1" not in delivered.text

    order_page = await client.get("/orders/SO-1001")
    assert (
        "M8 bolts, box of 100" in order_page.text
        and "53.48" in order_page.text
        and "PO-7781" in order_page.text
    )
    account_page = await client.get(f"/accounts/{customer.id}")
    assert "SO-1001" in account_page.text and "SO-1002" in account_page.text


async def test_another_reps_orders_stay_hidden(client, db, erp, customer) -> None:
    await client.put("/api/v1/orders/SO-1001", json=ORDER, headers=erp)
    stranger = await make_user(db, Role.REP, await make_team(db))
    await sign_in(client, stranger.id)
    assert "SO-1001" not in (await client.get("/orders", params={"q": "SO"})).text
    assert (await client.get("/orders/SO-1001", headers={"Accept": "text/html"})).status_code == 404


async def test_amounts_are_exact_decimals(db, customer) -> None:
    data = orders.OrderIn(
        customer_number="C100001", status=OrderStatus.PLACED, ordered_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        currency="EUR", lines=[orders.OrderLineIn(sku="A", quantity=Decimal(3), unit_price=Decimal("0.10"))] * 3,
    )  # fmt: skip
    order, _ = await orders.upsert(db, "SO-DEC", data)
    assert order.total == Decimal("0.90")  # not 0.9000000000000001


async def test_admins_revoke_a_token_and_the_erp_is_locked_out(client, db, erp, customer) -> None:
    admin = await make_user(db, Role.ADMIN)
    await sign_in(client, admin.id)
    page = await client.get("/admin/tokens")
    assert "ERP" in page.text and "fbk_" not in page.text  # the token itself is never shown
    token_id = page.text.split("/admin/tokens/", 1)[1].split("/revoke", 1)[0]
    response = await client.post(
        f"/admin/tokens/{token_id}/revoke", data={"_csrf_token": csrf_token(page.text)}
    )
    assert response.status_code == 303
    assert (await client.put("/api/v1/orders/SO-1", json=ORDER, headers=erp)).status_code == 401
