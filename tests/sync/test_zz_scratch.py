import uuid
from server.accounts.models import Account
from server.users.models import Role
from tests.conftest import sign_in
from tests.factories import make_account, make_team, make_user


async def test_revert(client, db):
    rep = await make_user(db, Role.REP, await make_team(db))
    shop = await make_account(db, rep, city="Bury")
    await sign_in(client, rep.id)
    dev = uuid.uuid4()
    muts = [
        {"id": 1, "name": "accounts.update", "base_version": shop.version, "args": {"account_id": str(shop.id), "city": "Bolton"}},
        {"id": 2, "name": "accounts.update", "base_version": shop.version, "args": {"account_id": str(shop.id), "city": "Bury"}},
    ]
    r = await client.post("/sync/push", json={"device_id": str(dev), "schema_version": 1, "app_version": "t", "mutations": muts})
    print(r.json())
    saved = await db.get(Account, shop.id, populate_existing=True)
    assert saved.city == "Bury"
