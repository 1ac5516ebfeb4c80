"""A rep's day without signal, in Chromium: the briefcase (IndexedDB snapshot and outbox), the
pages the phone draws from it offline, and the sync that hands every change to the server once.

The network is really cut (`context.set_offline`, which cuts the service worker too). Back
online, the rep taps "Sync now" on /sync. The service worker syncs too ("Sync now" registers a
Background Sync, which Chromium fires at once when online) and the Web Lock keeps the two apart,
so network faults are made with `context.route`, which sees the worker's requests as well as the
page's. They only ever break the network (a lost answer, a dropped page): nothing here answers
for the server. Data is arranged through the server's own commands, as in test_rep_day.py.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page, Response, Route, expect
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts import service as accounts
from server.accounts.models import Account
from server.audit.models import AuditEvent
from server.db import new_id, next_version, utcnow
from server.leads.models import Lead, LeadStatus
from server.orders import service as orders
from server.orders.models import OrderStatus
from server.organisation import service as organisation
from server.users import service as users
from server.users.models import Role, User
from server.visits import service as visits
from server.visits.models import Outcome, Visit, VisitStatus
from sync import pull as pulling
from sync.models import Conflict, Device, MutationRecord
from tests.browser.conftest import (
    BAKERY,
    Phone,
    Seed,
    expect_synced,
    go_offline,
    ready_for_the_road,
    run_db,
    sign_in,
    status,
    wait_for_service_worker,
    wait_until_cached,
)
from tests.factories import make_user

VISITED = "Pennine Tiles"
SHOP = (53.4106, -2.1575)  # where Pennine Tiles is (Stockport)
NEAR = (SHOP[0] + 0.0005, SHOP[1])  # about 56 m north of it
ORDER = "SO-31337"
LEAD = "Sam Patel"
ZONE = "Europe/London"  # the rep's time zone: "today" on the phone is the server's today for them


# --- arranging and checking data ----------------------------------------------------------------


def arrange_day(database_url: str, seed: Seed) -> uuid.UUID:
    """A soft geofence, a location for Pennine Tiles, a visit there today and a recent bakery order."""

    async def work(db: AsyncSession) -> uuid.UUID:
        admin = await make_user(db, Role.ADMIN, name="Ada Admin")
        await organisation.update(
            db, admin,
            {"geofence_radius_m": "200", "geofence_mode": "soft", "low_accuracy_m": "100",
             "tier_a_min": "50000", "tier_b_min": "10000"},
        )  # fmt: skip
        rep = await db.get(User, seed.rep.id)
        assert rep is not None
        account_id = seed.account(VISITED).id
        await accounts.update(db, rep, account_id, {"latitude": str(SHOP[0]), "longitude": str(SHOP[1])})
        visit = await visits.plan(
            db, rep, {"account_id": str(account_id), "planned_on": visits.today_for(rep).isoformat()}
        )
        await db.execute(update(Account).where(Account.name == BAKERY).values(customer_number="C-BAKERY"))
        await orders.upsert(
            db, ORDER,
            orders.OrderIn(
                customer_number="C-BAKERY", status=OrderStatus.CONFIRMED, currency="GBP",
                ordered_at=utcnow() - dt.timedelta(days=3),
                lines=[orders.OrderLineIn(sku="FLOUR-16", description="Strong flour, 16 kg",
                                          quantity=Decimal(4), unit_price=Decimal("18.60"))],
            ),
        )  # fmt: skip
        await db.commit()
        return visit.id

    return run_db(database_url, work)


def load(database_url: str, model: Any, record_id: Any) -> Any:
    async def work(db: AsyncSession) -> Any:
        record = await db.get(model, record_id)
        assert record is not None
        return record

    return run_db(database_url, work)


def ledger(database_url: str, person_id: uuid.UUID) -> list[tuple[int, str, str]]:
    """What the server's sync ledger holds for the person's devices: (mutation id, name, status)."""

    async def work(db: AsyncSession) -> list[tuple[int, str, str]]:
        rows = await db.execute(
            select(MutationRecord.mutation_id, MutationRecord.name, MutationRecord.status)
            .join(Device, Device.id == MutationRecord.device_id)
            .where(Device.user_id == person_id)
            .order_by(MutationRecord.mutation_id)
        )
        return [tuple(row) for row in rows]

    return run_db(database_url, work)


def deactivate_the_rep(database_url: str, seed: Seed) -> None:
    """An admin deactivates the rep (users.deactivate), as the admin pages or SCIM would."""

    async def work(db: AsyncSession) -> None:
        admin = await make_user(db, Role.ADMIN, name="Ada Admin")
        await users.set_active(db, admin, seed.rep.id, False)
        await db.commit()

    run_db(database_url, work)


def leads_named(database_url: str, name: str) -> list[Lead]:
    async def work(db: AsyncSession) -> list[Lead]:
        return list(await db.scalars(select(Lead).where(Lead.name == name)))

    return run_db(database_url, work)


def wait_until(page: Page, condition: Callable[[], bool], message: str, timeout_ms: int = 10_000) -> None:
    """Wait for something the test itself notes (a request seen, a route taken), letting the page run."""
    waited = 0
    while not condition():
        if waited > timeout_ms:
            raise AssertionError(message)
        page.wait_for_timeout(25)
        waited += 25


# --- the phone ------------------------------------------------------------------------------------


def rep_phone(open_phone: Callable[..., Phone]) -> Phone:
    """A phone at the shop (location allowed), on the rep's clock."""
    return open_phone(
        geolocation={"latitude": NEAR[0], "longitude": NEAR[1], "accuracy": 8},
        permissions=["geolocation"],
        timezone_id=ZONE,
    )


