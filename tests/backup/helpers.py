"""Arranging a database worth backing up, and comparing two databases table by table."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from server import backup
from server.accounts import service as accounts
from server.db import ChangeCounter, metadata
from server.leads import service as leads
from server.orders import service as orders
from server.orders.models import OrderStatus
from server.reminders import service as reminders
from server.tokens import service as tokens
from server.tokens.models import TokenPurpose
from server.users import service as users
from server.users.models import Role
from server.visits import service as visits
from tests.conftest import sign_in
from tests.factories import make_account, make_contact, make_team, make_user

# Tables the arranged data fills, so the comparison is not of empty tables.
FILLED = ("teams", "users", "team_managers", "accounts", "contacts", "visits", "leads", "orders",
          "order_lines", "order_status_events", "reminders", "reminder_rings", "audit_events",
          "api_tokens", "sync_devices", "sync_mutations", "sync_conflicts", "change_counter")  # fmt: skip


async def fill(db: AsyncSession, client: Any) -> dict[str, Any]:
    """A little of everything, made through the real commands (and a real sync push)."""
    north = await make_team(db, "North")
    rep = await make_user(db, Role.REP, north, name="Rita", home_latitude=53.4794, home_longitude=-2.2446)
    # The manager comes after the rep who reports to them: the restore must cope with a row that
    # refers to a later row of its own table.
    manager = await make_user(db, Role.MANAGER, north, name="Max")
    rep.manager_id = manager.id
    await users.set_quiet_hours(db, rep, {"quiet_start": "21:30", "quiet_end": "07:15"})
    await db.commit()
    shop = await make_account(db, rep, name="Mill Bakery 磨坊", customer_number="C1", notes="Long\nnotes")
    await make_contact(db, rep, shop, name="Sam Baker", email="sam@example.test")
    visit = await visits.plan(db, rep, {"account_id": str(shop.id), "planned_on": "2026-11-23",
                                        "window_start": "09:00", "window_end": "10:30", "purpose": "Stock"})  # fmt: skip
    await db.commit()
    now = dt.datetime.now(dt.UTC)
    await visits.check_in(db, rep, visit.id, {"latitude": 53.47941, "longitude": -2.24461, "accuracy": 12.5,
                                              "device_time": now.isoformat()})  # fmt: skip
    lead = await leads.capture(db, rep, {"company": "Kiln Cafe", "phone": "07700 900123"})
    order = orders.OrderIn(customer_number="C1", status=OrderStatus.CONFIRMED, currency="GBP", ordered_at=now,
                           lines=[orders.OrderLineIn(sku="BOLT-M8", quantity=Decimal("3.5"),
                                                     unit_price=Decimal("12.345"))])  # fmt: skip
    await orders.upsert(db, "SO-1001", order)
    await reminders.create(db, rep, {"title": "Call Kiln", "due_on": "2026-11-24", "due_time": "10:00",
                                     "link_kind": "lead", "link_id": str(lead.id)})  # fmt: skip
    await tokens.create(db, None, "ERP", TokenPurpose.API)
    await db.commit()

    # A device: its ledger, a conflict (its edit of a field the server changed meanwhile), a
    # client view, and a session row (these two are left out of backups).
    base_version = shop.version
    await accounts.update(db, rep, shop.id, {"city": "Bolton"})
    await db.commit()
    await sign_in(client, rep.id)
    device = uuid.uuid4()
    pushed = await client.post("/sync/push", json={
        "device_id": str(device), "schema_version": 1, "app_version": "test", "mutations": [
            {"id": 1, "name": "accounts.update", "base_version": base_version,
             "args": {"account_id": str(shop.id), "city": "Rochdale"}},
        ]})  # fmt: skip
    assert pushed.status_code == 200, pushed.text
    assert pushed.json()["results"][0]["outcome"]["conflicts"]
    await make_account(db, manager, name="Elsewhere Ltd")
    pulled = await client.post("/sync/pull", json={"device_id": str(device), "schema_version": 1,
                                                   "app_version": "test", "cursor": None})  # fmt: skip
    assert pulled.status_code == 200, pulled.text
    return {"rep": rep, "manager": manager, "shop": shop, "device": device}


async def read_all(engine: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (the metadata's, so tables added later are compared too)."""
    found = {}
    async with engine.connect() as connection:
        for table in metadata.sorted_tables:
            query = select(*table.columns).order_by(*table.primary_key.columns)
            found[table.name] = [tuple(row) for row in await connection.execute(query)]
    return found


def _kind(value: Any) -> type:
    """A value's type; asyncpg's UUIDs are a subclass of the standard library's."""
    return uuid.UUID if isinstance(value, uuid.UUID) else type(value)


def assert_same(source: dict[str, list[tuple[Any, ...]]], restored: dict[str, list[tuple[Any, ...]]]) -> None:
    assert source.keys() == restored.keys()
    for name, rows in source.items():
        if name in backup.EXCLUDED:
            assert restored[name] == [], f"{name} should not be restored"
        elif name == ChangeCounter.__tablename__:
            ((_, value, epoch),) = rows
            ((_, restored_value, restored_epoch),) = restored[name]
            assert restored_value == value
            assert restored_epoch > epoch  # the restore moved the sync epoch on
        else:
            assert len(restored[name]) == len(rows), name
            for before, after in zip(rows, restored[name], strict=True):  # the same values, and types
                assert after == before, (name, before, after)
                assert list(map(_kind, after)) == list(map(_kind, before)), (name, before, after)
