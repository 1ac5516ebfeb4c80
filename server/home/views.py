"""The "More" page: everything that is not in the bottom navigation."""

from __future__ import annotations

from litestar import Controller, Request, Response, get

from server.web import render


class HomeController(Controller):
    @get("/more", name="home.more")
    async def more(self, request: Request) -> Response:
        return render(request, "home/more.html")