# Start drawing the page again, with its read of the conflicts held back 1.5 s after it is made.
SLOW_DRAW_OF_CONFLICTS = """async () => {
  const database = await Briefcase.db();
  const getAll = database.getAll.bind(database);
  let slow = true;
  database.getAll = async (store, ...rest) => {
    const found = await getAll(store, ...rest);
    if (store === "conflicts" && slow) {
      slow = false;
      await new Promise((done) => setTimeout(done, 1500));
    }
    return found;
  };
  window.slowDrawEnded = false;
  Briefcase.draw().then(() => { window.slowDrawEnded = true; });
}"""


def sync_now(page: Page) -> None:
    """On /sync, tap "Sync now" (back online, nothing else would start a sync here and now)."""
    if not page.url.endswith("/sync"):
        page.goto("/sync")
    page.get_by_role("button", name="Sync now").click()


def open_sync_page(page: Page) -> None:
    """Open /sync to see how things stand."""
    if not page.url.endswith("/sync"):
        page.goto("/sync")
    expect(page.locator("#sync-summary")).to_be_visible()


def heading(page: Page) -> Locator:
    return page.locator("#briefcase h1")


def badge(page: Page, text: str) -> Locator:
    return page.locator("#briefcase .badge", has_text=re.compile(f"^{re.escape(text)}$"))


def section_after(page: Page, title: str) -> Locator:
    """The list (or the "nothing here" card) right after an h2 of /sync."""
    return page.locator(f'#briefcase h2:text-is("{title}") + *')


def device_databases(page: Page) -> list[str]:
    return page.evaluate("indexedDB.databases().then((list) => list.map((db) => db.name))")


def held(page: Page, person_id: uuid.UUID, store: str) -> int:
    """How many entries one store of the person's briefcase holds (it must exist already)."""
    return page.evaluate(
        """([userId, store]) => FieldbookStore.open(userId).then(async (db) => {
             const n = await db.count(store); db.close(); return n; })""",
        [str(person_id), store],
    )


# --- the rep's day offline --------------------------------------------------------------------------


