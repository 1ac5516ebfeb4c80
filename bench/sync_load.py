"""A whole sales force syncing at once (issue 17): many phones against real server processes.

    .venv/bin/python bench/sync_load.py [--scenario push|first-sync|quiet|all] [--phones 200]
        [--batch 10] [--duration 20] [--servers 2] [--scale 20] [--reuse-database NAME]
        [--page-readers 5] [--timeout 30] [--first-sync-limit 300] [--baseline-rounds 3]
        [--redis URL]

Setup (not timed; the demo load is, on stderr and in the report):

- A throwaway PostgreSQL database (dropped at the end), `fieldbook database upgrade` and
  `fieldbook demo --scale N` into it: 2,000 accounts and 21 reps per unit of scale, so 200
  phones and 5 page readers need `--scale 10` or more (with fewer reps, phones share reps and the
  report says so). Scale 20 takes minutes to load: `--reuse-database NAME` creates and loads NAME
  the first time and keeps it; later runs only migrate it (the reminders earlier runs pushed stay
  in it). The rate limits are raised (FIELDBOOK_SIGN_IN_RATE_LIMIT, FIELDBOOK_API_RATE_LIMIT) so
  the bench never meets them; their middleware still runs. Other FIELDBOOK_* settings in the
  environment reach the servers as they are (FIELDBOOK_DATABASE_POOL_SIZE, say); the report gives
  each server's pool and sync settings as the server makes them, and the commit it ran with any
  changes to server/ and sync/ not yet committed.
- `--servers K` processes of `fieldbook run --host 127.0.0.1 --port P`, each on a free port, as
  deployed: one uvicorn worker and a connection pool each, one database, one secret key and, with
  `--redis URL`, Redis for sessions and rate limits (FIELDBOOK_REDIS_URL, in a namespace of this
  run's own, whose keys are deleted at the end). Phone i talks to server i mod K, as a load
  balancer would spread them. The servers are stopped at the end whatever happens, and their
  logs searched for exceptions (the report counts each kind).
- `--phones N` phones and `--page-readers M` readers, each an httpx.AsyncClient signed in as a rep
  of its own through the demo sign-in (GET /auth/demo for the CSRF token and the reps, POST
  /auth/demo with one rep's id; 8 at a time), with a device id (uuid4) of its own.

Scenarios (`all`: push, then first-sync, then quiet, on the same servers and phones):

- push: first one phone alone pushes `--baseline-rounds` batches (the baseline); then every phone,
  for `--duration` seconds, pushes batches of `--batch` `reminders.create` (a client-made id, a
  title, due in a week at 09:30) with mutation ids 1, 2, 3 ... per device. A batch leaves the
  outbox only when a 200 answers for it; until then the same batch is sent again (for ids it has
  applied already the server answers with the stored result). Every result should be `applied`
  (`rejected` is counted, anything else is an error) and the answer's `last_mutation_id` the
  batch's last id. A 409 `mutation_gap` renumbers the outbox from the server's
  `last_mutation_id + 1`, as the app does. Applied/s is the `applied` results over the wall time.
- first-sync: first one phone alone, `--baseline-rounds` first syncs of a new device (the baseline
  is their median); then every phone at once: a pull with no cursor, then with each answer's
  cursor while `more`. Per phone the total (first request to last page, waits included), per page
  the latency; the totals as multiples of the baseline (the goal: no worse than 3x), and the wall
  time of the whole herd divided by the phones (server time per first sync when all come
  together). A phone not done within `--first-sync-limit` seconds gives up.
- quiet: every phone pulls with the cursor its first sync ended with, in a loop, for `--duration`
  seconds; phones whose first sync failed sit out. (Alone, `--scenario quiet` first syncs the
  phones beforehand, untimed, 4 at a time.)
- pages: during push and first-sync, the readers fetch Today (`GET /`) and one of their own
  accounts (the first on their `GET /accounts`) in a loop, without pausing.

Each request sent is an "attempt"; latency p50/p95/max are of the attempts answered 200. A busy
answer (503 or 429 with a `Retry-After` of seconds or an HTTP date) is "asked to wait": the phone
waits that long times a random factor in [1, 2) and sends the same request again. Anything else
that is not a 200 is an error, counted by kind (the status and the body's `code`; `timeout` when
no answer came within `--timeout` seconds for the whole request; the exception's name for a
connection error) and sent again after a back-off with full jitter (random in
[0, min(8, 0.5 * 2^(failures - 1))) s); a refusal (a 4xx other than 429) is not sent again, and that
phone stops. "Longest wait" is the longest any one request took from its first send to its last
answer, waits and back-offs included. Nothing is sent again later than `--timeout` seconds after
the scenario's end ("gave up"), so a scenario ends by its duration (first-sync: the limit) plus
twice the time-out at the most. CPU seconds of the server processes (/proc/<pid>/stat) and of this
process are given for each scenario: the phones are one Python process on the same machine, and
when it nears a core's worth, the client is the bottleneck. With the default time-out of 30 s, a
request stuck waiting for a pooled connection (SQLAlchemy's pool time-out is 30 s too) shows as a
client time-out rather than the 500 the server sends a moment later; `--timeout 45` shows those.

Prints Markdown on stdout, progress on stderr. `--scale 1 --phones 10 --duration 5` took about a
minute on a 2-vCPU VM, the demo load (11 to 20 s) included; `--scale 2 --phones 30 --duration 10`
about two minutes, and longer on a server that stops answering (every request then waits out its
time-out, and the herd's first syncs their `--first-sync-limit`).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import email.utils
import logging
import os
import random
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import PG_ADMIN_DSN, create_pg_database, csrf_token, drop_pg_database, pg_url

ROOT = Path(__file__).resolve().parent.parent
FIELDBOOK = str(Path(sys.executable).parent / "fieldbook")
SIGN_IN_AT_ONCE = 8
MAX_PAGES = 1_000  # of one first sync
REP_FORM = re.compile(r'id="role-rep".*?</form>', re.DOTALL)
USER_ID = re.compile(r'name="user_id" value="([0-9a-f-]{36})"')
ACCOUNT_LINK = re.compile(r'href="/accounts/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"')
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Timeout|Refused)\w*(:.*)?$")
NAN = float("nan")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def since(begin: float) -> float:
    return time.perf_counter() - begin


# --- a phone, and what it counts -----------------------------------------------------------------


@dataclass
class Phone:
    name: str
    user_id: str
    client: httpx.AsyncClient
    timeout: float  # seconds for one whole request
    device: str = field(default_factory=lambda: str(uuid.uuid4()))
    next_mutation: int = 1
    outbox: list[dict[str, Any]] = field(default_factory=list)  # the batch no 200 answered yet
    cursor: str | None = None  # where its last pull ended
    account: str | None = None  # readers: one of their own accounts


@dataclass
class Tally:
    attempts: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, of the attempts answered 200
    longest: float = 0.0  # seconds, first send to last answer of one request, waits included
    asked_to_wait: int = 0
    waited: float = 0.0  # seconds waited as asked
    errors: Counter[str] = field(default_factory=Counter)
    gave_up: int = 0
    applied: int = 0
    rejected: int = 0


def retry_after(response: httpx.Response) -> float | None:
    """The `Retry-After` header in seconds (it may be a number or an HTTP date); None without one."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def describe(response: httpx.Response) -> str:
    """`500`, or `409 mutation_gap` when the body is a protocol error."""
    code = None
    if "json" in response.headers.get("content-type", ""):
        try:
            code = response.json().get("code")
        except (ValueError, AttributeError):
            pass
    return f"{response.status_code} {code}" if code else str(response.status_code)


