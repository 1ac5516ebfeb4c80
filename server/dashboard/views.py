"""The manager dashboard: the figures page, its CSV, the accounts in a stage, and "plan a visit"."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.params import FromQuery
from litestar.response import Stream

from server.accounts import service as accounts
from server.accounts.models import Tier
from server.auth import current_user, requires_role
from server.dashboard import charts, lifecycle, service
from server.dashboard.filters import Filters, parse_filters, rep_choices, team_choices
from server.dashboard.lifecycle import STAGES
from server.db import DbSession, new_id
from server.errors import Message, ValidationError
from server.i18n import N_
from server.imports import export
from server.users.models import Role, User
from server.visits import service as visits
from server.web import Offset, discard_changes, field_errors, flash, redirect, render, translate

STAGE_LABELS = {"new": N_("New"), "active": N_("Active"), "at_risk": N_("At risk"), "lapsed": N_("Lapsed")}
PERIOD_LABELS = {"week": N_("This week"), "month": N_("This month"), "30d": N_("Last 30 days"),
                 "custom": N_("Choose days")}  # fmt: skip


def _money(value: Decimal, currency: str) -> str:
    return f"{value:,.2f} {currency}"


def _number(value: float | None, suffix: str = "") -> str:
    if value is None:
        return "—"
    text = f"{value:.1f}".removesuffix(".0")
    return f"{text}{suffix}"


class Figures:
    """Every figure of the dashboard for one set of filters."""

    def __init__(self, filters: Filters) -> None:
        self.filters = filters

    async def load(self, db_session: DbSession, user: User) -> Figures:
        self.visits = await service.visit_figures(db_session, user, self.filters)
        self.leads = await service.lead_figures(db_session, user, self.filters)
        self.quotes = await service.quote_figures(db_session, user, self.filters)
        self.orders_by_rep, self.orders_by_tier = await service.order_figures(db_session, user, self.filters)
        self.limits = await lifecycle.thresholds(db_session)
        self.lifecycle = await lifecycle.lifecycle(db_session, user, self.filters, self.limits)
        return self

    @property
    def currencies(self) -> list[str]:
        return sorted({row.currency for row in self.orders_by_rep})

    def rows(self) -> Iterator[tuple[str, str, Any]]:
        """The figures as (figure, group, value) rows, for the CSV."""
        f = self.filters
        yield "period_from", "", f.start.isoformat()
        yield "period_to", "", f.end.isoformat()
        for rep in self.visits.reps:
            for name in (
                "planned",
                "done",
                "skipped",
                "check_ins",
                "inside",
                "without_location",
                "low_accuracy",
            ):
                yield f"visits_{name}", rep.name, getattr(rep, name)
            yield "minutes_on_site_average", rep.name, rep.average_minutes
        for name in ("planned", "done", "skipped", "check_ins", "inside", "without_location", "low_accuracy"):
            yield f"visits_{name}", "total", self.visits.total(name)
        yield "check_ins_inside_geofence_percent", "total", self.visits.inside_share
        yield "minutes_on_site_average", "total", self.visits.average_minutes
        yield "minutes_on_site_median", "total", self.visits.median_minutes
        for lead in self.leads:
            yield "leads_captured", lead.name, lead.captured
            yield "leads_converted", lead.name, lead.converted
        captured, converted = sum(r.captured for r in self.leads), sum(r.converted for r in self.leads)
        yield "leads_captured", "total", captured
        yield "leads_converted", "total", converted
        yield "leads_conversion_percent", "total", service.share(converted, captured)
        q = self.quotes
        yield "quotes_waiting", "total", q.waiting
        yield "quotes_oldest_waiting_hours", "total", q.oldest_hours
        yield "quotes_approved", "total", q.approved
        yield "quotes_rejected", "total", q.rejected
        yield "quotes_average_approval_hours", "total", q.average_hours
        for row in self.orders_by_rep:
            yield f"order_value_{row.currency}", row.label, row.value
            yield f"orders_{row.currency}", row.label, row.orders
        for row in self.orders_by_tier:
            yield f"order_value_{row.currency}", f"tier {row.label}", row.value
        for tier, stages in self.lifecycle.items():
            for stage, count in stages.items():
                yield f"accounts_{stage}", f"tier {tier}", count


def _link(path: str, **params: Any) -> str:
    clean = {key: value for key, value in params.items() if value not in (None, "")}
    return f"{path}?{urlencode(clean)}" if clean else path


def _charts(request: Request, figures: Figures) -> dict[str, Any]:
    def t(text: str, **values: Any) -> str:
        return translate(request, Message(text, values) if values else text)

    f, v = figures.filters, figures.visits
    team_day = _link("/team", day=f.end.isoformat())
    result: dict[str, Any] = {
        "visits": charts.bar_chart(
            "chart-visits",
            t(N_("Visits planned and done, by rep")),
            t(N_("For each rep: visits planned in the period, done and skipped.")),
            [t(N_("Planned")), t(N_("Done")), t(N_("Skipped"))],
            [
                charts.Item(
                    r.name,
                    [r.planned, r.done, r.skipped],
                    [str(r.planned), str(r.done), str(r.skipped)],
                    team_day,
                )
                for r in v.reps
            ],
        ),
        "compliance": charts.bar_chart(
            "chart-compliance",
            t(N_("Check-ins, by rep")),
            t(
                N_(
                    "For each rep: check-ins, those inside the geofence, without a location and with low accuracy."
                )
            ),
            [
                t(N_("Check-ins")),
                t(N_("Inside the geofence")),
                t(N_("Without location")),
                t(N_("Low accuracy")),
            ],
            [
                charts.Item(
                    r.name,
                    [r.check_ins, r.inside, r.without_location, r.low_accuracy],
                    [str(r.check_ins), str(r.inside), str(r.without_location), str(r.low_accuracy)],
                    team_day,
                )
                for r in v.reps
            ],
        ),
        "time_on_site": charts.bar_chart(
            "chart-time",
            t(N_("Average minutes on site, by rep")),
            t(N_("For each rep: the average minutes between check-in and check-out.")),
            [t(N_("Minutes"))],
            [
                charts.Item(r.name, [r.average_minutes or 0], [_number(r.average_minutes)], team_day)
                for r in v.reps
                if r.timed
            ],
        ),
        "leads": charts.bar_chart(
            "chart-leads",
            t(N_("Leads captured and converted, by rep")),
            t(N_("For each rep: leads captured in the period, and how many of them are converted.")),
            [t(N_("Captured")), t(N_("Converted"))],
            [
                charts.Item(r.name, [r.captured, r.converted], [str(r.captured), str(r.converted)], "/leads")
                for r in figures.leads
            ],
        ),
    }
    by_rep, by_tier = [], []
    for currency in figures.currencies:
        reps = [row for row in figures.orders_by_rep if row.currency == currency]
        tiers = [row for row in figures.orders_by_tier if row.currency == currency]
        by_rep.append(charts.bar_chart(
            f"chart-orders-rep-{currency}", t(N_("Order value in %(currency)s, by rep"), currency=currency),
            t(N_("Orders placed in the period, cancelled ones left out, by the account's owner.")),
            [t(N_("Order value"))],
            [charts.Item(row.label, [float(row.value)], [_money(row.value, currency)], "/orders") for row in reps],
        ))  # fmt: skip
        by_tier.append(charts.bar_chart(
            f"chart-orders-tier-{currency}", t(N_("Order value in %(currency)s, by tier"), currency=currency),
            t(N_("Orders placed in the period, cancelled ones left out, by the account's tier.")),
            [t(N_("Order value"))],
            [charts.Item(t(N_("Tier %(tier)s"), tier=row.label), [float(row.value)], [_money(row.value, currency)],
                         "/orders") for row in tiers],
        ))  # fmt: skip
    result["orders_by_rep"], result["orders_by_tier"] = by_rep, by_tier
    return result


def _scope(filters: Filters | None) -> dict[str, str]:
    if filters is None:
        return {}
    return {key: value for key, value in filters.params().items() if key in ("team", "rep")}


async def _filters(request: Request, db_session: DbSession, user: User) -> Filters:
    return await parse_filters(db_session, user, dict(request.query_params), visits.today_for(user))


class DashboardController(Controller):
    path = "/dashboard"
    guards = [requires_role(Role.MANAGER, Role.ADMIN)]

    async def _choices(self, db_session: DbSession, user: User) -> dict[str, Any]:
        return {
            "teams": await team_choices(db_session, user),
            "reps": await rep_choices(db_session, user),
            "periods": PERIOD_LABELS,
            "stage_labels": STAGE_LABELS,
            "stages": STAGES,
            "tiers": [str(tier) for tier in Tier],
        }

    @get("/", name="dashboard.show")
    async def show(self, request: Request, db_session: DbSession) -> Response:
        user = current_user(request)
        values = dict(request.query_params)
        context = {"values": values, **await self._choices(db_session, user)}
        try:
            filters = await _filters(request, db_session, user)
        except ValidationError as error:
            context |= {"errors": field_errors(request, error), "figures": None}
            return render(request, "dashboard/show.html", context, status_code=422)
        figures = await Figures(filters).load(db_session, user)
        context |= {
            "errors": {},
            "figures": figures,
            "filters": filters,
            "charts": _charts(request, figures),
            "query": urlencode(filters.params()),
            "scope": _scope(filters),
            "money": _money,
            "number": _number,
        }
        return render(request, "dashboard/show.html", context)

    @get("/export.csv", name="dashboard.export")
    async def export_csv(self, request: Request, db_session: DbSession) -> Stream:
        user = current_user(request)
        filters = await _filters(request, db_session, user)  # bad filters: the 422 error page
        figures = await Figures(filters).load(db_session, user)
        rows = list(figures.rows())

        async def body() -> AsyncIterator[bytes]:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\r\n")
            buffer.write("\ufeff")  # so that spreadsheets read UTF-8
            writer.writerow(("figure", "group", "value"))
            for row in rows:
                writer.writerow([export.cell(value) for value in row])
            yield buffer.getvalue().encode()

        return export.csv_stream(body(), "dashboard")

    @get("/accounts", name="dashboard.accounts")
    async def accounts(
        self,
        request: Request,
        db_session: DbSession,
        stage: FromQuery[str] = "at_risk",
        tier: FromQuery[str] = "",
        offset: Offset = 0,
    ) -> Response:
        user = current_user(request)
        if stage not in STAGES or (tier and tier not in {str(t) for t in Tier}):
            raise ValidationError({"stage": Message(N_("Choose one of the options."))})
        filters = await _filters(request, db_session, user)
        limits = await lifecycle.thresholds(db_session)
        page = await lifecycle.accounts_in_stage(
            db_session, user, filters, limits, stage, tier, offset=offset
        )
        here = _link("/dashboard/accounts", stage=stage, tier=tier, **_scope(filters), offset=offset or None)
        context = {
            "page": page,
            "stage": stage,
            "tier": tier,
            "limits": limits,
            "scope": _scope(filters),
            "here": here,
            "tomorrow": visits.today_for(user) + dt.timedelta(days=1),
            "new_id": new_id,
            "stage_labels": STAGE_LABELS,
        }
        fragments = {"stage-more": "rows"}
        return render(request, "dashboard/accounts.html", context, fragments=fragments)

    @post("/plan-visit", name="dashboard.plan_visit")
    async def plan_visit(self, request: Request, db_session: DbSession) -> Response:
        """One tap from the at-risk list: visits.plan for the account's owner, then back to the list."""
        user = current_user(request)
        form = dict(await request.form())
        back = str(form.get("next") or "")
        if not back.startswith("/dashboard") or back.startswith("//"):
            back = "/dashboard/accounts"
        raw = {"account_id": form.get("account_id"), "planned_on": form.get("planned_on")}
        try:
            account = await accounts.get(db_session, user, form.get("account_id"))
            raw["owner_id"] = str(account.owner_id)
            visit = await visits.plan(db_session, user, raw, record_id=form.get("id"))
        except ValidationError as error:
            await discard_changes(request, db_session)
            for message in field_errors(request, error).values():
                flash(request, message)
            return redirect(request, back)
        await db_session.commit()
        flash(request, Message(N_("Visit to %(name)s planned for %(day)s."),
                               {"name": visit.account.name, "day": visit.planned_on.isoformat()}))  # fmt: skip
        return redirect(request, back)