def test_a_rep_works_offline_and_every_change_reaches_the_server_once(
    open_phone: Callable[..., Phone], seed: Seed, database_url: str
) -> None:
    visit_id = arrange_day(database_url, seed)
    phone = rep_phone(open_phone)
    page = phone.page
    ready_for_the_road(phone, seed.rep)
    go_offline(phone)

    # Today and the visit, drawn from what the phone holds.
    page.goto("/")
    expect(heading(page)).to_have_text("Today")
    expect(page.get_by_role("note")).to_contain_text("You are offline.")
    expect(status(page)).to_have_text(re.compile(r"^Offline · Synced \d"))
    page.get_by_role("link", name=re.compile(VISITED)).click()
    expect(page).to_have_url(f"/visits/{visit_id}")
    expect(heading(page)).to_have_text(VISITED)
    expect(badge(page, "Planned")).to_be_visible()

    page.get_by_role("button", name="Check in").click()
    expect(badge(page, "Checked in")).to_be_visible()
    expect(badge(page, "Pending")).to_be_visible()
    page.get_by_role("button", name="Check out").click()
    expect(badge(page, "Done")).to_be_visible()
    page.get_by_label("What came of it").select_option(label="Order taken")
    page.get_by_label("Notes").fill("Took an order for the spring range.")
    page.get_by_role("button", name="Save outcome").click()
    expect(status(page)).to_have_text("Offline · 3 waiting to sync")

    # A lead met on the way.
    page.goto("/leads/new")
    expect(heading(page)).to_have_text("Capture a lead")
    page.get_by_label("Name").fill(LEAD)
    page.get_by_label("Phone").fill("07700 900123")
    page.get_by_role("button", name="Save lead").click()
    expect(page).to_have_url("/leads")
    expect(page.locator("#briefcase li", has_text=LEAD)).to_contain_text("Pending")
    expect(status(page)).to_have_text("Offline · 4 waiting to sync")

    # An order looked up by its number.
    page.goto(f"/orders?q={ORDER[3:]}")
    expect(page.get_by_role("status").filter(has_text="found")).to_have_text("1 found")
    page.get_by_role("link", name=re.compile(ORDER)).click()
    expect(heading(page)).to_have_text(ORDER)
    expect(page.locator("#briefcase li", has_text="Strong flour, 16 kg")).to_contain_text("£74.40")
    expect(page.locator("#briefcase")).to_contain_text("Total: £74.40")

    # The app closed and opened again, still without signal: nothing is lost.
    page.close()
    page = phone.context.new_page()
    page.goto(f"/visits/{visit_id}")
    expect(badge(page, "Done")).to_be_visible()
    expect(badge(page, "Pending")).to_be_visible()
    expect(page.get_by_label("What came of it")).to_have_value("order_taken")
    expect(status(page)).to_have_text("Offline · 4 waiting to sync")
    page.goto("/sync")
    waiting = section_after(page, "Waiting to sync").get_by_role("listitem")
    expect(waiting).to_have_text(
        [
            re.compile(f"^Check-in at {VISITED} Pending"),
            re.compile(f"^Check-out at {VISITED} Pending"),
            re.compile(f"^Outcome of the visit to {VISITED} Pending"),
            re.compile(f"^New lead: {LEAD} Pending"),
        ]
    )

    # Back online. The answer to the first push (the page's, or the worker's Background Sync) is
    # lost on the way back; the rep taps "Sync now" again, and the server, which applied
    # everything the first time, applies nothing twice.
    lost: list[int] = []

    def lose_the_first_answer(route: Route) -> None:
        if lost:
            route.continue_()
            return
        lost.append(route.fetch().status)
        route.abort("internetdisconnected")

    phone.context.route("**/sync/push", lose_the_first_answer)  # the page's and the worker's
    phone.context.set_offline(False)
    sync_now(page)
    wait_until(page, lambda: bool(lost), "the first push never reached the server")
    assert lost == [200]
    sync_now(page)
    expect_synced(page)
    open_sync_page(page)
    expect(page.locator("#sync-summary")).to_have_text(
        re.compile(r"^Online · Everything is synced · last sync")
    )
    expect(section_after(page, "Waiting to sync")).to_have_text("Nothing is waiting.")
    expect(section_after(page, "Needs attention")).to_have_text("Nothing was refused.")

    visit = load(database_url, Visit, visit_id)
    assert visit.status is VisitStatus.DONE
    assert visit.outcome is Outcome.ORDER_TAKEN
    assert visit.notes == "Took an order for the spring range."
    assert (visit.check_in_latitude, visit.check_in_longitude) == NEAR
    assert visit.outside_geofence is False
    assert visit.checked_in_device_at is not None
    assert visit.checked_out_device_at is not None

    async def visit_events(db: AsyncSession) -> list[str]:
        query = select(AuditEvent.action).where(AuditEvent.record_id == visit_id).order_by(AuditEvent.id)
        return list(await db.scalars(query))

    assert run_db(database_url, visit_events) == [
        "visits.plan",
        "visits.check_in",
        "visits.check_out",
        "visits.record_outcome",
    ]
    [lead] = leads_named(database_url, LEAD)
    assert lead.status is LeadStatus.OPEN
    assert lead.captured_by_id == seed.rep.id
    assert ledger(database_url, seed.rep.id) == [
        (1, "visits.check_in", "applied"),
        (2, "visits.check_out", "applied"),
        (3, "visits.record_outcome", "applied"),
        (4, "leads.capture", "applied"),
    ]


