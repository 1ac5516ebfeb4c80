"""Browser tests: Fieldbook served by uvicorn on 127.0.0.1, driven through Debian's Chromium.

Each test gets its own server (on a free port, so nothing a browser stored for one test can leak
into the next) on the test's database, seeded with a small data set, and a fresh phone-sized
browser context. The browser itself is started once per session.

Like every database test, each browser test runs on SQLite and on PostgreSQL (the `settings`
fixture is parametrized through `database_url`).
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import pytest
import uvicorn
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    Playwright,
    expect,
    sync_playwright,
)
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession

from server.app import create_app
from server.db import create_engine
from server.settings import Settings
from server.users.models import Role
from tests.conftest import empty_all_tables
from tests.factories import make_account, make_contact, make_team, make_user

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {
    "viewport": {"width": 360, "height": 740},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}
BROWSER_DIR = Path(__file__).resolve().parent
T = TypeVar("T")

# Playwright's expect() waits this long by default; the app answers locally within milliseconds.
expect.set_options(timeout=10_000)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test in this folder drives a browser: mark it so `-m "not browser"` leaves them out."""
    for item in items:
        if BROWSER_DIR in item.path.parents:
            item.add_marker(pytest.mark.browser)


# --- the seeded data set ----------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    id: uuid.UUID
    name: str


@dataclass(frozen=True)
class AccountRef:
    id: uuid.UUID
    name: str
    city: str
    phone: str


@dataclass(frozen=True)
class Seed:
    team: str
    manager: Person
    rep: Person
    other_rep: Person
    # The rep's accounts by name; a few have distinctive names, cities and phones to search for.
    accounts: dict[str, AccountRef] = field(default_factory=dict)
    contacts: dict[str, list[str]] = field(default_factory=dict)

    @property
    def rep_account_count(self) -> int:
        return len(self.accounts)

    def account(self, name: str) -> AccountRef:
        return self.accounts[name]


# The rep's accounts: (name, city, phone). The first few are the ones tests search for and open;
# they sort before the others, so all of them are on the first page of the list (25 rows).
REP_ACCOUNTS = [
    ("Bramble & Rye Bakery", "Oldham", "0161 496 0732"),
    ("Castlefield Wholesale Distribution Partnership (North West) Ltd", "Manchester", "0161 496 0100"),
    ("Harbour Lights Café", "Wigan", "+44 1942 555 019"),
    ("Pennine Tiles", "Stockport", ""),
    ("Quillfeather Stationers", "Stockport", "0161 496 0811"),
] + [(f"Tern Valley Supplies {n:02d}", "Bury", f"0161 000 {n:04d}") for n in range(1, 26)]
# Another rep's account with a name like one of ours: our rep must never see it.
OTHER_REP_ACCOUNTS = [("Bramble Hardware", "Oldham", "0161 496 9999")]
BAKERY = "Bramble & Rye Bakery"


