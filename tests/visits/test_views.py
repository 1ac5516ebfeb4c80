"""The visit pages over HTTP: Today, check-in with the reason shown, the outcome with a photo, the team's day."""

from __future__ import annotations

import datetime as dt

from server.users.models import Role
from server.visits import service as visits
from server.visits.models import Outcome, Visit, VisitStatus
from tests.conftest import sign_in
from tests.factories import make_account, make_team, make_user
from tests.visits.conftest import FAR, NEARBY, fix

# The smallest valid PNG: one transparent pixel.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


async def test_today_lists_the_day_in_route_order_with_the_distance(client, db, day) -> None:
    near = await make_account(db, day.rep, name="Near Shop", latitude="53.48", longitude="-2.25")
    far = await make_account(db, day.rep, name="Far Shop", latitude="53.48", longitude="-2.20")
    await day.plan(db, far)
    await day.plan(db, near)
    day.rep.home_latitude, day.rep.home_longitude = 53.48, -2.26
    await visits.optimise(db, day.rep, day.today, None)
    await db.commit()
    await sign_in(client, day.rep.id)

    page = (await client.get("/")).text
    assert page.index("Near Shop") < page.index("Far Shop")
    assert "2 visits · 4.0 km" in page  # 0.66 km from home base to the first stop, then 3.3 km


async def test_today_without_visits_says_so_and_offers_to_plan(client, db, day) -> None:
    await sign_in(client, day.rep.id)
    page = (await client.get("/")).text
    assert "No visits are planned for today." in page
    assert 'href="/visits/new?day=' in page
    other_day = (await client.get("/", params={"day": "2026-12-24"})).text
    assert "Visits on 2026-12-24" in other_day and "No visits are planned for this day." in other_day


