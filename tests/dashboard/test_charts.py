"""The bar chart geometry, and that the drawn SVG is well-formed."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from server.dashboard import charts
from tests.conftest import sign_in
from tests.dashboard.test_views import week


def test_bars_share_one_scale() -> None:
    chart = charts.bar_chart("c", "Title", "Description", ["Planned", "Done"], [
        charts.Item("Rita", [5, 3], ["5", "3"], "/team"),
        charts.Item("Colin", [2, 0], ["2", "0"]),
    ])  # fmt: skip
    rita, colin = chart.rows
    span = charts.WIDTH - charts.VALUE_ROOM  # 256: the longest bar (5) fills it
    assert [bar.width for bar in rita.bars] == [span, round(span * 3 / 5, 1)]  # 256, 153.6
    assert [bar.width for bar in colin.bars] == [round(span * 2 / 5, 1), 0.0]  # 102.4, and no bar for 0
    assert (rita.href, colin.href) == ("/team", None)
    assert all(b.y < c.y for b, c in zip(rita.bars, colin.bars, strict=True))  # rows do not overlap
    assert charts.bar_chart("e", "Empty", "", ["x"], []).rows == []


async def test_the_page_draws_well_formed_svg(client, world) -> None:
    await sign_in(client, world["max"].id)
    html = (await client.get("/dashboard", params=week(world))).text
    drawn = re.findall(r"<svg class=\"chart-svg\".*?</svg>", html, re.DOTALL)
    assert len(drawn) >= 6  # visits, compliance, time on site, leads, orders by rep and tier (GBP, EUR)
    for svg in drawn:
        root = ET.fromstring(svg)
        assert root.get("role") == "img"
        assert root.find("{http://www.w3.org/2000/svg}title") is not None