# --- conflicts and refusals -------------------------------------------------------------------------


def test_an_offline_edit_that_conflicts_shows_and_the_rep_chooses(
    open_phone: Callable[..., Phone], seed: Seed, database_url: str
) -> None:
    bakery = seed.account(BAKERY)
    phone = open_phone(timezone_id=ZONE)
    page = phone.page
    ready_for_the_road(phone, seed.rep)
    go_offline(phone)

    page.goto(f"/accounts/{bakery.id}/edit")
    expect(heading(page)).to_have_text("Edit details")
    expect(page.get_by_label("City")).to_have_value(bakery.city)
    page.get_by_label("City").fill("Rochdale")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page).to_have_url(f"/accounts/{bakery.id}")
    expect(page.locator("#briefcase")).to_contain_text("Rochdale")
    expect(badge(page, "Pending")).to_be_visible()
    expect(status(page)).to_have_text("Offline · 1 waiting to sync")

    # Meanwhile the rep's manager corrects the city on the server, through its own page.
    manager = open_phone(timezone_id=ZONE)
    sign_in(manager.page, seed.manager, f"/accounts/{bakery.id}/edit")
    manager.page.get_by_label("City").fill("Bolton")
    manager.page.get_by_role("button", name="Save account").click()
    expect(manager.page).to_have_url(f"/accounts/{bakery.id}")
    assert load(database_url, Account, bakery.id).city == "Bolton"

    phone.context.set_offline(False)
    sync_now(page)
    expect(status(page)).to_have_text(re.compile(r"^Online · Synced [^·]+ · 1 need attention$"))
    open_sync_page(page)
    conflict = page.locator("#briefcase .conflict")
    expect(conflict).to_have_count(1)
    expect(conflict.locator("p")).to_have_text(f"Details of {BAKERY} · City (your value stands)")
    expect(conflict.get_by_role("listitem")).to_have_text(
        [
            re.compile("^Yours: Rochdale"),
            re.compile("^Server's: Bolton"),
            re.compile(f"^Original: {bakery.city}"),
        ]
    )

    # A draw that read the conflicts just before the rep chose, and ends after (as when a sync
    # finishes while the rep taps), must not put the resolved conflict back.
    page.evaluate(SLOW_DRAW_OF_CONFLICTS)
    page.get_by_role("button", name="Keep “Bolton” for City").click()
    expect(section_after(page, "Conflicts")).to_have_text("No conflicts.")
    page.wait_for_function("() => window.slowDrawEnded === true")
    assert section_after(page, "Conflicts").inner_text() == "No conflicts."
    expect(status(page)).to_have_text(re.compile(r"^Online · Synced [^·]+$"))
    open_sync_page(page)
    expect(section_after(page, "Conflicts")).to_have_text("No conflicts.")
    expect(section_after(page, "Waiting to sync")).to_have_text("Nothing is waiting.")

    assert load(database_url, Account, bakery.id).city == "Bolton"

    async def conflicts(db: AsyncSession) -> list[Conflict]:
        return list(await db.scalars(select(Conflict)))

    [kept] = run_db(database_url, conflicts)
    assert (kept.user_id, kept.record_id, kept.field, kept.kept) == (seed.rep.id, bakery.id, "city", "yours")
    assert kept.values == {"yours": "Rochdale", "server": "Bolton", "original": bakery.city}
    assert kept.resolved_at is not None
    assert ledger(database_url, seed.rep.id) == [
        (1, "accounts.update", "applied"),
        (2, "sync.resolve_conflict", "applied"),
    ]


