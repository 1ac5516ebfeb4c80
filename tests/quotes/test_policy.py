"""The quote arithmetic and the approval policy, as tables of cases (pure: no database)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from server.quotes import policy, pricing
from server.quotes.models import ApproverLevel as Level
from server.quotes.models import RuleKind as Kind


def line(quantity: str, price: str, list_price: str | None = None, discount: str = "0") -> pricing.Line:
    return pricing.Line(D(quantity), D(price), D(list_price or price), D(discount))


@pytest.mark.parametrize(
    ("lines", "quote_discount", "currency", "amounts", "subtotal", "total"),
    [
        ([line("3", "19.99")], "0", "GBP", ["59.97"], "59.97", "59.97"),
        # 0.1 + 0.2 in binary floating point is not 0.3; in decimals it is.
        ([line("1", "0.1"), line("1", "0.2")], "0", "EUR", ["0.10", "0.20"], "0.30", "0.30"),
        # A line discount rounds half up per line: 3 x 3.35 less 10 % = 9.045 -> 9.05.
        ([line("3", "3.35", discount="10")], "0", "GBP", ["9.05"], "9.05", "9.05"),
        # The quote discount comes off the sum of rounded lines: 9.05 + 10.00 = 19.05, 5 % = 0.9525 -> 0.95.
        ([line("3", "3.35", discount="10"), line("2", "5")], "5", "GBP", ["9.05", "10.00"], "19.05", "18.10"),
        # Yen have no minor unit; Kuwaiti dinars have three decimals.
        ([line("3", "333.5")], "0", "JPY", ["1001"], "1001", "1001"),
        ([line("7", "1.2345")], "0", "KWD", ["8.642"], "8.642", "8.642"),
        ([], "10", "GBP", [], "0", "0"),
    ],
)
def test_totals_are_exact_decimals_rounded_per_currency(
    lines, quote_discount, currency, amounts, subtotal, total
):
    result = pricing.totals(lines, D(quote_discount), currency)
    assert [str(a) for a in result.amounts] == amounts
    assert result.subtotal == D(subtotal)
    assert result.total == D(total)


def test_the_discount_against_list_counts_lowered_prices_and_both_discounts():
    # List 100; sold at 90 with a further 10 % line discount and 10 % off the quote: 72.90 -> 27.10 %.
    totals = pricing.totals([line("1", "90", "100", "10")], D(10), "GBP")
    assert totals.total == D("72.90")
    assert totals.discount_percent == D("27.10")


MANAGER_OVER_10 = policy.Rule(Kind.DISCOUNT_ABOVE, D(10), Level.MANAGER)
ADMIN_OVER_25 = policy.Rule(Kind.DISCOUNT_ABOVE, D(25), Level.ADMIN)
MANAGER_OVER_5000_GBP = policy.Rule(Kind.TOTAL_ABOVE, D(5000), Level.MANAGER, "GBP")
ADMIN_UNDER_70_PERCENT = policy.Rule(Kind.PRICE_BELOW_FLOOR, D(70), Level.ADMIN)
RULES = [MANAGER_OVER_10, ADMIN_OVER_25, MANAGER_OVER_5000_GBP, ADMIN_UNDER_70_PERCENT]


@pytest.mark.parametrize(
    ("case", "lines", "quote_discount", "currency", "fired", "chain"),
    [
        ("list price, small", [line("2", "100")], "0", "GBP", [], []),
        ("exactly 10 % is within policy", [line("1", "100", discount="10")], "0", "GBP", [], []),
        ("10.01 % needs the manager", [line("1", "100", discount="10.01")], "0", "GBP", [MANAGER_OVER_10], [Level.MANAGER]),
        ("a quote discount counts too", [line("1", "100")], "12", "GBP", [MANAGER_OVER_10], [Level.MANAGER]),
        ("a lowered price counts too", [line("1", "85", "100")], "0", "GBP", [MANAGER_OVER_10], [Level.MANAGER]),
        ("above 25 %: the manager, then an admin", [line("1", "100", discount="30")], "0", "GBP",
         [MANAGER_OVER_10, ADMIN_OVER_25], [Level.MANAGER, Level.ADMIN]),
        ("a big total needs the manager", [line("60", "100")], "0", "GBP", [MANAGER_OVER_5000_GBP], [Level.MANAGER]),
        ("exactly the total limit is within policy", [line("50", "100")], "0", "GBP", [], []),
        ("a total rule counts only its currency", [line("60", "100")], "0", "EUR", [], []),
        ("a price under the floor needs an admin, even alone",
         [line("10", "100"), line("1", "65", "100")], "0", "GBP", [ADMIN_UNDER_70_PERCENT], [Level.ADMIN]),
        ("the floor looks at the net price after both discounts",
         [line("1", "80", "80", discount="20")], "15", "GBP",
         [MANAGER_OVER_10, ADMIN_OVER_25, ADMIN_UNDER_70_PERCENT], [Level.MANAGER, Level.ADMIN]),
        ("a free product of no list price sets off no floor", [line("1", "0", "0")], "0", "GBP", [], []),
    ],
)  # fmt: skip
def test_policy(case, lines, quote_discount, currency, fired, chain):
    found = policy.evaluate(RULES, lines, D(quote_discount), currency)
    assert [f.rule for f in found] == fired, case
    assert [level for level, _ in policy.chain(found)] == chain, case


def test_each_step_names_the_rules_that_call_for_it():
    found = policy.evaluate(RULES, [line("1", "100", "100", "30")], D(0), "GBP")
    steps = policy.chain(found)
    assert [[f.as_reason() for f in reasons] for _, reasons in steps] == [
        [{"kind": "discount_above", "threshold": "10", "actual": "30"}],
        [{"kind": "discount_above", "threshold": "25", "actual": "30"}],
    ]


def test_the_phone_is_told_each_currency_that_has_no_two_decimals():
    """The briefcase rounds offline with these (quote-pricing.js; tests/browser/test_quotes.py
    checks its totals against `pricing.totals`)."""
    digits = pricing.currency_digits()
    assert (digits["JPY"], digits["KWD"], digits["BHD"]) == (0, 3, 3)
    assert "GBP" not in digits and "EUR" not in digits
    assert all(pricing.rounded(D("1.23456"), code) == D("1.23456").quantize(D(1).scaleb(-n)) for code, n in digits.items()
               if n in (0, 3))  # fmt: skip
