"""The `LedgerAdapter` Protocol: what the sync engine asks of QuickBooks, Xero or any ledger.

Calls are batch-friendly and idempotent by key. An adapter translates; it never decides what to
bill and never touches the state database. It raises the typed errors of `connector.errors`:
retriable (the engine may try again), fatal (stop this business), skippable (one item).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

from connector.models import Kind, Line


class RemoteStatus(StrEnum):
    OPEN = "open"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    VOIDED = "voided"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class CustomerRef:
    id: str
    name: str
    currency: str


@dataclass(frozen=True, slots=True)
class InvoiceRequest:
    """One invoice or credit note to create; `key` is the idempotency key, `reference` is
    written on the document so a later run can find it."""

    key: str
    reference: str
    customer: CustomerRef
    currency: str
    kind: Kind
    date: dt.date  # dt.: the field's name would shadow the type
    due_date: dt.date
    lines: tuple[Line, ...]
    memo: str = ""
    # A credit note's invoice: the ledger id of the document it credits, so that a ledger
    # which allocates credits explicitly (Xero) can settle that invoice with it.
    credits_ledger_id: str | None = None

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal(0))

    @property
    def is_credit_note(self) -> bool:
        """Lines that net below zero are created as a credit note for the positive amount: no
        document with a negative total ever reaches a ledger. `kind` says what it bills."""
        return self.total < 0


@dataclass(frozen=True, slots=True)
class RemotePayment:
    id: str
    amount: Decimal
    date: date
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class RemoteInvoice:
    ledger_id: str
    number: str
    reference: str
    currency: str
    total: Decimal
    balance: Decimal
    status: RemoteStatus
    is_credit: bool = False
    payments: tuple[RemotePayment, ...] = ()
    # Settled by credit notes rather than paid: total - balance - credited is what was paid.
    credited: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class PushResult:
    """Per-item outcome of a batch create. `error` is the ledger's own message."""

    key: str
    invoice: RemoteInvoice | None = None
    error: str | None = None
    retriable: bool = False


@dataclass(frozen=True, slots=True)
class PaymentChanges:
    invoices: list[RemoteInvoice] = field(default_factory=list)
    cursor: str | None = None


class LedgerAdapter(Protocol):
    name: str
    batch_size: int  # most invoices one create call may carry

    def find_or_create_customer(self, name: str, currency: str) -> CustomerRef:
        """The customer with this display name; created when missing. A customer that exists
        in another currency is a `SkippableLedgerError`, never a guess."""
        ...

    def create_invoices(self, requests: Sequence[InvoiceRequest]) -> list[PushResult]:
        """Create invoices and credit notes (`is_credit_note`), one result per request, in order.
        A request whose key the ledger has seen returns the original document."""
        ...

    def find_invoices(self, references: Sequence[str]) -> dict[str, RemoteInvoice]:
        """Documents carrying these references; absent ones are simply not in the result."""
        ...

    def void_invoice(self, ledger_id: str, key: str) -> RemoteInvoice:
        """Void an unpaid invoice; voiding a voided invoice returns it unchanged."""
        ...

    def payment_changes(self, cursor: str | None) -> PaymentChanges:
        """Invoices whose balance or status changed since `cursor`, with their payments."""
        ...


# Optional abilities: an adapter has one by having the method; the engine and `doctor` ask with
# isinstance, and a type checker sees whether an adapter fits.


@runtime_checkable
class SettlesCredits(Protocol):
    """Ledgers that allocate credits explicitly (Xero). The engine calls it for a credit note
    it found by lookup, which a stopped run may have left unallocated."""

    def settle_credit(self, credit_id: str, invoice_id: str, on: date) -> RemoteInvoice:
        """Set credit note `credit_id` against invoice `invoice_id`, unless it already is."""
        ...


@runtime_checkable
class SelfChecking(Protocol):
    """`connector doctor`: reachable with the stored credentials, in one sentence."""

    def check(self) -> str: ...


class LimitsLookups(Protocol):
    """How far back `find_invoices` can see (None: everything). A property that may have to
    ask the ledger, so the engine reads it inside its error handling, never by isinstance."""

    @property
    def lookup_window(self) -> timedelta | None: ...