def test_a_refused_change_needs_attention_and_does_not_block_the_rest(
    open_phone: Callable[..., Phone], seed: Seed, database_url: str
) -> None:
    visit_id = arrange_day(database_url, seed)
    phone = rep_phone(open_phone)
    page = phone.page
    ready_for_the_road(phone, seed.rep)
    go_offline(phone)

    page.goto(f"/visits/{visit_id}")
    page.get_by_role("button", name="Check in").click()
    expect(badge(page, "Checked in")).to_be_visible()
    page.goto("/leads/new")
    page.get_by_label("Name").fill(LEAD)
    page.get_by_label("Email").fill("sam.patel@example.test")
    page.get_by_role("button", name="Save lead").click()
    expect(status(page)).to_have_text("Offline · 2 waiting to sync")

    # Meanwhile the manager calls the visit off: the check-in no longer applies.
    async def skip_the_visit(db: AsyncSession) -> None:
        manager = await db.get(User, seed.manager.id)
        await visits.skip(db, manager, visit_id, {"skip_reason": "The shop is closed for a refit."})
        await db.commit()

    run_db(database_url, skip_the_visit)

    phone.context.set_offline(False)
    sync_now(page)
    expect(status(page)).to_have_text(re.compile(r"^Online · Synced [^·]+ · 1 need attention$"))
    open_sync_page(page)
    refused = section_after(page, "Needs attention").get_by_role("listitem")
    expect(refused).to_have_count(1)
    expect(refused.locator("strong")).to_have_text(f"Check-in at {VISITED}")
    expect(refused.locator(".error")).to_contain_text("This visit was skipped.")
    expect(section_after(page, "Waiting to sync")).to_have_text("Nothing is waiting.")

    # The lead behind it went through.
    [lead] = leads_named(database_url, LEAD)
    assert lead.email == "sam.patel@example.test"
    assert load(database_url, Visit, visit_id).status is VisitStatus.SKIPPED
    assert ledger(database_url, seed.rep.id) == [
        (1, "visits.check_in", "rejected"),
        (2, "leads.capture", "applied"),
    ]

    refused.get_by_role("button", name="Dismiss").click()
    expect(section_after(page, "Needs attention")).to_have_text("Nothing was refused.")
    open_sync_page(page)
    expect(section_after(page, "Needs attention")).to_have_text("Nothing was refused.")
    expect(status(page)).to_have_text(re.compile(r"^Online · Synced [^·]+$"))


# --- the phone forgets ------------------------------------------------------------------------------


