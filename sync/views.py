"""`POST /sync/push` and `POST /sync/pull`: a device hands over its changes and catches up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from litestar import Request, Response, get, post
from litestar.params import JSONBody

from server.auth import current_user
from server.db import sessions_on_one_connection
from server.quotes import pricing
from server.web import is_htmx, render, translate
from sync import pull as pulling
from sync import push as pushing
from sync.models import Device
from sync.protocol import ProtocolError, PullRequest, PullResponse, PushRequest, PushResponse


@dataclass
class SyncSlots:
    """How many syncs a server process works on at once (`Settings.sync_slots`).

    Each sync holds one database connection while it works; past this many, a sync waits for a
    turn, and one that waits `wait_seconds` is answered 503 with Retry-After instead of queueing
    on the pool, where it would hold the pages of everyone else up too. (asyncio.Semaphore wakes
    its waiters in the order they came.)"""

    limit: int
    wait_seconds: float
    waiting: int = 0
    _free: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self._free = asyncio.Semaphore(self.limit)

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[bool]:
        """Yields whether this sync got its turn in time."""
        self.waiting += 1
        try:
            await asyncio.wait_for(self._free.acquire(), self.wait_seconds)
        except TimeoutError:
            got = False
        else:
            got = True
        finally:
            self.waiting -= 1
        try:
            yield got
        finally:
            if got:
                self._free.release()

    @property
    def all_taken(self) -> bool:
        return self._free.locked()

    def retry_after(self) -> int:
        """Seconds to come back after: about as long as the syncs waiting now take to clear, at
        about three syncs a second for each slot (a push of ten, or a quiet pull, under load)."""
        return min(30, 1 + self.waiting // (3 * self.limit))


def _slots(request: Request) -> SyncSlots:
    # Made on first use, on the event loop that serves the app.
    slots = request.app.state.get("sync_slots")
    if slots is None:
        settings = request.app.state["settings"]
        slots = request.app.state["sync_slots"] = SyncSlots(settings.sync_slots, settings.sync_queue_seconds)
    return slots


def _busy(slots: SyncSlots) -> Response[ProtocolError]:
    return Response(
        ProtocolError(code="busy", detail="The server is busy; try again shortly."),
        status_code=503,
        headers={"Retry-After": str(slots.retry_after())},
    )


def _retry_soon(status_code: int) -> dict[str, str]:
    """A 503 that is not about the queue (a race lost three times, a failure part-way) is worth
    trying again soon."""
    return {"Retry-After": "1"} if status_code == 503 else {}


@post("/sync/push", name="sync.push", status_code=200)
async def push(request: Request, data: JSONBody[PushRequest]) -> Response[PushResponse | ProtocolError]:
    """Apply a device's mutations in order, each exactly once.

    200 with a result per mutation (applied, or rejected with the reason); 409 when a mutation
    skips ahead or the device belongs to someone else; 426 when the app must update first; 503
    with `last_mutation_id` when the server failed part-way (what it reports as applied is), and
    503 `busy` with Retry-After when too many syncs are under way.
    """
    if request.content_type[0] != "application/json":  # no cross-site form can send this
        return Response(ProtocolError(code="json_only", detail="Send JSON."), status_code=415)
    alchemy = request.app.state["alchemy"]
    user = current_user(request)
    slots = _slots(request)
    try:
        async with slots.turn() as got_a_turn:
            if not got_a_turn:
                return _busy(slots)
            async with sessions_on_one_connection(alchemy.get_engine()) as open_session:
                answer = await pushing.push(
                    open_session,
                    user.id,
                    data,
                    request.app.state["sync_commands"],
                    lambda m: translate(request, m),
                )
    except pushing.SyncRefused as refused:
        error = ProtocolError(
            code=refused.code, detail=refused.detail, last_mutation_id=refused.last_mutation_id
        )
        return Response(error, status_code=refused.status_code, headers=_retry_soon(refused.status_code))
    except Exception:
        logging.getLogger("fieldbook").exception("sync push failed for device %s", data.device_id)
        async with alchemy.get_session() as session:
            device = await session.get(Device, data.device_id)
        last = device.last_mutation_id if device else None
        return Response(ProtocolError(code="server_error", detail="Try again later.", last_mutation_id=last),
                        status_code=503, headers=_retry_soon(503))  # fmt: skip
    return Response(answer)


@post("/sync/pull", name="sync.pull", status_code=200)
async def pull(request: Request, data: JSONBody[PullRequest]) -> Response[PullResponse | ProtocolError]:
    """The changes since the device's cursor to the records its person may see.

    200 with puts and deletes (`reset`: replace everything held; `more`: pull again and apply all
    pages together); 401 for someone no longer active (the device wipes its data); 409 when the
    device belongs to someone else; 426 when the app must update first.
    """
    if request.content_type[0] != "application/json":
        return Response(ProtocolError(code="json_only", detail="Send JSON."), status_code=415)
    slots = _slots(request)
    try:
        async with slots.turn() as got_a_turn:
            if not got_a_turn:
                return _busy(slots)
            async with sessions_on_one_connection(request.app.state["alchemy"].get_engine()) as open_session:
                answer = await pulling.pull(open_session, current_user(request).id, data)
    except pushing.SyncRefused as refused:
        return Response(
            ProtocolError(code=refused.code, detail=refused.detail),
            status_code=refused.status_code,
            headers=_retry_soon(refused.status_code),
        )
    return Response(answer)


@get("/sync", name="sync.briefcase", include_in_schema=False)
async def briefcase(request: Request) -> Response:
    """The briefcase's shell: the device draws this page (and, offline, any page) from what it holds."""
    if is_htmx(request):  # its scripts must run, so it is always a whole page
        return Response(None, status_code=200, headers={"HX-Redirect": "/sync"})
    return render(request, "sync/briefcase.html", {"currency_digits": pricing.currency_digits()})