async def send(
    phone: Phone, tally: Tally, path: str, body: Any = None, *, until: float
) -> httpx.Response | None:
    """POST `body` as JSON (GET without one), again after busy answers and failures, until a 200 or
    a refusal (a 4xx but 429), returned as they are; None when it would have to wait past `until`."""
    first, failures = time.perf_counter(), 0
    while True:
        tally.attempts += 1
        begin, response, wait = time.perf_counter(), None, None
        try:
            async with asyncio.timeout(phone.timeout):
                if body is None:
                    response = await phone.client.get(path)
                else:
                    response = await phone.client.post(path, json=body)
        except (TimeoutError, httpx.TimeoutException):
            kind = f"timeout ({phone.timeout:g} s)"
        except httpx.HTTPError as error:
            kind = type(error).__name__
        else:
            if response.status_code == 200:
                tally.latencies.append(since(begin))
                tally.longest = max(tally.longest, since(first))
                return response
            if response.status_code in (429, 503):
                wait = retry_after(response)
            kind = describe(response)
        if wait is not None:
            tally.asked_to_wait += 1
            pause = wait * random.uniform(1, 2)
            tally.waited += pause
        else:
            tally.errors[kind] += 1
            if response is not None and 400 <= response.status_code < 500 and response.status_code != 429:
                tally.longest = max(tally.longest, since(first))
                return response  # sent again, it would be refused again
            failures += 1
            pause = random.uniform(0, min(8.0, 0.5 * 2 ** (failures - 1)))
        if time.perf_counter() + pause >= until:
            tally.gave_up += 1
            tally.longest = max(tally.longest, since(first))
            return None
        await asyncio.sleep(pause)


# --- what phones do ------------------------------------------------------------------------------


def reminder(mutation_id: int, due_on: str) -> dict[str, Any]:
    args = {
        "id": str(uuid.uuid4()),
        "title": f"Bench reminder {mutation_id}",
        "due_on": due_on,
        "due_time": "09:30",
    }
    return {"id": mutation_id, "name": "reminders.create", "args": args}


def pull_body(device: str, cursor: str | None) -> dict[str, Any]:
    return {"device_id": device, "schema_version": 1, "app_version": "bench", "cursor": cursor}


