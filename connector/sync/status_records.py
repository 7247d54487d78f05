"""The status as a typed value: `BooksStatus` of `ContractStatus`, `InvoiceStatus`, `LastRun`
and `Attention` records. `connector.sync.status` computes it; the CLI's tables, the demo and the
overview render these records, and only what prints JSON asks for `to_json`.

The JSON form carries amounts as strings and dates as ISO text, never floats; `from_json`
reads it back exactly, for a caller that was handed the JSON form.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, tzinfo
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal, NamedTuple

from connector.models import Kind
from connector.money import fmt
from connector.sync.state_records import RunOutcome, RunRow

# The JSON form of a status, or of part of one: what `--json` prints. Only `to_json` makes one
# and only `from_json` reads one; everything else passes the typed records.
Json = dict[str, Any]


class Standing(StrEnum):
    """What a bookkeeper calls where an invoice stands (`InvoiceStatus.status`)."""

    __hash__ = str.__hash__  # equal to the hash of the text it equals, as in a set of strings

    SENDING = "sending"
    OPEN = "open"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    VOIDED = "voided"
    CREDITED = "credited"
    FAILED = "failed"
    VOIDED_IN_LEDGER = "voided_in_ledger"
    NOTHING_TO_SEND = "nothing_to_send"  # its lines net to zero
    CREDIT_NOTE = "credit_note"


class Emailed(StrEnum):
    """Whether an invoice reached the client through the ledger's own email
    (`InvoiceStatus.emailed`): the row's delivery, or `never` for one not to be sent."""

    __hash__ = str.__hash__

    SENT = "sent"
    SENDING = "sending"  # asked; the next run asks the ledger whether it went
    REFUSED = "refused"  # the ledger would not (no email on file...); tried again each night
    TO_SEND = "to_send"  # goes once the ledger confirms the invoice
    NEVER = "never"  # not to be emailed ([billing] send = "never", or a credit note)


