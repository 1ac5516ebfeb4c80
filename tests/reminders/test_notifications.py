"""Notifications settings over HTTP: the app's public key, devices subscribing and leaving, quiet hours."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from server.audit.models import AuditEvent
from server.reminders import vapid
from server.reminders.push_models import PushSubscription
from server.settings import Settings
from server.users.models import Role, User
from tests.conftest import make_settings, sign_in
from tests.factories import make_team, make_user
from tests.reminders.push_service import PushService, unb64url


@pytest.fixture
async def rep(db):
    return await make_user(db, Role.REP, await make_team(db), name="Rita")


@pytest.fixture
def service():
    with PushService() as running:
        yield running


def json_headers(token: str) -> dict[str, str]:
    return {"x-csrftoken": token, "accept": "application/json"}


async def endpoints(db) -> list[str]:
    rows = await db.scalars(select(PushSubscription.endpoint).execution_options(populate_existing=True))
    return sorted(rows)


async def test_the_key_is_made_once_and_kept(client, rep, settings) -> None:
    await sign_in(client, rep.id)
    first = (await client.get("/notifications/key")).json()["public_key"]
    point = unb64url(first)
    assert len(point) == 65 and point[0] == 4  # an uncompressed P-256 point, as browsers want
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    assert (settings.var_dir / vapid.KEY_FILE).exists()
    assert vapid.public_key(vapid.load(settings)) == first  # the same key after a restart


def test_the_key_can_come_from_the_environment(tmp_path) -> None:
    made = vapid.Vapid()
    made.generate_keys()
    settings = Settings.from_env({"FIELDBOOK_VAPID_PRIVATE_KEY": made.private_pem().decode(),
                                  "FIELDBOOK_VAR_DIR": str(tmp_path), "FIELDBOOK_SECRET_KEY": "x" * 40})  # fmt: skip
    assert vapid.public_key(vapid.load(settings)) == vapid.public_key(made)
    assert not (tmp_path / vapid.KEY_FILE).exists()
    raw = base64.urlsafe_b64encode(
        made.private_key.private_numbers().private_value.to_bytes(32, "big")
    ).decode()
    again = make_settings("sqlite://", tmp_path, vapid_private_key=raw.rstrip("="))
    assert vapid.public_key(vapid.load(again)) == vapid.public_key(made)


async def test_each_device_subscribes_and_turns_itself_off(client, db, rep, service) -> None:
    token = await sign_in(client, rep.id)
    phone, tablet = service.subscription("phone"), service.subscription("tablet")
    for device in (phone, tablet, phone):  # the same phone again is still one device
        response = await client.post("/notifications/subscriptions", json=device, headers=json_headers(token))
        assert response.status_code == 201, response.text
    assert await endpoints(db) == sorted([phone["endpoint"], tablet["endpoint"]])
    page = (await client.get("/notifications")).text
    assert page.count("/notifications/devices/") == 2
    gone = await client.post(
        "/notifications/subscriptions/delete",
        json={"endpoint": phone["endpoint"]},
        headers=json_headers(token),
    )
    assert gone.json() == {"removed": 1}
    assert await endpoints(db) == [tablet["endpoint"]]
    # Each device turned on or off is in the audit log, with the person who did it (never its keys).
    events = (await db.execute(select(AuditEvent.action, AuditEvent.actor_id, AuditEvent.after, AuditEvent.before)
                               .where(AuditEvent.record_type == "push_subscriptions").order_by(AuditEvent.created_at))).all()  # fmt: skip
    assert [(action, actor) for action, actor, _, _ in events] == [
        ("push.subscribe", rep.id), ("push.subscribe", rep.id), ("push.subscribe", rep.id), ("push.unsubscribe", rep.id)]  # fmt: skip
    assert "p256dh" not in str(events) and "auth" not in str([after for _, _, after, _ in events])


@pytest.mark.parametrize(
    "body",
    [{}, {"endpoint": "ftp://x/y", "keys": {"p256dh": "a", "auth": "b"}}, {"endpoint": "https://push.example/1"},
     {"endpoint": "https://push.example/1", "keys": {"p256dh": "not-a-key", "auth": "AAAAAAAAAAAAAAAAAAAAAA"}}],
)  # fmt: skip
async def test_a_bad_subscription_is_refused(client, db, rep, body) -> None:
    token = await sign_in(client, rep.id)
    response = await client.post("/notifications/subscriptions", json=body, headers=json_headers(token))
    assert response.status_code == 422
    assert await endpoints(db) == []


async def test_signing_out_removes_this_sign_ins_devices(client, db, rep, service) -> None:
    other = await make_user(db, Role.REP, await make_team(db))
    token = await sign_in(client, other.id)
    kept = service.subscription("colleague-phone")
    await client.post("/notifications/subscriptions", json=kept, headers=json_headers(token))
    token = await sign_in(client, rep.id)
    phone = service.subscription("phone")
    await client.post("/notifications/subscriptions", json=phone, headers=json_headers(token))
    await client.post("/auth/logout", data={"_csrf_token": token})
    assert await endpoints(db) == [kept["endpoint"]]


async def test_quiet_hours_are_both_times_or_none(client, db, rep) -> None:
    token = await sign_in(client, rep.id)
    refused = await client.post(
        "/notifications/quiet-hours", data={"_csrf_token": token, "quiet_start": "22:00"}
    )
    assert refused.status_code == 422 and "Give both times, or neither." in refused.text
    saved = await client.post(
        "/notifications/quiet-hours",
        data={"_csrf_token": token, "quiet_start": "22:00", "quiet_end": "07:00"},
    )
    assert saved.status_code == 303
    page = (await client.get("/notifications")).text
    assert "Quiet hours saved." in page and 'value="22:00"' in page and 'value="07:00"' in page
    user = await db.get(User, rep.id, populate_existing=True)
    assert (user.quiet_start.isoformat(), user.quiet_end.isoformat()) == ("22:00:00", "07:00:00")
