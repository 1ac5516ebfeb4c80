"""The SCIM 2.0 endpoints, `/scim/v2/...`: the identity provider's provisioning API.

Every request carries `Authorization: Bearer <token>`, a SCIM token made with
`fieldbook scim-token create NAME` (stored hashed, checked here; the browser sign-in does not
apply). Each request is one database transaction: committed when it succeeded, rolled back on
any error, so a refused request writes nothing. Errors are SCIM error bodies, never a 500 for
bad input.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from litestar import HttpMethod, Request, Response, route
from litestar.exceptions import HTTPException
from scim2_models import PayloadTooLargeException, SCIMException, UnauthorizedException, UniquenessException
from scim2_server.requests import ScimRequest
from scim2_server.responses import SCIM_MEDIA_TYPE, ScimResponse
from sqlalchemy.exc import IntegrityError

from server.auth import PUBLIC
from server.db import DbSession
from server.scim.provider import FieldbookHandler, FieldbookService, build_provider
from server.scim.storage import FieldbookStorage
from server.tokens import service as tokens
from server.tokens.models import TokenPurpose

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from server.settings import Settings

log = logging.getLogger("fieldbook.scim")
PREFIX = "/scim/v2"
METHODS = [HttpMethod.GET, HttpMethod.POST, HttpMethod.PUT, HttpMethod.PATCH, HttpMethod.DELETE]


def scim_routes(settings: Settings) -> list[Any]:
    """The route handlers of the SCIM API, for `create_app`."""
    provider = build_provider()
    service = FieldbookService(provider)

    @route(
        [PREFIX, f"{PREFIX}/{{path:path}}"],
        http_method=METHODS,
        opt=PUBLIC,
        name="scim",
        include_in_schema=False,
    )
    async def scim_api(request: Request, db_session: DbSession) -> Response[bytes]:
        try:
            scim_request = await _read(request, settings)
        except HTTPException as error:  # the body is over the size limit
            return _send(service.error_response(PayloadTooLargeException(detail=error.detail)))
        if await _token(request, db_session) is None:
            await db_session.rollback()
            return _send(
                service.error_response(UnauthorizedException(detail="A valid SCIM bearer token is required"))
            )
        handler = FieldbookHandler(service, FieldbookStorage(db_session, settings, provider))
        try:
            response = await handler.handle(scim_request)
        except SCIMException as error:
            log.info("scim %s %s: %s %s", request.method, scim_request.path, error.status, error)
            response = service.error_response(error)
        except Exception as error:  # a bug: nothing is written, and the client gets a SCIM 500
            log.exception("scim %s %s failed", request.method, scim_request.path)
            response = service.error_response(error)
        if response.status >= HTTPStatus.BAD_REQUEST:
            await db_session.rollback()
            return _send(response)
        try:
            await db_session.commit()
        except IntegrityError:  # a concurrent request took a unique value first
            await db_session.rollback()
            return _send(service.error_response(UniquenessException(detail="That value is already taken.")))
        except Exception as error:
            log.exception("scim %s %s: commit failed", request.method, scim_request.path)
            await db_session.rollback()
            return _send(service.error_response(error))
        return _send(response)

    return [scim_api]


async def _read(request: Request, settings: Settings) -> ScimRequest:
    base = settings.public_url or str(request.base_url).rstrip("/")
    path = "/" + str(request.path_params.get("path", "")).strip("/")
    return ScimRequest(
        method=request.method,
        base_url=f"{base}{PREFIX}",
        path=path.removesuffix(".scim"),
        query={key: value for key, value in request.query_params.items()},
        headers=list(request.headers.items()),
        body=await request.body(),
    )


async def _token(request: Request, session: AsyncSession) -> Any:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return await tokens.verify(session, token.strip(), TokenPurpose.SCIM)


def _send(response: ScimResponse) -> Response[bytes]:
    headers = {name: value for name, value in response.headers.items() if name.lower() != "content-type"}
    headers["Cache-Control"] = "no-store"
    body = None if response.body is None else json.dumps(response.body).encode()
    return Response(body, status_code=int(response.status), headers=headers, media_type=SCIM_MEDIA_TYPE)
