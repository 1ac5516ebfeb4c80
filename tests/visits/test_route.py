"""Ordering a day's stops: distances, nearest neighbour and 2-opt. Pure functions, no database."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.visits.route import (
    EARTH_RADIUS_M,
    Point,
    distance_m,
    nearest_neighbour_order,
    order_route,
    route_length_m,
)

PICCADILLY: Point = (53.4774, -2.2309)
AIRPORT: Point = (53.3650, -2.2720)


def length_of(start: Point | None, stops: Sequence[Point], order: Sequence[int]) -> float:
    return route_length_m(start, [stops[i] for i in order])


def spherical_law_of_cosines_m(a: Point, b: Point) -> float:
    """An independent formula for the same great-circle distance."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    cos_angle = math.sin(lat1) * math.sin(lat2) + math.cos(lat1) * math.cos(lat2) * math.cos(lon2 - lon1)
    return EARTH_RADIUS_M * math.acos(min(1.0, cos_angle))


# distances


def test_piccadilly_to_the_airport_is_about_12_8_km() -> None:
    assert distance_m(PICCADILLY, AIRPORT) == pytest.approx(12_800, rel=0.01)
    assert distance_m(PICCADILLY, AIRPORT) == pytest.approx(
        spherical_law_of_cosines_m(PICCADILLY, AIRPORT), rel=1e-9
    )
    assert distance_m(AIRPORT, PICCADILLY) == pytest.approx(distance_m(PICCADILLY, AIRPORT))


def test_a_degree_of_latitude_is_111_195_m_on_the_mean_sphere() -> None:
    assert distance_m((53.0, -2.0), (54.0, -2.0)) == pytest.approx(111_195.08, abs=0.01)


def test_same_point_is_zero_and_antipodes_are_half_the_circumference() -> None:
    assert distance_m(PICCADILLY, PICCADILLY) == 0.0
    assert distance_m((0.0, 0.0), (0.0, 180.0)) == pytest.approx(math.pi * EARTH_RADIUS_M)


def test_route_length_is_an_open_path_from_the_start() -> None:
    degree = distance_m((0.0, 0.0), (1.0, 0.0))
    assert route_length_m(None, []) == 0.0
    assert route_length_m(None, [PICCADILLY]) == 0.0
    assert route_length_m((0.0, 0.0), []) == 0.0
    assert route_length_m((0.0, 0.0), [(1.0, 0.0)]) == pytest.approx(degree)
    # Out 3 degrees north, back 2: no return leg to the start.
    assert route_length_m((0.0, 0.0), [(1.0, 0.0), (3.0, 0.0), (1.0, 0.0)]) == pytest.approx(5 * degree)
    assert route_length_m(None, [(1.0, 0.0), (3.0, 0.0), (1.0, 0.0)]) == pytest.approx(4 * degree)


# ordering: small cases


def test_no_one_and_two_stops() -> None:
    assert order_route(None, []) == []
    assert order_route(PICCADILLY, []) == []
    assert order_route(None, [AIRPORT]) == [0]
    assert order_route(PICCADILLY, [AIRPORT]) == [0]
    assert order_route(None, [AIRPORT, PICCADILLY]) == [0, 1]
    assert order_route(PICCADILLY, [AIRPORT, PICCADILLY]) == [1, 0]
    assert order_route(AIRPORT, [AIRPORT, PICCADILLY]) == [0, 1]


def test_duplicate_stops_are_each_visited_once() -> None:
    stops = [AIRPORT, PICCADILLY, AIRPORT, PICCADILLY]
    assert order_route(None, stops) == [0, 2, 1, 3]
    assert order_route(PICCADILLY, stops) == [1, 3, 0, 2]


def test_stops_along_a_line_come_back_in_line_order_from_the_nearer_end() -> None:
    # Eight stops 1 km apart going east along a parallel, given scrambled.
    line = [(53.48, -2.40 + 0.015 * k) for k in range(8)]
    scrambled = [3, 6, 0, 7, 2, 5, 1, 4]
    stops = [line[k] for k in scrambled]

    west_of_line: Point = (53.47, -2.42)
    order = order_route(west_of_line, stops)
    assert [scrambled[i] for i in order] == list(range(8))

    east_of_line: Point = (53.49, -2.28)
    order = order_route(east_of_line, stops)
    assert [scrambled[i] for i in order] == list(reversed(range(8)))

    # Without a start, stop 0 leads; from the west end that is line order again.
    from_west_end = [line[0], *(line[k] for k in scrambled if k != 0)]
    order = order_route(None, from_west_end)
    assert order[0] == 0
    assert [from_west_end[i] for i in order] == line


