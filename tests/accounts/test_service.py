"""The accounts commands: validation, idempotent creates, versions, audit, scoping, search."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select

from server.accounts import service as accounts
from server.accounts.models import Account, Tier
from server.audit.models import AuditEvent
from server.db import current_version, new_id
from server.errors import NotFound, ValidationError
from server.users import service as users
from server.users.models import Role, TeamManager
from server.web import next_offset
from tests.factories import make_account, make_team, make_user


async def count(db, model) -> int:
    return await db.scalar(select(func.count()).select_from(model))


async def test_create_saves_every_field_and_belongs_to_the_rep(db) -> None:
    rep = await make_user(db)
    account = await accounts.create(
        db,
        rep,
        {
            "name": "  Irwell Hardware  ",
            "street": "12 Deansgate",
            "city": "Manchester",
            "postcode": "M3 2BW",
            "latitude": "53.4808",
            "longitude": "-2,2426",  # a comma decimal, as many phones type it
            "phone": "0161 496 0001",
            "notes": "Delivery bay at the rear.",
        },
    )
    await db.commit()
    saved = await db.get(Account, account.id)
    assert saved.name == "Irwell Hardware"
    assert (saved.latitude, saved.longitude) == (53.4808, -2.2426)
    assert saved.tier is Tier.C  # no orders yet; the tier is computed, not typed in
    assert saved.owner_id == rep.id
    assert saved.phone_digits == "01614960001"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("name", "x" * 201),
        ("latitude", "91"),
        ("longitude", "east"),
        ("latitude", "nan"),
        ("phone", "call me"),
        ("owner_id", "not-a-uuid"),
    ],
)
async def test_invalid_input_names_the_field_and_saves_nothing(db, field, value) -> None:
    rep = await make_user(db)
    version_before = await current_version(db)
    raw = {"name": "Valid Name", "latitude": "53.4", "longitude": "-2.2", field: value}
    with pytest.raises(ValidationError) as error:
        await accounts.create(db, rep, raw)
    await db.rollback()
    assert field in error.value.errors
    assert await count(db, Account) == 0
    assert await current_version(db) == version_before


async def test_latitude_without_longitude_is_refused(db) -> None:
    rep = await make_user(db)
    with pytest.raises(ValidationError) as error:
        await accounts.create(db, rep, {"name": "Half a place", "latitude": "53.4"})
    assert "longitude" in error.value.errors


async def test_replaying_a_create_with_the_same_id_makes_one_record(db) -> None:
    rep = await make_user(db)
    record_id = new_id()
    first = await accounts.create(db, rep, {"name": "Once Only"}, record_id=record_id)
    await db.commit()
    again = await accounts.create(db, rep, {"name": "Once Only"}, record_id=str(record_id))
    await db.commit()
    assert first.id == again.id == record_id
    assert await count(db, Account) == 1
    assert await count(db, AuditEvent) == 1


async def test_every_change_takes_a_higher_version_and_is_audited(db) -> None:
    rep = await make_user(db)
    account = await make_account(db, rep, name="Pennine Bakery", city="Oldham")
    created_version = account.version
    await accounts.update(db, rep, account.id, {"city": "Rochdale"})
    await db.commit()
    assert account.version > created_version
    assert account.city == "Rochdale"
    assert account.name == "Pennine Bakery"  # fields not named are left alone

    events = list(await db.scalars(select(AuditEvent).order_by(AuditEvent.created_at, AuditEvent.id)))
    assert [event.action for event in events] == ["accounts.create", "accounts.update"]
    assert events[1].actor_id == rep.id
    assert events[1].before == {"city": "Oldham"}
    assert events[1].after == {"city": "Rochdale"}


async def test_an_update_that_changes_nothing_writes_nothing(db) -> None:
    rep = await make_user(db)
    account = await make_account(db, rep, name="Same Name")
    version = account.version
    await accounts.update(db, rep, account.id, {"name": "Same Name"})
    await db.commit()
    assert account.version == version
    assert await count(db, AuditEvent) == 1


async def test_reps_see_their_own_accounts_managers_their_teams_admins_all(db) -> None:
    north, south = await make_team(db), await make_team(db)
    rep_north = await make_user(db, Role.REP, north)
    other_north = await make_user(db, Role.REP, north)
    rep_south = await make_user(db, Role.REP, south)
    manager_north = await make_user(db, Role.MANAGER, north)
    admin = await make_user(db, Role.ADMIN)
    mine = await make_account(db, rep_north, name="Mine")
    colleague = await make_account(db, other_north, name="Colleague")
    southern = await make_account(db, rep_south, name="Southern")

    async def names(user) -> set[str]:
        return {account.name for account in (await accounts.search(db, user)).items}

    assert await names(rep_north) == {"Mine"}
    assert await names(manager_north) == {"Mine", "Colleague"}
    assert await names(admin) == {"Mine", "Colleague", "Southern"}

    with pytest.raises(NotFound):
        await accounts.get(db, rep_north, southern.id)
    with pytest.raises(NotFound):
        await accounts.update(db, rep_north, colleague.id, {"name": "Taken over"})
    assert (await accounts.get(db, manager_north, mine.id)).name == "Mine"


async def test_owner_can_only_be_someone_the_actor_may_assign(db) -> None:
    north, south = await make_team(db), await make_team(db)
    rep = await make_user(db, Role.REP, north)
    colleague = await make_user(db, Role.REP, north)
    outsider = await make_user(db, Role.REP, south)
    manager = await make_user(db, Role.MANAGER, north)

    with pytest.raises(ValidationError) as error:
        await accounts.create(db, rep, {"name": "Gift", "owner_id": str(colleague.id)})
    assert "owner_id" in error.value.errors
    with pytest.raises(ValidationError):
        await accounts.create(db, manager, {"name": "Across teams", "owner_id": str(outsider.id)})
    assert await count(db, Account) == 0

    assigned = await accounts.create(db, manager, {"name": "For the team", "owner_id": str(colleague.id)})
    await db.commit()
    assert assigned.owner_id == colleague.id


async def test_search_matches_name_city_and_phone_digits_case_insensitively(db) -> None:
    rep = await make_user(db)
    await make_account(db, rep, name="Heaton Florist", city="Stockport", phone="0161 496 1234")
    await make_account(db, rep, name="Chorlton Deli", city="Manchester", phone="+44 161 496 9876")
    await make_account(db, rep, name="Gorton Garage", city="Manchester")

    async def found(term: str) -> list[str]:
        return [account.name for account in (await accounts.search(db, rep, term)).items]

    assert await found("florist") == ["Heaton Florist"]
    assert await found("STOCK") == ["Heaton Florist"]
    assert await found("manchester") == ["Chorlton Deli", "Gorton Garage"]
    assert await found("496 98") == ["Chorlton Deli"]
    assert await found("nothing like this") == []


async def test_search_pages_through_everything_once(db) -> None:
    rep = await make_user(db)
    for number in range(7):
        await make_account(db, rep, name=f"Shop {number}")
    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = await accounts.search(db, rep, offset=offset, limit=3)
        assert page.total == 7
        seen.extend(account.name for account in page.items)
        offset = next_offset(page)
    assert seen == [f"Shop {number}" for number in range(7)]


async def test_a_manager_leads_their_own_team_and_any_team_they_are_named_for(db) -> None:
    north, south, east = await make_team(db), await make_team(db), await make_team(db)
    # Invited by an admin into North: no explicit leadership record, yet North is theirs.
    manager = await make_user(db, Role.MANAGER)
    await users.change(db, None, manager.id, {"team_id": str(north.id)})
    db.add(TeamManager(team_id=south.id, user_id=manager.id, version=1))
    await db.commit()
    for team, name in ((north, "North shop"), (south, "South shop"), (east, "East shop")):
        await make_account(db, await make_user(db, Role.REP, team), name=name)
    names = {account.name for account in (await accounts.search(db, manager)).items}
    assert names == {"North shop", "South shop"}


async def test_what_someone_may_see_follows_their_team_and_role_at_once(db) -> None:
    """Scoping clauses are built once per person: a move to another team, or a promotion, must
    show at the next search, not what the person could see before."""
    north, south = await make_team(db), await make_team(db)
    for team, name in ((north, "North shop"), (south, "South shop")):
        await make_account(db, await make_user(db, Role.REP, team), name=name)
    person = await make_user(db, Role.MANAGER, north)

    async def sees() -> set[str]:
        return {account.name for account in (await accounts.search(db, person)).items}

    assert await sees() == {"North shop"}
    await users.change(db, None, person.id, {"team_id": str(south.id)})
    await db.execute(delete(TeamManager).where(TeamManager.user_id == person.id))  # no longer leads North
    await db.commit()
    assert await sees() == {"South shop"}
    await users.change(db, None, person.id, {"role": "rep"})
    await db.commit()
    assert await sees() == set()
