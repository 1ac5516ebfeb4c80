"""Duplicate detection: normalised phones and emails, similar company names, within what one may see."""

from __future__ import annotations

import pytest

from server.leads import matching
from server.leads import service as leads
from server.users.models import Role
from tests.factories import make_account, make_contact, make_team, make_user


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("+44 161 496 0123", "0161 496 0123"),
        ("(0161) 496-0123", "01614960123"),
        ("0044 161 4960123", "0161 496 0123"),
    ],
)
def test_the_same_phone_written_differently_has_one_key(a, b) -> None:
    assert matching.phone_key(a) == matching.phone_key(b) != ""


@pytest.mark.parametrize(
    ("a", "b", "similar"),
    [
        ("Smith & Sons Ltd.", "smith sons", True),
        ("The Mill Bakery Limited", "Mill Bakery", True),
        ("Irwell Hardware", "Irwel Hardware", True),  # a typo
        ("Irwell Hardware", "Irwell Hairdressing", False),
        ("Ltd", "Limited", False),  # nothing left to compare
        ("North Cafe", "South Cafe", False),
        ("Mill Bakery", "Mill Bakery Supplies Ltd", True),  # the start of the full name
        ("Mill", "Mill Bakery Supplies", False),  # too short to say
    ],
)
def test_company_names_are_compared_without_case_punctuation_or_legal_words(a, b, similar) -> None:
    assert matching.similar_company(a, b) is similar


async def test_a_lead_typed_in_finds_the_contact_account_and_lead_it_may_duplicate(db) -> None:
    team = await make_team(db)
    rep = await make_user(db, Role.REP, team)
    bakery = await make_account(db, rep, name="The Mill Bakery Ltd", phone="0161 496 0500")
    jo = await make_contact(db, rep, bakery, name="Jo Baker", phone="07700 900111", email="jo@mill.example")
    await leads.capture(db, rep, {"company": "Mill Bakery", "name": "Sam", "phone": "07700 900222"})
    await db.commit()

    by_phone = await matching.find(db, rep, phone="+44 7700 900111")
    assert [(m.kind, m.record.id, m.reasons) for m in by_phone] == [("contact", jo.id, ["phone"])]
    by_email = await matching.find(db, rep, email="JO@mill.example")
    assert [m.record.id for m in by_email] == [jo.id]
    by_name = await matching.find(db, rep, company="mill bakery")
    assert {m.kind for m in by_name} == {"account", "lead"}
    assert all(m.strong for m in by_name)  # the same name once legal words are gone
    assert await matching.find(db, rep, company="Windmill Tyres") == []


async def test_matches_never_show_what_the_rep_may_not_see(db) -> None:
    rep, stranger = (
        await make_user(db, Role.REP, await make_team(db)),
        await make_user(db, Role.REP, await make_team(db)),
    )
    account = await make_account(db, stranger, name="Hidden Cafe", phone="0161 496 0777")
    await make_contact(db, stranger, account, name="Hidden Person", email="hidden@cafe.example")
    assert (
        await matching.find(
            db, rep, phone="0161 496 0777", email="hidden@cafe.example", company="Hidden Cafe"
        )
        == []
    )
