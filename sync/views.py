"""`POST /sync/push` and `POST /sync/pull`: a device hands over its changes and catches up."""

from __future__ import annotations

import logging

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


@post("/sync/push", name="sync.push", status_code=200)
async def push(request: Request, data: JSONBody[PushRequest]) -> Response[PushResponse | ProtocolError]:
    """Apply a device's mutations in order, each exactly once.

    200 with a result per mutation (applied, or rejected with the reason); 409 when a mutation
    skips ahead or the device belongs to someone else; 426 when the app must update first; 503
    with `last_mutation_id` when the server failed part-way (what it reports as applied is).
    """
    if request.content_type[0] != "application/json":  # no cross-site form can send this
        return Response(ProtocolError(code="json_only", detail="Send JSON."), status_code=415)
    alchemy = request.app.state["alchemy"]
    user = current_user(request)
    try:
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
        return Response(error, status_code=refused.status_code)
    except Exception:
        logging.getLogger("fieldbook").exception("sync push failed for device %s", data.device_id)
        async with alchemy.get_session() as session:
            device = await session.get(Device, data.device_id)
        last = device.last_mutation_id if device else None
        return Response(ProtocolError(code="server_error", detail="Try again later.", last_mutation_id=last),
                        status_code=503)  # fmt: skip
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
    try:
        async with sessions_on_one_connection(request.app.state["alchemy"].get_engine()) as open_session:
            answer = await pulling.pull(open_session, current_user(request).id, data)
    except pushing.SyncRefused as refused:
        return Response(
            ProtocolError(code=refused.code, detail=refused.detail), status_code=refused.status_code
        )
    return Response(answer)


@get("/sync", name="sync.briefcase", include_in_schema=False)
async def briefcase(request: Request) -> Response:
    """The briefcase's shell: the device draws this page (and, offline, any page) from what it holds."""
    if is_htmx(request):  # its scripts must run, so it is always a whole page
        return Response(None, status_code=200, headers={"HX-Redirect": "/sync"})
    return render(request, "sync/briefcase.html", {"currency_digits": pricing.currency_digits()})
