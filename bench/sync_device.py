"""Offline sync at one rep's full scale: first pull, quiet pull, a push of 100, and the phone's side.

    .venv/bin/python bench/sync_device.py [sqlite|postgresql] [--profiles target[,brief]] [--scale N]
        [--first-rounds 1] [--quiet-rounds 50] [--moved-rounds 10] [--push-rounds 10]
        [--browser-rounds 1] [--no-browser] [--redis URL]

Loads the demo data set into a throwaway database and gives ONE rep (the first by e-mail address)
a full book, in one of two shapes ("profiles"; with both, brief is measured first, then the same
database is reshaped for target):

- `brief`: every account is the rep's (`UPDATE accounts SET owner_id = <rep>`), at a scale that
  puts at least 10,000 orders on the device. The demo orders are spread over 18 months before
  2026-11-15 and the device holds only the last 90 days (`sync.pull.ORDERS_ON_DEVICE`), so it
  takes `--scale 7`: 14,000 accounts, about 25,000 contacts and about 10,500 orders on the device
  (as of 2026-11-22; fewer as the date moves on: the bench says when there are under 10,000).
- `target`: the book the targets describe, 2,000 accounts and 10,000 orders with lines. The first
  accounts by customer number (just over 2,000: as many as it takes to hold 10,000 orders) stay
  the rep's, the rest go to another rep, and those accounts' orders are moved into the last 90
  days (`ordered_at` only, keeping their order; lines and timelines are as generated). The default;
  at `--scale 2` (the first 2,034 accounts are the same at every scale).

Both changes are plain SQL on the throwaway database, followed by ANALYZE (as autovacuum would,
soon after a reassignment that large). The rate limits are raised so the bench never meets them;
their middleware still runs on every request. Sessions and rate-limit counters are kept in the
database, as by default; `--redis redis://127.0.0.1:6379/0` keeps them in Redis instead
(FIELDBOOK_REDIS_URL), which takes three of a request's five database connections away.

Measured for each profile, in-process (the ASGI app through litestar's AsyncTestClient, no network,
like bench/sync_pull.py), signed in as the rep:

1. First sync of a new device: every page until `more` is false. Server time is the sum of the
   page times. Sizes are of the JSON bodies, and of each body gzip-compressed at level 6 (summed);
   "as served" is what came over the wire: the app compresses responses itself
   (`compression_config` in server/app.py: gzip, level 6, bodies of 500 bytes or more) whenever
   the client accepts gzip, as httpx and every browser do, so that time is in the server time.
2. A pull with nothing new, from the cursor the first sync ended with: (a) nothing changed
   anywhere, which the client view's high-water mark answers without reading the rep's scope, and
   (b) something changed elsewhere in the organisation before each pull, out of the rep's reach:
   in the target profile another rep gives one of their own accounts a new phone number
   (`accounts.update`, as their push would), in the brief profile (where every account is the
   rep's) the change counter is only taken. The change counter has moved, so the pull must find
   out that nothing the rep may see changed. In a working day (b) is the common case: every
   push anywhere moves the counter.
3. A push of 100 mutations in one request, on one device whose ids carry on from round to round:
   100 `accounts.update` (a new phone number on 100 different accounts, each with its current
   version as `base_version`), and 80 of those with 20 `leads.capture` (client-generated UUIDv7s).

4. The phone's side, in Chromium: the app served by uvicorn on 127.0.0.1 (a free port, in a thread
   of this process, on the same database), a fresh on-disk profile for every round
   (`launch_persistent_context` on a new temporary folder: an incognito context would keep
   IndexedDB in memory), phone-sized, service workers blocked (the worker never handles
   /sync/pull, a POST, but installing it would download and cache assets during the
   measurement). The deterministic way chosen around the flush app.js starts on every page load:
   `/sync/pull` is aborted (`context.route`) while the rep signs in straight to `/sync`, so the
   automatic flush ends as "offline" having stored nothing (the device id it chose never reached
   the server). The bench waits for the "fieldbook-sync" BroadcastChannel's {type: "synced"} that
   ends it (app.js now starts it only after an IndexedDB write, so it can begin after the load
   event), then takes the flush's own Web Lock, checks that the device holds no records and is
   marked offline, removes the route, and times `await FieldbookSync.flush(userId, "bench")` in
   the page. `window.fetch`, `IDBDatabase.prototype.transaction` and `IDBObjectStore.prototype.
   getAll` are wrapped for that call to split the time into: the pull requests (sent to JSON
   parsed, server time included), staging each page (one IndexedDB transaction per page),
   applying them (the one transaction that reads the staged pages back and writes every record),
   and the rest. The page's own listeners still react to the progress messages, as on a phone.

Prints Markdown (progress on stderr). On a 2-vCPU VM shared with test runs, the default (target)
took about 2.5 minutes per backend, loading included (4 to 7 with `--first-rounds 3
--browser-rounds 3`); `--profiles target,brief` 8 to 10 (brief's first sync takes 1.5 minutes,
twice: in-process and in Chromium).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import gzip
import logging
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from litestar.testing import AsyncTestClient
from sqlalchemy import bindparam, func, select, text, update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.account_page import percentile
from bench.throwaway import throwaway_settings
from server.accounts import service as accounts
from server.accounts.models import Account
from server.app import create_app
from server.db import new_id, next_version, utcnow
from server.demo import ORDERS_UNTIL, load_demo
from server.orders.models import Order
from server.users.models import Role, User
from sync.pull import ORDERS_ON_DEVICE
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, PHONE
from tests.conftest import csrf_token

TARGET_ACCOUNTS, TARGET_ORDERS = 2_000, 10_000
PUSH_SIZE, CAPTURES = 100, 20


@dataclass
class Profile:
    name: str
    rep_id: uuid.UUID
    rep_email: str
    accounts: list[uuid.UUID]  # the rep's, in customer-number order
    elsewhere: tuple[uuid.UUID, uuid.UUID] | None = None  # another rep and one of their accounts
    held: Counter[str] = field(default_factory=Counter)  # records of each kind on the device
    first: list[dict[str, Any]] = field(default_factory=list)  # one per round
    quiet: list[float] = field(default_factory=list)
    quiet_moved: list[float] = field(default_factory=list)
    healthz: list[float] = field(default_factory=list)
    push: dict[str, list[float]] = field(default_factory=dict)
    browser: list[dict[str, Any]] = field(default_factory=list)


def ms_since(begin: float) -> float:
    return (time.perf_counter() - begin) * 1000


def pull_body(device: uuid.UUID, cursor: str | None) -> dict[str, Any]:
    return {"device_id": str(device), "schema_version": 1, "app_version": "bench", "cursor": cursor}


# --- shaping the data ------------------------------------------------------------------------------


async def reps(alchemy: Any) -> list[tuple[uuid.UUID, str]]:
    async with alchemy.get_session() as session:
        rows = await session.execute(
            select(User.id, User.email).where(User.role == Role.REP).order_by(User.email)
        )
        return [(row.id, row.email) for row in rows]


async def shape_brief(alchemy: Any) -> Profile:
    """Every account to the first rep."""
    (rep_id, email), *_ = await reps(alchemy)
    async with alchemy.get_session() as session:
        await session.execute(update(Account).values(owner_id=rep_id))
        await session.commit()
        await session.execute(text("ANALYZE"))
        await session.commit()
        accounts = list(await session.scalars(select(Account.id).order_by(Account.customer_number)))
    return Profile("brief", rep_id, email, accounts)


async def shape_target(alchemy: Any) -> Profile:
    """The first accounts by customer number (>= 2,000, holding >= 10,000 orders) to the first rep,
    the rest to the second; those accounts' orders moved into the last 90 days."""
    (rep_id, email), (other_id, _), *_ = await reps(alchemy)
    async with alchemy.get_session() as session:
        counts = (
            await session.execute(
                select(Account.id, Account.customer_number, func.count(Order.id))
                .join(Order, Order.account_id == Account.id)
                .group_by(Account.id, Account.customer_number)
                .order_by(Account.customer_number)
            )
        ).all()
        chosen, orders = [], 0
        for account_id, number, n in counts:
            if len(chosen) >= TARGET_ACCOUNTS and orders >= TARGET_ORDERS:
                break
            chosen.append((account_id, number))
            orders += n
        last_number = chosen[-1][1]
        await session.execute(
            update(Account).where(Account.customer_number <= last_number).values(owner_id=rep_id)
        )
        await session.execute(
            update(Account).where(Account.customer_number > last_number).values(owner_id=other_id)
        )
        # Squeeze the 540 days before ORDERS_UNTIL into the 85 days before yesterday, in order.
        now = utcnow()
        moved = [
            {"b_id": order_id, "b_at": now - dt.timedelta(days=1) - (ORDERS_UNTIL - at) * (85 / 540)}
            for order_id, at in await session.execute(
                select(Order.id, Order.ordered_at)
                .join(Account, Account.id == Order.account_id)
                .where(Account.customer_number <= last_number)
            )
        ]
        assert all(now - row["b_at"] < ORDERS_ON_DEVICE for row in moved)
        await session.execute(
            update(Order.__table__)
            .where(Order.__table__.c.id == bindparam("b_id"))
            .values(ordered_at=bindparam("b_at")),
            moved,
        )
        await session.commit()
        await session.execute(text("ANALYZE"))
        await session.commit()
        theirs = await session.scalar(select(Account.id).where(Account.owner_id == other_id).limit(1))
    return Profile(
        "target", rep_id, email, [account_id for account_id, _ in chosen], elsewhere=(other_id, theirs)
    )


