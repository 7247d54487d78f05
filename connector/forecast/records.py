"""The forecast's typed records: what goes in (`Known`), what comes out (`Forecast`, one
`CurrencyForecast` per currency, a `Week` of three `Figure`s each), and their JSON form.

Plain data: nothing here reads the state or a tracker. Amounts are `Decimal` and become strings
in JSON; a figure is always of one currency, and nothing here ever adds two currencies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from connector.models import BillingRules, Contract, InvalidMilestone, Milestone
from connector.money import fmt
from connector.sync.rows import InvoiceRow
from connector.sync.state_records import PaymentRow

Json = dict[str, Any]


class Scenario(StrEnum):
    """Which end of the observed habits a projection takes: the early quantile, the median,
    or the late quantile (`habits.EARLY_Q`, `habits.LATE_Q`)."""

    __hash__ = str.__hash__

    EARLY = "early"
    EXPECTED = "expected"
    LATE = "late"


SCENARIOS = tuple(Scenario)


class ItemKind(StrEnum):
    __hash__ = str.__hash__

    INVOICE = "invoice"  # raised already: in the ledger, with a balance left
    MILESTONE = "milestone"  # not billed yet: what billing will raise, run forward


@dataclass(frozen=True, slots=True)
class Known:
    """What one business knows on a day: its contracts and rules, the tracker's milestones,
    and the state's invoice rows and pulled-back payments."""

    business: str
    contracts: Mapping[str, Contract]
    rules: BillingRules
    milestones: Sequence[Milestone]
    invalid: Sequence[InvalidMilestone]
    rows: Sequence[InvoiceRow]
    payments: Sequence[PaymentRow]
    caveats: tuple[str, ...] = ()  # what the inputs could not include, in a sentence each


@dataclass(frozen=True, slots=True)
class Item:
    """One amount expected on one day, and why that day."""

    kind: ItemKind
    reference: str  # the invoice's number (or reference); what the document bills, otherwise
    contract: str
    customer: str
    currency: str
    amount: Decimal
    day: date
    why: str

    def to_json(self) -> Json:
        return {
            "kind": str(self.kind),
            "reference": self.reference,
            "contract": self.contract,
            "customer": self.customer,
            "currency": self.currency,
            "amount": fmt(self.amount),
            "day": self.day.isoformat(),
            "why": self.why,
        }


@dataclass(frozen=True, slots=True)
class Figure:
    """What one scenario expects in one week (or after the last week), with its items."""

    amount: Decimal
    items: tuple[Item, ...] = ()

    def to_json(self) -> Json:
        return {"amount": fmt(self.amount), "items": [i.to_json() for i in self.items]}


@dataclass(frozen=True, slots=True)
class Week:
    number: int  # 1 for the week that starts on the as-of day
    start: date
    end: date  # inclusive: start + 6 days
    early: Figure
    expected: Figure
    late: Figure

    def figure(self, scenario: Scenario) -> Figure:
        return {
            Scenario.EARLY: self.early,
            Scenario.EXPECTED: self.expected,
            Scenario.LATE: self.late,
        }[scenario]

    @property
    def low(self) -> Decimal:
        """The early-late band's bottom: the smaller of the early and late figures."""
        return min(self.early.amount, self.late.amount)

    @property
    def high(self) -> Decimal:
        return max(self.early.amount, self.late.amount)

    def to_json(self) -> Json:
        return {
            "week": self.number,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "early": self.early.to_json(),
            "expected": self.expected.to_json(),
            "late": self.late.to_json(),
        }


@dataclass(frozen=True, slots=True)
class CurrencyForecast:
    """One currency's weeks, and what each scenario expects after the last of them."""

    currency: str
    weeks: tuple[Week, ...]
    later: Mapping[Scenario, Figure] = field(default_factory=dict)

    def total(self, scenario: Scenario = Scenario.EXPECTED) -> Decimal:
        return sum((w.figure(scenario).amount for w in self.weeks), Decimal(0))

    def to_json(self) -> Json:
        return {
            "currency": self.currency,
            "total": {str(s): fmt(self.total(s)) for s in SCENARIOS},
            "weeks": [w.to_json() for w in self.weeks],
            "later": {str(s): f.to_json() for s, f in self.later.items()},
        }


@dataclass(frozen=True, slots=True)
class Habit:
    """Days from one day to the next (due -> paid, done -> accepted, planned -> done) at the
    early quantile, the median and the late quantile, learned from `observations` of `whose`
    ("Acme Corporation", "the business", or "none" when nothing was observed)."""

    early: int
    expected: int
    late: int
    observations: int
    whose: str

    def days(self, scenario: Scenario) -> int:
        return {
            Scenario.EARLY: self.early,
            Scenario.EXPECTED: self.expected,
            Scenario.LATE: self.late,
        }[scenario]

    def to_json(self) -> Json:
        return {
            "early": self.early,
            "expected": self.expected,
            "late": self.late,
            "observations": self.observations,
            "from": self.whose,
        }


@dataclass(frozen=True, slots=True)
class Forecast:
    """One business's expected receipts from `as_of`, week by week, per currency."""

    business: str
    as_of: date
    weeks: int
    currencies: tuple[CurrencyForecast, ...]
    not_forecast: tuple[str, ...] = ()  # milestones and documents left out, and why
    caveats: tuple[str, ...] = ()
    habits: Mapping[str, Mapping[str, Habit]] = field(default_factory=dict)

    def expected_total(self, weeks: int | None = None) -> dict[str, Decimal]:
        """Per currency, the expected receipts of the first `weeks` weeks (all by default)."""
        n = self.weeks if weeks is None else weeks
        return {
            c.currency: sum((w.expected.amount for w in c.weeks[:n]), Decimal(0))
            for c in self.currencies
        }

    def to_json(self) -> Json:
        return {
            "business": self.business,
            "as_of": self.as_of.isoformat(),
            "weeks": self.weeks,
            "currencies": [c.to_json() for c in self.currencies],
            "not_forecast": list(self.not_forecast),
            "caveats": list(self.caveats),
            "habits": {
                kind: {who: h.to_json() for who, h in by.items()}
                for kind, by in self.habits.items()
            },
        }
