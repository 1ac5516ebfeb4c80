"""A quote's arithmetic: exact decimals, each amount rounded to its currency's minor unit.

A line's amount is quantity x unit price less the line discount, rounded; the subtotal is the sum
of the rounded lines; the quote discount is taken off the subtotal and rounded once; the total is
what remains. The same steps run for the live preview, the stored quote and the policy check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from babel.numbers import get_currency_precision, list_currencies

HUNDRED = Decimal(100)


def is_currency(code: str) -> bool:
    return code in list_currencies()


def currency_digits() -> dict[str, int]:
    """The minor units of the currencies without two decimals (JPY: 0, KWD: 3), for the phone,
    which rounds offline as the server does."""
    return {code: digits for code in list_currencies() if (digits := get_currency_precision(code)) != 2}


def rounded(amount: Decimal, currency: str) -> Decimal:
    """Round half up to the currency's minor unit (cents, or none for JPY, or mils for KWD)."""
    return amount.quantize(Decimal(1).scaleb(-get_currency_precision(currency)), rounding=ROUND_HALF_UP)


def plain(number: Decimal) -> str:
    """A decimal as people write it: 10, 12.5, 5000 (not 10.000 or 5E+3); templates' `plain` filter."""
    return format(number.normalize(), "f")


def format_money(amount: Decimal | None, currency: str) -> str:
    """ "GBP 1,234.50": the amount with its currency's decimals (templates' `money` filter)."""
    if amount is None:
        return ""
    precision = get_currency_precision(currency) if is_currency(currency) else 2
    return f"{currency} {rounded(amount, currency) if is_currency(currency) else amount:,.{precision}f}"


def off(amount: Decimal, percent: Decimal) -> Decimal:
    return amount * (HUNDRED - percent) / HUNDRED


@dataclass(frozen=True)
class Line:
    quantity: Decimal
    unit_price: Decimal
    list_price: Decimal
    discount_percent: Decimal = Decimal(0)


@dataclass(frozen=True)
class Totals:
    amounts: tuple[Decimal, ...]
    list_total: Decimal  # what the lines cost at list price
    subtotal: Decimal
    discount: Decimal  # the quote-level discount, as an amount
    total: Decimal

    @property
    def discount_percent(self) -> Decimal:
        return discount_percent(self.list_total, self.total)


def discount_percent(list_total: Decimal, total: Decimal) -> Decimal:
    """A quote's discount against list prices, in per cent (two decimals)."""
    if list_total <= 0:
        return Decimal(0)
    return ((list_total - total) / list_total * HUNDRED).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def totals(lines: Sequence[Line], discount_percent: Decimal, currency: str) -> Totals:
    amounts = tuple(
        rounded(off(line.quantity * line.unit_price, line.discount_percent), currency) for line in lines
    )
    list_total = rounded(sum((line.quantity * line.list_price for line in lines), Decimal(0)), currency)
    subtotal = sum(amounts, Decimal(0))
    discount = rounded(subtotal * discount_percent / HUNDRED, currency)
    return Totals(amounts, list_total, subtotal, discount, subtotal - discount)


def net_unit_price(line: Line, quote_discount: Decimal) -> Decimal:
    """What one unit really sells for after the line's and the quote's discounts (not rounded)."""
    return off(off(line.unit_price, line.discount_percent), quote_discount)
