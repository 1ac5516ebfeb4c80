"""The dashboard pages: who may see them, what they show, bad filters, the CSV and "plan a visit"."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

from sqlalchemy import func, select

from server.db import new_id
from server.visits.models import Visit, VisitStatus
from tests.conftest import csrf_token, sign_in
from tests.factories import make_account


def week(world) -> dict[str, str]:
    today = world["today"]
    return {"period": "custom", "from": (today - dt.timedelta(days=6)).isoformat(), "to": today.isoformat()}


async def test_a_rep_may_not_see_the_dashboard(client, world) -> None:
    await sign_in(client, world["rita"].id)
    assert (await client.get("/dashboard", headers={"Accept": "text/html"})).status_code == 403
    assert (await client.get("/dashboard/export.csv")).status_code == 403
    assert (await client.get("/dashboard/accounts")).status_code == 403


async def test_the_manager_sees_their_team_only(client, world) -> None:
    await sign_in(client, world["max"].id)
    page = await client.get("/dashboard", params=week(world))
    assert page.status_code == 200
    html = page.text
    assert "Rita" in html and "Colin" in html
    assert "Sven" not in html and "South" not in html
    # Charts are server-drawn SVG, labelled for screen readers, with a table of the same numbers.
    assert '<svg class="chart-svg" role="img" aria-labelledby="chart-visits-title chart-visits-desc"' in html
    assert '<title id="chart-visits-title">Visits planned and done, by rep</title>' in html
    assert "<table" in html and "style=" not in html  # the CSP allows no inline styles
    # Figures link to the records behind them.
    assert 'href="/quotes?status=pending"' in html
    assert "/dashboard/accounts?" in html
    # 150.50 GBP for Rita; 200.00 EUR for Colin.
    assert "150.50 GBP" in html and "200.00 EUR" in html
    # A team that is not theirs is refused, not shown.
    other = await client.get("/dashboard", params={"team": str(world["south"].id)})
    assert other.status_code == 422 and "Sven" not in other.text
    other_rep = await client.get("/dashboard/export.csv", params={"rep": str(world["sven"].id)})
    assert other_rep.status_code == 422 and "Sven" not in other_rep.text


async def test_an_admin_chooses_any_team(client, world) -> None:
    await sign_in(client, world["admin"].id)
    page = await client.get("/dashboard", params={**week(world), "team": str(world["south"].id)})
    assert page.status_code == 200
    assert "Sven" in page.text and "Rita" not in page.text.split("<h1>", 1)[1].split("</form>", 1)[1]


async def test_bad_filters_are_explained(client, world) -> None:
    await sign_in(client, world["max"].id)
    cases = [
        ({"period": "custom", "from": "2026-05-10", "to": "2026-05-01"}, "The period must end on or after its first day."),
        ({"period": "custom", "from": "2024-01-01", "to": "2026-01-01"}, "Choose a period of at most 366 days."),
        ({"period": "custom", "from": "yesterday", "to": "2026-01-01"}, "Enter a date like 2026-03-31."),
        ({"period": "custom"}, "This field is required."),
        ({"period": "forever"}, "Choose one of the options."),
        ({"rep": "not-a-uuid"}, "Choose one of the options."),
    ]  # fmt: skip
    for params, message in cases:
        response = await client.get("/dashboard", params=params, headers={"Accept": "text/html"})
        assert response.status_code == 422, params
        assert message in response.text, params
    # A whole leap year is allowed (366 days).
    ok = await client.get("/dashboard", params={"period": "custom", "from": "2024-01-01", "to": "2024-12-31"})
    assert ok.status_code == 200
    for period in ("week", "month", "30d"):
        assert (await client.get("/dashboard", params={"period": period})).status_code == 200


async def test_the_csv_has_every_figure(client, world) -> None:
    await sign_in(client, world["max"].id)
    response = await client.get("/dashboard/export.csv", params=week(world))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert rows[0] == ["figure", "group", "value"]
    values = {(figure, group): value for figure, group, value in rows[1:]}
    # The same hand-worked figures as test_figures.py.
    assert values[("visits_planned", "total")] == "7"
    assert values[("visits_done", "Rita")] == "3"
    assert values[("check_ins_inside_geofence_percent", "total")] == "50.0"
    assert values[("minutes_on_site_median", "total")] == "25.0"
    assert values[("leads_captured", "total")] == "4"
    assert values[("leads_conversion_percent", "total")] == "25.0"
    assert values[("quotes_waiting", "total")] == "1"
    assert values[("quotes_average_approval_hours", "total")] == "3.0"
    assert values[("order_value_GBP", "Rita")] == "150.50"
    assert values[("order_value_EUR", "tier A")] == "200.00"
    assert values[("accounts_active", "tier C")] == "1"
    assert not any("Sven" in group for _, group in values)


async def test_csv_cells_cannot_be_formulas(client, db, world) -> None:
    world["rita"].name = "=HYPERLINK(1)"
    db.add(world["rita"])
    await db.commit()
    await sign_in(client, world["max"].id)
    response = await client.get("/dashboard/export.csv", params=week(world))
    assert "'=HYPERLINK(1)" in response.text
    assert "\r\n=HYPERLINK" not in response.text and ",=HYPERLINK" not in response.text


async def test_plan_a_visit_from_the_at_risk_list(client, db, world) -> None:
    quiet = await make_account(db, world["rita"], name="Quiet Customer")
    # Made just now, Quiet is in the "new" stage; the list and its button are the same for every stage.
    await sign_in(client, world["max"].id)
    page = await client.get("/dashboard/accounts", params={"stage": "new"})
    assert page.status_code == 200 and "Quiet Customer" in page.text
    token = csrf_token(page.text)
    form = re.search(
        r'<form class="plan-visit".*?</form>', page.text.split("Quiet Customer", 1)[1], re.DOTALL
    ).group(0)
    visit_id = re.search(r'name="id" value="([^"]+)"', form).group(1)
    back = re.search(r'name="next" value="([^"]+)"', form).group(1).replace("&amp;", "&")
    day = (world["today"] + dt.timedelta(days=3)).isoformat()
    data = {
        "_csrf_token": token,
        "id": visit_id,
        "account_id": str(quiet.id),
        "planned_on": day,
        "next": back,
    }
    response = await client.post("/dashboard/plan-visit", data=data)
    assert response.status_code == 303 and response.headers["location"] == back
    again = await client.post("/dashboard/plan-visit", data=data)  # a double tap plans nothing more
    assert again.status_code == 303
    planned = list(await db.scalars(select(Visit).where(Visit.account_id == quiet.id)))
    assert len(planned) == 1
    assert (planned[0].owner_id, planned[0].planned_on, planned[0].status) == (
        world["rita"].id, dt.date.fromisoformat(day), VisitStatus.PLANNED,
    )  # fmt: skip
    flashed = await client.get(back)
    assert f"Visit to Quiet Customer planned for {day}." in flashed.text
    # Bad input: a flash with the reason, nothing written; another team's account: not found.
    bad = await client.post("/dashboard/plan-visit", data={**data, "id": str(new_id()), "planned_on": "soon"})
    assert bad.status_code == 303
    assert "Enter a date like 2026-03-31." in (await client.get(back)).text
    foreign = {**data, "id": str(new_id()), "account_id": str(world["globex"].id)}
    assert (
        await client.post("/dashboard/plan-visit", data=foreign, headers={"Accept": "text/html"})
    ).status_code == 404
    assert await db.scalar(select(func.count()).select_from(Visit).where(Visit.account_id.in_([quiet.id, world["globex"].id]))) == 2  # fmt: skip
