"""Change versions are stamped as a transaction commits (docs/sync.md, "Why versions are stamped at
the commit"): until then a transaction works with stand-ins, and writers no longer wait for each
other's whole transactions, yet versions still commit in the order they are handed out."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from server.accounts import service as accounts
from server.accounts.models import Account
from server.audit.models import AuditEvent
from server.db import create_engine, current_version
from server.users.models import Role
from tests.factories import make_account, make_team, make_user


async def test_a_transactions_changes_get_the_next_versions_in_the_order_they_were_made(db) -> None:
    rep = await make_user(db, Role.REP, await make_team(db), name="Rita")
    shop, mill = await make_account(db, rep, name="Corner Shop"), await make_account(db, rep, name="Old Mill")
    before = await current_version(db)
    await accounts.update(db, rep, shop.id, {"city": "Bolton"})
    await accounts.update(db, rep, mill.id, {"city": "Wigan"})
    assert shop.version < 0 and mill.version < 0  # stand-ins until the commit
    await db.commit()
    assert (shop.version, mill.version) == (before + 1, before + 2)
    assert await current_version(db) == before + 2
    stored = (await db.execute(select(Account.version).where(Account.id.in_([shop.id, mill.id])))).scalars()
    assert sorted(stored) == [before + 1, before + 2]
    events = await db.scalars(select(AuditEvent.record_version).where(AuditEvent.action == "accounts.update"))
    assert sorted(events) == [before + 1, before + 2]


async def test_a_rolled_back_transaction_takes_no_version(db) -> None:
    rep = await make_user(db, Role.REP, await make_team(db), name="Rita")
    shop = await make_account(db, rep, name="Corner Shop")
    before = await current_version(db)
    await accounts.update(db, rep, shop.id, {"city": "Bolton"})
    await db.rollback()
    await db.refresh(rep)
    await db.refresh(shop)
    await accounts.update(db, rep, shop.id, {"city": "Wigan"})
    await db.commit()
    assert shop.version == before + 1 == await current_version(db)


async def test_writers_do_not_wait_for_each_other_and_commit_in_version_order(backend, settings, db) -> None:
    """One transaction has made its change and not committed; another changes a different record
    and commits meanwhile, without waiting; a reader then sees the counter at the second's version;
    the first, committing later, gets versions above it, so a pull that saw that counter still
    finds its change."""
    if backend == "sqlite":
        pytest.skip("SQLite has one writer at a time: the second writer waits by design")
    rep = await make_user(db, Role.REP, await make_team(db), name="Rita")
    shop, mill = await make_account(db, rep, name="Corner Shop"), await make_account(db, rep, name="Old Mill")
    engine = create_engine(settings.database_url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with sessions() as slow, sessions() as quick:
            slow_shop = await accounts.update(slow, rep, shop.id, {"city": "Bolton"})
            await slow.flush()
            quick_mill = await accounts.update(quick, rep, mill.id, {"city": "Wigan"})
            await asyncio.wait_for(quick.commit(), timeout=5)  # not held up by the open transaction
            seen = await current_version(db)
            assert seen >= quick_mill.version > mill.version
            await slow.commit()
            assert slow_shop.version > seen
    finally:
        await engine.dispose()
    stored = await db.get(Account, shop.id, populate_existing=True)
    assert (stored.city, stored.version) == ("Bolton", slow_shop.version)
