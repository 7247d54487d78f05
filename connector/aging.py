"""Receivables by age: what each customer owes, in current / 1-30 / 31-60 / 61-90 / over 90
days past due, for one business and across a folder of them, one currency at a time.

Pure: invoice rows (as `State.invoice_rows` gives them) and an as-of day in, typed `Aging`
records out. It never opens the state, never calls a ledger or a tracker, and never adds two
currencies together: every sum is a `Buckets` of one currency, and `Buckets.plus` refuses two.

What is a receivable (the rows and balances `connector status` counts as outstanding, so a
customer's aging total is the outstanding less credit of their contracts there):
- an invoice the ledger confirmed (open, partially paid, or credited but still open in the
  ledger) with a balance left, in the bucket of its days past due;
- a credit note with credit left is set first against the invoice it credits (credit and
  reissue), as the bookkeeper applies it in the ledger, so a credited invoice is never shown as
  overdue; what is left of it is the customer's unused credit, a negative amount in `credit` and
  in no bucket (credit is not late), taken off the customer's total;
- an invoice the ledger has not confirmed yet (`pushing`) is not counted, since the ledger may
  not have it: it is listed in `unconfirmed` with its amount, and the next sync settles it;
- paid, voided, voided-in-the-ledger, failed (never reached the ledger) and zero-total rows
  owe nothing.

Days past due are the as-of day less the due day: due today (day 0) or later is current; then
1-30, 31-60, 61-90, and over 90 (91 days and more).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from connector.errors import MoneyError
from connector.money import fmt, quantum
from connector.sync import schema
from connector.sync.rows import InvoiceRow

if TYPE_CHECKING:  # a record of the overview; importing it would load the config and doctor
    from connector.overview import CannotLoad

# The JSON form, made only by `to_json` (amounts as strings, dates as ISO text).
Json = dict[str, Any]

# Rows whose balance the ledger holds (as `connector.sync.status` counts them).
COUNTED = (
    schema.PUSHED,
    schema.PARTIALLY_PAID,
    schema.PAID,
    schema.NOT_SENT,
    schema.CREDITED,
)


class Bucket(StrEnum):
    """How far past its due day an amount is; the value is its key in the JSON and CSV."""

    __hash__ = str.__hash__

    CURRENT = "current"
    DAYS_1_30 = "days_1_30"
    DAYS_31_60 = "days_31_60"
    DAYS_61_90 = "days_61_90"
    OVER_90 = "days_over_90"


BUCKETS = tuple(Bucket)


def days_past_due(due: date, as_of: date) -> int:
    """Negative before the due day, 0 on it."""
    return (as_of - due).days


def bucket_of(days: int) -> Bucket:
    """Day 0 (due today) is current: an invoice is late the day after its due day."""
    if days <= 0:
        return Bucket.CURRENT
    if days <= 30:
        return Bucket.DAYS_1_30
    if days <= 60:
        return Bucket.DAYS_31_60
    if days <= 90:
        return Bucket.DAYS_61_90
    return Bucket.OVER_90


def _zero(currency: str) -> Decimal:
    return Decimal(0).quantize(quantum(currency))  # 0.00 for USD, 0 for JPY


@dataclass(frozen=True, slots=True)
class Buckets:
    """Amounts in one currency by bucket (`owed`, in `BUCKETS` order), and the unused credit
    (zero or negative). `total` is what is owed net of that credit."""

    currency: str
    owed: tuple[Decimal, ...]
    credit: Decimal

    @classmethod
    def zero(cls, currency: str) -> Buckets:
        nothing = _zero(currency)
        return cls(currency, (nothing,) * len(BUCKETS), nothing)

    def amount(self, bucket: Bucket) -> Decimal:
        return self.owed[BUCKETS.index(bucket)]

    @property
    def overdue(self) -> Decimal:
        """Everything past its due day."""
        return sum(self.owed[1:], _zero(self.currency))

    @property
    def total(self) -> Decimal:
        return sum(self.owed, self.credit)

    def owing(self, bucket: Bucket, amount: Decimal) -> Buckets:
        at = BUCKETS.index(bucket)
        owed = tuple(a + amount if n == at else a for n, a in enumerate(self.owed))
        return Buckets(self.currency, owed, self.credit)

    def crediting(self, amount: Decimal) -> Buckets:
        """`amount` more unused credit (a positive amount, recorded as negative)."""
        return Buckets(self.currency, self.owed, self.credit - amount)

    def plus(self, other: Buckets) -> Buckets:
        if other.currency != self.currency:
            raise MoneyError(
                f"cannot add {other.currency} to {self.currency}: aging never adds currencies"
            )
        owed = tuple(a + b for a, b in zip(self.owed, other.owed, strict=True))
        return Buckets(self.currency, owed, self.credit + other.credit)

    def to_json(self) -> Json:
        data: Json = {"currency": self.currency}
        data.update((str(b), fmt(a)) for b, a in zip(BUCKETS, self.owed, strict=True))
        data.update(credit=fmt(self.credit), total=fmt(self.total))
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Buckets:
        owed = tuple(Decimal(data[str(b)]) for b in BUCKETS)
        return cls(data["currency"], owed, Decimal(data["credit"]))


def add_up(amounts: Iterable[Buckets]) -> tuple[Buckets, ...]:
    """One `Buckets` per currency, by currency code: each currency summed on its own."""
    sums: dict[str, Buckets] = {}
    for a in amounts:
        sums[a.currency] = sums[a.currency].plus(a) if a.currency in sums else a
    return tuple(sums[c] for c in sorted(sums))


@dataclass(frozen=True, slots=True)
class CustomerAging:
    """What one customer owes in one currency (a customer billed in two has two)."""

    customer: str
    amounts: Buckets

    def to_json(self) -> Json:
        return {"customer": self.customer, **self.amounts.to_json()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CustomerAging:
        return cls(data["customer"], Buckets.from_json(data))


@dataclass(frozen=True, slots=True)
class Unconfirmed:
    """An invoice or credit note sent to the ledger whose arrival is not confirmed: left out
    of the figures, and said so."""

    reference: str
    contract: str
    customer: str
    currency: str
    amount: Decimal  # negative for a credit note
    due_date: date

    def to_json(self) -> Json:
        return {
            "reference": self.reference,
            "contract": self.contract,
            "customer": self.customer,
            "currency": self.currency,
            "amount": fmt(self.amount),
            "due_date": self.due_date.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Unconfirmed:
        return cls(
            data["reference"],
            data["contract"],
            data["customer"],
            data["currency"],
            Decimal(data["amount"]),
            date.fromisoformat(data["due_date"]),
        )


@dataclass(frozen=True, slots=True)
class Aging:
    """One business's receivables as of a day: per customer and currency (by customer name,
    then currency), and per currency (`totals`)."""

    business: str
    as_of: date
    customers: tuple[CustomerAging, ...] = ()
    totals: tuple[Buckets, ...] = ()
    unconfirmed: tuple[Unconfirmed, ...] = ()

    @property
    def attention(self) -> tuple[str, ...]:
        """Why the figures may be short: each invoice left out of them, in a sentence."""
        return tuple(
            f"{u.reference} ({u.contract}) for {u.customer}, {fmt(u.amount)} {u.currency}: "
            "not yet confirmed by the ledger; the next sync checks"
            for u in self.unconfirmed
        )

    def to_json(self) -> Json:
        return {
            "business": self.business,
            "as_of": self.as_of.isoformat(),
            "customers": [c.to_json() for c in self.customers],
            "totals": [t.to_json() for t in self.totals],
            "unconfirmed": [u.to_json() for u in self.unconfirmed],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Aging:
        return cls(
            data["business"],
            date.fromisoformat(data["as_of"]),
            tuple(CustomerAging.from_json(c) for c in data["customers"]),
            tuple(Buckets.from_json(t) for t in data["totals"]),
            tuple(Unconfirmed.from_json(u) for u in data["unconfirmed"]),
        )


@dataclass(frozen=True, slots=True)
class AgingOverview:
    """A folder of businesses: each one's aging (or why its config cannot load), in the
    folder's order, and the receivables of them all per currency."""

    entries: tuple[Aging | CannotLoad, ...]
    totals: tuple[Buckets, ...]

    @property
    def businesses(self) -> tuple[Aging, ...]:
        return tuple(e for e in self.entries if isinstance(e, Aging))

    @property
    def attention(self) -> tuple[str, ...]:
        return tuple(str(item) for e in self.entries for item in e.attention)

    def to_json(self) -> Json:
        return {
            "businesses": [e.to_json() for e in self.entries],
            "totals": [t.to_json() for t in self.totals],
        }