# --- in-process measurements -------------------------------------------------------------------------


async def sign_in(client: AsyncTestClient, user_id: uuid.UUID) -> None:
    client.cookies.clear()
    page = await client.get("/auth/demo")
    response = await client.post(
        "/auth/demo", data={"_csrf_token": csrf_token(page.text), "user_id": str(user_id)}
    )
    assert response.status_code < 400, response.text


async def first_sync(client: AsyncTestClient, device: uuid.UUID) -> dict[str, Any]:
    """A new device's whole first sync: per page, server time and sizes; the kinds it received."""
    cursor, pages, held = None, [], Counter()
    while True:
        begin = time.perf_counter()
        response = await client.post("/sync/pull", json=pull_body(device, cursor))
        took = ms_since(begin)
        assert response.status_code == 200, response.text
        answer = response.json()
        body = response.content
        pages.append(
            {
                "ms": took,
                "json": len(body),
                "gzip": len(gzip.compress(body, compresslevel=6)),
                "wire": response.num_bytes_downloaded,
                "encoding": response.headers.get("content-encoding", "identity"),
            }
        )
        held.update(change["kind"] for change in answer["changes"] if change["op"] == "put")
        cursor = answer["cursor"]
        if not answer["more"]:
            return {"pages": pages, "cursor": cursor, "held": held}


