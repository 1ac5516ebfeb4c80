"""Bar charts drawn on the server, as inline SVG (pwa/templates/dashboard/_chart.html draws them).

This module only does the geometry: where each bar goes and how long it is. The template adds a
title and description for screen readers and a table with the same numbers. No style attributes
(the CSP forbids them): bars are coloured by class, through the theme's CSS variables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH = 320  # the viewBox is this wide; the SVG scales to the card
LABEL_HEIGHT = 16
BAR_HEIGHT = 12
BAR_GAP = 3
ROW_GAP = 10
VALUE_ROOM = 64  # room at the right of the longest bar for its value


@dataclass
class Bar:
    series: int
    value: float
    text: str
    y: float
    width: float


@dataclass
class Row:
    label: str
    href: str | None
    y: float  # where the label's baseline is
    bars: list[Bar] = field(default_factory=list)


@dataclass
class Chart:
    id: str
    title: str
    description: str
    series: list[str]
    rows: list[Row]
    height: float
    width: int = WIDTH


@dataclass
class Item:
    """One row of a chart as the caller gives it: a label, its values (one per series) and a link."""

    label: str
    values: Sequence[float]
    texts: Sequence[str]
    href: str | None = None


def bar_chart(
    chart_id: str, title: str, description: str, series: Sequence[str], items: Sequence[Item]
) -> Chart:
    """Horizontal bars, one group per item, one bar per series, all on one scale."""
    top = max((value for item in items for value in item.values), default=0)
    span = WIDTH - VALUE_ROOM
    rows: list[Row] = []
    y = 0.0
    for item in items:
        row = Row(item.label, item.href, y + LABEL_HEIGHT - 4)
        y += LABEL_HEIGHT
        for number, (value, text) in enumerate(zip(item.values, item.texts, strict=True)):
            width = round(span * value / top, 1) if top > 0 and value > 0 else 0.0
            # A value above nothing still shows a sliver, so it does not read as zero.
            row.bars.append(Bar(number, value, text, y, max(width, 2.0) if value > 0 else 0.0))
            y += BAR_HEIGHT + BAR_GAP
        y += ROW_GAP
        rows.append(row)
    return Chart(chart_id, title, description, list(series), rows, max(y, 1.0))