def test_two_opt_fixes_what_nearest_neighbour_gets_wrong() -> None:
    # On a grid of about 1 km from a start S at (0, 0), x east and y north:
    #
    #   y=2  B
    #   y=1     D  C
    #   y=0  S        A
    #        0  1  2  3
    #
    # Nearest neighbour runs S-D-C-A (each the clearly closest stop) and then must come all the
    # way back to B: 1.41 + 1 + 1.41 + 3.61 = 7.43 units. Going to B first, S-B-D-C-A, is
    # 2 + 1.41 + 1 + 1.41 = 5.83 units, and that is the shortest of all 24 orders.
    def at(x: int, y: int) -> Point:
        return (53.48 + 0.009 * y, -2.24 + 0.015 * x)

    start = at(0, 0)
    a, b, c, d = at(3, 0), at(0, 2), at(2, 1), at(1, 1)
    stops = [a, b, c, d]

    nn = nearest_neighbour_order(start, stops)
    assert nn == [3, 2, 0, 1]  # D, C, A, B

    order = order_route(start, stops)
    assert order == [1, 3, 2, 0]  # B, D, C, A
    assert length_of(start, stops, order) < length_of(start, stops, nn) - 1_000

    shortest = min(itertools.permutations(range(4)), key=lambda p: length_of(start, stops, p))
    assert order == list(shortest)


def test_nearest_neighbour_without_a_start_sets_out_from_stop_0() -> None:
    stops = [(53.48, -2.24), (53.48, -2.10), (53.48, -2.23), (53.48, -2.20)]
    assert nearest_neighbour_order(None, stops) == [0, 2, 3, 1]
    assert nearest_neighbour_order((53.48, -2.09), stops) == [1, 3, 2, 0]


def test_nearest_neighbour_breaks_ties_by_lower_index() -> None:
    # Exactly symmetric about the start, so the first three distances are equal to the last bit.
    start: Point = (0.0, 0.0)
    stops = [(0.0, 0.5), (0.0, -0.5), (0.0, 0.5)]
    assert nearest_neighbour_order(start, stops) == [0, 2, 1]


# ordering: properties, on up to 12 stops in a box of about 50 km around Manchester

BOX_POINT = st.tuples(
    st.floats(53.25, 53.70, allow_nan=False, allow_infinity=False),
    st.floats(-2.62, -1.87, allow_nan=False, allow_infinity=False),
)
# A few fixed places mixed in, so that duplicate stops turn up often.
POINT = st.one_of(BOX_POINT, st.sampled_from([PICCADILLY, AIRPORT, (53.4808, -2.2426)]))
STOPS = st.lists(POINT, max_size=12)
START = st.none() | POINT


@settings(max_examples=200, deadline=None)
@given(start=START, stops=STOPS)
def test_order_is_a_deterministic_permutation_no_longer_than_nearest_neighbour(
    start: Point | None, stops: list[Point]
) -> None:
    order = order_route(start, stops)

    assert sorted(order) == list(range(len(stops)))
    if start is None and stops:
        assert order[0] == 0
    assert length_of(start, stops, order) <= length_of(start, stops, nearest_neighbour_order(start, stops))
    assert order_route(start, list(stops)) == order


@settings(max_examples=100, deadline=None)
@given(start=START, stops=STOPS)
def test_no_single_segment_reversal_shortens_the_result(start: Point | None, stops: list[Point]) -> None:
    order = order_route(start, stops)
    length = length_of(start, stops, order)
    first = 0 if start is not None else 1
    for i, j in itertools.combinations(range(first, len(order)), 2):
        reversed_segment = [*order[:i], *reversed(order[i : j + 1]), *order[j + 1 :]]
        assert length_of(start, stops, reversed_segment) > length - 1e-3