async def with_session(database_url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one transaction on its own engine (nothing is left bound to this event loop).

    The factories commit after every record; here those commits only end the session's part and
    everything is committed once at the end, which makes seeding several times faster.
    """
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            transaction = await connection.begin()
            session = AsyncSession(
                bind=connection, expire_on_commit=False, join_transaction_mode="rollback_only"
            )
            async with session:
                result = await work(session)
            await transaction.commit()
            return result
    finally:
        await engine.dispose()


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code, on a thread of its own.

    While Playwright's sync API is started, its event loop counts as running in this thread, so
    `asyncio.run` here would refuse to start.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fieldbook-db") as pool:
        return pool.submit(asyncio.run, coroutine).result()


def run_db(database_url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """For synchronous tests: arrange or check data in the test database."""
    return run_async(with_session(database_url, work))


async def _seed(db: AsyncSession) -> Seed:
    team = await make_team(db, "North West")
    manager = await make_user(db, Role.MANAGER, team, name="Morgan Manager")
    rep = await make_user(db, Role.REP, team, name="Riley Rep")
    other_rep = await make_user(db, Role.REP, None, name="Sasha Elsewhere")
    accounts: dict[str, AccountRef] = {}
    made = {}
    for name, city, phone in REP_ACCOUNTS:
        made[name] = await make_account(db, rep, name=name, city=city, phone=phone)
        accounts[name] = AccountRef(made[name].id, name, city, phone)
    for name, city, phone in OTHER_REP_ACCOUNTS:
        await make_account(db, other_rep, name=name, city=city, phone=phone)
    contacts: dict[str, list[str]] = {BAKERY: []}
    for contact_name, title in (("Dana Baker", "Owner"), ("Eli Flour", "Head baker")):
        contact = await make_contact(db, rep, made[BAKERY], name=contact_name, title=title)
        contacts[BAKERY].append(contact.name)
    return Seed(
        team=team.name,
        manager=Person(manager.id, manager.name),
        rep=Person(rep.id, rep.name),
        other_rep=Person(other_rep.id, other_rep.name),
        accounts=accounts,
        contacts=contacts,
    )


@pytest.fixture
def database_url(backend: str, migrated_databases: dict[str, str]) -> Iterator[str]:
    """As in tests/conftest.py, but emptied on a thread of its own (see `run_async`)."""
    url = migrated_databases[backend]
    yield url
    run_async(empty_all_tables(url))


@pytest.fixture
def seed(database_url: str) -> Seed:
    return run_db(database_url, _seed)


# --- the live server ----------------------------------------------------------------------------


class _ThreadedServer(uvicorn.Server):
    """uvicorn in a background thread (it installs no signal handlers outside the main thread)."""

    def serve_in_thread(self, sock: socket.socket) -> threading.Thread:
        thread = threading.Thread(
            target=self.run, kwargs={"sockets": [sock]}, name="fieldbook-live", daemon=True
        )
        thread.start()
        return thread


def _wait_until_healthy(base_url: str, thread: threading.Thread, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError("the live server stopped while starting; see the log above")
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            last_error = error
        time.sleep(0.02)
    raise RuntimeError(f"the live server did not become healthy at {base_url}: {last_error}")


@pytest.fixture
def live_server(settings: Settings, seed: Seed) -> Iterator[str]:
    """The base URL of Fieldbook serving the seeded test database on 127.0.0.1."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    server = _ThreadedServer(config)
    thread = server.serve_in_thread(sock)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(base_url, thread)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        assert not thread.is_alive(), "the live server did not shut down"


# --- the browser --------------------------------------------------------------------------------


# Playwright's sync API keeps its event loop marked as running in the main thread for as long as
# it is started, and then no other code can run an event loop there: not `asyncio.run` in the
# shared fixtures, not pytest-asyncio's tests. So the browser lives for this package only (started
# once for all browser tests, which run one after another), not for the whole session, and the
# databases are made before it starts (they are dropped at the end of the session, after it stopped).


@pytest.fixture(scope="package")
def playwright(migrated_databases: dict[str, str]) -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}; the browser tests need it. "
            "Run scripts/test, which installs it (apt-get install chromium), then run the tests again.",
            pytrace=False,
        )
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()


@dataclass
class BrowserProblems:
    """What the page complained about: console errors, uncaught exceptions, CSP violations."""

    console_errors: list[str] = field(default_factory=list)
    console_warnings: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)

    def all(self) -> list[str]:
        return [*self.console_errors, *self.console_warnings, *self.page_errors, *self.csp_violations]


# Reports Content-Security-Policy violations to the test (an init script is injected by the
# browser itself, so the page's CSP does not apply to it).
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  const where = `${event.sourceFile || event.documentURI}:${event.lineNumber}`;
  const what = event.blockedURI || "inline";
  window.__reportCspViolation(`${event.violatedDirective} blocked ${what} in ${where}`);
});
"""


def _watch(page: Page, problems: BrowserProblems) -> None:
    def on_console(message: ConsoleMessage) -> None:
        where = message.location.get("url", "")
        if message.type == "error":
            problems.console_errors.append(f"{message.text} ({where})")
        elif message.type == "warning":
            problems.console_warnings.append(f"{message.text} ({where})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.page_errors.append(str(error)))


@dataclass
class Phone:
    """A phone-sized browser context on the live server, and its first page."""

    context: BrowserContext
    page: Page
    base_url: str
    problems: BrowserProblems

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"


@pytest.fixture
def open_phone(browser: Browser, live_server: str) -> Iterator[Callable[..., Phone]]:
    """Open a fresh phone context (optionally with a locale); all are closed after the test."""
    contexts: list[BrowserContext] = []

    def open_(**options: Any) -> Phone:
        context = browser.new_context(**{**PHONE, "base_url": live_server, "locale": "en-GB", **options})
        contexts.append(context)
        problems = BrowserProblems()
        context.expose_function("__reportCspViolation", lambda report: problems.csp_violations.append(report))
        context.add_init_script(CSP_LISTENER)
        # Fail fast: everything here is local and answers within milliseconds.
        context.set_default_timeout(10_000)
        page = context.new_page()
        _watch(page, problems)
        return Phone(context=context, page=page, base_url=live_server, problems=problems)

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture
def phone(open_phone: Callable[..., Phone]) -> Phone:
    """A phone (360x740, touch, 2x) in English, on the live server; nobody signed in yet."""
    return open_phone()


@pytest.fixture
def page(phone: Phone) -> Page:
    """The phone's page, for tests that need nothing else of it."""
    return phone.page


