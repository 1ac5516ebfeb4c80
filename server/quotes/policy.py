"""The approval policy: which rules a quote sets off, and the chain of approvals that follows.

Pure functions over plain values, so the policy can be read (and tested) as a table of cases.
A rule fires when the quote goes strictly past its threshold. The steps of the chain are the
levels of the fired rules, the manager's before the admin's; a quote that sets off nothing is
approved as soon as it is submitted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from server.quotes import pricing
from server.quotes.models import ApproverLevel, RuleKind

CHAIN_ORDER = (ApproverLevel.MANAGER, ApproverLevel.ADMIN)


@dataclass(frozen=True)
class Rule:
    kind: RuleKind
    threshold: Decimal
    approver: ApproverLevel
    currency: str | None = None


@dataclass(frozen=True)
class Fired:
    """A rule the quote set off, and by how much: `actual` is the quote's value the rule compared."""

    rule: Rule
    actual: Decimal
    line: int | None = None  # for a price floor: the line's position

    def as_reason(self) -> dict[str, Any]:
        reason = {
            "kind": self.rule.kind.value,
            "threshold": pricing.plain(self.rule.threshold),
            "actual": pricing.plain(self.actual),
        }
        if self.rule.currency:
            reason["currency"] = self.rule.currency
        if self.line is not None:
            reason["line"] = self.line
        return reason


def _fired(
    rule: Rule, lines: Sequence[pricing.Line], quote_discount: Decimal, currency: str, totals: pricing.Totals
) -> Fired | None:
    if rule.kind is RuleKind.DISCOUNT_ABOVE:
        actual = totals.discount_percent
        return Fired(rule, actual) if actual > rule.threshold else None
    if rule.kind is RuleKind.TOTAL_ABOVE:
        if rule.currency != currency:
            return None
        return Fired(rule, totals.total) if totals.total > rule.threshold else None
    # A price floor: the lowest net price against list, on the first line under the floor.
    for position, line in enumerate(lines, start=1):
        if line.list_price <= 0:
            continue
        share = pricing.net_unit_price(line, quote_discount) / line.list_price * pricing.HUNDRED
        if share < rule.threshold:
            return Fired(rule, share.quantize(Decimal("0.01")), line=position)
    return None


def evaluate(
    rules: Iterable[Rule], lines: Sequence[pricing.Line], quote_discount: Decimal, currency: str
) -> list[Fired]:
    totals = pricing.totals(lines, quote_discount, currency)
    fired = (_fired(rule, lines, quote_discount, currency, totals) for rule in rules)
    return [found for found in fired if found is not None]


def chain(fired: Iterable[Fired]) -> list[tuple[ApproverLevel, list[Fired]]]:
    """The approval steps, in order, each with the rules that call for it."""
    by_level: dict[ApproverLevel, list[Fired]] = {}
    for found in fired:
        by_level.setdefault(found.rule.approver, []).append(found)
    return [(level, by_level[level]) for level in CHAIN_ORDER if level in by_level]
