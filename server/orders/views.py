"""Order lookup on the phone: search, filter by status, and the order page."""

from __future__ import annotations

from litestar import Controller, Request, Response, get
from litestar.params import FromPath, FromQuery
from litestar.response import Stream

from server.auth import current_user
from server.db import DbSession
from server.imports import export
from server.orders import service as orders
from server.orders.models import OrderStatus
from server.web import Offset, render


class OrdersController(Controller):
    path = "/orders"

    @get("/", name="orders.list")
    async def index(
        self, request: Request, db_session: DbSession, q: FromQuery[str] = "", status: FromQuery[str] = "",
        offset: Offset = 0,
    ) -> Response:  # fmt: skip
        page = await orders.search(db_session, current_user(request), q, status=status, offset=offset)
        context = {"page": page, "q": q, "status": status, "statuses": list(OrderStatus)}
        return render(request, "orders/list.html", context, fragments={"order-results": "results"})

    @get("/export.csv", name="orders.export")
    async def export_csv(
        self, request: Request, q: FromQuery[str] = "", status: FromQuery[str] = ""
    ) -> Stream:
        """The list as CSV (one row per order line), with its filters: the orders import's format."""
        query = export.orders_query(current_user(request), q, status)
        return export.csv_response(request, "orders", export.ORDER_COLUMNS, query)

    @get("/{number:str}", name="orders.show")
    async def show(self, request: Request, db_session: DbSession, number: FromPath[str]) -> Response:
        order = await orders.get_by_number(db_session, current_user(request), number)
        happened = {event.status: event.happened_at for event in order.timeline}
        # A later status means the earlier steps were passed, even when the ERP never reported them.
        progress = [status for status in OrderStatus if status is not OrderStatus.CANCELLED]
        furthest = max((progress.index(status) for status in happened if status in progress), default=-1)
        done = set(progress[: furthest + 1]) | set(happened)
        context = {"order": order, "steps": list(OrderStatus), "happened": happened, "done": done}
        return render(request, "orders/show.html", context)
