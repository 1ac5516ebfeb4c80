"""Accounts on a phone: searching as you type, creating one (with a mistake first), adding a contact,
and the app in Simplified Chinese."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account
from tests.browser.conftest import BAKERY, Phone, Seed, run_db, sign_in

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def result_titles(page: Page) -> list[str]:
    return page.locator("#account-list .row-title").all_inner_texts()


def search(page: Page, text: str) -> None:
    """Clear the search box and type into it key by key, as a person would."""
    box = page.locator("#account-search")
    box.clear()
    box.press_sequentially(text)


def count_accounts(database_url: str, name: str | None = None) -> int:
    async def count(db: AsyncSession) -> int:
        query = select(func.count()).select_from(Account).where(Account.deleted_at.is_(None))
        if name is not None:
            query = query.where(Account.name == name)
        return (await db.scalar(query)) or 0

    return run_db(database_url, count)


def test_search_narrows_the_list_as_you_type(phone: Phone, seed: Seed) -> None:
    page = phone.page
    sign_in(page, seed.rep, "/accounts")
    total = seed.rep_account_count
    expect(page.locator(".result-count")).to_have_text(f"{total} accounts")
    expect(page.locator("#account-list .row")).to_have_count(25)  # one page; the rest on demand

    # The rest of the list comes in when the "Show more" row is reached.
    page.get_by_role("link", name="Show more").scroll_into_view_if_needed()
    expect(page.locator("#account-list .row")).to_have_count(total)
    expect(page.get_by_role("link", name="Show more")).to_have_count(0)

    # By name: only this rep's bakery, not another rep's account with a similar name.
    search(page, "brambl")
    expect(page.locator(".result-count")).to_have_text("1 account matches “brambl”")
    assert result_titles(page) == [BAKERY]
    expect(page).to_have_url(re.compile(r"/accounts\?q=brambl$"))

    # By city.
    search(page, "stockp")
    expect(page.locator(".result-count")).to_have_text("2 accounts match “stockp”")
    assert result_titles(page) == ["Pennine Tiles", "Quillfeather Stationers"]
    expect(page).to_have_url(re.compile(r"/accounts\?q=stockp$"))

    # By phone digits, typed with or without the spaces shown.
    search(page, "4960811")
    expect(page.locator(".result-count")).to_have_text("1 account matches “4960811”")
    assert result_titles(page) == ["Quillfeather Stationers"]
    search(page, "1942 555")
    expect(page.locator(".result-count")).to_have_text("1 account matches “1942 555”")
    assert result_titles(page) == ["Harbour Lights Café"]

    # Nothing matches: said so, with a way forward.
    search(page, "no such shop")
    expect(page.locator(".result-count")).to_have_text("0 accounts match “no such shop”")
    expect(page.get_by_text("No accounts match “no such shop”.")).to_be_visible()

    # The pushed URL reloads to the same search.
    search(page, "brambl")
    expect(page.locator(".result-count")).to_have_text("1 account matches “brambl”")
    page.reload()
    expect(page.locator("#account-search")).to_have_value("brambl")
    assert result_titles(page) == [BAKERY]


def test_create_an_account_after_fixing_mistakes(phone: Phone, seed: Seed, database_url: str) -> None:
    page = phone.page
    sign_in(page, seed.rep, "/accounts")
    page.get_by_role("link", name="New account").first.click()
    expect(page.locator("h1")).to_have_text("New account")
    expect(page).to_have_url("/accounts/new")

    page.get_by_label("Latitude").fill("95")
    page.get_by_role("button", name="Save account").click()

    expect(page.get_by_role("alert")).to_have_text("Please correct the highlighted fields.")
    expect(page.locator("#error-name")).to_have_text("This field is required.")
    expect(page.locator("#error-latitude")).to_have_text(re.compile(r"-90 to 90"))
    for field in ("name", "latitude"):
        control = page.locator(f"#field-{field}")
        expect(control).to_have_attribute("aria-invalid", "true")
        expect(control).to_have_attribute("aria-describedby", re.compile(rf"\berror-{field}\b"))
    expect(page.locator("#field-city")).not_to_have_attribute("aria-invalid", "true")
    # What was typed is still there to correct.
    expect(page.get_by_label("Latitude")).to_have_value("95")
    assert count_accounts(database_url) == seed.rep_account_count + 1  # + the other rep's one

    page.get_by_label("Name").fill("Mossley Mill Deli")
    page.get_by_label("City").fill("Mossley")
    page.get_by_label("Latitude").fill("53.5148")
    page.get_by_label("Longitude").fill("-2.0411")
    page.get_by_label("Phone").fill("01457 832 100")
    page.get_by_role("button", name="Save account").click()

    expect(page).to_have_url(re.compile(rf"/accounts/{UUID}$"))
    expect(page.locator("h1")).to_have_text("Mossley Mill Deli")
    expect(page.get_by_role("status").filter(has_text="saved")).to_have_text(
        "Account Mossley Mill Deli saved."
    )
    expect(page.get_by_text("53.51480, -2.04110")).to_be_visible()
    assert count_accounts(database_url, name="Mossley Mill Deli") == 1

    page.locator("#bottom-nav").get_by_role("link", name="Accounts").click()
    expect(page.locator(".result-count")).to_have_text(f"{seed.rep_account_count + 1} accounts")
    search(page, "mossley")
    expect(page.locator(".result-count")).to_have_text("1 account matches “mossley”")
    assert result_titles(page) == ["Mossley Mill Deli"]


def test_add_a_contact_on_the_account_page(phone: Phone, seed: Seed) -> None:
    page = phone.page
    account = seed.account("Pennine Tiles")
    sign_in(page, seed.rep, f"/accounts/{account.id}")
    expect(page.get_by_text("No contacts at this account yet.")).to_be_visible()

    page.get_by_role("link", name="Add contact").click()
    expect(page.locator("h1")).to_have_text("New contact")
    page.get_by_label("Name").fill("Priya Shah")
    page.get_by_label("Job title").fill("Buyer")
    page.get_by_label("Phone").fill("07700 900123")
    page.get_by_role("button", name="Save contact").click()

    expect(page).to_have_url(f"/accounts/{account.id}")
    expect(page.locator("h1")).to_have_text("Pennine Tiles")
    expect(page.get_by_role("status").filter(has_text="saved")).to_have_text("Contact Priya Shah saved.")
    contact = page.get_by_role("link", name="Edit Priya Shah")
    expect(contact).to_contain_text("Priya Shah")
    expect(contact).to_contain_text("Buyer · 07700 900123")
    expect(page.get_by_text("No contacts at this account yet.")).to_have_count(0)

    # Kept, not only shown: it is still there when the page is opened again.
    page.reload()
    expect(page.get_by_role("link", name="Edit Priya Shah")).to_be_visible()


def test_the_app_speaks_simplified_chinese_to_a_chinese_phone(
    open_phone: Callable[..., Phone], seed: Seed
) -> None:
    phone = open_phone(locale="zh-CN")
    page = phone.page
    page.goto("/auth/demo")
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    sign_in(page, seed.rep, "/accounts")

    expect(page.locator("h1")).to_have_text("客户")
    expect(page).to_have_title("客户 · Fieldbook")
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.locator("#bottom-nav").get_by_role("link", name="客户")).to_have_attribute(
        "aria-current", "page"
    )
    expect(page.get_by_role("link", name="Accounts")).to_have_count(0)
