"""QuickBooks Online ledger adapter, on python-quickbooks.

Invoices and credit memos go out through `/batch`, up to 30 per call, with a `requestid` derived
from their idempotency keys; each carries the connector's reference as its DocNumber so that an
invoice whose response was lost is found by a query before anything is sent again. Payment status
comes back through Change Data Capture since the stored cursor. This package translates; it never
decides what to bill and never touches the state database.

    __init__   the ledger (what the engine calls) and the plugin
    session    the python-quickbooks client, tokens, retries and errors
    discovery  Intuit's OAuth discovery document, read once per process
    mapping    requests to documents, answers to records (pure)
    setup      the company's setup read in one batch of queries, kept per company a while
    books      the company's setup (profile) and a booking resolved to its ids
    customers  the night's customers: one lookup, one batch of creates
    push       the batch create and its per-item answers
    ids        requestids and bIds within Intuit's lengths, from our keys
    reads      finding our documents again
    payments   what changed since the cursor (CDC, windowed under its cap)
    send       emailing a document through QuickBooks' own send
    faults     a Fault inside an answer, read as the session reads errors
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from quickbooks.objects.base import Ref

from connector.adapters.base import (
    CustomerKey,
    CustomerRef,
    Customers,
    InvoiceRequest,
    LedgerProfile,
    PaymentChanges,
    PushResult,
    RemoteInvoice,
    RemoteStatus,
    find_then_create,
)
from connector.adapters.quickbooks import customers, ids, payments, reads
from connector.adapters.quickbooks.books import CompanyBooks
from connector.adapters.quickbooks.faults import classify_fault
from connector.adapters.quickbooks.mapping import document, ref, remote_invoice
from connector.adapters.quickbooks.push import create_documents
from connector.adapters.quickbooks.reads import LINK, NOTE_LOOKBACK
from connector.adapters.quickbooks.send import send_document
from connector.adapters.quickbooks.session import QuickBooksSession, QuickBooksSettings
from connector.adapters.quickbooks.setup import Setup, item_part
from connector.credentials import TokenStore, refresh_token_credentials
from connector.errors import FatalLedgerError, RetriableLedgerError, SkippableLedgerError
from connector.plugins import CommandGroups, Credentials, PluginContext

__all__ = ["QuickBooksLedger", "QuickBooksPlugin", "classify_fault"]

log = logging.getLogger("connector.ledger.quickbooks")


class QuickBooksLedger:
    name = "quickbooks"
    batch_size = 30  # QuickBooks' /batch limit

    def __init__(self, session: QuickBooksSession, item: str):
        self.session = session
        self.item = item
        self.setup = Setup(session, item)
        self.books = CompanyBooks(self.setup)
        self._item_ref: Ref | None = None
        self._unbounded_lookup = False  # lookup_window promised "no limit" without knowing

    def check(self) -> str:
        """For `connector doctor`: the stored token works and the company answers, asked now
        (its own record, never a kept copy); and whose numbers the invoices carry, when the
        company's setup can be read (the profile's check says why when it cannot)."""
        realm = self.session.realm()
        self.session.get(f"companyinfo/{realm}")
        try:
            custom = self.custom_numbers()
        except (RetriableLedgerError, SkippableLedgerError):
            numbering = "not known yet"  # the profile's line says why
        else:
            numbering = "ours" if custom else "QuickBooks' own (reference in notes)"
        return f"company {realm} reachable; invoice numbers: {numbering}"

    @property
    def lookup_window(self) -> timedelta | None:
        """How old an unconfirmed invoice may be and still be found by `find_invoices`.

        The engine reads this outside its per-call error handling, so it never raises a ledger
        error that a lookup would survive: when the company's numbering cannot be read now
        (429, 5xx, a refused request), the answer is "no limit", and `find_invoices` keeps
        that promise by searching every document if the numbering turns out to be
        QuickBooks' own. Most often it still cannot read it then, and its error leaves the
        intents in doubt for the next run, reported. A fatal error (the connection refused)
        still stops the run."""
        try:
            return None if self.custom_numbers() else NOTE_LOOKBACK
        except (RetriableLedgerError, SkippableLedgerError) as exc:
            log.warning(
                "QuickBooks invoice numbering not known yet (%s); looking up unbounded", exc
            )
            self._unbounded_lookup = True
            return None

    def custom_numbers(self) -> bool:
        """Whether the company lets us set invoice numbers (DocNumber). When it does not, the
        reference lives only in the private note, and lookups scan recent documents."""
        return self.books.custom_numbers()

    def profile(self) -> LedgerProfile:
        """`Profiled`: the company's setup, for `doctor` and the checks before a push."""
        return self.books.profile()

    # -- customers and items -------------------------------------------------------------------

    def find_or_create_customer(self, name: str, currency: str) -> CustomerRef:
        found = self.find_or_create_customers([(name, currency)])[(name, currency)]
        if isinstance(found, SkippableLedgerError):
            raise found
        return found

    def find_customers(self, wanted: Sequence[CustomerKey]) -> Customers:
        """`FindsCustomers`: one batch of queries, with the company's setup reads still to
        make (so the profile read before the first push costs nothing more)."""
        return customers.find(self.setup, wanted)

    def create_customers(self, wanted: Sequence[CustomerKey]) -> Customers:
        """`FindsCustomers`: one batch of creates for up to 30 customers."""
        return customers.create(self.session, self.setup, wanted)

    def find_or_create_customers(self, wanted: Sequence[CustomerKey]) -> Customers:
        return find_then_create(self, wanted)

    def item_ref(self) -> Ref:
        if self._item_ref is None:
            items = self.setup.rows(item_part(self.item))
            if not items:
                raise FatalLedgerError(
                    f"QuickBooks has no item named {self.item!r} for the invoice lines; create it "
                    "in QuickBooks or change [billing] item in the config"
                )
            self._item_ref = ref(str(items[0]["Id"]), items[0].get("Name"))
        return self._item_ref

    # -- invoices --------------------------------------------------------------------------------

    def create_invoices(self, requests: Sequence[InvoiceRequest]) -> list[PushResult]:
        if len(requests) > self.batch_size:
            raise ValueError(f"at most {self.batch_size} documents per batch")
        return create_documents(self.session, requests, self._document, self.find_invoices)

    def _document(self, r: InvoiceRequest) -> dict[str, Any]:
        booked = self.books.booked(r)  # refuses what the company cannot take, before sending
        return document(r, self.item_ref(), self.custom_numbers(), booked)

    def find_invoices(self, references: Sequence[str]) -> dict[str, RemoteInvoice]:
        if not self.custom_numbers():
            lookback = None if self._unbounded_lookup else NOTE_LOOKBACK
            return reads.find_by_note(self.session, set(references), lookback)
        found = reads.find_by_number(self.session, references, self.batch_size)
        linked = reads.with_links(self.session, list(found.values()))
        return {r.reference: r for r in linked}

    def void_invoice(self, ledger_id: str, key: str) -> RemoteInvoice:
        for attempt in (1, 2):
            data = self.session.get(f"invoice/{ledger_id}", {"include": LINK})["Invoice"]
            current = remote_invoice(data, False)
            if current.status is RemoteStatus.VOIDED:
                return current
            if current.balance != current.total:
                raise SkippableLedgerError(
                    f"invoice {current.number} has payments applied; QuickBooks would unapply "
                    "them on void, so it is left for a person (issue a credit memo instead)"
                )
            body = json.dumps({"Id": data["Id"], "SyncToken": data["SyncToken"]})
            try:
                answer = self.session.post(
                    "invoice",
                    body,
                    params={"operation": "void"},
                    request_id=ids.request_id(key, "void", str(attempt)),
                )
                return remote_invoice(answer["Invoice"], False)
            except SkippableLedgerError as exc:
                if exc.code != "5010" or attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def send_invoice(self, ledger_id: str, key: str) -> RemoteInvoice:
        """`SendsInvoices`: email the document to the customer's address on file, once (see
        `send`). `key` names no request: QuickBooks' send takes no requestid."""
        return send_document(self.session, ledger_id)

    # -- payments ------------------------------------------------------------------------------

    def payment_changes(self, cursor: str | None) -> PaymentChanges:
        return payments.payment_changes(self.session, cursor)


class QuickBooksPlugin:
    """`[ledger] kind = "quickbooks"`."""

    name = "quickbooks"
    label = "QuickBooks"
    rank = 1
    settings = QuickBooksSettings

    def create(self, settings: QuickBooksSettings, context: PluginContext) -> QuickBooksLedger:
        session = QuickBooksSession(
            settings,
            TokenStore(context.business, "quickbooks"),
            retry_wait=(settings.retry_first_wait, settings.retry_max_wait),
        )
        return QuickBooksLedger(session, context.item)

    def credentials(self, context: PluginContext) -> Credentials:
        return refresh_token_credentials(context.business, self.name)

    def add_commands(self, groups: CommandGroups) -> None:
        from connector.adapters.quickbooks.cli import register

        register(groups)
