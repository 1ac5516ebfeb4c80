"""Memory and time of importing a generated 100,000-row accounts CSV (check, then apply), on SQLite.

    .venv/bin/python bench/import_memory.py [ROWS]

Prints peak resident memory (ru_maxrss) before and after, and the time of each pass.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy.ext.asyncio import async_sessionmaker

from server.db import create_engine, new_id, next_version
from server.imports import service as imports
from server.imports.models import Duplicates
from server.users.models import Role, User
from tests.conftest import make_settings, migrate


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write("name,street,city,postcode,phone,customer_number,owner_email\n")
        for n in range(rows):
            out.write(
                f"Customer {n} Ltd,{n} High Street,Town {n % 500},M{n % 99} 1AA,0161 {n:07d},C{n:07d},rep@bench.test\n"
            )


async def main(folder: Path, url: str, rows: int) -> None:
    engine = create_engine(url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session:
        admin = User(
            id=new_id(),
            email="admin@bench.test",
            name="Admin",
            role=Role.ADMIN,
            version=await next_version(session),
        )
        rep = User(
            id=new_id(),
            email="rep@bench.test",
            name="Rep",
            role=Role.REP,
            version=await next_version(session),
        )
        session.add_all([admin, rep])
        await session.commit()
    path = folder / "accounts.csv"
    generate(path, rows)
    print(f"file: {rows:,} rows, {path.stat().st_size / 2**20:.1f} MB; peak RSS before: {peak_mb():.0f} MB")
    for label in ("first import (all new)", "same file again (all merged)"):
        async with sessions() as session:
            actor = await session.get(User, admin.id)
            started = time.perf_counter()
            report, written = await imports.import_file(
                session, actor, "accounts", path, Duplicates.MERGE, dry_run=False
            )
            took = time.perf_counter() - started
        print(
            f"{label}: written={written} counts={dict(report.counts)} in {took:.0f} s; peak RSS {peak_mb():.0f} MB"
        )
    await engine.dispose()


if __name__ == "__main__":
    folder = Path(tempfile.mkdtemp())
    url = f"sqlite+aiosqlite:///{folder / 'bench.sqlite3'}"
    migrate(make_settings(url, folder))  # Alembic runs its own event loop
    asyncio.run(main(folder, url, int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