async def push_once(phone: Phone, tally: Tally, batch: int, until: float) -> bool:
    """Push the outbox (a new batch when it is empty) until a 200 answers for it. False: the phone
    gave up or was refused, and stops."""
    if not phone.outbox:
        due_on = (dt.date.today() + dt.timedelta(days=7)).isoformat()
        phone.outbox = [reminder(phone.next_mutation + n, due_on) for n in range(batch)]
    body = {"device_id": phone.device, "schema_version": 1, "app_version": "bench", "mutations": phone.outbox}
    response = await send(phone, tally, "/sync/push", body, until=until)
    if response is None:
        return False
    if response.status_code == 409 and describe(response) == "409 mutation_gap":
        last = response.json().get("last_mutation_id") or 0
        for n, mutation in enumerate(phone.outbox):  # renumber from the server's last + 1, as the app does
            mutation["id"] = last + 1 + n
        return True
    if response.status_code != 200:
        return False
    answer = response.json()
    status = {result["id"]: result["status"] for result in answer["results"]}
    for mutation in phone.outbox:
        outcome = status.get(mutation["id"], "missing")
        if outcome == "applied":
            tally.applied += 1
        elif outcome == "rejected":
            tally.rejected += 1
        else:
            tally.errors[f"result {outcome}"] += 1
    if answer["last_mutation_id"] != phone.outbox[-1]["id"]:
        tally.errors["last_mutation_id is not the batch's last"] += 1
    phone.next_mutation = phone.outbox[-1]["id"] + 1
    phone.outbox = []
    return True


async def push_loop(phone: Phone, tally: Tally, batch: int, deadline: float, until: float) -> None:
    while time.perf_counter() < deadline and await push_once(phone, tally, batch, until):
        pass


async def first_sync(phone: Phone, tally: Tally, until: float, device: str | None = None) -> tuple[float, int, int] | None:  # fmt: skip
    """Pull from no cursor while `more`: (seconds, records, pages), or None if it did not finish.
    With `device`, as that new device (the phone's cursor stays as it was)."""
    begin, cursor, records = time.perf_counter(), None, 0
    for page in range(1, MAX_PAGES + 1):
        response = await send(
            phone, tally, "/sync/pull", pull_body(device or phone.device, cursor), until=until
        )
        if response is None or response.status_code != 200:
            return None
        answer = response.json()
        cursor = answer["cursor"]
        records += len(answer["changes"])
        if not answer["more"]:
            if device is None:
                phone.cursor = cursor
            return since(begin), records, page
    tally.errors[f"more than {MAX_PAGES} pages"] += 1
    return None


async def quiet_loop(phone: Phone, tally: Tally, deadline: float, until: float) -> None:
    while time.perf_counter() < deadline:
        response = await send(phone, tally, "/sync/pull", pull_body(phone.device, phone.cursor), until=until)
        if response is None or response.status_code != 200:
            return
        phone.cursor = response.json()["cursor"]


async def read_pages(reader: Phone, tallies: dict[str, Tally], stop: asyncio.Event, until: float) -> None:
    pages = {"Today (`/`)": "/"}
    if reader.account:
        pages["account page"] = f"/accounts/{reader.account}"
    while not stop.is_set():
        for label, path in pages.items():
            response = await send(reader, tallies.setdefault(label, Tally()), path, until=until)
            if response is None:
                return
            if response.status_code != 200:
                await asyncio.sleep(0.5)  # refused: not in a tight loop


# --- scenarios -----------------------------------------------------------------------------------


@dataclass
class Outcome:
    name: str
    phones: int = 0
    tally: Tally = field(default_factory=Tally)
    wall: float = 0.0
    pages: dict[str, Tally] = field(default_factory=dict)  # the readers', by page
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    cancelled: int = 0  # phones still at work at the hard limit
    alone: Tally = field(default_factory=Tally)  # the baseline's requests
    baseline: list[tuple[float, int, int]] = field(default_factory=list)  # first syncs alone
    totals: list[float] = field(default_factory=list)  # seconds, each phone's first sync
    note: str = ""


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU of these processes (with their waited-for children), from /proc."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime .. cstime
    return total


async def finish(tasks: list[asyncio.Task[Any]], timeout: float, tally: Tally | None = None) -> int:
    """Wait for the tasks up to `timeout` seconds, cancel those still running; how many that was.
    A task that failed (an answer not as the protocol says, say) is counted in `tally`'s errors."""
    if not tasks:
        return 0
    _, pending = await asyncio.wait(tasks, timeout=max(1.0, timeout))
    for task in pending:
        task.cancel()
    for result in await asyncio.gather(*tasks, return_exceptions=True):
        if isinstance(result, Exception) and tally is not None:
            tally.errors[f"phone stopped: {type(result).__name__}: {str(result)[:60]}"] += 1
    return len(pending)