async def quiet_pulls(client: AsyncTestClient, alchemy: Any, profile: Profile, device: uuid.UUID, cursor: str, rounds: int, *, moved: bool) -> list[float]:  # fmt: skip
    times = []
    for number in range(rounds):
        if moved:  # someone elsewhere changed something: the change counter moves on
            async with alchemy.get_session() as session:
                if profile.elsewhere:
                    other_id, account_id = profile.elsewhere
                    other = await session.get(User, other_id)
                    await accounts.update(session, other, account_id, {"phone": f"0161 496 {number:04d}"})
                else:
                    await next_version(session)
                await session.commit()
        begin = time.perf_counter()
        response = await client.post("/sync/pull", json=pull_body(device, cursor))
        times.append(ms_since(begin))
        answer = response.json()
        assert response.status_code == 200 and answer["changes"] == [] and answer["cursor"] == cursor, answer
    return times


async def pushes(
    client: AsyncTestClient, alchemy: Any, profile: Profile, rounds: int
) -> dict[str, list[float]]:
    """Rounds of 100 mutations on one device; each round edits accounts no round edited before."""
    device, next_mutation = uuid.uuid4(), 1
    untouched = iter(reversed(profile.accounts))  # from the far end of the book
    results: dict[str, list[float]] = {}
    for label, captures in (("100 x accounts.update", 0), (f"{PUSH_SIZE - CAPTURES} x accounts.update + {CAPTURES} x leads.capture", CAPTURES)):  # fmt: skip
        for round_number in range(rounds):
            ids = [next(untouched) for _ in range(PUSH_SIZE - captures)]
            async with alchemy.get_session() as session:
                versions = dict((await session.execute(select(Account.id, Account.version).where(Account.id.in_(ids)))).all())  # fmt: skip
            mutations: list[dict[str, Any]] = [
                {"name": "accounts.update", "base_version": versions[account_id],
                 "args": {"account_id": str(account_id), "phone": f"0161 496 {(round_number * 100 + n) % 10_000:04d}"}}
                for n, account_id in enumerate(ids)
            ]  # fmt: skip
            mutations += [
                {"name": "leads.capture", "args": {"id": str(new_id()), "name": f"Bench Lead {round_number}-{n}",
                 "company": f"Benchmark Trading {round_number}-{n}", "phone": f"07700 9{round_number:02d}{n:03d}",
                 "source": "walk_in"}}
                for n in range(captures)
            ]  # fmt: skip
            for mutation in mutations:
                mutation["id"], next_mutation = next_mutation, next_mutation + 1
            body = {
                "device_id": str(device),
                "schema_version": 1,
                "app_version": "bench",
                "mutations": mutations,
            }
            begin = time.perf_counter()
            response = await client.post("/sync/push", json=body)
            results.setdefault(label, []).append(ms_since(begin))
            assert response.status_code == 200, response.text
            statuses = Counter(result["status"] for result in response.json()["results"])
            assert statuses == {"applied": PUSH_SIZE}, statuses
    return results


