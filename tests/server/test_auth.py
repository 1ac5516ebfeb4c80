"""Sessions and guards: who gets in, and that nothing answers a stranger."""

from __future__ import annotations

import asyncio
import re
import threading
import uuid

import anyio
from litestar.routes import HTTPRoute
from sqlalchemy import select, update

from server.audit.models import AuditEvent
from server.users.models import User
from tests.conftest import csrf_token, sign_in
from tests.factories import make_account, make_user


def session_cookie(client) -> str | None:
    return client.cookies.get("fieldbook_session")


async def test_sign_in_issues_a_new_session_id_and_the_old_one_dies(client, db) -> None:
    first, second = await make_user(db), await make_user(db)
    await sign_in(client, first.id)
    old_id = session_cookie(client)
    await sign_in(client, second.id)
    new_id = session_cookie(client)
    assert old_id and new_id and old_id != new_id

    client.cookies.set("fieldbook_session", old_id)
    response = await client.get("/more", headers={"Accept": "text/html"})
    assert response.status_code == 303  # the old session no longer signs anyone in


async def test_sign_out_ends_the_session(client, db) -> None:
    user = await make_user(db)
    token = await sign_in(client, user.id)
    session_id = session_cookie(client)
    response = await client.post("/auth/logout", data={"_csrf_token": token})
    assert response.status_code == 303 and response.headers["location"] == "/auth/login"
    client.cookies.set("fieldbook_session", session_id)
    assert (await client.get("/more", headers={"Accept": "text/html"})).status_code == 303


async def test_a_deactivated_user_is_signed_out_at_once(client, db) -> None:
    user = await make_user(db, name="Soon Gone")
    await sign_in(client, user.id)
    assert (await client.get("/more")).status_code == 200
    await db.execute(update(User).where(User.id == user.id).values(is_active=False))
    await db.commit()
    assert (await client.get("/more", headers={"Accept": "text/html"})).status_code == 303

    page = await client.get("/auth/demo")
    response = await client.post(
        "/auth/demo", data={"_csrf_token": csrf_token(page.text), "user_id": str(user.id)}
    )
    assert response.status_code == 422
    assert "Soon Gone" not in page.text


async def test_the_session_cookie_is_http_only_and_same_site(client, db) -> None:
    user = await make_user(db)
    page = await client.get("/auth/demo")
    response = await client.post(
        "/auth/demo", data={"_csrf_token": csrf_token(page.text), "user_id": str(user.id)}
    )
    cookie = next(
        value for value in response.headers.get_list("set-cookie") if value.startswith("fieldbook_session=")
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


async def test_every_route_is_public_by_choice_or_refuses_strangers(app, client, db) -> None:
    """Walks the whole route table: anything not marked public must not answer a signed-out visitor."""
    owner = await make_user(db)
    await make_account(db, owner)
    token = csrf_token((await client.get("/auth/login")).text)
    checked = 0
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if handler.opt.get("public"):
                continue
            for method in handler.http_methods - {"HEAD", "OPTIONS"}:
                response = await client.request(
                    method, _concrete(route.path), data={"_csrf_token": token} if method != "GET" else None,
                    headers={"Accept": "text/html"},
                )  # fmt: skip
                assert response.status_code in {303, 401}, (
                    f"{method} {route.path} answered {response.status_code}"
                )
                if response.status_code == 303:
                    assert response.headers["location"].startswith("/auth/")
                checked += 1
    assert checked >= 12


async def test_public_routes_are_only_the_shell_and_sign_in(app) -> None:
    public = {
        route.path
        for route in app.routes
        if isinstance(route, HTTPRoute) and any(handler.opt.get("public") for handler in route.route_handlers)
    }
    # /scim and /api skip the session sign-in for bearer-token checks of their own (tests/scim, tests/orders).
    allowed_prefixes = (
        "/auth/", "/static", "/icons", "/sw.js", "/manifest.webmanifest", "/offline.html", "/healthz", "/scim/v2", "/api/v1/",
    )  # fmt: skip
    assert public and all(path.startswith(allowed_prefixes) for path in public), public


async def test_signing_in_is_recorded_through_the_users_command(client, db) -> None:
    user = await make_user(db)
    assert user.invited
    await sign_in(client, user.id)
    await db.refresh(user)
    assert user.last_sign_in_at is not None and not user.invited
    event = await db.scalar(select(AuditEvent).where(AuditEvent.action == "users.sign_in"))
    assert event is not None and event.actor_id == user.id


def _start_held_request(app, client, method: str, path: str, body: bytes, headers: dict[str, str]):
    """Send a request straight to the app with the client's cookies, holding its body back until
    `release` is set: by then its session is loaded, as for a request that is still on its way in.
    Returns (the running request, release, the ASGI messages it sent)."""
    cookies = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    release = threading.Event()

    async def receive() -> dict:
        await anyio.to_thread.run_sync(release.wait)
        return {"type": "http.request", "body": body, "more_body": False}

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    raw_headers = [(b"host", b"127.0.0.1:8000"), (b"cookie", cookies.encode())]
    raw_headers += [(name.encode(), value.encode()) for name, value in headers.items()]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
        "headers": raw_headers, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
    }  # fmt: skip
    # On the test client's own event loop, beside the requests the client sends.
    running = asyncio.wrap_future(client.blocking_portal.start_task_soon(app, scope, receive, send))
    return running, release, sent


