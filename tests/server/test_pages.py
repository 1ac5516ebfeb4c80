"""The app shell over HTTP: full pages and htmx partials, languages, security headers, errors."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from litestar.testing import AsyncTestClient

from server.app import create_app
from server.users.models import Role
from tests.conftest import csrf_token, sign_in
from tests.factories import make_account, make_team, make_user

PAGES = ["/", "/accounts", "/accounts/new", "/leads", "/orders", "/more"]


@pytest.mark.parametrize("path", PAGES)
async def test_each_page_is_a_full_page_or_an_htmx_partial(client, db, path) -> None:
    await sign_in(client, (await make_user(db)).id)

    full = await client.get(path)
    assert full.status_code == 200
    assert full.text.lstrip().startswith("<!doctype html>")
    assert "HX-Request" in full.headers["vary"]
    assert 'id="bottom-nav"' in full.text

    partial = await client.get(
        path, headers={"HX-Request": "true", "HX-Target": "main", "HX-Boosted": "true"}
    )
    assert partial.status_code == 200
    assert "HX-Request" in partial.headers["vary"]
    assert "<html" not in partial.text and "<head" not in partial.text
    assert "<title>" in partial.text and "<h1" in partial.text
    assert 'hx-swap-oob="true"' in partial.text  # the nav's current-page marker follows the swap

    restore = await client.get(path, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert restore.text.lstrip().startswith("<!doctype html>")


async def test_bottom_nav_marks_the_current_section(client, db) -> None:
    rep = await make_user(db)
    account = await make_account(db, rep)
    await sign_in(client, rep.id)
    page = await client.get(f"/accounts/{account.id}")
    assert '<a href="/accounts" aria-current="page">' in page.text
    assert '<a href="/" aria-current="page">' not in page.text


async def test_signed_out_visitors_are_sent_to_sign_in(client) -> None:
    page = await client.get("/accounts", headers={"Accept": "text/html"})
    assert page.status_code == 303
    assert page.headers["location"] == "/auth/demo?next=%2Faccounts"

    htmx = await client.get("/accounts", headers={"HX-Request": "true"})
    assert htmx.status_code == 401 and htmx.headers["hx-redirect"].startswith("/auth/demo")

    api = await client.get("/accounts", headers={"Accept": "application/json"})
    assert api.status_code == 401


async def test_sign_in_returns_to_the_page_asked_for_but_never_off_site(client, db) -> None:
    rep = await make_user(db)
    page = await client.get("/auth/demo?next=/accounts")
    token = csrf_token(page.text)
    response = await client.post(
        "/auth/demo", data={"_csrf_token": token, "user_id": str(rep.id), "next": "/accounts"}
    )
    assert response.headers["location"] == "/accounts"
    response = await client.post(
        "/auth/demo", data={"_csrf_token": token, "user_id": str(rep.id), "next": "//evil.example"}
    )
    assert response.headers["location"] == "/"


async def test_the_demo_page_lists_people_by_role(client, db) -> None:
    team = await make_team(db, "North")
    await make_user(db, Role.ADMIN, name="Ada Admin")
    await make_user(db, Role.MANAGER, team, name="Mo Manager")
    await make_user(db, Role.REP, team, name="Rae Rep")
    page = (await client.get("/auth/demo")).text
    assert page.index("Ada Admin") < page.index("Mo Manager") < page.index("Rae Rep")


async def test_unknown_user_on_demo_sign_in_is_a_clear_error(client, db) -> None:
    page = await client.get("/auth/demo")
    response = await client.post(
        "/auth/demo", data={"_csrf_token": csrf_token(page.text), "user_id": "nobody"}
    )
    assert response.status_code == 422
    assert "cannot sign in" in response.text
    assert "fieldbook_session" not in response.headers.get("set-cookie", "")


async def test_security_headers_are_on_every_response(client) -> None:
    for path in ["/auth/demo", "/healthz", "/manifest.webmanifest"]:
        response = await client.get(path)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"


async def test_no_session_row_or_cookie_for_anonymous_visits(client) -> None:
    response = await client.get("/auth/demo")
    assert "fieldbook_session" not in response.headers.get("set-cookie", "")


async def test_unknown_pages_are_a_friendly_404(client, db) -> None:
    await sign_in(client, (await make_user(db)).id)
    response = await client.get("/no/such/page", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert "We could not find that page." in response.text
    assert "Go to Today" in response.text


async def test_language_follows_the_browser_until_the_user_chooses(client, db) -> None:
    rep = await make_user(db)
    token = await sign_in(client, rep.id)
    chinese = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}

    page = await client.get("/accounts", headers=chinese)
    assert '<html lang="zh-Hans">' in page.text and "<h1>客户</h1>" in page.text

    await client.post("/settings/language", data={"_csrf_token": token, "locale": "en"})
    page = await client.get("/accounts", headers=chinese)
    assert '<html lang="en">' in page.text and "<h1>Accounts</h1>" in page.text

    response = await client.post("/settings/language", data={"_csrf_token": token, "locale": "fr"})
    assert response.status_code == 422
    await db.refresh(rep)
    assert rep.locale == "en"


async def test_validation_messages_are_translated(client, db) -> None:
    rep = await make_user(db, locale="zh_Hans")
    token = await sign_in(client, rep.id)
    response = await client.post("/accounts", data={"_csrf_token": token, "name": ""})
    assert response.status_code == 422
    assert "此字段为必填项。" in response.text


async def test_the_language_can_be_chosen_before_sign_in(client) -> None:
    page = await client.get("/auth/login")
    response = await client.post(
        "/auth/language",
        data={"_csrf_token": csrf_token(page.text), "locale": "zh_Hans", "next": "/auth/login"},
    )
    assert response.status_code == 303
    assert "登录" in (await client.get("/auth/login")).text


async def test_manifest_and_service_worker_are_served_for_installation(client) -> None:
    manifest = await client.get("/manifest.webmanifest")
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    data = json.loads(manifest.text)
    assert data["display"] == "standalone" and data["start_url"] == "/"
    assert {"192x192", "512x512"} <= {icon["sizes"] for icon in data["icons"]}
    assert any(icon["purpose"] == "maskable" for icon in data["icons"])

    worker = await client.get("/sw.js")
    assert worker.headers["content-type"].startswith("text/javascript")
    assert worker.headers["cache-control"] == "no-cache"
    build_line = next(line for line in worker.text.splitlines() if line.startswith("const BUILD = "))
    build = json.loads(build_line.removeprefix("const BUILD = ").removesuffix(";"))  # valid JavaScript, too
    assert build["version"] and "/offline.html" in build["precache"]
    assert any(url.startswith("/static/css/app.css?v=") for url in build["precache"])

    offline = await client.get("/offline.html")
    assert "You are offline" in offline.text and "/static/css/app.css?v=" in offline.text
    assert "/icons/icon-192.png?v=" in offline.text


async def test_static_files_are_versioned_and_cached_for_long(client) -> None:
    page = (await client.get("/auth/login")).text
    css_url = page.split('rel="stylesheet" href="', 1)[1].split('"', 1)[0]
    assert "?v=" in css_url
    response = await client.get(css_url)
    assert response.status_code == 200
    assert "max-age=31536000" in response.headers["cache-control"]


async def test_production_sends_hsts_and_secure_cookies(settings, db) -> None:
    user = await make_user(db)
    production = create_app(replace(settings, environment="production"))
    async with AsyncTestClient(app=production, base_url="https://fieldbook.example") as client:
        client.follow_redirects = False
        page = await client.get("/auth/demo")
        assert page.headers["strict-transport-security"].startswith("max-age=")
        response = await client.post(
            "/auth/demo", data={"_csrf_token": csrf_token(page.text), "user_id": str(user.id)}
        )
        session_cookie = next(
            c for c in response.headers.get_list("set-cookie") if c.startswith("fieldbook_session=")
        )
        assert "Secure" in session_cookie and "HttpOnly" in session_cookie