async def in_process(settings: Any, profile: Profile, args: argparse.Namespace) -> None:
    app = create_app(settings)
    # The test client runs the app on an event loop of its own (another thread): the bench's own
    # reads and writes go through an engine of their own.
    alchemy = create_app(settings).state["alchemy"]
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1:8000") as client:
        await sign_in(client, profile.rep_id)
        for _ in range(args.first_rounds):
            device = uuid.uuid4()
            first = await first_sync(client, device)
            profile.first.append(first)
            profile.held = first["held"]
        profile.quiet = await quiet_pulls(
            client, alchemy, profile, device, first["cursor"], args.quiet_rounds, moved=False
        )
        profile.quiet_moved = await quiet_pulls(
            client, alchemy, profile, device, first["cursor"], args.moved_rounds, moved=True
        )
        for _ in range(args.quiet_rounds):  # the floor: a bare request through the same middleware
            begin = time.perf_counter()
            assert (await client.get("/healthz")).status_code == 200
            profile.healthz.append(ms_since(begin))
        profile.push = await pushes(client, alchemy, profile, args.push_rounds)
    await alchemy.get_engine().dispose()


# --- the phone's side: Chromium ----------------------------------------------------------------------

MEASURE = """async (userId) => {
  const pulls = [], transactions = [];
  const realFetch = window.fetch;
  window.fetch = async function (input, init) {
    const url = typeof input === "string" ? input : input.url;
    if (!url.includes("/sync/pull")) return realFetch.call(this, input, init);
    const entry = { start: performance.now() };
    pulls.push(entry);
    const response = await realFetch.call(this, input, init);
    entry.headers = performance.now();
    const json = response.json.bind(response);
    response.json = async () => {
      const value = await json();
      entry.parsed = performance.now();
      entry.changes = (value.changes || []).length;
      return value;
    };
    return response;
  };
  const realTransaction = IDBDatabase.prototype.transaction;
  IDBDatabase.prototype.transaction = function (names, mode, ...rest) {
    const tx = realTransaction.call(this, names, mode, ...rest);
    const stores = typeof names === "string" ? [names] : Array.from(names);
    if (mode === "readwrite" && (stores.includes("staging") || stores.includes("records"))) {
      const entry = { stores: stores.join(","), start: performance.now() };
      transactions.push(entry);
      tx.addEventListener("complete", () => { entry.end = performance.now(); });
    }
    return tx;
  };
  const realGetAll = IDBObjectStore.prototype.getAll;
  IDBObjectStore.prototype.getAll = function (...args) {
    const request = realGetAll.apply(this, args);
    if (this.name === "staging") {
      const entry = { stores: "read staging", start: performance.now() };
      transactions.push(entry);
      request.addEventListener("success", () => { entry.end = performance.now(); });
    }
    return request;
  };
  const begin = performance.now();
  let state;
  try {
    state = await FieldbookSync.flush(userId, "bench");
  } finally {
    window.fetch = realFetch;
    IDBDatabase.prototype.transaction = realTransaction;
    IDBObjectStore.prototype.getAll = realGetAll;
  }
  const end = performance.now();
  const db = await FieldbookStore.open(userId);
  const records = await db.count("records");
  db.close();
  return { state, begin, end, pulls, transactions, records };
}"""

