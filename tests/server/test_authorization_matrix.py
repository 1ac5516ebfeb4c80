"""The authorization matrix: every route, as a rep, a manager and an admin, against records of
another team. Nothing may answer with data the person may not see, or change it.

A new route with a path parameter this test does not know fails here until it is added below.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from litestar.routes import HTTPRoute
from sqlalchemy import select

from server.accounts.models import Account
from server.contacts.models import Contact
from server.imports.models import ImportJob, JobStatus
from server.leads import service as leads
from server.leads.models import Lead, LeadStatus
from server.orders import service as orders
from server.orders.models import OrderStatus
from server.quotes import approvals, catalogue
from server.quotes import service as quotes
from server.quotes.models import Quote, QuoteStatus
from server.reminders import push
from server.reminders import service as reminders
from server.reminders.models import Reminder
from server.reminders.push_models import PushSubscription
from server.tokens import service as tokens
from server.tokens.models import ApiToken, TokenPurpose
from server.users.models import Role, User
from server.visits import service as visits
from server.visits.models import Visit, VisitStatus
from tests.conftest import sign_in
from tests.factories import make_account, make_contact, make_team, make_user

SECRETS = ("Secret Southern Account", "Secret Contact", "Secret Rep", "secret.rep@example.test", "SO-SECRET",
           "Secret visit purpose", "Secret Lead Company", "Secret reminder", "Secret quote comment")  # fmt: skip
# Routes that are public by design are checked in test_auth.py.
SKIP_PREFIXES = ("/static", "/icons", "/schema", "/scim", "/api/")


@pytest.fixture
async def world(db):
    north, south = await make_team(db, "North"), await make_team(db, "South")
    people = {
        "rep": await make_user(db, Role.REP, north, name="North Rep"),
        "manager": await make_user(db, Role.MANAGER, north, name="North Manager"),
        "admin": await make_user(db, Role.ADMIN, name="The Admin"),
    }
    outsider = await make_user(db, Role.REP, south, name="Secret Rep", email="secret.rep@example.test")
    account = await make_account(db, outsider, name="Secret Southern Account", customer_number="C-SECRET")
    contact = await make_contact(db, outsider, account, name="Secret Contact")
    order = orders.OrderIn(
        customer_number="C-SECRET", status=OrderStatus.PLACED, ordered_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
        currency="GBP", lines=[orders.OrderLineIn(sku="X", quantity=Decimal(1), unit_price=Decimal(5))],
    )  # fmt: skip
    await orders.upsert(db, "SO-SECRET", order)
    await db.commit()
    await make_account(db, people["rep"], name="North Account")
    token, _ = await tokens.create(db, None, "ERP", TokenPurpose.API)
    visit = await visits.plan(db, outsider, {"account_id": str(account.id), "planned_on": "2026-11-23",
                                             "purpose": "Secret visit purpose"})  # fmt: skip
    lead = await leads.capture(db, outsider, {"company": "Secret Lead Company", "phone": "07700 900999"})
    reminder = await reminders.create(db, outsider, {"title": "Secret reminder", "due_on": "2026-11-23"})
    device = await push.subscribe(db, outsider, {"endpoint": "https://push.example/secret",
                                                 "keys": {"p256dh": "B" + "A" * 86, "auth": "A" * 22}})  # fmt: skip
    product = await catalogue.create_product(
        db, people["admin"], {"code": "P-1", "name": "Part", "list_price": "10", "currency": "GBP"}
    )
    rule = await catalogue.add_rule(
        db, people["admin"], {"kind": "discount_above", "threshold": "10", "approver": "manager"}
    )
    quote = await quotes.create(db, outsider, {"account_id": str(account.id), "currency": "GBP", "valid_until": "2099-01-01",
                                               "lines": [{"product_id": str(product.id), "quantity": "1", "discount_percent": "50"}]})  # fmt: skip
    await approvals.submit(db, outsider, quote.id, {"comment": "Secret quote comment"})
    job = ImportJob(
        kind="accounts", file_name="secret.csv", stored_name="secret.csv", header=["name"], mapping=["name"]
    )
    db.add(job)
    await db.commit()
    ids = {"job_id": job.id, "quote_id": quote.id, "product_id": product.id, "rule_id": rule.id, "account_id": account.id, "contact_id": contact.id, "user_id": outsider.id, "number": "SO-SECRET",
           "token_id": token.id, "visit_id": visit.id, "lead_id": lead.id, "reminder_id": reminder.id, "subscription_id": device.id}  # fmt: skip
    return people, ids


def _routes(app):
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith(SKIP_PREFIXES):
            continue
        for handler in route.route_handlers:
            if handler.opt.get("public"):
                continue
            for method in sorted(handler.http_methods - {"HEAD", "OPTIONS"}):
                yield route.path, method


def _fill(path: str, ids: dict) -> str:
    def value(match: re.Match) -> str:
        name = match.group(1).split(":")[0]
        assert name in ids, f"the authorization matrix does not know path parameter {name!r} in {path}"
        return str(ids[name])

    return re.sub(r"\{([^}]+)\}", value, path)


@pytest.mark.parametrize("role", ["rep", "manager"])
async def test_nobody_sees_or_changes_another_teams_records(app, client, db, world, role) -> None:
    people, ids = world
    world_versions = {"visit": (await db.get(Visit, ids["visit_id"])).version,
                      "lead": (await db.get(Lead, ids["lead_id"])).version,
                      "reminder": (await db.get(Reminder, ids["reminder_id"])).version,
                      "quote": (await db.get(Quote, ids["quote_id"])).version}  # fmt: skip
    token = await sign_in(client, people[role].id)
    checked = 0
    for path, method in _routes(app):
        url = _fill(path, ids)
        if method == "GET":
            response = await client.get(url, headers={"Accept": "text/html"})
            leaked = [secret for secret in SECRETS if secret in response.text]
            assert response.status_code in {200, 403, 404}, f"GET {url} as {role}: {response.status_code}"
            assert not leaked, f"GET {url} as {role} shows {leaked}"
        else:
            response = await client.request(
                method, url, data={"_csrf_token": token, "name": "Taken Over", "active": "0", "role": "rep"},
                headers={"Accept": "text/html"},
            )  # fmt: skip
            if "logout" in path:
                token = await sign_in(client, people[role].id)
                continue
            if "{" in path or path.startswith("/admin"):  # aimed at someone else's record, or admin-only
                assert response.status_code in {403, 404}, f"{method} {url} as {role}: {response.status_code}"
        checked += 1
    assert checked >= 15

    # ... and nothing of the outsider's changed.
    assert (
        await db.get(Account, ids["account_id"], populate_existing=True)
    ).name == "Secret Southern Account"
    assert (await db.get(Contact, ids["contact_id"], populate_existing=True)).name == "Secret Contact"
    assert (await db.get(ApiToken, ids["token_id"], populate_existing=True)).revoked_at is None
    visit = await db.get(Visit, ids["visit_id"], populate_existing=True)
    assert (visit.status, visit.version) == (VisitStatus.PLANNED, world_versions["visit"])
    lead = await db.get(Lead, ids["lead_id"], populate_existing=True)
    assert (lead.status, lead.owner_id, lead.version) == (
        LeadStatus.OPEN,
        ids["user_id"],
        world_versions["lead"],
    )
    reminder = await db.get(Reminder, ids["reminder_id"], populate_existing=True)
    assert (reminder.title, reminder.version, reminder.deleted_at) == (
        "Secret reminder",
        world_versions["reminder"],
        None,
    )
    assert await db.get(PushSubscription, ids["subscription_id"], populate_existing=True) is not None
    quote = await db.get(Quote, ids["quote_id"], populate_existing=True)
    assert (quote.status, quote.version) == (QuoteStatus.PENDING, world_versions["quote"])
    job = await db.get(ImportJob, ids["job_id"], populate_existing=True)
    assert job.status is JobStatus.UPLOADED
    outsider = await db.get(User, ids["user_id"], populate_existing=True)
    assert (outsider.name, outsider.is_active) == ("Secret Rep", True)


async def test_an_admin_sees_everyone(client, db, world) -> None:
    people, ids = world
    await sign_in(client, people["admin"].id)
    assert "Secret Southern Account" in (await client.get(f"/accounts/{ids['account_id']}")).text
    assert "Secret Rep" in (await client.get(f"/admin/users/{ids['user_id']}")).text
    assert "Secret Southern Account" in (await client.get("/accounts", params={"q": "secret"})).text


async def test_a_manager_sees_their_teams_records_only(client, db, world) -> None:
    people, _ = world
    await sign_in(client, people["manager"].id)
    page = await client.get("/accounts")
    assert "North Account" in page.text and "Secret Southern Account" not in page.text
    north_accounts = await db.scalars(select(Account.name).where(Account.owner_id == people["rep"].id))
    assert list(north_accounts) == ["North Account"]