def test_a_deactivated_rep_phone_forgets_everything(
    open_phone: Callable[..., Phone], seed: Seed, database_url: str
) -> None:
    phone = open_phone(timezone_id=ZONE)
    page = phone.page
    ready_for_the_road(phone, seed.rep)
    briefcase = f"fieldbook-user-{seed.rep.id}"
    assert briefcase in device_databases(page)
    assert held(page, seed.rep.id, "records") > seed.rep_account_count

    deactivate_the_rep(database_url, seed)
    page.evaluate("window.dispatchEvent(new Event('online'))")  # what starts a sync when signal returns

    expect_forgotten(page, seed, briefcase, timeout=20_000)  # the phone waits up to 5 s before it syncs


def expect_forgotten(page: Page, seed: Seed, briefcase: str, timeout: float = 10_000) -> None:
    """The phone is at the sign-in page (where the rep is no longer listed) and has no briefcase of theirs."""
    expect(page).to_have_url(re.compile(r"/auth/demo\?next=%2F$"), timeout=timeout)
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose a demo user")
    expect(page.get_by_role("button", name=seed.rep.name)).to_have_count(0)
    # The deletion may finish a moment after the page has left: it waits for the page's own open
    # connections to the briefcase to close, which leaving the page does.
    wait_until(page, lambda: briefcase not in device_databases(page), f"{briefcase} is still on the phone")


# --- an interrupted first sync ----------------------------------------------------------------------


def test_a_first_sync_can_be_interrupted_and_resumed(
    open_phone: Callable[..., Phone], seed: Seed, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pulling, "PAGE_SIZE", 500)  # the live server runs in this process
    extra = 600  # more than one pull answer holds

    async def many_accounts(db: AsyncSession) -> None:
        version = await next_version(db)
        db.add_all(
            Account(id=new_id(), name=f"Zephyr Supplies {n:04d}", city="Bolton", owner_id=seed.rep.id,
                    version=version)
            for n in range(extra)
        )  # fmt: skip
        await db.commit()

    run_db(database_url, many_accounts)
    total = seed.rep_account_count + extra

    phone = open_phone(timezone_id=ZONE)
    page = phone.page
    sent: list[tuple[str | None, str]] = []  # each pull: the cursor it asked from, and its fate
    answered: list[str] = []  # the cursor each answered pull gave
    allowed = [False]

    def drop_pulls_after_the_first(route: Route) -> None:
        cursor = route.request.post_data_json["cursor"]
        if not sent or allowed[0]:
            sent.append((cursor, "answered"))
            route.continue_()
        else:
            sent.append((cursor, "dropped"))
            route.abort("internetdisconnected")

    def note_answer(response: Response) -> None:
        if response.url.endswith("/sync/pull") and response.ok:
            answered.append(response.json()["cursor"])

    phone.context.route("**/sync/pull", drop_pulls_after_the_first)
    phone.context.on("response", note_answer)
    sign_in(page, seed.rep)
    wait_until(page, lambda: len(sent) >= 2, "the second page of the first sync was never asked for")

    # Half a sync is not shown: the first page waits, staged, for the rest.
    expect(status(page)).to_have_text("Online")
    assert held(page, seed.rep.id, "records") == 0
    assert held(page, seed.rep.id, "staging") == 1

    # The rep opens the app again with a better signal: the sync carries on where it stopped.
    wait_for_service_worker(phone)
    allowed[0] = True
    page.reload()
    expect_synced(page)
    assert sent[0] == (None, "answered")
    assert {cursor for cursor, fate in sent if fate == "dropped"} == {answered[0]}
    resumed = next(cursor for cursor, fate in sent[1:] if fate == "answered")
    assert resumed == answered[0], "the sync started again instead of resuming"
    assert held(page, seed.rep.id, "staging") == 0
    counted = page.evaluate(
        """(userId) => FieldbookStore.open(userId).then(async (db) => {
             const n = await db.countFromIndex("records", "kind", "accounts"); db.close(); return n; })""",
        str(seed.rep.id),
    )
    assert counted == total

    # All of it is there to work with offline.
    wait_until_cached(page, "/sync")
    go_offline(phone)
    page.goto("/accounts")
    expect(page.get_by_role("status").filter(has_text="found")).to_have_text(f"{total} found")