async def run_phones(outcome: Outcome, work: list[Coroutine[Any, Any, None]], readers: list[Phone], until: float, timeout: float, pids: list[int]) -> None:  # fmt: skip
    """The phones' work, with the readers reading meanwhile. No request starts after `until`, and
    none lasts longer than `timeout`: what still runs after both (and a few seconds) is cancelled."""
    stop = asyncio.Event()
    server_before, client_before, begin = cpu_seconds(pids), time.process_time(), time.perf_counter()
    reading = [asyncio.create_task(read_pages(r, outcome.pages, stop, until)) for r in readers]
    phones = [asyncio.create_task(w) for w in work]
    outcome.cancelled = await finish(phones, until - time.perf_counter() + timeout + 5, outcome.tally)
    outcome.wall = since(begin)
    stop.set()
    await finish(reading, timeout + 5)
    outcome.server_cpu = cpu_seconds(pids) - server_before
    outcome.client_cpu = time.process_time() - client_before


async def scenario_push(phones: list[Phone], readers: list[Phone], args: argparse.Namespace, pids: list[int]) -> Outcome:  # fmt: skip
    outcome = Outcome("push", phones=len(phones))
    until = time.perf_counter() + args.duration + args.timeout
    for _ in range(args.baseline_rounds):  # one phone alone
        await push_once(phones[0], outcome.alone, args.batch, until)
    deadline = time.perf_counter() + args.duration
    until = deadline + args.timeout
    work = [push_loop(phone, outcome.tally, args.batch, deadline, until) for phone in phones]
    await run_phones(outcome, work, readers, until, args.timeout, pids)
    if unsent := sum(len(phone.outbox) for phone in phones):
        outcome.note = f"{unsent:,} mutations still in outboxes at the end (no 200 answered for them)."
    return outcome


async def scenario_first_sync(phones: list[Phone], readers: list[Phone], args: argparse.Namespace, pids: list[int]) -> Outcome:  # fmt: skip
    outcome = Outcome("first-sync", phones=len(phones))
    for number in range(args.baseline_rounds):  # one phone alone, a new device each time
        done = await first_sync(phones[0], outcome.alone, time.perf_counter() + args.first_sync_limit, str(uuid.uuid4()))  # fmt: skip
        log(
            f"  alone {number + 1}: "
            + (f"{done[0]:.2f} s, {done[1]:,} records" if done else "did not finish")
        )
        if done:
            outcome.baseline.append(done)

    async def one(phone: Phone) -> None:
        if done := await first_sync(phone, outcome.tally, until):
            outcome.totals.append(done[0])

    until = time.perf_counter() + args.first_sync_limit
    await run_phones(outcome, [one(phone) for phone in phones], readers, until, args.timeout, pids)
    return outcome


async def scenario_quiet(phones: list[Phone], args: argparse.Namespace, pids: list[int]) -> Outcome:
    outcome = Outcome("quiet")
    unsynced = [phone for phone in phones if phone.cursor is None]
    if unsynced and args.scenario == "quiet":  # after first-sync, those it failed for sit out
        log(f"  first sync of {len(unsynced)} phones (untimed), 4 at a time")
        gate, until = asyncio.Semaphore(4), time.perf_counter() + args.first_sync_limit

        async def catch_up(phone: Phone) -> None:
            async with gate:
                await first_sync(phone, Tally(), until)

        await finish(
            [asyncio.create_task(catch_up(p)) for p in unsynced], args.first_sync_limit + args.timeout
        )
    ready = [phone for phone in phones if phone.cursor is not None]
    outcome.phones = len(ready)
    if len(ready) < len(phones):
        outcome.note = (
            f"{len(phones) - len(ready)} phones had no cursor (their first sync failed) and sat out."
        )
    if not ready:
        outcome.note = "No phone has a cursor (every first sync failed): no quiet pulls."
        return outcome
    deadline = time.perf_counter() + args.duration
    until = deadline + args.timeout
    work = [quiet_loop(phone, outcome.tally, deadline, until) for phone in ready]
    await run_phones(outcome, work, [], until, args.timeout, pids)
    return outcome


# --- signing in ----------------------------------------------------------------------------------


def new_client(base_url: str) -> httpx.AsyncClient:
    # No httpx time-out of its own: send() bounds each whole request with asyncio.timeout.
    limits = httpx.Limits(max_connections=2, max_keepalive_connections=1)
    return httpx.AsyncClient(base_url=base_url, timeout=None, limits=limits, follow_redirects=False)


async def demo_reps(base_url: str) -> list[str]:
    async with new_client(base_url) as client:
        page = await client.get("/auth/demo", timeout=60)
        page.raise_for_status()
    form = REP_FORM.search(page.text)
    return USER_ID.findall(form.group(0)) if form else []


async def sign_in(phone: Phone, gate: asyncio.Semaphore) -> bool:
    async with gate:
        for _ in range(3):
            try:
                async with asyncio.timeout(phone.timeout):
                    page = await phone.client.get("/auth/demo")
                    form = {"_csrf_token": csrf_token(page.text), "user_id": phone.user_id, "next": "/"}
                    answer = await phone.client.post("/auth/demo", data=form)
                if answer.status_code == 303:
                    return True
                log(f"  {phone.name}: sign-in answered {answer.status_code}")
            except (TimeoutError, httpx.HTTPError, AssertionError) as error:
                log(f"  {phone.name}: sign-in failed: {type(error).__name__} {error}")
            await asyncio.sleep(1)
    return False