def _amount(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _text(amount: Decimal | None) -> str | None:
    return None if amount is None else fmt(amount)


class InvoiceStatus(NamedTuple):
    """One invoice as the status shows it. A tuple, as `InvoiceRow` is: the status of large
    books makes one per invoice, 100,000s."""

    number: str
    contract: str
    kind: Kind
    milestones: tuple[str, ...]
    currency: str
    total: Decimal  # negative for a credit note
    date: dt.date  # the field shadows the type inside the class: spelt in full
    due_date: dt.date
    paid: Decimal
    balance: Decimal
    status: Standing
    days_overdue: int
    error: str | None
    # When the ledger computed tax (else None): the amounts without it, the tax, and what the
    # client is asked for, signed like `total` (`connector.sync.status.tax_split` says how).
    net: Decimal | None = None
    tax: Decimal | None = None
    gross: Decimal | None = None
    emailed: Emailed = Emailed.NEVER
    sent_at: str | None = None  # when the ledger emailed it, as stored (UTC)
    payment_link: str | None = None  # where the client sees and pays it online

    def to_json(self) -> Json:
        return {
            "number": self.number,
            "contract": self.contract,
            "kind": str(self.kind),
            "milestones": list(self.milestones),
            "currency": self.currency,
            "total": fmt(self.total),
            "date": self.date.isoformat(),
            "due_date": self.due_date.isoformat(),
            "paid": fmt(self.paid),
            "balance": fmt(self.balance),
            "status": str(self.status),
            "days_overdue": self.days_overdue,
            "error": self.error,
            "net": _text(self.net),
            "tax": _text(self.tax),
            "gross": _text(self.gross),
            "emailed": str(self.emailed),
            "sent_at": self.sent_at,
            "payment_link": self.payment_link,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InvoiceStatus:
        return cls(
            number=data["number"],
            contract=data["contract"],
            kind=Kind(data["kind"]),
            milestones=tuple(data["milestones"]),
            currency=data["currency"],
            total=Decimal(data["total"]),
            date=dt.date.fromisoformat(data["date"]),
            due_date=dt.date.fromisoformat(data["due_date"]),
            paid=Decimal(data["paid"]),
            balance=Decimal(data["balance"]),
            status=Standing(data["status"]),
            days_overdue=data["days_overdue"],
            error=data["error"],
            # a status printed before these fields existed reads as untaxed and not emailed
            net=_amount(data.get("net")),
            tax=_amount(data.get("tax")),
            gross=_amount(data.get("gross")),
            emailed=Emailed(data.get("emailed", Emailed.NEVER)),
            sent_at=data.get("sent_at"),
            payment_link=data.get("payment_link"),
        )


@dataclass(frozen=True, slots=True)
class ContractStatus:
    contract: str
    customer: str | None
    currency: str
    value: Decimal | None  # with every change order approved by the as-of date
    billed: Decimal
    paid: Decimal
    outstanding: Decimal  # never negative: unused credit is `credit`
    overdue: Decimal
    retainage_held: Decimal
    credit: Decimal  # the customer's unused credit

    def to_json(self) -> Json:
        return {
            "contract": self.contract,
            "customer": self.customer,
            "currency": self.currency,
            "value": None if self.value is None else fmt(self.value),
            "billed": fmt(self.billed),
            "paid": fmt(self.paid),
            "outstanding": fmt(self.outstanding),
            "overdue": fmt(self.overdue),
            "retainage_held": fmt(self.retainage_held),
            "credit": fmt(self.credit),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ContractStatus:
        return cls(
            contract=data["contract"],
            customer=data["customer"],
            currency=data["currency"],
            value=_amount(data["value"]),
            billed=Decimal(data["billed"]),
            paid=Decimal(data["paid"]),
            outstanding=Decimal(data["outstanding"]),
            overdue=Decimal(data["overdue"]),
            retainage_held=Decimal(data["retainage_held"]),
            credit=Decimal(data["credit"]),
        )


Timespec = Literal["seconds", "minutes"]


def _moment(text: str) -> tuple[datetime, Timespec]:
    moment = datetime.fromisoformat(text)
    return moment, "minutes" if moment.isoformat(timespec="minutes") == text else "seconds"


@dataclass(frozen=True, slots=True)
class LastRun:
    """The last run as the status shows it: its times as stored (UTC, to the second), or in the
    business's time zone to the minute once `in_zone` put them beside the local as-of day."""

    started_at: datetime
    finished_at: datetime | None
    outcome: RunOutcome
    counts: Mapping[str, int]
    problems: tuple[str, ...] = ()  # not in the JSON form: `failure` says the one that matters
    timespec: Timespec = "seconds"

    @classmethod
    def of(cls, run: RunRow) -> LastRun:
        return cls(run.started_at, run.finished_at, run.outcome, run.counts, run.problems)

    def in_zone(self, zone: tzinfo) -> LastRun:
        """The times in `zone`, to the minute (as they are shown beside a local day)."""

        def local(moment: datetime) -> datetime:
            return moment.astimezone(zone).replace(second=0, microsecond=0)

        finished = None if self.finished_at is None else local(self.finished_at)
        return replace(
            self, started_at=local(self.started_at), finished_at=finished, timespec="minutes"
        )

    def shown(self, moment: datetime | None) -> str | None:
        return None if moment is None else moment.isoformat(timespec=self.timespec)

    @property
    def when(self) -> str:
        """When it finished, or when it started if it never did."""
        return self.shown(self.finished_at or self.started_at) or ""

    def failure(self) -> str | None:
        """What needs a person when the run failed: its last problem."""
        if self.outcome != RunOutcome.FAILED:
            return None
        return f"the last sync failed: {self.problems[-1] if self.problems else 'see the log'}"

    def to_json(self) -> Json:
        return {
            "started_at": self.shown(self.started_at),
            "finished_at": self.shown(self.finished_at),
            "outcome": str(self.outcome),
            "counts": dict(self.counts),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LastRun:
        """The JSON form typed again; the problems are not in it, so none come back."""
        started, timespec = _moment(data["started_at"])
        finished = _moment(data["finished_at"])[0] if data["finished_at"] else None
        outcome = RunOutcome(data["outcome"])
        return cls(started, finished, outcome, dict(data["counts"]), timespec=timespec)


class Trouble(StrEnum):
    """What kind of thing needs a person (`Attention.kind`): what keeps a milestone from being
    billed or an invoice from being confirmed, paid or emailed."""

    __hash__ = str.__hash__

    MILESTONE = "milestone"  # an invalid or held milestone (its skip reason is a problem)
    NOT_BILLED = "not_billed"  # billable, but the last sync made no invoice (customer refused...)
    PUSH_REFUSED = "push_refused"  # the ledger refused the invoice
    UNCONFIRMED = "unconfirmed"  # sent, the ledger has not confirmed it yet
    VOIDED_IN_LEDGER = "voided_in_ledger"
    EMAIL_REFUSED = "email_refused"
    CREDIT = "credit"  # the customer holds credit nobody has used
    UNBILLED_VALUE = "unbilled_value"  # part of a contract's value is on no milestone
    LAST_SYNC_FAILED = "last_sync_failed"
    LAST_SYNC = "last_sync"  # a problem of the last sync that nothing above says
    CONNECTION = "connection"  # the ledger is not connected, or the connection lapses soon
    CANNOT_LOAD = "cannot_load"  # a config of the folder cannot be read


@dataclass(frozen=True, slots=True)
class Attention:
    """One thing that needs a person, with the money it holds up: `amount` in `currency` (None
    when no amount is known: a failed sync, a lapsing connection). `message` is the whole
    sentence, as a person reads it; the other fields are for sorting, totals and links."""

    kind: Trouble
    message: str
    contract: str | None = None
    milestones: tuple[str, ...] = ()
    invoice: str | None = None  # its number, or its reference before the ledger gave one
    amount: Decimal | None = None
    currency: str | None = None

    def __str__(self) -> str:
        return self.message

    @property
    def held_up(self) -> str | None:
        """The amount it holds up as text (`4000.00 EUR`), or None."""
        if self.amount is None or self.currency is None:
            return None
        return f"{fmt(self.amount)} {self.currency}"

    def to_json(self) -> Json:
        return {
            "kind": str(self.kind),
            "contract": self.contract,
            "milestones": list(self.milestones),
            "invoice": self.invoice,
            "amount": _text(self.amount),
            "currency": self.currency,
            "message": self.message,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Attention:
        return cls(
            kind=Trouble(data["kind"]),
            message=data["message"],
            contract=data["contract"],
            milestones=tuple(data["milestones"]),
            invoice=data["invoice"],
            amount=_amount(data["amount"]),
            currency=data["currency"],
        )


# Status forecasts the next 4 weeks for books up to this many invoices: the forecast bills the
# whole book forward (about 9 s at 77,000 invoices), and status must print in seconds; larger
# books point to `connector forecast`, which the digest and the dashboard also use.
FORECAST_UP_TO = 5_000


@dataclass(frozen=True, slots=True)
class BooksStatus:
    business: str
    as_of: date
    last_run: LastRun | None
    contracts: tuple[ContractStatus, ...] = ()
    invoices: tuple[InvoiceStatus, ...] = ()
    attention: tuple[Attention, ...] = ()  # what needs a person
    # `connector forecast`'s expected receipts in the next 4 weeks, per currency code (sorted,
    # never added together); None when no forecast was made for this status (books larger
    # than FORECAST_UP_TO invoices, or a forecast that could not be made)
    expected: tuple[tuple[str, Decimal], ...] | None = None

    def to_json(self) -> Json:
        """`attention` is each item's message (as before the items were typed);
        `attention_items` the typed items, with the amount each holds up."""
        return {
            "business": self.business,
            "as_of": self.as_of.isoformat(),
            "last_run": None if self.last_run is None else self.last_run.to_json(),
            "contracts": [c.to_json() for c in self.contracts],
            "invoices": [i.to_json() for i in self.invoices],
            "attention": [a.message for a in self.attention],
            "attention_items": [a.to_json() for a in self.attention],
            "expected_next_4_weeks": None
            if self.expected is None
            else {currency: str(amount) for currency, amount in self.expected},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BooksStatus:
        """The status a `to_json` printed, typed again (for a caller that was handed JSON)."""
        last = data["last_run"]
        return cls(
            business=data["business"],
            as_of=date.fromisoformat(data["as_of"]),
            last_run=None if last is None else LastRun.from_json(last),
            contracts=tuple(ContractStatus.from_json(c) for c in data["contracts"]),
            invoices=tuple(InvoiceStatus.from_json(i) for i in data["invoices"]),
            attention=tuple(_attention(data)),
            expected=_expected(data.get("expected_next_4_weeks")),
        )


def _expected(data: Mapping[str, str] | None) -> tuple[tuple[str, Decimal], ...] | None:
    return None if data is None else tuple((c, Decimal(v)) for c, v in sorted(data.items()))


def _attention(data: Mapping[str, Any]) -> list[Attention]:
    """The typed items; a status printed before they were typed has only the messages."""
    if "attention_items" in data:
        return [Attention.from_json(a) for a in data["attention_items"]]
    return [Attention(Trouble.LAST_SYNC, text) for text in data["attention"]]