async def test_plan_a_visit_from_the_form(client, db, day) -> None:
    token = await sign_in(client, day.rep.id)
    form = (
        await client.get("/visits/new", params={"account_id": str(day.account.id), "day": "2026-12-01"})
    ).text
    assert 'value="2026-12-01"' in form
    refused = await client.post("/visits", data={"_csrf_token": token, "account_id": str(day.account.id),
                                                  "planned_on": "2026-12-01", "window_start": "11:00", "window_end": "10:00"})  # fmt: skip
    assert refused.status_code == 422 and "The window must end after it starts." in refused.text
    saved = await client.post(
        "/visits", data={"_csrf_token": token, "account_id": str(day.account.id), "planned_on": "2026-12-01"}
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/?day=2026-12-01"
    assert "Town Hall Cafe" in (await client.get("/?day=2026-12-01")).text


async def test_a_hard_geofence_shows_why_the_check_in_was_refused(client, db, day) -> None:
    await day.policy(db, "hard")
    visit = await day.plan(db)
    token = await sign_in(client, day.rep.id)
    response = await client.post(f"/visits/{visit.id}/check-in", data={"_csrf_token": token, **fix(FAR)})
    assert response.status_code == 422
    assert "Check in within 200 m of the customer." in response.text
    await db.refresh(visit)
    assert visit.status is VisitStatus.PLANNED

    inside = await client.post(f"/visits/{visit.id}/check-in", data={"_csrf_token": token, **fix(NEARBY)})
    assert inside.status_code == 303
    assert "Checked in at Town Hall Cafe." in (await client.get(f"/visits/{visit.id}")).text


async def _checked_in(db, day) -> Visit:
    visit = await day.plan(db)
    await visits.check_in(db, day.rep, visit.id, fix(NEARBY))
    await db.commit()
    return visit


async def test_record_an_outcome_with_a_photo_that_only_the_team_can_see(client, db, day, settings) -> None:
    visit = await _checked_in(db, day)
    token = await sign_in(client, day.rep.id)
    due = (day.today + dt.timedelta(days=7)).isoformat()
    data = {"_csrf_token": token, "outcome": "follow_up", "notes": "Wants the winter range.", "next_step": "Send samples",
            "next_step_due": due}  # fmt: skip
    response = await client.post(
        f"/visits/{visit.id}/outcome", data=data, files={"photo": ("shelf.png", PNG, "image/png")}
    )
    assert response.status_code == 303
    await db.refresh(visit)
    assert (visit.outcome, visit.next_step, visit.next_step_due.isoformat()) == (
        Outcome.FOLLOW_UP,
        "Send samples",
        due,
    )
    assert (settings.var_dir / "photos" / visit.photo_file).read_bytes() == PNG

    photo = await client.get(f"/visits/{visit.id}/photo")
    assert (photo.status_code, photo.headers["content-type"], photo.content) == (200, "image/png", PNG)
    await sign_in(client, day.manager.id)
    assert (await client.get(f"/visits/{visit.id}/photo")).status_code == 200
    outsider = await make_user(db, Role.REP, await make_team(db))
    await sign_in(client, outsider.id)
    assert (await client.get(f"/visits/{visit.id}/photo")).status_code == 404


async def test_a_bad_outcome_or_photo_is_refused_and_nothing_is_stored(client, db, day, settings) -> None:
    visit = await _checked_in(db, day)
    token = await sign_in(client, day.rep.id)
    no_outcome = await client.post(
        f"/visits/{visit.id}/outcome", data={"_csrf_token": token, "notes": "x"},
        files={"photo": ("shelf.png", PNG, "image/png")}, headers={"HX-Request": "true"},
    )  # fmt: skip
    assert no_outcome.status_code == 422 and "Choose what came of the visit." in no_outcome.text
    assert no_outcome.headers["HX-Push-Url"] == "false"  # the address bar keeps the visit page
    not_a_photo = await client.post(
        f"/visits/{visit.id}/outcome", data={"_csrf_token": token, "outcome": "no_interest"},
        files={"photo": ("notes.png", b"MZ this is not an image", "image/png")},
    )  # fmt: skip
    assert not_a_photo.status_code == 422 and "Choose a JPEG, PNG or WebP photo." in not_a_photo.text
    await db.refresh(visit)
    assert (visit.outcome, visit.photo_file) == (None, None)
    assert list(settings.var_dir.glob("photos/*")) == []  # not even the valid photo sent with no outcome


async def test_the_team_day_is_for_managers(client, db, day) -> None:
    await _checked_in(db, day)
    await day.plan(db)
    await sign_in(client, day.rep.id)
    assert (await client.get("/team")).status_code == 403
    await sign_in(client, day.manager.id)
    page = (await client.get("/team")).text
    assert "Rita Rep" in page and "0 of 2 done" in page and "At Town Hall Cafe since" in page


async def test_time_zone_and_home_base_are_the_reps_own_settings(client, db, day) -> None:
    token = await sign_in(client, day.rep.id)
    refused = await client.post("/settings/day", data={"_csrf_token": token, "time_zone": "Mars/Olympus",
                                                        "home_latitude": "53.5", "home_longitude": ""})  # fmt: skip
    assert refused.status_code == 422 and "Choose a time zone such as Europe/London." in refused.text
    saved = await client.post("/settings/day", data={"_csrf_token": token, "time_zone": "Asia/Shanghai",
                                                      "home_latitude": "53.5", "home_longitude": "-2.2"})  # fmt: skip
    assert saved.status_code == 303
    await db.refresh(day.rep)
    assert (day.rep.time_zone, day.rep.home_latitude, day.rep.home_longitude) == ("Asia/Shanghai", 53.5, -2.2)
    assert 'value="Asia/Shanghai"' in (await client.get("/more")).text


async def test_a_phone_sized_photo_is_taken_and_an_oversized_one_refused(client, db, day, settings) -> None:
    visit = await _checked_in(db, day)
    token = await sign_in(client, day.rep.id)
    camera_photo = b"\xff\xd8\xff\xe0" + bytes(3 * 2**20)  # a 3 MB JPEG, as phones take them
    saved = await client.post(f"/visits/{visit.id}/outcome", data={"_csrf_token": token, "outcome": "order_taken"},
                              files={"photo": ("IMG_0001.jpg", camera_photo, "image/jpeg")})  # fmt: skip
    assert saved.status_code == 303
    await db.refresh(visit)
    assert (settings.var_dir / "photos" / visit.photo_file).stat().st_size == len(camera_photo)

    huge = await client.post(f"/visits/{visit.id}/outcome", data={"_csrf_token": token, "outcome": "other"},
                             files={"photo": ("big.jpg", b"\xff\xd8\xff" + bytes(9 * 2**20), "image/jpeg")},
                             headers={"Accept": "text/html"})  # fmt: skip
    assert huge.status_code == 413 and "That upload is too large." in huge.text
    await db.refresh(visit)
    assert visit.outcome.value == "order_taken"
    assert len(list(settings.var_dir.glob("photos/*"))) == 1