async def find_account(reader: Phone) -> None:
    try:
        async with asyncio.timeout(reader.timeout):
            page = await reader.client.get("/accounts")
        if match := ACCOUNT_LINK.search(page.text):
            reader.account = match.group(1)
    except (TimeoutError, httpx.HTTPError) as error:
        log(f"  {reader.name}: GET /accounts failed: {type(error).__name__}")


async def run_scenarios(urls: list[str], args: argparse.Namespace, pids: list[int], notes: list[str]) -> list[Outcome]:  # fmt: skip
    reps = await demo_reps(urls[0])
    if not reps:
        raise RuntimeError("the demo sign-in page lists no reps")
    wanted = args.phones + args.page_readers
    if len(reps) < wanted:
        notes.append(f"Only {len(reps)} reps for {args.phones} phones and {args.page_readers} page readers: "
                     "some reps are signed in on several phones (a larger --scale has more).")  # fmt: skip
    people = [reps[n % len(reps)] for n in range(wanted)]
    everyone = [
        Phone(f"phone {n}" if n < args.phones else f"reader {n - args.phones}", people[n],
              new_client(urls[n % len(urls)]), args.timeout)
        for n in range(wanted)
    ]  # fmt: skip
    outcomes = []
    try:
        began, gate = time.perf_counter(), asyncio.Semaphore(SIGN_IN_AT_ONCE)
        signed = await asyncio.wait_for(asyncio.gather(*(sign_in(phone, gate) for phone in everyone)), 600)
        log(f"signed in {sum(signed)} of {len(signed)} in {since(began):.1f} s")
        if not all(signed):
            notes.append(f"{signed.count(False)} of {len(signed)} sign-ins failed; those phones sat out.")
        phones = [p for p, ok in zip(everyone[: args.phones], signed[: args.phones], strict=True) if ok]
        readers = [p for p, ok in zip(everyone[args.phones :], signed[args.phones :], strict=True) if ok]
        await asyncio.gather(*(find_account(reader) for reader in readers))
        if not phones:
            raise RuntimeError("no phone could sign in")
        for name in ["push", "first-sync", "quiet"] if args.scenario == "all" else [args.scenario]:
            log(
                f"scenario {name}: {len(phones)} phones"
                + (f", {len(readers)} readers" if name != "quiet" else "")
            )
            try:
                if name == "push":
                    outcome = await scenario_push(phones, readers, args, pids)
                elif name == "first-sync":
                    outcome = await scenario_first_sync(phones, readers, args, pids)
                else:
                    outcome = await scenario_quiet(phones, args, pids)
            except Exception as error:  # report it and go on with the next scenario
                notes.append(f"Scenario {name} broke off: {type(error).__name__}: {error}")
                log(f"  broke off: {type(error).__name__}: {error}")
                continue
            t = outcome.tally
            log(f"  done in {outcome.wall:.1f} s: {t.attempts:,} requests, {len(t.latencies):,} answered 200, "
                f"errors {dict(t.errors) or 'none'}, asked to wait {t.asked_to_wait}")  # fmt: skip
            outcomes.append(outcome)
    finally:
        await asyncio.gather(*(phone.client.aclose() for phone in everyone), return_exceptions=True)
    return outcomes


# --- setup: the database and the servers ---------------------------------------------------------


async def pg_value(query: str, *params: Any, database: str = "postgres") -> Any:
    connection = await asyncpg.connect(PG_ADMIN_DSN.rsplit("/", 1)[0] + "/" + database)
    try:
        return await connection.fetchval(query, *params)
    finally:
        await connection.close()


def fieldbook(env: dict[str, str], *command: str, timeout: float) -> None:
    result = subprocess.run(
        [FIELDBOOK, *command], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"fieldbook {' '.join(command)} failed:\n{result.stdout[-2000:]}{result.stderr[-4000:]}"
        )


