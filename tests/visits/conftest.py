"""A rep with a customer at a known place, for the visit tests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from server.accounts.models import Account
from server.organisation import service as organisation
from server.users.models import Role, User
from server.visits import service as visits
from server.visits.models import Visit
from tests.factories import make_account, make_team, make_user

# Manchester Town Hall, and points about 100 m and about 1 km north of it.
CUSTOMER = (53.47935, -2.24455)
NEARBY = (53.48025, -2.24455)
FAR = (53.48835, -2.24455)


@dataclass
class Day:
    rep: User
    manager: User
    admin: User
    account: Account
    today: dt.date

    async def plan(self, db, account: Account | None = None, **values) -> Visit:
        raw = {
            "account_id": str((account or self.account).id),
            "planned_on": self.today.isoformat(),
            **values,
        }
        visit = await visits.plan(db, self.rep, raw)
        await db.commit()
        return visit

    async def policy(self, db, mode: str = "soft", radius: int = 200, low_accuracy: int = 100) -> None:
        raw = {"geofence_radius_m": radius, "geofence_mode": mode, "low_accuracy_m": low_accuracy,
               "tier_a_min": "50000", "tier_b_min": "10000"}  # fmt: skip
        await organisation.update(db, self.admin, raw)
        await db.commit()


@pytest.fixture
async def day(db) -> Day:
    team = await make_team(db)
    rep = await make_user(db, Role.REP, team, name="Rita Rep")
    manager = await make_user(db, Role.MANAGER, team, name="Max Manager")
    admin = await make_user(db, Role.ADMIN)
    account = await make_account(
        db, rep, name="Town Hall Cafe", latitude=str(CUSTOMER[0]), longitude=str(CUSTOMER[1])
    )
    return Day(rep, manager, admin, account, visits.today_for(rep))


def fix(point: tuple[float, float], accuracy: float = 10, **extra) -> dict:
    return {"latitude": str(point[0]), "longitude": str(point[1]), "accuracy": str(accuracy), **extra}