# Counts the flushes that ended in this page (sync-engine.js announces each on the channel).
COUNT_FLUSHES = """
window.__fieldbookFlushes = 0;
new BroadcastChannel("fieldbook-sync").addEventListener("message", (event) => {
  if (event.data && event.data.type === "synced") window.__fieldbookFlushes += 1;
});
"""

WAIT_FOR_FLUSHES = """async (userId) => {
  await navigator.locks.request(`fieldbook-sync-${userId}`, async () => {});
  const db = await FieldbookStore.open(userId);
  const records = await db.count("records");
  const meta = await FieldbookStore.getMeta(db);
  db.close();
  return { records, state: meta.state || null, cursor: meta.cursor || null };
}"""


class LiveServer(uvicorn.Server):
    """uvicorn in a background thread on a free port of 127.0.0.1 (as tests/browser/conftest.py)."""

    def __enter__(self) -> str:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.thread = threading.Thread(target=self.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        while not self.started:
            if not self.thread.is_alive():
                raise RuntimeError("the live server stopped while starting")
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def __exit__(self, *_: object) -> None:
        self.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


def browser_rounds(settings: Any, profile: Profile, rounds: int) -> None:
    from playwright.sync_api import sync_playwright

    config = uvicorn.Config(create_app(settings), host="127.0.0.1", log_level="warning", access_log=False,
                            lifespan="on", timeout_graceful_shutdown=2)  # fmt: skip
    with LiveServer(config) as base_url, sync_playwright() as playwright:
        for _ in range(rounds):
            with tempfile.TemporaryDirectory(prefix="fieldbook-bench-profile-") as profile_dir:
                context = playwright.chromium.launch_persistent_context(
                    profile_dir, executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
                    base_url=base_url, locale="en-GB", service_workers="block", **PHONE,
                )  # fmt: skip
                try:
                    context.set_default_timeout(60_000)
                    context.route("**/sync/pull", lambda route: route.abort())
                    context.add_init_script(COUNT_FLUSHES)
                    page = context.pages[0] if context.pages else context.new_page()
                    page.goto("/auth/demo?next=/sync")
                    page.locator(f'button[name="user_id"][value="{profile.rep_id}"]').click()
                    page.wait_for_url(lambda url: urlsplit(url).path == "/sync")
                    user_id = page.locator('meta[name="fieldbook-user"]').get_attribute("content")
                    assert user_id == str(profile.rep_id), user_id
                    page.wait_for_function("() => window.__fieldbookFlushes > 0")
                    before = page.evaluate(WAIT_FOR_FLUSHES, user_id)
                    assert before == {"records": 0, "state": "offline", "cursor": None}, before
                    context.unroute("**/sync/pull")
                    result = page.evaluate(MEASURE, user_id)
                    assert result["state"] == "synced", result["state"]
                    profile.browser.append(result)
                finally:
                    context.close()


def browser_summary(result: dict[str, Any]) -> dict[str, float]:
    """Milliseconds of the flush, by part; "apply" is the one transaction that writes the records,
    "read" the part of it that reads the staged pages back."""
    pulls, transactions = result["pulls"], result["transactions"]

    def spent(kind: str) -> float:
        return sum(t["end"] - t["start"] for t in transactions if t["stores"] == kind)

    total = result["end"] - result["begin"]
    summary = {
        "total": total,
        "pages": len(pulls),
        "requests": sum(p["parsed"] - p["start"] for p in pulls),
        "waiting": sum(p["headers"] - p["start"] for p in pulls),
        "staging": spent("meta,staging"),
        "apply": spent("meta,records,staging,outbox"),
        "read": spent("read staging"),
        "after_last": result["end"] - pulls[-1]["parsed"],
        "records": result["records"],
    }
    summary["other"] = total - summary["requests"] - summary["staging"] - summary["apply"]
    return summary


# --- the report ------------------------------------------------------------------------------------------


def mb(size: float) -> str:
    return f"{size / 1e6:,.2f} MB"


def report(backend: str, scale: int, profiles: list[Profile], stores: str) -> None:
    print(f"\n### {backend} (demo data at --scale {scale}; sessions and rate limits in {stores})\n")
    print(
        "| profile | rep | accounts | contacts | orders (last 90 days) | visits | leads | users | records |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for p in profiles:
        h = p.held
        print(f"| {p.name} | {p.rep_email} | {h['accounts']:,} | {h['contacts']:,} | {h['orders']:,} | {h['visits']:,} "
              f"| {h['leads']:,} | {h['users']:,} | {sum(h.values()):,} |")  # fmt: skip

    print("\n| first sync | server time p50 | min-max | pages | JSON (MB = 10^6 bytes) | gzip -6 (summed per page) | as served | < 1 s | < 1.5 MB |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    for p in profiles:
        totals = [sum(page["ms"] for page in first["pages"]) for first in p.first]
        pages = p.first[-1]["pages"]
        size, packed = sum(x["json"] for x in pages), sum(x["gzip"] for x in pages)
        wire = sum(x["wire"] for x in pages)
        encodings = "/".join(sorted({x["encoding"] for x in pages}))
        print(f"| {p.name} | {statistics.median(totals):,.0f} ms | {min(totals):,.0f}-{max(totals):,.0f} ms | {len(pages)} "
              f"| {mb(size)} | {mb(packed)} | {mb(wire)} ({encodings}) | {'yes' if statistics.median(totals) < 1000 else 'no'} "
              f"| {'yes' if packed < 1.5e6 else 'no'} |")  # fmt: skip

    print(f"\n| quiet pull | nothing changed anywhere ({len(profiles[0].quiet)} rounds): p50 | p95 "
          f"| after a change out of reach ({len(profiles[0].quiet_moved)} rounds): p50 | p95 | < 10 ms "
          "| for scale: `GET /healthz` p50 |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | --- | ---: |")
    for p in profiles:
        verdict = "yes" if percentile(p.quiet_moved, 0.5) < 10 else ("only with nothing changed" if percentile(p.quiet, 0.5) < 10 else "no")  # fmt: skip
        print(f"| {p.name} | {statistics.median(p.quiet):.1f} ms | {percentile(p.quiet, 0.95):.1f} ms "
              f"| {statistics.median(p.quiet_moved):.1f} ms | {percentile(p.quiet_moved, 0.95):.1f} ms | {verdict} "
              f"| {statistics.median(p.healthz):.1f} ms |")  # fmt: skip

    print("\n| push of 100 in one request | mutations | p50 | p95 | per mutation (p50) | < 300 ms |")
    print("| --- | --- | ---: | ---: | ---: | --- |")
    for p in profiles:
        for label, times in p.push.items():
            p50 = statistics.median(times)
            print(f"| {p.name} | {label} | {p50:,.0f} ms | {percentile(times, 0.95):,.0f} ms | {p50 / PUSH_SIZE:.1f} ms "
                  f"| {'yes' if p50 < 300 else 'no'} |")  # fmt: skip

    rows = [(p, [browser_summary(r) for r in p.browser]) for p in profiles if p.browser]
    if rows:
        print("\n| Chromium: first sync stored | flush | pull requests (sent to parsed) | of which until the answer's headers "
              "| staging each page | applying (one transaction) | of which reading the staged pages | other "
              "| last answer parsed to stored | records held |")  # fmt: skip
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for p, summaries in rows:
            med = {key: statistics.median(s[key] for s in summaries) for key in summaries[0]}
            print(f"| {p.name} ({len(summaries)} run{'s' if len(summaries) > 1 else ''}) | {med['total']:,.0f} ms "
                  f"| {med['requests']:,.0f} ms | {med['waiting']:,.0f} ms | {med['staging']:,.0f} ms | {med['apply']:,.0f} ms "
                  f"| {med['read']:,.0f} ms | {med['other']:,.0f} ms | {med['after_last']:,.0f} ms | {med['records']:,.0f} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("backend", choices=["sqlite", "postgresql"], nargs="?", default="sqlite")
    parser.add_argument("--scale", type=int, help="of the demo data: 7 with the brief profile, else 2")
    parser.add_argument("--profiles", default="target", help="comma-separated: target, brief")
    parser.add_argument("--first-rounds", type=int, default=1)
    parser.add_argument("--quiet-rounds", type=int, default=50)
    parser.add_argument("--moved-rounds", type=int, default=10)
    parser.add_argument("--push-rounds", type=int, default=10)
    parser.add_argument("--browser-rounds", type=int, default=1)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument(
        "--redis", metavar="URL", help="keep sessions and rate limits in Redis (FIELDBOOK_REDIS_URL)"
    )
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    shapes = {"brief": shape_brief, "target": shape_target}
    names = [name.strip() for name in args.profiles.split(",") if name.strip()]
    assert names and set(names) <= set(shapes), f"--profiles: choose from {', '.join(shapes)}"
    # "brief" first: "target" moves orders into the last 90 days, which would swell brief's book.
    names.sort(key=["brief", "target"].index)
    args.scale = args.scale or (7 if "brief" in names else 2)
    profiles = []
    started = time.perf_counter()
    with throwaway_settings(args.backend) as settings:
        settings = dataclasses.replace(settings, api_rate_limit=1_000_000, sign_in_rate_limit=1_000_000)
        if args.redis:
            settings = dataclasses.replace(
                settings, redis_url=args.redis, redis_namespace=f"bench-{uuid.uuid4().hex[:8]}"
            )

        async def load() -> None:
            app = create_app(settings)
            await load_demo(app.state["alchemy"], scale=args.scale)
            await app.state["alchemy"].get_engine().dispose()

        asyncio.run(load())
        print(f"loaded in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        for name in names:

            async def measure(name: str = name) -> Profile:
                app = create_app(settings)
                profile = await shapes[name](app.state["alchemy"])
                await app.state["alchemy"].get_engine().dispose()
                await in_process(settings, profile, args)
                return profile

            profile = asyncio.run(measure())
            if profile.held["orders"] < TARGET_ORDERS or profile.held["accounts"] < TARGET_ACCOUNTS:
                print(f"{name}: only {profile.held['accounts']:,} accounts and {profile.held['orders']:,} orders "
                      "on the device: try a larger --scale", file=sys.stderr)  # fmt: skip
            print(f"{name}: in-process done at {time.perf_counter() - started:.0f} s", file=sys.stderr)
            if not args.no_browser and args.browser_rounds:
                browser_rounds(settings, profile, args.browser_rounds)
                print(f"{name}: browser done at {time.perf_counter() - started:.0f} s", file=sys.stderr)
            profiles.append(profile)
    report(args.backend, args.scale, profiles, stores="Redis" if args.redis else "the database")


if __name__ == "__main__":
    main()
