"""The ERP's door: `PUT /api/v1/orders/{number}`, authenticated by an API bearer token."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, put
from litestar.params import FromPath, JSONBody

from server.auth import PUBLIC
from server.db import DbSession, stamp_versions
from server.errors import ValidationError
from server.orders import service as orders
from server.orders.models import Order
from server.tokens import service as tokens
from server.tokens.models import TokenPurpose


def order_json(order: Order) -> dict[str, Any]:
    return {
        "number": order.number,
        "customer_number": order.account.customer_number,
        "customer_po": order.customer_po,
        "status": order.status.value,
        "ordered_at": order.ordered_at.isoformat(),
        "currency": order.currency,
        "total": str(order.total),
        "version": order.version,
        "lines": [
            {
                "position": line.position,
                "sku": line.sku,
                "description": line.description,
                "quantity": str(line.quantity),
                "unit_price": str(line.unit_price),
                "amount": str(line.amount),
            }
            for line in order.lines
        ],
        "timeline": [
            {"status": event.status.value, "at": event.happened_at.isoformat()} for event in order.timeline
        ],
    }


@put("/api/v1/orders/{number:str}", opt=PUBLIC, name="api.orders.upsert", status_code=200)
async def upsert_order(
    request: Request, db_session: DbSession, number: FromPath[str], data: JSONBody[orders.OrderIn]
) -> Response:
    """Create or update an order with its lines and status. Sending the same order again changes nothing.

    201 when the order is new, 200 otherwise; 401 without a valid token; 422 with the fields at
    fault when the order cannot be accepted (nothing is written then).
    """
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or await tokens.verify(db_session, token.strip(), TokenPurpose.API) is None:
        return Response({"detail": "A valid API bearer token is required."}, status_code=401,
                        headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
    try:
        order, outcome = await orders.upsert(db_session, number, data)
    except ValidationError as error:
        await db_session.rollback()
        problems = {name: message.render() for name, message in error.errors.items()}
        return Response({"detail": "The order was not accepted.", "errors": problems}, status_code=422)
    await stamp_versions(db_session)  # the answer carries the order's real version
    body = {"outcome": outcome, "order": order_json(order)}  # built before the commit can expire anything
    await db_session.commit()
    return Response(body, status_code=201 if outcome == "created" else 200)
