"""The installable shell on a phone: manifest, service worker, offline pages, layout, htmx navigation."""

from __future__ import annotations

import re
import struct

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import (
    BAKERY,
    Phone,
    Seed,
    go_offline,
    poll,
    ready_for_the_road,
    sign_in,
    wait_for_service_worker,
    wait_until_cached,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG_SIGNATURE), "not a PNG file"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk comes first
    return width, height


def nav_link(page: Page, label: str) -> Locator:
    return page.locator("#bottom-nav").get_by_role("link", name=label, exact=True)


# --- installing -----------------------------------------------------------------------------


def test_chromium_finds_the_app_installable(phone: Phone, seed: Seed) -> None:
    page = phone.page
    sign_in(page, seed.rep)
    cdp = phone.context.new_cdp_session(page)

    manifest = cdp.send("Page.getAppManifest")
    assert manifest.get("errors") == [], f"Chromium could not parse the manifest: {manifest.get('errors')}"
    assert manifest["url"] == phone.url("/manifest.webmanifest")

    errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    # Every Playwright context is incognito, which Chromium always reports; nothing else may show.
    assert [error for error in errors if error["errorId"] != "in-incognito"] == []


def test_manifest_describes_the_app_and_its_icons_load(phone: Phone) -> None:
    response = phone.page.request.get(phone.url("/manifest.webmanifest"))
    assert response.ok
    assert response.headers["content-type"].startswith("application/manifest+json")
    manifest = response.json()

    assert manifest["name"] == "Fieldbook"
    assert manifest["short_name"] == "Fieldbook"
    assert manifest["start_url"] == "/"
    assert manifest["display"] == "standalone"
    assert re.fullmatch(r"#[0-9a-fA-F]{6}", manifest["theme_color"])

    icons = manifest["icons"]
    sizes = {icon["sizes"] for icon in icons}
    assert {"192x192", "512x512"} <= sizes
    assert any("maskable" in icon.get("purpose", "").split() for icon in icons), "no maskable icon"
    for icon in icons:
        image = phone.page.request.get(phone.url(icon["src"]))
        assert image.ok, f"{icon['src']} does not load: {image.status}"
        assert image.headers["content-type"] == "image/png", icon["src"]
        width, height = png_size(image.body())
        assert f"{width}x{height}" == icon["sizes"], f"{icon['src']} is {width}x{height}, not {icon['sizes']}"


def test_the_service_worker_controls_the_app(phone: Phone, seed: Seed) -> None:
    page = phone.page
    sign_in(page, seed.rep)
    wait_for_service_worker(phone)

    scope = page.evaluate(
        "navigator.serviceWorker.getRegistration().then((registration) => registration.scope)"
    )
    assert scope == phone.url("/")
    assert page.evaluate("navigator.serviceWorker.controller.scriptURL") == phone.url("/sw.js")

    # Still in control after a reload, and of other pages in the app.
    page.reload()
    assert page.evaluate("navigator.serviceWorker.controller !== null")
    page.goto("/accounts")
    assert page.evaluate("navigator.serviceWorker.controller !== null")


# --- offline ----------------------------------------------------------------------------------


def test_pages_opened_before_reload_offline(phone: Phone, seed: Seed) -> None:
    page = phone.page
    bakery = seed.account(BAKERY)
    ready_for_the_road(phone, seed.rep)
    page.goto("/accounts")
    expect(page.locator(".result-count")).to_have_text(f"{seed.rep_account_count} accounts")
    page.goto(f"/accounts/{bakery.id}")
    expect(page.locator("h1")).to_have_text(BAKERY)

    go_offline(phone)
    page.reload()
    expect(page.locator("h1")).to_have_text(BAKERY)
    for contact in seed.contacts[BAKERY]:
        expect(page.get_by_text(contact, exact=True)).to_be_visible()
    expect(page.locator("#connection-status")).to_have_text(re.compile(r"^Offline"))

    page.goto("/accounts")
    expect(page.locator("h1")).to_have_text("Accounts")
    expect(page.locator(".result-count")).to_have_text(f"{seed.rep_account_count} found")


def test_pages_reached_by_htmx_navigation_reload_offline(phone: Phone, seed: Seed) -> None:
    page = phone.page
    bakery = seed.account(BAKERY)
    ready_for_the_road(phone, seed.rep)

    # Only htmx requests from here on: the service worker must keep the full pages behind them.
    nav_link(page, "Accounts").click()
    expect(page.locator("h1")).to_have_text("Accounts")
    page.get_by_role("link", name=BAKERY).click()
    expect(page.locator("h1")).to_have_text(BAKERY)
    expect(page).to_have_url(f"/accounts/{bakery.id}")
    wait_until_cached(page, "/accounts")
    wait_until_cached(page, f"/accounts/{bakery.id}")

    go_offline(phone)
    page.reload()
    expect(page.locator("h1")).to_have_text(BAKERY)
    # The whole page, not the fragment htmx swapped in: the layout and navigation are there.
    expect(page).to_have_title(f"{BAKERY} · Fieldbook")
    expect(page.locator("#bottom-nav")).to_be_visible()
    expect(page.locator(".topbar")).to_be_visible()

    # Tapping the bottom navigation offline opens the kept page too.
    nav_link(page, "Accounts").click()
    expect(page).to_have_url("/accounts")
    expect(page.locator("h1")).to_have_text("Accounts")
    expect(page.locator(".result-count")).to_have_text(f"{seed.rep_account_count} found")


