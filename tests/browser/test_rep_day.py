"""A rep's day on the phone, in Chromium: checking in at the customer (inside and outside the
geofence, soft and hard, and without a location), checking out and recording the outcome, and
capturing a lead that turns out to be a known customer.

The phone's position comes from Playwright's geolocation emulation; the organisation policy is
arranged through organisation.update, as an admin would set it.
"""

from __future__ import annotations

import datetime as dt
import re
import struct
import uuid
import zlib
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts import service as accounts
from server.leads.models import Lead, LeadStatus
from server.organisation import service as organisation
from server.users.models import Role, User
from server.visits import service as visits
from server.visits.models import Outcome, Visit, VisitStatus
from server.visits.route import distance_m
from tests.browser.conftest import Phone, Seed, run_db, sign_in
from tests.factories import make_contact, make_user

ACCOUNT = "Pennine Tiles"
# Where Pennine Tiles is (Stockport), and places about 56 m and 2 km north of it.
SHOP = (53.4106, -2.1575)
NEAR = (SHOP[0] + 0.0005, SHOP[1])
FAR = (SHOP[0] + 0.018, SHOP[1])
ACCURACY_M = 8

# What Chromium says about a response with an error status (the app answers refusals with 422).
REFUSED_RESPONSE = "the server responded with a status of 422"


# --- arranging and checking data ----------------------------------------------------------------


def arrange_visit(
    database_url: str, seed: Seed, *, mode: str = "soft", radius_m: int = 200, checked_in: bool = False
) -> uuid.UUID:
    """The organisation policy, a location for the rep's Pennine Tiles, and a visit there today."""

    async def work(db: AsyncSession) -> uuid.UUID:
        admin = await make_user(db, Role.ADMIN, name="Ada Admin")
        await organisation.update(
            db, admin,
            {"geofence_radius_m": str(radius_m), "geofence_mode": mode, "low_accuracy_m": "100",
             "tier_a_min": "50000", "tier_b_min": "10000"},
        )  # fmt: skip
        rep = await db.get(User, seed.rep.id)
        assert rep is not None
        account_id = seed.account(ACCOUNT).id
        await accounts.update(db, rep, account_id, {"latitude": str(SHOP[0]), "longitude": str(SHOP[1])})
        visit = await visits.plan(
            db, rep, {"account_id": str(account_id), "planned_on": visits.today_for(rep).isoformat()}
        )
        if checked_in:
            await visits.check_in(
                db, rep, visit.id,
                {"latitude": str(NEAR[0]), "longitude": str(NEAR[1]), "accuracy": str(ACCURACY_M)},
            )  # fmt: skip
        await db.commit()
        return visit.id

    return run_db(database_url, work)


def stored_visit(database_url: str, visit_id: uuid.UUID) -> Visit:
    async def load(db: AsyncSession) -> Visit:
        visit = await db.get(Visit, visit_id)
        assert visit is not None
        return visit

    return run_db(database_url, load)


def phone_at(open_phone: Callable[..., Phone], position: tuple[float, float] | None) -> Phone:
    """A phone that knows where it is (location allowed), or one whose location is not allowed."""
    if position is None:
        return open_phone()
    latitude, longitude = position
    return open_phone(
        geolocation={"latitude": latitude, "longitude": longitude, "accuracy": ACCURACY_M},
        permissions=["geolocation"],
    )


