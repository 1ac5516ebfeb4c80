"""Leads: quick capture, the score, the owner rule, conversion and merging, closing and reassigning."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from server.accounts.models import Account, Tier
from server.contacts.models import Contact
from server.errors import NotFound, PermissionDenied, ValidationError
from server.leads import scoring
from server.leads import service as leads
from server.leads.models import Lead, LeadSource, LeadStatus
from server.orders import service as orders
from server.orders.models import OrderStatus
from server.users.models import Role
from tests.factories import make_account, make_contact, make_team, make_user


@pytest.fixture
async def team(db):
    team = await make_team(db)
    return {
        "rep": await make_user(db, Role.REP, team, name="Rita"),
        "colleague": await make_user(db, Role.REP, team, name="Colin"),
        "manager": await make_user(db, Role.MANAGER, team, name="Max"),
    }


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"phone": "07700 900123"}, "name"),  # neither a name nor a company
        ({"name": "Sam"}, "phone"),  # no way to reach them
        ({"name": "Sam", "email": "not-an-email"}, "email"),
        ({"name": "Sam", "phone": "call me"}, "phone"),
        ({"name": "Sam", "phone": "07700 900123", "source": "carrier pigeon"}, "source"),
    ],
)
async def test_capture_asks_only_for_a_name_and_a_way_to_reach_them(db, team, raw, field) -> None:
    with pytest.raises(ValidationError) as refused:
        await leads.capture(db, team["rep"], raw)
    assert field in refused.value.errors
    assert await db.scalar(select(func.count()).select_from(Lead)) == 0


async def test_a_new_lead_belongs_to_whoever_captured_it_and_a_replay_makes_one(db, team) -> None:
    raw = {"name": "Sam Patel", "phone": "07700 900123"}
    first = await leads.capture(db, team["rep"], raw, record_id="01936d3a-0000-7000-8000-0000000000aa")
    again = await leads.capture(db, team["rep"], raw, record_id="01936d3a-0000-7000-8000-0000000000aa")
    await db.commit()
    assert first.id == again.id
    assert (first.owner_id, first.captured_by_id, first.account_id, first.status) == (
        team["rep"].id, team["rep"].id, None, LeadStatus.OPEN)  # fmt: skip
    assert first.score == 5 + 20  # other source; name and phone


def test_the_score_adds_up_its_rules() -> None:
    lead = Lead(
        name="Sam",
        company="Mill",
        phone="1",
        email="a@b.c",
        note="met at the fair",
        source=LeadSource.REFERRAL,
    )
    assert scoring.score(lead, None, scoring.Engagement()) == (75, [("Source", 30), ("Details given", 45)])
    total, parts = scoring.score(lead, Tier.A, scoring.Engagement(recent_visits=5, ordered_recently=True))
    assert total == 100  # 30 + 45 + 25 + 15 + 10, capped
    assert ("Visits in the last 90 days", 15) in parts
    bare = Lead(name="Sam", company="", phone="1", email="", note="", source=LeadSource.COLD_CALL)
    assert scoring.score(bare, Tier.C, scoring.Engagement())[0] == 5 + 20 + 5


async def test_a_lead_for_a_known_customer_goes_to_its_rep_and_scores_its_tier(db, team) -> None:
    bakery = await make_account(db, team["colleague"], name="Mill Bakery", customer_number="C9")
    order = orders.OrderIn(
        customer_number="C9", status=OrderStatus.DELIVERED, ordered_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=30),
        currency="GBP", lines=[orders.OrderLineIn(sku="FLOUR", quantity=Decimal(100), unit_price=Decimal(600))],
    )  # fmt: skip
    await orders.upsert(db, "SO-1", order)  # 60,000 in a month: tier A
    contact = await make_contact(db, team["colleague"], bakery, name="Jo Baker", phone="0161 496 0123")

    lead = await leads.capture(
        db, team["manager"], {"name": "Jo", "phone": "+44 161 496 0123", "source": "event"}
    )
    await db.commit()
    assert lead.account_id == bakery.id == contact.account_id
    assert lead.owner_id == team["colleague"].id  # the customer's rep, not the manager who met them
    score, parts = await leads.score_of(db, lead)
    assert ("Matching account's tier", 25) in parts and ("Ordered in the last 12 months", 10) in parts
    assert lead.score == score == 20 + 20 + 25 + 10


async def test_a_known_customer_is_found_however_many_open_leads_look_like_the_new_one(db, team) -> None:
    bakery = await make_account(db, team["colleague"], name="Mill Bakery", phone="0161 496 0123")
    # Earlier leads from the same stand: each shares the phone and the company name, so each would
    # rank above the account (two reasons against one) in the list of possible duplicates.
    for n in range(10):
        await leads.capture(db, team["manager"], {"name": f"Visitor {n}", "company": "Bakery Fair Stand",
                                              "phone": "0161 496 0123"})  # fmt: skip
    lead = await leads.capture(
        db, team["manager"], {"name": "Jo", "company": "Bakery Fair Stand", "phone": "+44 161 496 0123"}
    )
    await db.commit()
    assert (lead.account_id, lead.owner_id) == (bakery.id, team["colleague"].id)


async def test_convert_makes_an_account_and_a_contact_once(db, team) -> None:
    lead = await leads.capture(db, team["rep"], {"name": "Sam Patel", "company": "Patel Stores", "phone": "07700 900123",
                                                  "email": "sam@patel.example"})  # fmt: skip
    ids = {
        "new_account_id": "01936d3a-0000-7000-8000-0000000000b1",
        "new_contact_id": "01936d3a-0000-7000-8000-0000000000b2",
    }
    await leads.convert(db, team["rep"], lead.id, ids)
    await db.commit()
    account = await db.get(Account, lead.account_id)
    contact = await db.get(Contact, lead.contact_id)
    assert (account.name, account.owner_id, str(account.id)) == (
        "Patel Stores",
        team["rep"].id,
        ids["new_account_id"],
    )
    assert (contact.name, contact.email, contact.account_id) == ("Sam Patel", "sam@patel.example", account.id)
    assert lead.status is LeadStatus.CONVERTED
    with pytest.raises(ValidationError):  # converting again is refused, nothing made twice
        await leads.convert(db, team["rep"], lead.id, ids)
    assert await db.scalar(select(func.count()).select_from(Account)) == 1


async def test_merge_into_an_existing_account_with_its_contact(db, team) -> None:
    bakery = await make_account(db, team["rep"], name="Mill Bakery")
    jo = await make_contact(db, team["rep"], bakery, name="Jo Baker")
    lead = await leads.capture(
        db, team["rep"], {"name": "Jo", "company": "Mill Bakery Ltd", "phone": "07700 900321"}
    )
    other = await make_account(db, team["rep"], name="Elsewhere")
    with pytest.raises(ValidationError):
        await leads.convert(db, team["rep"], lead.id, {"account_id": str(other.id), "contact_id": str(jo.id)})
    await leads.convert(db, team["rep"], lead.id, {"account_id": str(bakery.id), "contact_id": str(jo.id)})
    assert (lead.account_id, lead.contact_id) == (bakery.id, jo.id)
    assert await db.scalar(select(func.count()).select_from(Contact)) == 1


async def test_close_reassign_and_who_may(db, team) -> None:
    lead = await leads.capture(db, team["rep"], {"name": "Sam", "phone": "07700 900123"})
    with pytest.raises(PermissionDenied):
        await leads.assign(db, team["rep"], lead.id, {"owner_id": str(team["colleague"].id)})
    outsider = await make_user(db, Role.REP, await make_team(db))
    with pytest.raises(ValidationError):
        await leads.assign(db, team["manager"], lead.id, {"owner_id": str(outsider.id)})
    await leads.assign(db, team["manager"], lead.id, {"owner_id": str(team["colleague"].id)})
    assert lead.owner_id == team["colleague"].id
    with pytest.raises(NotFound):  # it is Colin's now, and reps see their own leads
        await leads.get(db, team["rep"], lead.id)
    with pytest.raises(ValidationError):
        await leads.disqualify(db, team["colleague"], lead.id, {"disqualify_reason": ""})
    await leads.disqualify(db, team["colleague"], lead.id, {"disqualify_reason": "Moving abroad"})
    assert lead.status is LeadStatus.DISQUALIFIED


async def test_open_leads_are_listed_best_first_for_the_owner_and_their_manager(db, team) -> None:
    low = await leads.capture(
        db, team["rep"], {"name": "Low", "phone": "07700 900001", "source": "cold_call"}
    )
    high = await leads.capture(db, team["rep"], {"name": "High", "company": "Big Co", "email": "a@big.example",
                                                  "phone": "07700 900002", "source": "referral"})  # fmt: skip
    await leads.capture(db, team["colleague"], {"name": "Colin's", "phone": "07700 900003"})
    await db.commit()
    mine = await leads.open_leads(db, team["rep"])
    assert [lead.id for lead in mine.items] == [high.id, low.id]
    assert (await leads.open_leads(db, team["manager"])).total == 3


async def test_editing_a_lead_rescores_it_and_a_closed_lead_is_not_edited(db, team) -> None:
    lead = await leads.capture(db, team["rep"], {"name": "Sam", "phone": "07700 900123"})
    assert lead.score == 25
    await leads.update(db, team["rep"], lead.id, {"name": "Sam", "phone": "07700 900123", "email": "sam@x.example",
                                                  "source": "referral"})  # fmt: skip
    assert (lead.email, lead.source, lead.score) == ("sam@x.example", LeadSource.REFERRAL, 30 + 30)
    await leads.disqualify(db, team["rep"], lead.id, {"disqualify_reason": "Duplicate"})
    with pytest.raises(ValidationError):
        await leads.update(db, team["rep"], lead.id, {"name": "Sam", "phone": "07700 900123"})