def across(entries: Sequence[Aging | CannotLoad]) -> AgingOverview:
    """Every business's totals added up, per currency."""
    loaded = (t for e in entries if isinstance(e, Aging) for t in e.totals)
    return AgingOverview(tuple(entries), add_up(loaded))


def aging_of(business: str, rows: Iterable[InvoiceRow], as_of: date) -> Aging:
    """The business's receivables as of `as_of`, from its invoice rows."""
    created = [r for r in rows if r.action == schema.OutboxAction.CREATE]
    counted = [r for r in created if r.state in COUNTED]
    left = _set_credit_against_invoices(counted)
    lines: dict[tuple[str, str], Buckets] = {}
    for row in counted:
        if left[row.key]:
            key = (row.customer, row.currency)
            lines[key] = _add(
                lines.get(key) or Buckets.zero(row.currency), row, left[row.key], as_of
            )
    unconfirmed = tuple(_unconfirmed(r) for r in created if r.state == schema.PUSHING)
    return Aging(business, as_of, _by_customer(lines), add_up(lines.values()), unconfirmed)


def _by_customer(lines: Mapping[tuple[str, str], Buckets]) -> tuple[CustomerAging, ...]:
    """By name as a person sorts them (case aside), then currency."""
    keys = sorted(lines, key=lambda k: (k[0].casefold(), k[0], k[1]))
    return tuple(CustomerAging(customer, lines[customer, currency]) for customer, currency in keys)


def _add(amounts: Buckets, row: InvoiceRow, balance: Decimal, as_of: date) -> Buckets:
    """`balance` is what is left on the row: owed on an invoice, credit on a credit note."""
    if row.is_credit_note:
        return amounts.crediting(balance)
    if balance < 0:  # more paid than due: the customer's credit too
        return amounts.crediting(-balance)
    return amounts.owing(bucket_of(days_past_due(row.due_date, as_of)), balance)


def _set_credit_against_invoices(rows: Sequence[InvoiceRow]) -> dict[str, Decimal]:
    """Each row's balance once every credit note's credit left is set against the invoice it
    replaces (the credit of credit and reissue); other rows keep theirs. Positive: still owed
    on an invoice, or credit left on a credit note."""
    left = {r.key: r.balance for r in rows}
    invoices = {r.key for r in rows if not r.is_credit_note}
    for note in rows:
        if note.is_credit_note and note.replaces in invoices:
            target = note.replaces
            applied = max(min(left[note.key], left[target]), Decimal(0))
            left[note.key] -= applied
            left[target] -= applied
    return left


def _unconfirmed(row: InvoiceRow) -> Unconfirmed:
    return Unconfirmed(
        row.number or row.reference,
        row.contract,
        row.customer,
        row.currency,
        row.total,
        row.due_date,
    )
