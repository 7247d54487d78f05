"""Habits learned from a business's own history: how many days after the due day each customer
pays, how many days after the work is done each customer accepts it, and how many days after
its planned day each contract's work gets done.

Each habit is the early quantile, the median and the late quantile of what was observed
(nearest rank, whole days), so early and late come from the spread actually seen, never from a
fixed margin. Who has no history of their own borrows the business's; with none at all the
habit is zero days, and says so. Pure: records in, `Habit`s out.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from connector.forecast.records import Habit
from connector.models import Contract, Milestone, Status
from connector.sync import schema
from connector.sync.rows import InvoiceRow
from connector.sync.state_records import PaymentRow

EARLY_Q = 0.2  # the early scenario: one observation in five was at least this early
LATE_Q = 0.8  # the late scenario: one in five was later still
NONE = Habit(0, 0, 0, 0, "none")


def quantile(values: Sequence[int], q: float) -> int:
    """Nearest rank: the smallest observation with at least `q` of them at or below it."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def habit_of(values: Sequence[int], whose: str) -> Habit:
    return Habit(
        quantile(values, EARLY_Q),
        quantile(values, 0.5),
        quantile(values, LATE_Q),
        len(values),
        whose,
    )


@dataclass(frozen=True, slots=True)
class Learned:
    """Observations by whom they are about, and the business's pooled; `of` picks one's own
    habit, else the business's, else none."""

    by: Mapping[str, tuple[int, ...]]
    business_name: str = "the business"

    def of(self, who: str) -> Habit:
        own = self.by.get(who)
        if own:
            return habit_of(own, who)
        pooled = [v for values in self.by.values() for v in values]
        return habit_of(pooled, self.business_name) if pooled else NONE

    def table(self) -> dict[str, Habit]:
        """Everyone's own habit, and the business's under its own name."""
        out = {who: habit_of(v, who) for who, v in sorted(self.by.items()) if v}
        pooled = [v for values in self.by.values() for v in values]
        if pooled:
            out[self.business_name] = habit_of(pooled, self.business_name)
        return out


def _learned(pairs: Iterable[tuple[str, int]]) -> Learned:
    by: dict[str, list[int]] = defaultdict(list)
    for who, days in pairs:
        by[who].append(days)
    return Learned({who: tuple(v) for who, v in by.items()})


def payment_days(rows: Sequence[InvoiceRow], payments: Sequence[PaymentRow]) -> Learned:
    """Per customer, each payment's day less its invoice's due day (negative: early). Every
    payment the ledger reported counts once (an invoice paid in two goes counts twice); a
    payment since deleted in the ledger, or on a credit note, does not."""
    invoices = {
        r.key: r for r in rows if r.action == schema.OutboxAction.CREATE and not r.is_credit_note
    }
    return _learned(
        (invoices[p.invoice_key].customer, (p.paid_on - invoices[p.invoice_key].due_date).days)
        for p in payments
        if not p.deleted and p.invoice_key in invoices
    )


def acceptance_days(milestones: Sequence[Milestone], contracts: Mapping[str, Contract]) -> Learned:
    """Per customer, days from a milestone's completion to the client's acceptance (never
    below zero: an invoice is never dated before the work was done)."""
    return _learned(
        (contracts[m.contract].customer, max(0, (m.accepted - m.completed).days))
        for m in milestones
        if m.completed is not None and m.accepted is not None and m.contract in contracts
    )


def slip_days(milestones: Sequence[Milestone]) -> Learned:
    """Per contract, days from a done milestone's planned day to the day it was done
    (negative: early)."""
    return _learned(
        (m.contract, (m.completed - m.planned).days)
        for m in milestones
        if m.status is Status.DONE and m.completed is not None and m.planned is not None
    )


@dataclass(frozen=True, slots=True)
class Habits:
    pay: Learned  # by customer
    accept: Learned  # by customer
    slip: Learned  # by contract

    def to_table(self) -> dict[str, dict[str, Habit]]:
        return {
            "days_paid_after_due": self.pay.table(),
            "days_accepted_after_done": self.accept.table(),
            "days_done_after_planned": self.slip.table(),
        }


def learn(
    rows: Sequence[InvoiceRow],
    payments: Sequence[PaymentRow],
    milestones: Sequence[Milestone],
    contracts: Mapping[str, Contract],
) -> Habits:
    return Habits(
        payment_days(rows, payments), acceptance_days(milestones, contracts), slip_days(milestones)
    )