ACTIVE_WORKER = """navigator.serviceWorker.getRegistration()
  .then((r) => Boolean(r && r.active && r.active.state === "activated"))"""
REGISTRATION = """navigator.serviceWorker.getRegistration().then((r) => r && {scope: r.scope,
  installing: !!r.installing, waiting: !!r.waiting, active: r.active && r.active.state})"""


def sign_in(page: Page, person: Person, next_path: str = "/") -> None:
    """Sign in through the demo sign-in page, as a person would: tap their name."""
    page.goto(f"/auth/demo?{urlencode({'next': next_path})}")
    page.locator(f'button[name="user_id"][value="{person.id}"]').click()
    page.wait_for_url(next_path)  # exactly this path on the live server (the context's base URL)
    expect(page.locator("#bottom-nav")).to_be_visible()


def wait_for_service_worker(phone: Phone, timeout: float = 10.0) -> None:
    """Wait until the service worker is active and controls the phone's page.

    A page whose load began before the worker was active (the first page after sign-in, when the
    worker was still installing) stays uncontrolled even after `clients.claim()`, as the Service
    Worker spec says; like a person opening the app again, it is then reloaded once.
    """
    page = phone.page
    deadline = time.monotonic() + timeout

    def failed(reason: str) -> AssertionError:
        registration = page.evaluate(REGISTRATION)
        return AssertionError(
            f"no service worker controls {page.url}: {reason}; registration: {registration}; "
            f"console: {phone.problems.all()}"
        )

    while not page.evaluate(ACTIVE_WORKER):
        if any(
            "service worker registration failed" in warning for warning in phone.problems.console_warnings
        ):
            raise failed("the page could not register it")
        if time.monotonic() > deadline:
            raise failed(f"none was active after {timeout}s")
        page.wait_for_timeout(25)
    if not page.evaluate("navigator.serviceWorker.controller !== null"):
        page.reload()
    try:
        page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=timeout * 1000)
    except PlaywrightTimeoutError:
        raise failed(f"the active worker did not take over the page in {timeout}s") from None


def poll(page: Page, expression: str, *, timeout: float = 10.0, message: str = "") -> Any:
    """Evaluate `expression` (which may return a promise) until it is truthy; return its value.

    For conditions `wait_for_function` cannot wait on, because it does not await promises
    (the Cache API is promise-only).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message or f"still false after {timeout}s: {expression}")
        page.wait_for_timeout(25)


def wait_until_cached(page: Page, path: str) -> None:
    """Wait until the service worker has kept the page at `path` for offline use."""
    poll(
        page,
        f"caches.open('fieldbook-pages').then((cache) => cache.match({path!r})).then(Boolean)",
        message=f"the service worker did not keep {path} for offline use",
    )


def status(page: Page) -> Locator:
    """The top bar's sync status ("Online · Synced 9:27 PM", "Offline · 2 waiting to sync" ...)."""
    return page.locator("#connection-status")


def expect_synced(page: Page) -> None:
    expect(status(page)).to_have_text(re.compile(r"^Online · Synced \d"))
    expect(status(page)).not_to_contain_text("waiting")


SYNCED_SINCE_PAGE_OPENED = """(userId) => FieldbookStore.open(userId).then(async (db) => {
  const meta = await FieldbookStore.getMeta(db); db.close();
  return Boolean(meta.last_sync_at) && Date.parse(meta.last_sync_at) > performance.timeOrigin; })"""


def wait_for_page_sync(page: Page, person: Person) -> None:
    """Wait until the sync the page started as it opened has finished.

    Cut the network while it runs and its next request finds no network: the sync takes that as
    "offline", but Chromium logs the failed load as a console error all the same.
    """
    poll(
        page,
        f"({SYNCED_SINCE_PAGE_OPENED})({str(person.id)!r})",
        message=f"the sync {page.url} started as it opened did not finish",
    )


def ready_for_the_road(phone: Phone, person: Person, next_path: str = "/") -> None:
    """Signed in, the service worker in control, the first sync done and the briefcase (/sync,
    what the phone draws its pages with offline) kept."""
    sign_in(phone.page, person, next_path)
    expect_synced(phone.page)
    wait_for_service_worker(phone)
    wait_until_cached(phone.page, "/sync")


def go_offline(phone: Phone) -> None:
    """Cut the phone's network, and make sure it really is cut.

    Playwright cuts the service worker's network too; the offline-page test shows that (the
    worker could not show /offline.html otherwise).
    """
    phone.context.set_offline(True)
    # The page's requests pass through the service worker, which was seen (rarely, under load)
    # to reach the server once more just after the cut: wait until nothing gets through.
    poll(
        phone.page,
        "fetch('/healthz', {cache: 'no-store'}).then(() => false, () => true)",
        timeout=5.0,
        message="the browser still reached the server after going offline",
    )
