"""Arranging test data. Accounts and contacts are made through their commands, like real ones;
users and teams have no commands yet (sign-in and user administration come later), so they are
inserted the way the demo loader does."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts import service as accounts
from server.accounts.models import Account
from server.contacts import service as contacts
from server.contacts.models import Contact
from server.db import new_id, next_version
from server.users.models import Role, Team, TeamManager, User

_numbers = itertools.count(1)


async def make_team(db: AsyncSession, name: str | None = None) -> Team:
    team = Team(name=name or f"Team {next(_numbers)}", version=await next_version(db))
    db.add(team)
    await db.commit()
    return team


async def make_user(
    db: AsyncSession,
    role: Role = Role.REP,
    team: Team | None = None,
    *,
    name: str | None = None,
    **values: Any,
) -> User:
    number = next(_numbers)
    user = User(
        id=new_id(),
        email=values.pop("email", f"person{number}@example.test"),
        name=name or f"Person {number}",
        role=role,
        team_id=team.id if team else None,
        version=await next_version(db),
        **values,
    )
    db.add(user)
    await db.flush()  # the user row must exist before the team-manager row points at it
    if role is Role.MANAGER and team is not None:
        db.add(TeamManager(team_id=team.id, user_id=user.id, version=user.version))
    await db.commit()
    return user


async def make_account(db: AsyncSession, owner: User, **values: Any) -> Account:
    fields = {"name": f"Account {next(_numbers)}", "city": "Manchester", **values}
    account = await accounts.create(db, owner, fields)
    await db.commit()
    return account


async def make_contact(db: AsyncSession, actor: User, account: Account, **values: Any) -> Contact:
    contact = await contacts.create(db, actor, account.id, {"name": f"Contact {next(_numbers)}", **values})
    await db.commit()
    return contact