async def test_a_request_that_only_reads_the_session_does_not_undo_a_message_set_meanwhile(
    app, client, db
) -> None:
    """The phone sends requests side by side (a sync while a form is posted): one that started
    before the form's "saved" message was kept must not write back its older copy of the session."""
    user = await make_user(db)
    account = await make_account(db, user, name="Mossley Mill Deli")
    token = await sign_in(client, user.id)
    body, headers = b'{"device_id": "not-a-device"}', {"content-type": "application/json"}
    slow_sync, body_sent, sent = _start_held_request(app, client, "POST", "/sync/pull", body, headers)
    await asyncio.sleep(0.2)
    assert not slow_sync.done()

    saved = await client.post(
        f"/accounts/{account.id}/edit",
        data={"_csrf_token": token, "name": "Mossley Mill Deli", "city": "Mossley"},
    )
    assert saved.status_code == 303
    body_sent.set()
    await slow_sync
    assert sent[0]["status"] < 500

    page = await client.get(f"/accounts/{account.id}")
    assert "Account Mossley Mill Deli saved." in page.text


async def test_a_request_that_finishes_after_sign_out_does_not_sign_the_person_in_again(
    app, client, db
) -> None:
    """A form posted just before signing out (in another tab) changes the session it loaded (its
    "saved" message); writing that copy back would bring the ended session back to life."""
    user = await make_user(db)
    account = await make_account(db, user, name="Mossley Mill Deli")
    token = await sign_in(client, user.id)
    session_id = session_cookie(client)
    slow_save, body_sent, sent = _start_held_request(
        app, client, "POST", f"/accounts/{account.id}/edit", b"name=Mossley+Mill+Deli&city=Mossley",
        {"content-type": "application/x-www-form-urlencoded", "x-csrftoken": token},
    )  # fmt: skip
    await asyncio.sleep(0.2)
    assert not slow_save.done()

    assert (await client.post("/auth/logout", data={"_csrf_token": token})).status_code == 303
    body_sent.set()
    await slow_save
    assert sent[0]["status"] == 303
    cookies = [value for name, value in sent[0]["headers"] if name == b"set-cookie"]
    assert not any(b"fieldbook_session" in cookie for cookie in cookies)  # not the ended session's id
    client.cookies.set("fieldbook_session", session_id)
    assert (await client.get("/more", headers={"Accept": "text/html"})).status_code == 303