def prepare_database(name: str, env: dict[str, str], args: argparse.Namespace) -> tuple[float | None, int]:
    """Migrate, and load the demo data unless a reused database has some: (seconds loading, accounts)."""
    if args.reuse_database and asyncio.run(pg_value("SELECT 1 FROM pg_database WHERE datname = $1", name)):
        log(f"reusing database {name}")
    else:
        create_pg_database(name)
    began = time.perf_counter()
    fieldbook(env, "database", "upgrade", "--no-prompt", timeout=600)
    log(f"migrated in {since(began):.1f} s")
    accounts = "SELECT count(*) FROM accounts"
    if args.reuse_database and (held := asyncio.run(pg_value(accounts, database=name))):
        log(f"{held:,} accounts in it already: not loading")
        return None, held
    log(f"loading the demo data at --scale {args.scale} ...")
    began = time.perf_counter()
    fieldbook(env, "demo", "--scale", str(args.scale), timeout=3 * 3600)
    loaded = since(began)
    log(f"loaded --scale {args.scale} in {loaded:.0f} s")
    return loaded, asyncio.run(pg_value(accounts, database=name))


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(env: dict[str, str], folder: Path, number: int) -> Server:
    port = free_port()
    log_path = folder / f"server-{number}.log"
    with log_path.open("wb") as output:  # in a session of its own: stopping it stops nothing else
        process = subprocess.Popen(
            [FIELDBOOK, "run", "--host", "127.0.0.1", "--port", str(port)],
            env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    server = Server(f"http://127.0.0.1:{port}", process, log_path)
    began = time.perf_counter()
    while since(began) < 90:
        if process.poll() is not None:
            raise RuntimeError(f"server {number} stopped while starting:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                log(f"server {number} up on {server.url} (pid {process.pid}) in {since(began):.1f} s")
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    stop_server(server)
    raise RuntimeError(f"server {number} did not answer /healthz within 90 s")


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=10)


def forget_redis_keys(url: str, namespace: str) -> None:
    """The sessions and rate-limit counters this run left in Redis (sessions live 30 days)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{namespace}_*", count=1_000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def server_troubles(servers: list[Server]) -> Counter[str]:
    """The exceptions in the servers' logs (the last line of each traceback), ids blanked out."""
    found: Counter[str] = Counter()
    for server in servers:
        for line in server.log_path.read_text(errors="replace").splitlines():
            if EXCEPTION_LINE.match(line):
                found[re.sub(r"\b[0-9a-f]{8}-[0-9a-f-]{27}\b", "<id>", line)[:220]] += 1
    return found


def server_settings(env: dict[str, str]) -> str:
    """Each server's connection pool and sync settings, as it makes them from `env` (no connecting)."""
    try:
        from server.db import alchemy_config
        from server.settings import Settings

        settings = Settings.from_env(env)
        engine = alchemy_config(settings).get_engine()
        pool = engine.sync_engine.pool
        parts = [
            f"pool_size {pool.size()}",
            f"max_overflow {pool._max_overflow}",
            f"pool timeout {pool._timeout:g} s",
        ]
        parts += [
            f"{setting.name} {getattr(settings, setting.name)}"
            for setting in dataclasses.fields(settings)
            if re.search(r"sync|queue|concurrency", setting.name)
        ]
        asyncio.run(engine.dispose())
        return ", ".join(parts)
    except Exception as error:  # only a line of the report
        return f"not visible ({type(error).__name__}: {error})"


def code_version() -> str:
    """The commit, and whether server/ or sync/ hold changes not committed (the servers run those)."""
    git = ["git", "--no-optional-locks", "-C", str(ROOT)]
    commit = subprocess.run(
        [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    changed = subprocess.run([*git, "status", "--porcelain", "--", "server", "sync"], capture_output=True, text=True, check=False)  # fmt: skip
    files = [line[3:] for line in changed.stdout.splitlines()]
    return (commit.stdout.strip() or "unknown (not a git work tree)") + (
        f" with uncommitted changes in {', '.join(files)}" if files else ""
    )


# --- the machine and the report ------------------------------------------------------------------


def timeit_reading() -> str:
    command = [sys.executable, "-m", "timeit", "sum(range(10000))"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    return (result.stdout or result.stderr).strip()


def machine() -> dict[str, str]:
    model = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
    memory = re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE)
    return {
        "nproc": subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip(),
        "CPU": model.group(1) if model else "?",
        "memory": f"{int(memory.group(1)) / 2**20:.1f} GiB" if memory else "?",
        "PostgreSQL": asyncio.run(pg_value("SHOW server_version")),
        "its max_connections": asyncio.run(pg_value("SHOW max_connections")),
        "Python": sys.version.split()[0],
    }


def q(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else NAN


def ms(seconds: float) -> str:
    return "-" if seconds != seconds else f"{seconds * 1000:,.0f} ms"


def spread(samples: list[float]) -> str:
    return f"{ms(q(samples, 0.5))} / {ms(q(samples, 0.95))} / {ms(max(samples, default=NAN))}"


def per_second(count: float, seconds: float) -> str:
    return f"{count / seconds:,.1f}" if seconds else "-"


def errors_text(tally: Tally) -> str:
    return "; ".join(f"{kind}: {count:,}" for kind, count in tally.errors.most_common()) or "none"


def request_rows(tally: Tally, what: str = "latency") -> list[tuple[str, str]]:
    return [
        ("requests sent (attempts) / answered 200", f"{tally.attempts:,} / {len(tally.latencies):,}"),
        (f"{what} p50 / p95 / max (of the 200s)", spread(tally.latencies)),
        ("longest wait of one request, waits and back-offs included", ms(tally.longest)),
        ("errors, by kind", errors_text(tally)),
        (
            "asked to wait (503/429 with Retry-After)",
            f"{tally.asked_to_wait:,} (waited {tally.waited:,.1f} s in all)",
        ),
        ("gave up (still failing at the scenario's end + time-out)", f"{tally.gave_up:,}"),
    ]


def table(title: str, outcome: Outcome, rows: list[tuple[str, str]]) -> None:
    rows.append(("CPU: servers / this client", f"{outcome.server_cpu:.1f} s / {outcome.client_cpu:.1f} s"))
    if outcome.cancelled:
        rows.append(("phones still at work at the hard limit (cancelled)", f"{outcome.cancelled}"))
    print(f"\n| {title} | |\n| --- | ---: |")
    for key, value in rows:
        print(f"| {key} | {value} |")
    if outcome.note:
        print(f"\n{outcome.note}")


def push_table(outcome: Outcome, batch: int) -> None:
    t = outcome.tally
    table(f"push: {batch} x reminders.create a request", outcome, [
        ("one phone alone: pushes, p50 / max", f"{len(outcome.alone.latencies)}, {ms(q(outcome.alone.latencies, 0.5))} / {ms(max(outcome.alone.latencies, default=NAN))}"),
        ("phones pushing at once", f"{outcome.phones}"),
        ("wall time", f"{outcome.wall:.1f} s"),
        ("mutations applied / rejected", f"{t.applied:,} / {t.rejected:,}"),
        ("mutations applied/s, the whole organisation", per_second(t.applied, outcome.wall)),
        ("pushes answered/s", per_second(len(t.latencies), outcome.wall)),
        *request_rows(t),
    ])  # fmt: skip


def first_sync_table(outcome: Outcome) -> None:
    t, totals = outcome.tally, outcome.totals
    base = statistics.median(seconds for seconds, _, _ in outcome.baseline) if outcome.baseline else NAN
    _, records, pages = outcome.baseline[0] if outcome.baseline else (0, 0, 0)
    each = outcome.wall / max(1, outcome.phones)

    def times(value: float) -> str:
        return "-" if value != value or base != base else f"{value / base:.1f}x"

    table("first sync", outcome, [
        ("one phone alone (median; each round)", f"{ms(base)} ({', '.join(ms(s) for s, _, _ in outcome.baseline) or 'none finished'})"),
        ("a first sync: records, pages", f"{records:,}, {pages}"),
        ("one phone alone: page p50 / max", f"{ms(q(outcome.alone.latencies, 0.5))} / {ms(max(outcome.alone.latencies, default=NAN))}"),
        ("phones at once / finished", f"{outcome.phones} / {len(totals)}"),
        ("each phone's first sync p50 / p95 / max", spread(totals)),
        ("... times one phone alone", f"{times(q(totals, 0.5))} / {times(q(totals, 0.95))} / {times(max(totals, default=NAN))}"),
        ("p95 within 3x one phone alone", "-" if not totals or base != base else "yes" if q(totals, 0.95) <= 3 * base else "no"),
        ("wall time of them all / per phone", f"{outcome.wall:.1f} s / " + (f"{ms(each)} ({times(each)} one phone alone)" if len(totals) == outcome.phones else "- (not all finished)")),
        *request_rows(t, "page latency"),
    ])  # fmt: skip


def quiet_table(outcome: Outcome) -> None:
    t = outcome.tally
    if not outcome.phones:
        print(f"\n{outcome.note}")
        return
    table("quiet pull (nothing changed)", outcome, [
        ("phones pulling at once", f"{outcome.phones}"),
        ("wall time", f"{outcome.wall:.1f} s"),
        ("quiet pulls/s", per_second(len(t.latencies), outcome.wall)),
        *request_rows(t),
    ])  # fmt: skip


def report(args: argparse.Namespace, facts: dict[str, Any], outcomes: list[Outcome], notes: list[str], troubles: Counter[str]) -> None:  # fmt: skip
    print("## A sales force syncing at once (`bench/sync_load.py`)\n")
    print("Machine: " + ", ".join(f"{key} {value}" for key, value in facts["machine"].items()) + ".")
    print(
        f'`python -m timeit "sum(range(10000))"`: {facts["timeit_before"]} (before); {facts["timeit_after"]} (after).'
    )
    loaded = facts["loaded"]
    data = f"loaded at --scale {args.scale} in {loaded:.0f} s" if loaded is not None else "reused, not loaded"
    print(f"\nSettings: `{' '.join(sys.argv[1:]) or '(the defaults)'}`: {args.phones} phones, batches of {args.batch}, "
          f"{args.duration:g} s of pushing and of quiet pulls, {args.page_readers} page readers, {args.servers} server "
          f"process{'es' if args.servers > 1 else ''}, time-out {args.timeout:g} s. Demo data: {facts['accounts']:,} "
          f"accounts ({data}). Sessions and rate limits in {'Redis' if args.redis else 'the database'}. "
          f"Each server: {facts['pool']}. Code: {facts['code']}.")  # fmt: skip
    for note in notes:
        print(f"\n**{note}**")
    for outcome in outcomes:
        if outcome.name == "push":
            push_table(outcome, args.batch)
        elif outcome.name == "first-sync":
            first_sync_table(outcome)
        else:
            quiet_table(outcome)
    pages = [(outcome.name, label, t) for outcome in outcomes for label, t in outcome.pages.items()]
    if pages:
        print("\n| pages meanwhile | page | requests | p50 | p95 | max | errors | asked to wait |")
        print("| --- | --- | ---: | ---: | ---: | ---: | --- | ---: |")
        for name, label, t in pages:
            print(f"| during {name} | {label} | {t.attempts:,} | {ms(q(t.latencies, 0.5))} | {ms(q(t.latencies, 0.95))} "
                  f"| {ms(max(t.latencies, default=NAN))} | {errors_text(t)} | {t.asked_to_wait:,} |")  # fmt: skip
    if troubles:
        print("\n| exceptions in the servers' logs (a traceback's last line) | times |\n| --- | ---: |")
        for line, count in troubles.most_common(10):
            print(f"| `{line.replace('|', '/')}` | {count:,} |")
    else:
        print("\nNo exceptions in the servers' logs.")


# --- main ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description="A whole sales force syncing at once (issue 17).")
    parser.add_argument("--scenario", choices=["push", "first-sync", "quiet", "all"], default="all")
    parser.add_argument("--phones", type=int, default=200)
    parser.add_argument("--batch", type=int, default=10, help="mutations a push")
    parser.add_argument("--duration", type=float, default=20, help="seconds of pushing, and of quiet pulls")
    parser.add_argument("--servers", type=int, choices=[1, 2], default=2)
    parser.add_argument(
        "--scale", type=int, default=20, help="of the demo data: 2,000 accounts, 21 reps each"
    )
    parser.add_argument("--reuse-database", metavar="NAME", help="keep NAME loaded, for the next run")
    parser.add_argument("--page-readers", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=30, help="seconds for one whole request")
    parser.add_argument(
        "--first-sync-limit", type=float, default=300, help="seconds for the herd's first syncs"
    )
    parser.add_argument("--baseline-rounds", type=int, default=3, help="of one phone alone")
    parser.add_argument(
        "--redis", metavar="URL", help="sessions and rate limits in Redis (FIELDBOOK_REDIS_URL)"
    )
    args = parser.parse_args()
    bounds = {"--phones": (args.phones, 1, 2_000), "--batch": (args.batch, 1, 500), "--scale": (args.scale, 1, 200),
              "--duration": (args.duration, 1, 3_600), "--page-readers": (args.page_readers, 0, 100),
              "--timeout": (args.timeout, 1, 600), "--first-sync-limit": (args.first_sync_limit, 1, 3_600),
              "--baseline-rounds": (args.baseline_rounds, 1, 20)}  # fmt: skip
    for flag, (value, low, high) in bounds.items():
        if not low <= value <= high:
            parser.error(f"{flag}: from {low} to {high}")
    if args.reuse_database and not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", args.reuse_database):
        parser.error("--reuse-database: lower-case letters, digits and _ only")
    logging.getLogger("httpx").setLevel(logging.WARNING)

    facts: dict[str, Any] = {"machine": machine(), "timeit_before": timeit_reading(), "loaded": None, "accounts": 0, "pool": "-", "code": code_version()}  # fmt: skip
    name = args.reuse_database or f"fieldbook_bench_{uuid.uuid4().hex[:8]}"
    notes: list[str] = []
    outcomes: list[Outcome] = []
    servers: list[Server] = []
    troubles: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="fieldbook-sync-load-") as folder:
        env = {
            **os.environ,
            "LITESTAR_APP": "server.app:create_app",
            "FIELDBOOK_DATABASE_URL": pg_url(name),
            "FIELDBOOK_SECRET_KEY": secrets.token_urlsafe(48),  # the same for all: sessions, CSRF tokens
            "FIELDBOOK_VAR_DIR": folder,
            "FIELDBOOK_DEMO": "1",
            "FIELDBOOK_SIGN_IN_RATE_LIMIT": "1000000",
            "FIELDBOOK_API_RATE_LIMIT": "1000000",
        }
        if args.redis:
            env |= {
                "FIELDBOOK_REDIS_URL": args.redis,
                "FIELDBOOK_REDIS_NAMESPACE": f"bench-{uuid.uuid4().hex[:8]}",
            }
        try:
            facts["loaded"], facts["accounts"] = prepare_database(name, env, args)
            facts["pool"] = server_settings(env)
            for number in range(args.servers):  # one after another: the first writes the keys in var/
                servers.append(start_server(env, Path(folder), number))
            pids = [server.process.pid for server in servers]
            outcomes = asyncio.run(run_scenarios([server.url for server in servers], args, pids, notes))
        except Exception as error:  # report what there is
            notes.append(f"The run broke off: {type(error).__name__}: {error}")
            log(f"broke off: {type(error).__name__}: {error}")
        finally:
            for server in servers:
                if server.process.poll() is not None:
                    notes.append(
                        f"The server on {server.url} had stopped (exit code {server.process.returncode})."
                    )
                stop_server(server)
            troubles = server_troubles(servers)
            if args.redis:
                forget_redis_keys(args.redis, env["FIELDBOOK_REDIS_NAMESPACE"])
            if not args.reuse_database:
                drop_pg_database(name)
                log(f"dropped database {name}")
    facts["timeit_after"] = timeit_reading()
    report(args, facts, outcomes, notes, troubles)


if __name__ == "__main__":
    main()
