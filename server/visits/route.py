"""Order a rep's stops for the day: nearest neighbour, then 2-opt, on straight-line distances.

A rep's day has about 5 to 15 stops, and the issue asks for exactly this: a sensible order, not a
provably shortest one. At that size nearest neighbour followed by 2-opt lands on or very near the
optimum in about a millisecond, and straight-line (great-circle) distance ranks stops well enough
without a road network or a routing service. Pure functions, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

Point = tuple[float, float]
"""(latitude, longitude) in degrees."""

EARTH_RADIUS_M = 6_371_008.8  # IUGG mean radius

# A 2-opt move must shorten the path by more than this, so that float noise can neither make two
# equal-length orders swap back and forth nor let a "gain" make the path longer.
_MIN_GAIN_M = 1e-6
# Every accepted move shortens the path, so 2-opt ends by itself; this only bounds a bug.
_MAX_PASSES = 1_000


def distance_m(a: Point, b: Point) -> float:
    """Great-circle (haversine) distance between two points, in metres."""
    lat1, lon1 = math.radians(a[0]), math.radians(a[1])
    lat2, lon2 = math.radians(b[0]), math.radians(b[1])
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    # Rounding can push h a hair above 1 for antipodal points.
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))


def route_length_m(start: Point | None, stops: Sequence[Point]) -> float:
    """Length of visiting `stops` in the given order, from `start` when given; no return leg."""
    path = [start, *stops] if start is not None else list(stops)
    return math.fsum(distance_m(a, b) for a, b in pairwise(path))


def nearest_neighbour_order(start: Point | None, stops: Sequence[Point]) -> list[int]:
    """Greedy order: always go to the closest stop not yet visited (lower index on ties).

    Without a start the route begins at stop 0.
    """
    if not stops:
        return []
    remaining = list(range(len(stops)))
    if start is None:
        order = [remaining.pop(0)]
        here = stops[0]
    else:
        order = []
        here = start
    while remaining:
        # min() keeps the first of equal keys, and `remaining` stays in index order.
        nearest = min(remaining, key=lambda i: distance_m(here, stops[i]))
        remaining.remove(nearest)
        order.append(nearest)
        here = stops[nearest]
    return order


def _two_opt(start: Point | None, stops: Sequence[Point], order: list[int]) -> list[int]:
    """Reverse segments of `order` while that shortens the open path; the first stop is kept
    when there is no start, since it then stands for where the rep sets out."""
    order = list(order)
    n = len(order)
    first = 0 if start is not None else 1
    for _ in range(_MAX_PASSES):
        improved = False
        for i in range(first, n - 1):
            # Reversals from i on never move order[i - 1], so `before` holds for every j.
            before = stops[order[i - 1]] if i > 0 else start
            assert before is not None  # i == 0 only when there is a start
            for j in range(i + 1, n):
                # Reversing order[i..j] swaps edges (before, i) + (j, after) for (before, j) + (i, after);
                # at the end of the open path there is no `after`, so only one edge changes.
                a, b = stops[order[i]], stops[order[j]]
                old = distance_m(before, a)
                new = distance_m(before, b)
                if j + 1 < n:
                    after = stops[order[j + 1]]
                    old += distance_m(b, after)
                    new += distance_m(a, after)
                if new < old - _MIN_GAIN_M:
                    order[i : j + 1] = reversed(order[i : j + 1])
                    improved = True
        if not improved:
            break
    return order


def order_route(start: Point | None, stops: Sequence[Point]) -> list[int]:
    """The order to visit `stops` in, as indexes into `stops`: nearest neighbour, then 2-opt.

    From `start` when given; otherwise the route begins at stop 0, which stays first.
    Deterministic for a given input.
    """
    return _two_opt(start, stops, nearest_neighbour_order(start, stops))