def test_a_deactivated_rep_phone_forgets_everything_with_the_sync_page_open(
    open_phone: Callable[..., Phone], seed: Seed, database_url: str
) -> None:
    phone = open_phone(timezone_id=ZONE)
    page = phone.page
    ready_for_the_road(phone, seed.rep, "/sync")
    expect(heading(page)).to_have_text("Sync")

    deactivate_the_rep(database_url, seed)
    # Whichever sync comes first finds the rep deactivated: the tap on "Sync now", or the page's
    # own (a full CI run saw it wipe the phone and leave the page before the tap landed).
    with contextlib.suppress(PlaywrightError):
        page.get_by_role("button", name="Sync now").click(timeout=3_000)
    expect_forgotten(page, seed, f"fieldbook-user-{seed.rep.id}", timeout=4_000)


# --- a busy server ----------------------------------------------------------------------------------

BUSY = '{"code": "busy", "detail": "The server is busy; try again shortly."}'


def test_a_phone_told_the_server_is_busy_waits_as_told_and_delivers_once(
    open_phone: Callable[..., Phone], seed: Seed, database_url: str
) -> None:
    phone = open_phone(timezone_id=ZONE)
    page = phone.page
    ready_for_the_road(phone, seed.rep)
    go_offline(phone)

    page.goto("/leads/new")
    expect(heading(page)).to_have_text("Capture a lead")
    page.get_by_label("Name").fill(LEAD)
    page.get_by_label("Phone").fill("07700 900123")
    page.get_by_role("button", name="Save lead").click()
    expect(page).to_have_url("/leads")
    expect(status(page)).to_have_text("Offline · 1 waiting to sync")

    # Back online, the server is busy: the first push (the page's, or the worker's Background
    # Sync) is answered 503 "busy" with Retry-After: 1 before it reaches the server; later ones go
    # through. "Sync now" starts the page's flush and the worker's at once, so a phone that gave up
    # on the 503 would be seen pushing again at once (the other flusher, waiting on the Web Lock),
    # or would say so in the page's console.
    pushes: list[tuple[float, list[int]]] = []  # when each push came, and the mutations it carried

    def busy_the_first_time(route: Route) -> None:
        mutations = [mutation["id"] for mutation in route.request.post_data_json["mutations"]]
        pushes.append((time.monotonic(), mutations))
        if len(pushes) > 1:
            route.continue_()
            return
        route.fulfill(status=503, headers={"Retry-After": "1", "Content-Type": "application/json"}, body=BUSY)

    phone.context.route("**/sync/push", busy_the_first_time)  # the page's and the worker's
    phone.context.set_offline(False)
    sync_now(page)
    wait_until(
        page, lambda: len(pushes) >= 2, "the phone never asked again after the server was busy",
        timeout_ms=15_000,
    )  # fmt: skip
    expect_synced(page)
    open_sync_page(page)
    expect(section_after(page, "Waiting to sync")).to_have_text("Nothing is waiting.")

    # Told, and asked again once, no sooner than it was told: the same change both times.
    (told_at, first), (asked_again_at, second) = pushes
    assert first == second == [1]
    waited = asked_again_at - told_at
    assert waited >= 1.0, f"the phone asked again after {waited:.3f} s, not the 1 s it was told"
    failures = [warning for warning in phone.problems.console_warnings if "sync failed" in warning]
    assert failures == [], "the sync told the server was busy gave up instead of waiting"

    # The server has the change once.
    [lead] = leads_named(database_url, LEAD)
    assert lead.captured_by_id == seed.rep.id
    assert lead.phone == "07700 900123"
    assert ledger(database_url, seed.rep.id) == [(1, "leads.capture", "applied")]
