"""The `LedgerAdapter` Protocol: what the sync engine asks of QuickBooks, Xero or any ledger.

Calls are batch-friendly and idempotent by key. An adapter translates; it never decides what to
bill and never touches the state database. It raises the typed errors of `connector.errors`:
retriable (the engine may try again), fatal (stop this business), skippable (one item).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

from connector.errors import SkippableLedgerError
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


class AmountsAre(StrEnum):
    """Whether line amounts are net of tax (the ledger adds it) or include it. QuickBooks
    `GlobalTaxCalculation` TaxExcluded/TaxInclusive/NotApplicable, Xero `LineAmountTypes`
    Exclusive/Inclusive/NoTax (ledger-apis.md, Tax row)."""

    EXCLUSIVE = "exclusive"
    INCLUSIVE = "inclusive"
    NO_TAX = "no_tax"


@dataclass(frozen=True, slots=True)
class Booking:
    """How the ledger books one contract's documents: tax, and where the revenue is tracked.
    Names are as the company shows them; the adapter maps them to the ledger's ids and
    `connector.sync.preflight` checks them against the ledger's lists before any push."""

    tax_code: str | None = None  # QuickBooks TaxCode name (non-US); Xero TaxType or rate name
    taxable: bool | None = None  # QuickBooks US: line TAX or NON; Automated Sales Tax computes it
    amounts: AmountsAre | None = None  # None: as the ledger's settings have it (exclusive)
    class_name: str | None = None  # QuickBooks Class, on every line
    location: str | None = None  # QuickBooks Department (location), on the document
    tracking: tuple[tuple[str, str], ...] = ()  # Xero (category, option) pairs, at most two


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
    booking: Booking = Booking()

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
    # The tax the ledger computed; `total` is gross (net + tax).
    tax: Decimal = Decimal(0)
    # Where the client can see and pay it online, when the ledger gives one.
    payment_link: str | None = None
    # The ledger says it has emailed this document to the client.
    sent: bool = False


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
    # Documents the ledger answered with but that could not be read, one sentence each: shown
    # to a person as problems of the run; the cursor stays so the next night reads them again.
    problems: tuple[str, ...] = ()


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


CustomerKey = tuple[str, str]  # (display name, currency): a customer as a contract names it
Customers = dict[CustomerKey, CustomerRef | SkippableLedgerError]


@runtime_checkable
class FindsCustomers(Protocol):
    """Ledgers that look up many customers in one call and create the missing ones in one more
    (QuickBooks: one batch of queries, then one batch of creates; Xero: its contact list, then
    one PUT), where `find_or_create_customer` costs a call or two per customer. An answer maps
    each customer to its ref, or to the problem that is that customer's alone (one set up in
    another currency, a name the ledger refuses); a call that fails as a whole raises."""

    def find_customers(self, wanted: Sequence[CustomerKey]) -> Customers:
        """The customers of `wanted` the ledger has; the ones it has not are left out. A
        lookup that could not be made raises: it never calls a customer absent."""
        ...

    def create_customers(self, wanted: Sequence[CustomerKey]) -> Customers:
        """Create these customers, which `find_customers` did not find; one created meanwhile
        by someone else is found, never doubled. Every key of `wanted` is answered."""
        ...

    def find_or_create_customers(self, wanted: Sequence[CustomerKey]) -> Customers:
        """Both at once (`find_then_create`): every key of `wanted` is answered."""
        ...


def find_then_create(ledger: FindsCustomers, wanted: Sequence[CustomerKey]) -> Customers:
    """`find_or_create_customers` for any `FindsCustomers`: one lookup, then one creation of
    the missing ones (none when nothing is missing)."""
    keys = list(dict.fromkeys(wanted))
    found = ledger.find_customers(keys)
    missing = [k for k in keys if k not in found]
    if missing:
        found.update(ledger.create_customers(missing))
    return found


@runtime_checkable
class StartsPaymentsNow(Protocol):
    """Ledgers whose first payment pull is a read of its own (Xero reads every invoice the app
    ever made). For a business with nothing in the ledger yet there is nothing to read: the
    engine asks this instead, and the first pull is saved for a night that has invoices."""

    def payments_from_now(self) -> str:
        """A cursor for `payment_changes` that reads every change from now on; no call."""
        ...


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


@dataclass(frozen=True, slots=True)
class LedgerProfile:
    """What a company's books are set up to accept, read before the first push and shown by
    `connector doctor`. A list that is None is switched off in the company (for example class
    tracking); an empty tuple is switched on with nothing in it."""

    country: str | None
    home_currency: str
    multicurrency: bool
    currencies: tuple[str, ...] = ()  # currencies the company can invoice in
    automated_sales_tax: bool = False
    needs_tax_code: bool = False  # every line must name a tax code (QuickBooks outside the US)
    tax_codes: tuple[str, ...] = ()  # active codes by the name the company shows
    classes: tuple[str, ...] | None = None
    locations: tuple[str, ...] | None = None
    tracking: tuple[tuple[str, tuple[str, ...]], ...] = ()  # Xero: category, its active options
    custom_numbers: bool | None = None
    other: tuple[tuple[str, str], ...] = ()  # further settings doctor shows as they are


@runtime_checkable
class Profiled(Protocol):
    """Ledgers that can describe the company's setup (`LedgerProfile`)."""

    def profile(self) -> LedgerProfile: ...


@dataclass(frozen=True, slots=True)
class ProfileNeeds:
    """What the checks before a push compare with the profile (`connector.sync.preflight`):
    the currencies billed in, and whether any booking names a tax code, class, location or
    tracking. A ledger whose settings cost a call each (Xero) leaves out of a profile read for
    these needs what they do not ask about: a list left out is empty, never compared."""

    currencies: tuple[str, ...] = ()
    tax_codes: bool = False
    classes: bool = False
    locations: bool = False
    tracking: bool = False

    @classmethod
    def of(cls, bookings: Iterable[tuple[str, Booking]]) -> ProfileNeeds:
        """The needs of these (currency, booking) pairs, one per contract."""
        pairs = list(bookings)
        return cls(
            currencies=tuple(dict.fromkeys(currency for currency, _ in pairs)),
            tax_codes=any(b.tax_code is not None or b.taxable is not None for _, b in pairs),
            classes=any(b.class_name is not None for _, b in pairs),
            locations=any(b.location is not None for _, b in pairs),
            tracking=any(b.tracking for _, b in pairs),
        )


@runtime_checkable
class ProfilesFor(Protocol):
    """Ledgers that can read only what a night's bookings need of the company's setup
    (`ProfileNeeds`); `profile()` is still everything, for `connector doctor`."""

    def profile_for(self, needs: ProfileNeeds) -> LedgerProfile: ...


@runtime_checkable
class SendsInvoices(Protocol):
    """Ledgers that can email a document to the client themselves (QuickBooks
    `POST /invoice/{id}/send`, Xero `POST /Invoices/{id}/Email`)."""

    def send_invoice(self, ledger_id: str, key: str) -> RemoteInvoice:
        """Email the document to the customer's address on file and return it (`sent` True).
        A customer with no email address is a `SkippableLedgerError` naming the customer."""
        ...
