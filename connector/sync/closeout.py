"""The arithmetic of a contract's end, shared by billing and status: which change orders a
true-up covers, what it is called, and what of the contract's value no milestone bills.

Pure functions of a contract and its milestones; they never round except through
`connector.money.round_money`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from connector.models import ChangeOrder, Contract, Milestone, Status
from connector.money import percent_of, round_money

ZERO = Decimal(0)


def orders_between(contract: Contract, after: date | None, upto: date) -> list[ChangeOrder]:
    """Change orders approved after `after` (every one when None) and on or before `upto`."""
    return sorted(
        (
            co
            for co in contract.change_orders
            if (after is None or co.approved > after) and co.approved <= upto
        ),
        key=lambda co: (co.approved, co.id),
    )


def adjustment_label(orders: Iterable[ChangeOrder]) -> str:
    """A true-up names the change orders behind it; with none, percent rounding alone made it."""
    ids = [co.id for co in orders]
    if not ids:
        return "Rounding adjustment"
    return f"Change order adjustment ({', '.join(ids)})"


def milestones_total(contract: Contract, live: Iterable[Milestone], as_of: date) -> Decimal:
    """What the live milestones bill in the end: fixed amounts plus percents of the value as of
    `as_of` (README billing rule 8)."""
    fixed = ZERO
    percent = ZERO
    for m in live:
        if m.percent is not None:
            percent += m.percent
        elif m.amount is not None:
            fixed += m.amount
    value = contract.value_on(as_of)
    return fixed + round_money(percent_of(percent, value), contract.currency)


def unbilled_remainder(contract: Contract, milestones: Iterable[Milestone], as_of: date) -> Decimal:
    """The part of the contract's value (with change orders) that no milestone bills: zero when
    the contract has no value or its milestones cover it."""
    if contract.value is None:
        return ZERO
    live = [m for m in milestones if m.status is not Status.CANCELLED]
    if not live:
        return ZERO
    left = contract.value_on(as_of) - milestones_total(contract, live, as_of)
    return max(left, ZERO)
