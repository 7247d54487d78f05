"""Plain, immutable records that flow between the stages of a sync.

Nothing here talks to a file, a database or the network; everything is hashable and comparable
so that billing and planning stay pure functions of their inputs.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from json.encoder import encode_basestring_ascii as _quote  # how json.dumps quotes text
from operator import attrgetter
from typing import NamedTuple


class Status(StrEnum):
    __hash__ = str.__hash__  # C-speed, and equal to the hash of the value it equals

    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class Reason(StrEnum):
    """Why a milestone is not billed in this run. Every unbilled milestone gets exactly one."""

    __hash__ = str.__hash__  # C-speed, and equal to the hash of the value it equals

    NOT_DONE = "not_done"
    AWAITING_APPROVAL = "awaiting_approval"
    CANCELLED = "cancelled"
    ALREADY_INVOICED = "already_invoiced"
    EXCEEDS_CAP = "exceeds_cap"
    CONTRACT_NOT_STARTED = "contract_not_started"
    UNKNOWN_CONTRACT = "unknown_contract"
    INVALID_MILESTONE = "invalid_milestone"
    INVALID_CONTRACT = "invalid_contract"
    CHANGED_AFTER_INVOICING = "changed_after_invoicing"


# Reasons a person has to act on; a run that reports any of them exits with code 1.
PROBLEM_REASONS = frozenset(
    {
        Reason.UNKNOWN_CONTRACT,
        Reason.INVALID_MILESTONE,
        Reason.INVALID_CONTRACT,
        Reason.CHANGED_AFTER_INVOICING,
        Reason.EXCEEDS_CAP,
    }
)


class Kind(StrEnum):
    __hash__ = str.__hash__  # C-speed, and equal to the hash of the value it equals

    DEPOSIT = "deposit"
    MILESTONE = "milestone"
    RETAINAGE = "retainage"  # the close-out: retainage release, with any deposit remainder
    CREDIT = "credit"  # retires an earlier invoice (credit-and-reissue)
    ADJUSTMENT = "adjustment"  # change orders approved after the contract's last milestone
    CLOSEOUT = "closeout"  # a deposit remainder settled after the last milestone was cancelled


class Role(StrEnum):
    """What a line is, so later runs can total what was billed without re-reading descriptions."""

    __hash__ = str.__hash__  # C-speed, and equal to the hash of the value it equals

    FIXED = "fixed"
    PERCENT = "percent"
    DEPOSIT = "deposit"
    DEPOSIT_APPLIED = "deposit_applied"
    RETAINAGE = "retainage"
    CO_ADJUSTMENT = "co_adjustment"
    RETAINAGE_RELEASE = "retainage_release"
    CREDIT = "credit"


@dataclass(frozen=True, slots=True)
class BillingRules:
    """The [billing] section, as billing needs it."""

    business: str
    approval: str = "required"  # "required" | "none"
    invoice_date: str = "accepted"  # "accepted" | "completed" | "sync"
    terms_days: int = 30
    on_change: str = "flag"  # "flag" | "credit-and-reissue"


@dataclass(frozen=True, slots=True)
class ChangeOrder:
    id: str
    amount: Decimal
    approved: date


@dataclass(frozen=True, slots=True)
class Deposit:
    """Either a percent of the original contract value or a fixed amount."""

    percent: Decimal | None = None
    amount: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Contract:
    id: str
    customer: str
    currency: str
    value: Decimal | None = None
    start: date | None = None
    deposit: Deposit | None = None
    retainage: Decimal | None = None  # percent withheld, 0-100
    cap: Decimal | None = None
    terms_days: int | None = None
    change_orders: tuple[ChangeOrder, ...] = ()

    def value_on(self, day: date) -> Decimal:
        """Contract value with every change order approved on or before `day`."""
        base = self.value or Decimal(0)
        return base + sum(
            (co.amount for co in self.change_orders if co.approved <= day), Decimal(0)
        )

    def started_by(self, day: date) -> bool:
        return self.start is None or self.start <= day


class Milestone(NamedTuple):
    """A milestone as the tracker holds it. A tuple, as `Line` is: a tracker of 100,000
    milestones makes 100,000 of them, and a frozen dataclass is made one call per field."""

    id: str
    contract: str
    title: str = ""
    percent: Decimal | None = None
    amount: Decimal | None = None
    status: Status = Status.OPEN
    completed: date | None = None
    accepted: date | None = None
    terms_days: int | None = None
    where: str = ""  # file:line or tracker URL, for messages
    currency: str | None = None  # the amount's currency, when the tracker records one
    # the day the work is planned to be done (the tracker's due date): only the cash forecast
    # reads it, so it is not in `content_hash` (moving a date never makes an invoice wrong)
    planned: date | None = None

    @property
    def is_percent(self) -> bool:
        return self.percent is not None

    def content_hash(self) -> str:
        """Hash of what makes an invoice wrong if it changes: amount, percent, contract, status.
        20 and 20.0 are the same percent, so numbers are normalized first."""
        amount = "" if self.amount is None else format(self.amount.normalize(), "f")
        percent = "" if self.percent is None else format(self.percent.normalize(), "f")
        payload = f"{self.contract}\x1f{amount}\x1f{percent}\x1f{self.status.value}"
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def describe_terms(self) -> str:
        if self.percent is not None:
            return f"{format(self.percent.normalize(), 'f')}%"
        return f"{self.amount}"


@dataclass(frozen=True, slots=True)
class InvalidMilestone:
    """A record the source could not turn into a milestone; billing reports it, never drops it."""

    id: str | None
    contract: str | None
    message: str
    where: str = ""


class Line(NamedTuple):
    """One invoice line. Tuples, not frozen dataclasses: a big plan builds hundreds of
    thousands of these and tuples are several times cheaper to make."""

    description: str
    amount: Decimal
    role: Role
    milestone: str | None = None


_line_amount = attrgetter("amount")
_ZERO = Decimal(0)


class PlannedInvoice(NamedTuple):
    """A document billing decided on; `key` makes pushing it idempotent. Billing returns it
    as an action (`connector.sync.actions`) whose type says what the ledger is to do with it."""

    business: str
    contract: str
    customer: str
    currency: str
    kind: Kind
    milestones: tuple[str, ...]
    date: datetime.date  # the field shadows the type inside the class: spelt in full
    due_date: datetime.date
    lines: tuple[Line, ...]
    revision: int = 0
    billed_milestones: tuple[Milestone, ...] = ()  # as they were when billed
    replaces: str | None = None  # key of the invoice a void or credit note retires
    # Keys of documents planned in the same run that the ledger must confirm before this one
    # is sent: a close-out never goes out beside a refused or unconfirmed milestone invoice.
    after: tuple[str, ...] = ()

    @property
    def milestone_hashes(self) -> tuple[tuple[str, str], ...]:
        """What state keeps to notice a change later; computed only when it is stored."""
        return tuple((m.id, m.content_hash()) for m in self.billed_milestones)

    @property
    def total(self) -> Decimal:
        return sum(map(_line_amount, self.lines), _ZERO)  # in C: asked several times a document

    @property
    def is_credit_note(self) -> bool:
        """Lines that net below zero go to the ledger as a credit note, never as an invoice
        with a negative total (which every ledger refuses)."""
        return self.total < 0

    @property
    def key(self) -> str:
        return idempotency_key(
            self.business, self.contract, self.kind, self.milestones, self.revision
        )

    @property
    def reference(self) -> str:
        return reference_for(self.key)


@dataclass(frozen=True, slots=True)
class Skip:
    milestone: str
    contract: str | None
    reason: Reason
    message: str


@dataclass(frozen=True, slots=True)
class Notice:
    """Something about a whole contract that a person has to act on: money that no milestone
    bills, or a change order held at the cap."""

    contract: str
    message: str


@dataclass(frozen=True, slots=True)
class BilledInvoice:
    """What state remembers of an invoice, as billing needs it to compute the next one."""

    key: str
    contract: str
    kind: Kind
    milestones: tuple[str, ...]
    lines: tuple[Line, ...]
    active: bool  # false once voided, credited or definitively rejected
    revision: int = 0
    milestone_hashes: tuple[tuple[str, str], ...] = ()
    paid: Decimal = Decimal(0)
    number: str | None = None
    total: Decimal = Decimal(0)
    date: date | None = None
    confirmed: bool = True  # false while the ledger has not confirmed it (`pushing`)


def idempotency_key(
    business: str, contract: str, kind: str, milestones: tuple[str, ...], revision: int
) -> str:
    """Same business, contract, kind, milestones and revision -> same key, on every machine.
    The text hashed is `json.dumps([business, contract, str(kind), list(milestones),
    revision])`, written directly: a first night hashes 100,000s of them."""
    ids = ", ".join([_quote(m) for m in milestones])
    raw = f"[{_quote(business)}, {_quote(contract)}, {_quote(str(kind))}, [{ids}], {int(revision)}]"
    return "mc-" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def reference_for(key: str) -> str:
    """Short reference stored on the ledger invoice (fits QuickBooks' 21-character DocNumber)."""
    return "MC-" + key.removeprefix("mc-")[:12].upper()
