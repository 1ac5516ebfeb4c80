"""The reminders screen over HTTP: overdue, today and upcoming; made by hand, from a visit and a lead."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from server.leads import service as leads
from server.reminders import service as reminders
from server.reminders.models import LinkKind, Reminder, ReminderSource
from server.users.models import Role
from server.visits import service as visits
from tests.conftest import sign_in
from tests.factories import make_account, make_team, make_user


@pytest.fixture
async def rep(db):
    return await make_user(db, Role.REP, await make_team(db), name="Rita")


def _form(token: str, **values: str) -> dict[str, str]:
    return {"_csrf_token": token, **values}


async def test_an_empty_list_says_how_to_add_one_and_more_links_to_it(client, rep) -> None:
    await sign_in(client, rep.id)
    assert 'href="/reminders"' in (await client.get("/more")).text
    page = await client.get("/reminders")
    assert page.status_code == 200
    assert "Nothing to follow up." in page.text


async def test_made_by_hand_with_field_errors_first_then_listed_by_when(client, db, rep) -> None:
    token = await sign_in(client, rep.id)
    form = (await client.get("/reminders/new")).text
    assert 'name="id"' in form and 'name="_csrf_token"' in form
    refused = await client.post("/reminders", data=_form(token, title="", due_on="tomorrow"))
    assert refused.status_code == 422
    assert "This field is required." in refused.text and "Enter a date like 2026-03-31." in refused.text
    now = dt.datetime.now(dt.UTC)
    for title, moment in [
        ("Call Sam", now - dt.timedelta(days=2)),
        ("Ring the mill", now + dt.timedelta(days=3)),
    ]:
        response = await client.post(
            "/reminders", data=_form(token, title=title, due_on=moment.date().isoformat(), due_time="08:00")
        )
        assert response.status_code == 303 and response.headers["location"] == "/reminders"
    page = (await client.get("/reminders")).text
    assert "Reminder “Ring the mill” saved." in page
    overdue, upcoming = page.index("overdue-heading"), page.index("upcoming-heading")
    assert overdue < page.index("Call Sam", overdue) < upcoming < page.index("Ring the mill", upcoming)


async def test_done_snooze_edit_and_delete_from_the_list(client, db, rep) -> None:
    token = await sign_in(client, rep.id)
    reminder = await reminders.create(db, rep, {"title": "Call Sam", "due_on": "2026-01-05"})
    await db.commit()
    base = f"/reminders/{reminder.id}"
    before = dt.datetime.now(dt.UTC)
    assert (await client.post(f"{base}/snooze", data=_form(token, snooze="1h"))).status_code == 303
    await db.refresh(reminder)
    assert before + dt.timedelta(minutes=59) < reminder.due_at < before + dt.timedelta(minutes=61)
    refused = await client.post(f"{base}/snooze", data=_form(token, snooze="until", due_on="2020-01-01"))
    assert refused.status_code == 422 and "Choose a time in the future." in refused.text

    edit = await client.get(f"{base}/edit")
    assert 'value="Call Sam"' in edit.text
    saved = await client.post(f"{base}/edit", data=_form(token, title="Call Sam Patel", due_on="2030-01-01"))
    assert saved.status_code == 303
    assert "Call Sam Patel" in (await client.get("/reminders")).text

    assert (await client.post(f"{base}/done", data=_form(token))).status_code == 303
    page = (await client.get("/reminders")).text
    assert "“Call Sam Patel” done." in page and f"reminder-{reminder.id}" not in page
    assert (await client.post(f"{base}/delete", data=_form(token))).status_code == 303
    await db.refresh(reminder)
    assert reminder.done_at is not None and reminder.deleted_at is not None


async def test_a_visits_next_step_becomes_a_reminder_about_the_visit(client, db, rep) -> None:
    shop = await make_account(db, rep, name="Corner Shop", latitude="53.48", longitude="-2.24")
    today = dt.datetime.now(rep.zone).date()
    visit = await visits.plan(
        db, rep, {"account_id": str(shop.id), "planned_on": today.isoformat(), "purpose": "Stock"}
    )
    await visits.check_in(db, rep, visit.id, {"latitude": 53.48, "longitude": -2.24, "accuracy": 10})
    due = (today + dt.timedelta(days=7)).isoformat()
    await visits.record_outcome(
        db, rep, visit.id, {"outcome": "follow_up", "next_step": "Send samples", "next_step_due": due}
    )
    await db.commit()
    token = await sign_in(client, rep.id)
    page = (await client.get(f"/visits/{visit.id}")).text
    link = next(part.split('"')[0] for part in page.split('href="') if part.startswith("/reminders/new?"))
    query = {key: values[0] for key, values in parse_qs(urlsplit(link.replace("&amp;", "&")).query).items()}
    assert query == {"link_kind": "visit", "link_id": str(visit.id), "title": "Send samples", "due_on": due}
    form = (await client.get("/reminders/new", params=query)).text
    assert "About Corner Shop" in form and 'value="Send samples"' in form
    saved = await client.post("/reminders", data=_form(token, **query, due_time="09:00"))
    assert saved.status_code == 303
    made = await db.scalar(select(Reminder).where(Reminder.link_id == visit.id))
    assert (made.title, made.link_kind, made.source) == ("Send samples", LinkKind.VISIT, ReminderSource.VISIT)
    assert f'href="/visits/{visit.id}"' in (await client.get("/reminders")).text


async def test_a_lead_page_offers_a_reminder(client, db, rep) -> None:
    lead = await leads.capture(db, rep, {"company": "Kiln Cafe", "phone": "07700 900123"})
    await db.commit()
    await sign_in(client, rep.id)
    assert (
        f"/reminders/new?link_kind=lead&amp;link_id={lead.id}" in (await client.get(f"/leads/{lead.id}")).text
    )
    form = (await client.get("/reminders/new", params={"link_kind": "lead", "link_id": str(lead.id)})).text
    assert "About Kiln Cafe" in form


async def test_the_screen_speaks_chinese(client, db) -> None:
    rep = await make_user(db, Role.REP, await make_team(db), locale="zh_Hans")
    await sign_in(client, rep.id)
    page = (await client.get("/reminders")).text
    assert "提醒" in page and "Nothing to follow up." not in page
