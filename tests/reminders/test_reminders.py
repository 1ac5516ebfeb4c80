"""Reminders: made by hand or from a record, due on the owner's clock, done, snoozed, edited, deleted."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from server.audit.models import AuditEvent
from server.errors import NotFound, PermissionDenied, ValidationError
from server.leads import service as leads
from server.reminders import service as reminders
from server.reminders.models import LinkKind, Reminder, ReminderSource
from server.users.models import Role
from tests.factories import make_account, make_team, make_user

REMINDER_ID = "01936d3a-0000-7000-8000-0000000000cc"
# A Monday afternoon in London (GMT in November) and in Shanghai (UTC+8).
NOW = dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC)


@pytest.fixture
async def team(db):
    team = await make_team(db)
    other = await make_team(db)
    return {
        "rep": await make_user(db, Role.REP, team, name="Rita"),
        "shanghai": await make_user(db, Role.REP, team, name="Li", time_zone="Asia/Shanghai"),
        "manager": await make_user(db, Role.MANAGER, team, name="Max"),
        "outsider": await make_user(db, Role.REP, other, name="Olga"),
    }


async def test_a_reminder_is_due_on_its_owners_clock_and_a_replay_makes_one(db, team) -> None:
    raw = {"title": "Call about the order", "due_on": "2026-11-24", "due_time": "10:30"}
    first = await reminders.create(db, team["shanghai"], raw, record_id=REMINDER_ID)
    again = await reminders.create(db, team["shanghai"], raw, record_id=REMINDER_ID)
    await db.commit()
    assert first.id == again.id
    assert first.due_at == dt.datetime(2026, 11, 24, 2, 30, tzinfo=dt.UTC)  # 10:30 in Shanghai
    assert (first.owner_id, first.source, first.link_kind) == (
        team["shanghai"].id,
        ReminderSource.MANUAL,
        None,
    )
    assert await db.scalar(select(func.count()).select_from(Reminder)) == 1
    actions = list(await db.scalars(select(AuditEvent.action).where(AuditEvent.record_id == first.id)))
    assert actions == ["reminders.create"]


async def test_a_date_alone_rings_in_the_morning(db, team) -> None:
    reminder = await reminders.create(db, team["rep"], {"title": "Send samples", "due_on": "2026-11-24"})
    assert reminder.due_at == dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"due_on": "2026-11-24"}, "title"),
        ({"title": "x" * 201, "due_on": "2026-11-24"}, "title"),
        ({"title": "Call"}, "due_on"),
        ({"title": "Call", "due_on": "24/11/2026"}, "due_on"),
        ({"title": "Call", "due_on": "2026-11-24", "due_time": "half past"}, "due_time"),
        (
            {"title": "Call", "due_on": "2026-11-24", "link_kind": "spaceship", "link_id": REMINDER_ID},
            "link_kind",
        ),
        ({"title": "Call", "due_on": "2026-11-24", "link_kind": "account"}, "link_id"),
    ],
)
async def test_a_reminder_needs_a_title_and_a_due_date(db, team, raw, field) -> None:
    with pytest.raises(ValidationError) as refused:
        await reminders.create(db, team["rep"], raw)
    assert field in refused.value.errors
    assert await db.scalar(select(func.count()).select_from(Reminder)) == 0


async def test_a_reminder_links_only_to_a_record_its_owner_may_see(db, team) -> None:
    mine = await make_account(db, team["rep"], name="Mill Bakery")
    theirs = await make_account(db, team["outsider"], name="Secret Bakery")
    raw = {"title": "Follow up", "due_on": "2026-11-24", "link_kind": "account"}
    reminder = await reminders.create(db, team["rep"], {**raw, "link_id": str(mine.id)})
    assert (reminder.link_kind, reminder.link_id) == (LinkKind.ACCOUNT, mine.id)
    assert await reminders.link_names(db, team["rep"], [reminder]) == {reminder.id: "Mill Bakery"}
    assert reminders.record_path(reminder) == f"/accounts/{mine.id}"
    with pytest.raises(NotFound):
        await reminders.create(db, team["rep"], {**raw, "link_id": str(theirs.id)})


async def test_a_reminder_from_a_lead_says_so(db, team) -> None:
    lead = await leads.capture(db, team["rep"], {"company": "Kiln Cafe", "phone": "07700 900123"})
    raw = {
        "title": "Send the price list",
        "due_on": "2026-11-25",
        "link_kind": "lead",
        "link_id": str(lead.id),
    }
    reminder = await reminders.create(db, team["rep"], raw)
    assert reminder.source is ReminderSource.LEAD
    assert await reminders.link_names(db, team["rep"], [reminder]) == {reminder.id: "Kiln Cafe"}


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"snooze": "15m"}, NOW + dt.timedelta(minutes=15)),
        ({"snooze": "1h"}, NOW + dt.timedelta(hours=1)),
        # Tomorrow 09:00 in Shanghai, where it is already 23:00 on Monday.
        ({"snooze": "tomorrow"}, dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.UTC)),
        (
            {"snooze": "until", "due_on": "2026-11-30", "due_time": "08:15"},
            dt.datetime(2026, 11, 30, 0, 15, tzinfo=dt.UTC),
        ),
    ],
)
async def test_snooze_moves_the_due_time(db, team, choice, expected) -> None:
    reminder = await reminders.create(
        db, team["shanghai"], {"title": "Call", "due_on": "2026-11-23", "due_time": "20:00"}
    )
    await reminders.snooze(db, team["shanghai"], reminder.id, choice, now=NOW)
    assert reminder.due_at == expected


@pytest.mark.parametrize(
    "choice",
    [
        {"snooze": "a while"},
        {},
        {"snooze": "until"},
        {"snooze": "until", "due_on": "2026-11-01", "due_time": "09:00"},
    ],
)
async def test_a_snooze_must_say_until_when_in_the_future(db, team, choice) -> None:
    reminder = await reminders.create(db, team["rep"], {"title": "Call", "due_on": "2026-11-23"})
    before = reminder.due_at
    with pytest.raises(ValidationError):
        await reminders.snooze(db, team["rep"], reminder.id, choice, now=NOW)
    assert reminder.due_at == before


async def test_done_is_done(db, team) -> None:
    reminder = await reminders.create(db, team["rep"], {"title": "Call", "due_on": "2026-11-23"})
    await reminders.complete(db, team["rep"], reminder.id, now=NOW)
    version = reminder.version
    await reminders.complete(db, team["rep"], reminder.id)  # again: nothing changes
    assert (reminder.done_at, reminder.version) == (NOW, version)
    with pytest.raises(ValidationError):
        await reminders.snooze(db, team["rep"], reminder.id, {"snooze": "1h"})
    with pytest.raises(ValidationError):
        await reminders.update(db, team["rep"], reminder.id, {"title": "Call again", "due_on": "2026-11-24"})


async def test_edit_and_delete_leave_a_tombstone(db, team) -> None:
    reminder = await reminders.create(db, team["rep"], {"title": "Call", "due_on": "2026-11-23"})
    await reminders.update(
        db, team["rep"], reminder.id, {"title": "Call Sam", "due_on": "2026-11-26", "due_time": "14:00"}
    )
    assert (reminder.title, reminder.due_at) == ("Call Sam", dt.datetime(2026, 11, 26, 14, 0, tzinfo=dt.UTC))
    await reminders.delete(db, team["rep"], reminder.id)
    await db.commit()
    assert (await db.get(Reminder, reminder.id, populate_existing=True)).deleted_at is not None
    with pytest.raises(NotFound):
        await reminders.get(db, team["rep"], reminder.id)


async def test_managers_see_their_teams_reminders_but_only_the_owner_changes_them(db, team) -> None:
    reminder = await reminders.create(db, team["rep"], {"title": "Call", "due_on": "2026-11-23"})
    await db.commit()
    assert (await reminders.get(db, team["manager"], reminder.id)).id == reminder.id
    with pytest.raises(PermissionDenied):
        await reminders.complete(db, team["manager"], reminder.id)
    for stranger in (team["outsider"], team["shanghai"]):
        with pytest.raises((NotFound, PermissionDenied)):
            await reminders.snooze(db, stranger, reminder.id, {"snooze": "1h"})
    with pytest.raises(NotFound):
        await reminders.get(db, team["outsider"], reminder.id)


async def test_the_agenda_splits_overdue_today_and_upcoming_on_the_owners_clock(db, team) -> None:
    li = team["shanghai"]  # 23:00 on Monday in Shanghai at NOW
    made = {}
    for title, day, time in [("late", "2026-11-23", "09:00"), ("tonight", "2026-11-23", "23:30"),
                             ("tomorrow", "2026-11-24", "08:00"), ("done", "2026-11-23", "10:00")]:  # fmt: skip
        made[title] = await reminders.create(db, li, {"title": title, "due_on": day, "due_time": time})
    await reminders.complete(db, li, made["done"].id)
    await reminders.create(db, team["rep"], {"title": "someone else's", "due_on": "2026-11-23"})
    agenda = await reminders.agenda(db, li, now=NOW)
    assert [[r.title for r in group] for group in (agenda.overdue, agenda.today, agenda.upcoming)] == [
        ["late"], ["tonight"], ["tomorrow"]]  # fmt: skip


async def test_the_system_reminds_someone_of_a_record(db, team) -> None:
    lead = await leads.capture(db, team["manager"], {"company": "Kiln Cafe", "phone": "07700 900123"})
    reminder = await reminders.remind(
        db, team["rep"], "A lead was given to you", NOW, (LinkKind.LEAD, lead.id)
    )
    assert (reminder.owner_id, reminder.source) == (team["rep"].id, ReminderSource.SYSTEM)


async def test_a_lead_given_to_someone_reminds_them_in_their_language(db, team) -> None:
    li = team["shanghai"]
    li.locale = "zh_Hans"
    await db.commit()
    lead = await leads.capture(db, team["manager"], {"company": "Kiln Cafe", "phone": "07700 900123"})
    await leads.assign(db, team["manager"], lead.id, {"owner_id": str(li.id)})
    await db.commit()
    made = list(await db.scalars(select(Reminder).where(Reminder.owner_id == li.id)))
    assert [(r.title, r.source, r.link_kind, r.link_id) for r in made] == [
        ("线索 Kiln Cafe 已分配给您", ReminderSource.SYSTEM, LinkKind.LEAD, lead.id)]  # fmt: skip