def test_offline_the_phone_draws_what_it_holds_and_says_what_it_cannot(phone: Phone, seed: Seed) -> None:
    page = phone.page
    ready_for_the_road(phone, seed.rep)
    go_offline(phone)

    # Typed or bookmarked, never opened before: drawn from the phone's data.
    page.goto("/orders")
    expect(page.locator("h1")).to_have_text("Orders")
    # A page the phone cannot draw says so, with the way back.
    page.goto("/more")
    expect(page.locator("h1")).to_have_text("This is not on this phone")
    expect(page.locator("#briefcase").get_by_role("link", name="Today")).to_be_visible()

    # Tapped in the bottom navigation: an htmx request the service worker turns into a navigation.
    nav_link(page, "Leads").click()
    expect(page).to_have_url("/leads")
    expect(page.locator("h1")).to_have_text("Leads")


def test_before_the_phone_keeps_anything_it_shows_the_offline_page(phone: Phone, seed: Seed) -> None:
    page = phone.page
    sign_in(page, seed.rep)
    wait_for_service_worker(phone)
    go_offline(phone)
    # As on a phone that never loaded a page through its worker. Offline, so that nothing the worker
    # was still fetching (it keeps pages in the background) puts a page back after the delete.
    poll(
        page,
        """caches.delete('fieldbook-pages')
             .then(() => new Promise((done) => setTimeout(done, 250)))
             .then(() => caches.has('fieldbook-pages')).then((kept) => !kept)""",
        message="the kept pages could not be deleted",
    )
    page.goto("/orders")
    expect(page.locator("h1")).to_have_text("You are offline")
    expect(page.get_by_role("link", name=re.compile("Go to Today"))).to_be_visible()


# --- layout and navigation ----------------------------------------------------------------


def test_no_sideways_scrolling_on_a_360px_phone(phone: Phone, seed: Seed) -> None:
    page = phone.page
    sign_in(page, seed.rep)
    long_name = max(seed.accounts, key=len)
    accounts = [f"/accounts/{seed.account(name).id}" for name in (BAKERY, long_name)]
    paths = ["/", "/accounts", *accounts, "/accounts/new"]
    for path in paths:
        page.goto(path)
        expect(page.locator("h1")).to_be_visible()
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[1] == 360, (
            f"{path}: the layout viewport is {widths[1]}px wide (the page was zoomed out)"
        )
        assert widths[0] <= widths[1], f"{path} scrolls sideways: {widths[0]}px of content in {widths[1]}px"

    # The form with its error messages showing, too.
    page.get_by_role("button", name="Save account").click()
    expect(page.locator("#error-name")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_htmx_navigation_swaps_only_the_content(phone: Phone, seed: Seed) -> None:
    page = phone.page
    sign_in(page, seed.rep)
    expect(nav_link(page, "Today")).to_have_attribute("aria-current", "page")
    page.evaluate("window.__marker = 1")

    nav_link(page, "Accounts").click()
    expect(page).to_have_url("/accounts")
    expect(page).to_have_title("Accounts · Fieldbook")
    expect(page.locator("h1")).to_have_text("Accounts")
    expect(nav_link(page, "Accounts")).to_have_attribute("aria-current", "page")
    expect(nav_link(page, "Today")).not_to_have_attribute("aria-current", "page")
    # Focus moves to the new page's heading, so screen readers announce it.
    expect(page.locator("#main h1")).to_be_focused()
    assert page.evaluate("window.__marker") == 1, "the page was reloaded instead of swapped"

    page.go_back()
    expect(page).to_have_url("/")
    expect(page.locator("h1")).to_have_text(f"Good day, {seed.rep.name}")
    expect(nav_link(page, "Today")).to_have_attribute("aria-current", "page")
    assert page.evaluate("window.__marker") == 1


def test_no_console_errors_or_csp_violations(phone: Phone, seed: Seed) -> None:
    page = phone.page
    bakery = seed.account(BAKERY)
    sign_in(page, seed.rep)  # the sign-in page is checked on the way
    wait_for_service_worker(phone)
    account = f"/accounts/{bakery.id}"
    for path in [
        "/",
        "/accounts",
        account,
        "/accounts/new",
        f"{account}/contacts/new",
        "/leads",
        "/orders",
        "/more",
    ]:
        page.goto(path)
        expect(page.locator("h1")).to_be_visible()
    # htmx swaps run the same checks on what they bring in.
    nav_link(page, "Accounts").click()
    expect(page.locator("h1")).to_have_text("Accounts")
    page.locator("#account-search").fill("bramble")
    expect(page.locator(".result-count")).to_contain_text("1 account matches")
    page.get_by_role("link", name=BAKERY).click()
    expect(page.locator("h1")).to_have_text(BAKERY)

    assert phone.problems.all() == []
