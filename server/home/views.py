"""The app's top-level pages: Today, Leads, More."""

from __future__ import annotations

from litestar import Controller, Request, Response, get

from server.web import render


class HomeController(Controller):
    @get("/", name="home.today")
    async def today(self, request: Request) -> Response:
        return render(request, "home/today.html")

    @get("/leads", name="home.leads")
    async def leads(self, request: Request) -> Response:
        return render(request, "home/leads.html")

    @get("/more", name="home.more")
    async def more(self, request: Request) -> Response:
        return render(request, "home/more.html")