def open_visit_from_today(page: Page, seed: Seed) -> None:
    """Sign in, land on Today, and tap the visit."""
    sign_in(page, seed.rep)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Good day, {seed.rep.name}")
    page.get_by_role("link", name=re.compile(ACCOUNT)).click()
    expect(page).to_have_url(re.compile(r"/visits/[0-9a-f-]{36}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(ACCOUNT)
    expect(status_badge(page)).to_have_text("Planned")


def status_badge(page: Page) -> Any:
    return page.locator(".page-head .badge")


def flag(page: Page, text: str) -> Any:
    return page.locator(".badge-warning", has_text=text)


def assert_no_browser_problems(phone: Phone, *, expected: tuple[str, ...] = ()) -> None:
    problems = [p for p in phone.problems.all() if not any(allowed in p for allowed in expected)]
    assert problems == []


def tiny_png() -> bytes:
    """A valid 2x2 PNG (opaque teal), small enough to write out here."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x0f\x5c\x4d" * 2 for _ in range(2))
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)  # 2x2, 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


# --- checking in ----------------------------------------------------------------------------------


def test_check_in_inside_a_soft_geofence(
    open_phone: Callable[..., Phone], seed: Seed, database_url: str
) -> None:
    visit_id = arrange_visit(database_url, seed, mode="soft", radius_m=150)
    phone = phone_at(open_phone, NEAR)
    page = phone.page
    open_visit_from_today(page, seed)
    expect(page.get_by_text("Check-ins further than 150 m from the customer are flagged.")).to_be_visible()

    page.get_by_role("button", name="Check in here").click()

    expect(status_badge(page)).to_have_text("Checked in")
    expect(page.get_by_role("status").filter(has_text="Checked in at")).to_have_text(
        f"Checked in at {ACCOUNT}."
    )
    expect(page.get_by_text(f"{NEAR[0]:.5f}, {NEAR[1]:.5f} (± {ACCURACY_M} m)")).to_be_visible()
    expect(page.locator(".badge-warning")).to_have_count(0)
    expect(page.get_by_role("button", name="Check in here")).to_have_count(0)
    expect(page.get_by_role("button", name="Check out")).to_be_visible()

    visit = stored_visit(database_url, visit_id)
    assert visit.status is VisitStatus.CHECKED_IN
    assert (visit.check_in_latitude, visit.check_in_longitude) == NEAR
    assert visit.check_in_accuracy_m == ACCURACY_M
    assert visit.outside_geofence is False
    assert visit.low_accuracy is False
    assert visit.check_in_distance_m is not None
    assert visit.check_in_distance_m < 150
    assert round(visit.check_in_distance_m) == round(distance_m(NEAR, SHOP))
    assert visit.checked_in_device_at is not None
    assert visit.checked_in_at is not None
    assert abs(visit.checked_in_at - visit.checked_in_device_at) < dt.timedelta(minutes=1)
    assert visit.no_location_reason == ""
    assert_no_browser_problems(phone)


def test_check_in_outside_a_soft_geofence_is_flagged(
    open_phone: Callable[..., Phone], seed: Seed, database_url: str
) -> None:
    visit_id = arrange_visit(database_url, seed, mode="soft", radius_m=150)
    phone = phone_at(open_phone, FAR)
    page = phone.page
    sign_in(page, seed.rep)
    # Today shows how far each visit is from where the phone is.
    expect(page.get_by_text("2.0 km from you")).to_be_visible()
    page.get_by_role("link", name=re.compile(ACCOUNT)).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(ACCOUNT)

    page.get_by_role("button", name="Check in here").click()

    away = round(distance_m(FAR, SHOP))
    expect(status_badge(page)).to_have_text("Checked in")
    expect(flag(page, "m away")).to_have_text(f"{away} m away")
    expect(page.get_by_text(f"{away} m", exact=True)).to_be_visible()  # "From the customer"

    visit = stored_visit(database_url, visit_id)
    assert visit.status is VisitStatus.CHECKED_IN
    assert visit.outside_geofence is True
    assert (visit.check_in_latitude, visit.check_in_longitude) == FAR
    assert visit.check_in_distance_m is not None
    assert round(visit.check_in_distance_m) == away
    assert visit.is_flagged
    assert_no_browser_problems(phone)


def test_check_in_outside_a_hard_geofence_is_refused(
    open_phone: Callable[..., Phone], seed: Seed, database_url: str
) -> None:
    visit_id = arrange_visit(database_url, seed, mode="hard", radius_m=500)
    before = stored_visit(database_url, visit_id)
    phone = phone_at(open_phone, FAR)
    page = phone.page
    open_visit_from_today(page, seed)
    expect(page.get_by_text("Check-in needs you within 500 m of the customer.")).to_be_visible()

    with page.expect_response(re.compile(r"/check-in$")) as answer:
        page.get_by_role("button", name="Check in here").click()
    assert answer.value.status == 422  # refused, with the reason to show (not a server error)

    away = round(distance_m(FAR, SHOP))
    expect(page.get_by_role("alert")).to_have_text(
        f"You are {away} m from {ACCOUNT}. Check in within 500 m of the customer."
    )
    expect(status_badge(page)).to_have_text("Planned")
    expect(page.get_by_role("button", name="Check in here")).to_be_visible()
    expect(page.get_by_role("button", name="Check out")).to_have_count(0)
    page.reload()  # the refusal did not put the check-in's POST address in the history
    expect(page.get_by_role("heading", level=1)).to_have_text(ACCOUNT)

    after = stored_visit(database_url, visit_id)
    assert after.status is VisitStatus.PLANNED
    assert after.version == before.version
    assert after.updated_at == before.updated_at
    assert after.checked_in_at is None
    assert after.checked_in_device_at is None
    assert after.check_in_latitude is None
    assert after.check_in_distance_m is None
    assert_no_browser_problems(phone, expected=(REFUSED_RESPONSE,))


def test_check_in_inside_a_hard_geofence(
    open_phone: Callable[..., Phone], seed: Seed, database_url: str
) -> None:
    visit_id = arrange_visit(database_url, seed, mode="hard", radius_m=100)
    phone = phone_at(open_phone, NEAR)
    page = phone.page
    open_visit_from_today(page, seed)
    expect(page.get_by_text("Check-in needs you within 100 m of the customer.")).to_be_visible()

    page.get_by_role("button", name="Check in here").click()

    expect(status_badge(page)).to_have_text("Checked in")
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(page.locator(".badge-warning")).to_have_count(0)

    visit = stored_visit(database_url, visit_id)
    assert visit.status is VisitStatus.CHECKED_IN
    assert visit.outside_geofence is False
    assert visit.check_in_distance_m is not None
    assert visit.check_in_distance_m < 100
    assert (visit.check_in_latitude, visit.check_in_longitude) == NEAR
    assert_no_browser_problems(phone)


def test_check_in_without_location_needs_a_reason(
    open_phone: Callable[..., Phone], seed: Seed, database_url: str
) -> None:
    visit_id = arrange_visit(database_url, seed, mode="hard", radius_m=200)
    phone = phone_at(open_phone, None)  # location not allowed
    page = phone.page
    open_visit_from_today(page, seed)
    reason = page.get_by_label("Why is there no location?")
    expect(reason).to_be_hidden()

    page.get_by_role("button", name="Check in here").click()

    # Nothing is sent yet: the phone asks why there is no location.
    expect(reason).to_be_visible()
    expect(reason).to_be_focused()
    expect(page.get_by_role("alert")).to_contain_text("Your location is not available.")
    expect(status_badge(page)).to_have_text("Planned")
    assert stored_visit(database_url, visit_id).status is VisitStatus.PLANNED

    why = "Basement stockroom, no GPS signal"
    reason.fill(why)
    page.get_by_role("button", name="Check in here").click()

    expect(status_badge(page)).to_have_text("Checked in")
    expect(flag(page, "No location")).to_be_visible()
    expect(page.get_by_text(why)).to_be_visible()

    visit = stored_visit(database_url, visit_id)
    assert visit.status is VisitStatus.CHECKED_IN
    assert visit.no_location_reason == why
    assert visit.check_in_latitude is None
    assert visit.check_in_longitude is None
    assert visit.check_in_distance_m is None
    assert visit.outside_geofence is False
    assert visit.checked_in_device_at is not None
    assert visit.is_flagged
    assert_no_browser_problems(phone)


# --- after the visit ------------------------------------------------------------------------------


def test_check_out_and_record_the_outcome_with_a_photo(
    open_phone: Callable[..., Phone], seed: Seed, database_url: str, tmp_path: Any
) -> None:
    visit_id = arrange_visit(database_url, seed, checked_in=True)
    phone = phone_at(open_phone, NEAR)
    page = phone.page
    sign_in(page, seed.rep, f"/visits/{visit_id}")
    expect(status_badge(page)).to_have_text("Checked in")

    page.get_by_role("button", name="Check out").click()

    expect(status_badge(page)).to_have_text("Done")
    expect(page.get_by_role("status").filter(has_text="Checked out of")).to_have_text(
        f"Checked out of {ACCOUNT}."
    )
    expect(page.get_by_text("Time on site")).to_be_visible()
    expect(page.get_by_role("button", name="Check out")).to_have_count(0)
    checked_out = stored_visit(database_url, visit_id)
    assert checked_out.status is VisitStatus.DONE
    assert checked_out.minutes_on_site is not None
    assert checked_out.checked_out_device_at is not None

    due = checked_out.planned_on + dt.timedelta(days=7)
    photo = tmp_path / "shelf.png"
    photo.write_bytes(tiny_png())
    page.get_by_role("radio", name="Follow-up needed").check()
    page.get_by_label("Notes").fill("Liked the new porcelain range; wants samples.")
    page.get_by_label("Next step", exact=True).fill("Send the autumn price list")
    page.get_by_label("Next step due").fill(due.isoformat())
    page.get_by_label("Photo").set_input_files(photo)
    page.get_by_role("button", name="Save outcome").click()

    expect(page.get_by_role("status").filter(has_text="recorded")).to_have_text(
        f"Visit to {ACCOUNT} recorded."
    )
    image = page.get_by_role("img", name=f"Photo from the visit to {ACCOUNT}")
    expect(image).to_be_visible()

    # Kept, not only shown: the page opened again shows what was saved.
    page.reload()
    expect(page.get_by_role("radio", name="Follow-up needed")).to_be_checked()
    expect(page.get_by_label("Notes")).to_have_value("Liked the new porcelain range; wants samples.")
    expect(page.get_by_label("Next step", exact=True)).to_have_value("Send the autumn price list")
    expect(page.get_by_label("Next step due")).to_have_value(due.isoformat())
    image = page.get_by_role("img", name=f"Photo from the visit to {ACCOUNT}")
    expect(image).to_be_visible()
    page.wait_for_function(
        "(img) => img.complete && img.naturalWidth === 2 && img.naturalHeight === 2",
        arg=image.element_handle(),
    )

    visit = stored_visit(database_url, visit_id)
    assert visit.status is VisitStatus.DONE
    assert visit.minutes_on_site is not None
    assert visit.outcome is Outcome.FOLLOW_UP
    assert visit.notes == "Liked the new porcelain range; wants samples."
    assert visit.next_step == "Send the autumn price list"
    assert visit.next_step_due == due
    assert visit.photo_file is not None
    assert visit.photo_file.endswith(".png")
    assert_no_browser_problems(phone)


# --- leads ----------------------------------------------------------------------------------------


def test_a_lead_with_a_known_phone_is_hinted_and_linked_to_its_account(
    phone: Phone, seed: Seed, database_url: str
) -> None:
    account = seed.account("Quillfeather Stationers")

    async def a_known_contact(db: AsyncSession) -> None:
        rep = await db.get(User, seed.rep.id)
        known = await accounts.get(db, rep, account.id)
        await make_contact(db, rep, known, name="Olu Adeyemi", title="Buyer", phone="0161 496 0123")

    run_db(database_url, a_known_contact)
    page = phone.page
    sign_in(page, seed.rep, "/leads")
    page.get_by_role("link", name="New lead").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New lead")

    page.get_by_label("Name").fill("Femi Adeyemi")
    page.get_by_label("Phone").press_sequentially("+44 161 496 0123")

    hint = page.locator("#lead-matches").get_by_role("status")
    expect(hint).to_contain_text("Possibly already known: 1 match")
    expect(hint.get_by_role("listitem")).to_have_text(
        re.compile(r"Olu Adeyemi\s*·\s*Contact\s*\(same phone\)")
    )
    expect(hint.get_by_role("link", name="Olu Adeyemi")).to_have_attribute("href", f"/accounts/{account.id}")
    assert run_db(database_url, count_leads) == 0  # only a hint so far

    page.get_by_role("button", name="Save lead").click()

    expect(page).to_have_url(re.compile(r"/leads/[0-9a-f-]{36}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Femi Adeyemi")
    expect(page.get_by_role("status").filter(has_text="saved")).to_have_text("Lead Femi Adeyemi saved.")
    expect(page.get_by_role("link", name="Open the account")).to_have_attribute(
        "href", f"/accounts/{account.id}"
    )

    async def the_lead(db: AsyncSession) -> Lead:
        return (await db.scalars(select(Lead))).one()

    lead = run_db(database_url, the_lead)
    assert lead.name == "Femi Adeyemi"
    assert lead.phone_digits.endswith("1614960123")
    assert lead.status is LeadStatus.OPEN
    assert lead.account_id == account.id
    assert lead.owner_id == seed.rep.id
    assert lead.captured_by_id == seed.rep.id
    assert_no_browser_problems(phone)


async def count_leads(db: AsyncSession) -> int:
    return len((await db.scalars(select(Lead.id))).all())
