"""Xero ledger adapter, on xero-python.

Invoices and credit notes go out in batches of up to 50 per call (`PUT /Invoices`,
`PUT /CreditNotes`) with `summarizeErrors=false`, so every element comes back with its own
result, matched to its request by `Reference` (never by position: an element Xero leaves out
must not hand its neighbour's invoice to another milestone). Each call carries an
Idempotency-Key derived from the documents' keys and the tenant, so a retried call is replayed
rather than applied twice. Xero keeps a key for only 6 minutes, refuses it with a different
body, and caches a 500 under it; in those cases what landed is found by `Reference` and only
what is missing is sent, under a new key. A document found that way whose amount differs from
the request is an earlier version, reported, never taken for this one. New contacts are created
in one call, just before the first batch that needs them. A credit note that replaces an invoice
is allocated to it. Each document carries its booking's tax and tracking (`documents`), checked
against the organisation's own lists before anything is sent (`books`: Xero drops tracking it
cannot match without a word); `sending` emails an invoice once; answers are read one document at
a time (`lenient`), so that one odd field costs one document, never the run. This module
translates; it never decides what to bill and never touches the state database.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from xero_python.accounting import CreditNote, CreditNotes, Invoice, Invoices

from connector.adapters.base import (
    CustomerKey,
    CustomerRef,
    Customers,
    InvoiceRequest,
    LedgerProfile,
    PaymentChanges,
    ProfileNeeds,
    PushResult,
    RemoteInvoice,
    RemoteStatus,
    find_then_create,
)
from connector.adapters.xero import sending
from connector.adapters.xero.books import BookingRefused, OrgBooks
from connector.adapters.xero.contacts import ContactBook
from connector.adapters.xero.credits import settle_credit
from connector.adapters.xero.documents import document
from connector.adapters.xero.errors import IdempotencyConflict
from connector.adapters.xero.lenient import Unreadable
from connector.adapters.xero.mapping import (
    folded,
    lines_total,
    messages,
    quote,
    request_key,
    to_remote,
)
from connector.adapters.xero.reads import PAGE, pages, payment_changes, payments_from_now
from connector.adapters.xero.session import XeroSession, XeroSettings
from connector.credentials import TokenStore, refresh_token_credentials
from connector.errors import RetriableLedgerError, SkippableLedgerError
from connector.plugins import CommandGroups, Credentials, PluginContext

log = logging.getLogger(__name__)
LOOKUP_CHUNK = 25  # references per `where` filter


class XeroLedger:
    name = "xero"
    batch_size = 50  # Xero's recommended most elements per call
    lookup_window = None  # `Reference` can be searched however old the invoice is

    def __init__(self, session: XeroSession, settings: XeroSettings, item: str):
        self.session = session
        self.settings = settings
        self.item = item
        self.contacts = ContactBook(session)
        self.books = OrgBooks(session)
        self._docs: dict[str, Invoice | CreditNote] = {}  # by request key, built once
        # what the last payment pull could not read, each naming its document
        self.unreadable: tuple[str, ...] = ()

    def find_or_create_customer(self, name: str, currency: str) -> CustomerRef:
        return self.contacts.find_or_create(name, currency)

    def find_customers(self, wanted: Sequence[CustomerKey]) -> Customers:
        """`FindsCustomers`: the organisation's contacts, read once per run (a call per 1,000)."""
        return self.contacts.find_all(wanted)

    def create_customers(self, wanted: Sequence[CustomerKey]) -> Customers:
        """`FindsCustomers`: the new contacts in one call, now rather than before the first
        batch of invoices."""
        return self.contacts.create(wanted)

    def find_or_create_customers(self, wanted: Sequence[CustomerKey]) -> Customers:
        return find_then_create(self, wanted)

    def check(self) -> str:
        """For `connector doctor`: the stored token works and the organisation answers."""
        orgs = self.session.call(lambda api, t: api.get_organisations(t)).organisations or []
        name = orgs[0].name if orgs else "?"
        return f"organisation {name!r} ({self.session.tenant()}) reachable"

    # -- invoices --------------------------------------------------------------------------------

    def create_invoices(self, requests: Sequence[InvoiceRequest]) -> list[PushResult]:
        if len(requests) > self.batch_size:
            raise ValueError(f"at most {self.batch_size} documents per batch")
        failed_contacts = self.contacts.flush()
        results: dict[str, PushResult] = {}
        ready: list[InvoiceRequest] = []
        for r in requests:
            contact = self.contacts.contact_id(r.customer)
            if contact is None:
                why = failed_contacts.get(folded(r.customer.name), "it could not be created")
                results[r.key] = PushResult(r.key, error=f"contact {r.customer.name!r}: {why}")
                continue
            try:  # refused here, before the push: Xero would drop unknown tracking silently
                self._docs[r.key] = document(r, contact, self.settings, self.item, self.books)
            except BookingRefused as exc:
                results[r.key] = PushResult(r.key, error=str(exc))
                continue
            ready.append(r)
        for credit in (False, True):
            group = [r for r in ready if (r.is_credit_note) == credit]
            if group:
                results.update(self._send(group, credit))
        for r in ready:
            if r.credits_ledger_id and results[r.key].invoice is not None:
                results[r.key] = self._settle(r, results[r.key])
        return [results[r.key] for r in requests]

    def _send(self, group: list[InvoiceRequest], credit: bool) -> dict[str, PushResult]:
        """One batch; after a key conflict or a 5xx, what landed is looked up and only the rest
        is sent again, each time under a new key."""
        base = request_key("mc-b", [self.session.tenant(), *(r.key for r in group)])
        results: dict[str, PushResult] = {}
        pending = group
        for attempt in self.session.after_server_errors():
            with attempt:
                n = attempt.retry_state.attempt_number
                key = base
                if n > 1:  # Xero answered 5xx and cached it under the last key
                    pending = self._recover(pending, results)
                    key = self._new_key(base, pending, f"after-5xx-{n}")
                if not pending:
                    return results
                try:
                    answer = self._put(pending, credit, key)
                except IdempotencyConflict:
                    # the key came back with a different body within Xero's 6 minutes
                    pending = self._recover(pending, results)
                    if not pending:
                        return results
                    answer = self._put(pending, credit, self._new_key(base, pending, "body"))
                results.update(self._results(pending, answer, self.session.take_unreadable()))
                return results
        raise AssertionError("unreachable")  # pragma: no cover

    def _new_key(self, base: str, group: list[InvoiceRequest], why: str) -> str:
        return request_key(base, [why, *(repr(self._document(r)) for r in group)])

    def _recover(
        self, group: list[InvoiceRequest], results: dict[str, PushResult]
    ) -> list[InvoiceRequest]:
        """Record what Xero already holds for `group`; return the requests still missing."""
        found = self._find_docs([r.reference for r in group])
        missing = []
        for r in group:
            doc = found.get(r.reference)
            if doc is None:
                missing.append(r)
            else:
                results[r.key] = self._found_result(r, doc)
        return missing

    def _found_result(self, r: InvoiceRequest, doc: Any) -> PushResult:
        """A document found by reference is this request's only if it bills the same amount
        in the same currency; otherwise it is an earlier version, and a person must decide."""
        remote = to_remote(doc)
        sign = Decimal(-1) if r.is_credit_note else Decimal(1)
        wanted = r.total * sign
        if lines_total(doc) == wanted and remote.currency == r.currency:
            return PushResult(r.key, invoice=remote)
        return PushResult(
            r.key,
            error=(
                f"the ledger holds an earlier version of this invoice under reference "
                f"{r.reference}: {remote.number or remote.ledger_id} for {lines_total(doc)} "
                f"{remote.currency}, not {wanted} {r.currency}; void or credit it in Xero, "
                "then run again"
            ),
        )

    def _put(self, group: list[InvoiceRequest], credit: bool, key: str) -> list[Any]:
        docs = [self._document(r) for r in group]
        if credit:
            body = CreditNotes(credit_notes=docs)
            return (
                self.session.call(
                    lambda api, t: api.create_credit_notes(
                        t, body, summarize_errors=False, idempotency_key=key
                    ),
                    write=True,
                ).credit_notes
                or []
            )
        invoices = Invoices(invoices=docs)
        return (
            self.session.call(
                lambda api, t: api.create_invoices(
                    t, invoices, summarize_errors=False, idempotency_key=key
                ),
                write=True,
            ).invoices
            or []
        )

    def _results(
        self, group: list[InvoiceRequest], answer: list[Any], unread: list[Unreadable]
    ) -> dict[str, PushResult]:
        """Each returned element goes to the request with its `Reference`; a request Xero
        returned nothing readable for is left in doubt (looked up next run), never given
        another's."""
        returned: dict[str, list[Any]] = {}
        for doc in answer:
            returned.setdefault(doc.reference or "", []).append(doc)
        odd = {u.reference: str(u) for u in unread if u.reference}
        results = {}
        for r in group:
            docs = returned.get(r.reference)
            doc = docs.pop(0) if docs else None
            if doc is None:
                why = odd.get(r.reference, "Xero returned no result for it")
                results[r.key] = PushResult(r.key, error=why, retriable=True)
            elif doc.has_errors or doc.validation_errors:
                results[r.key] = PushResult(r.key, error=messages(doc))
            else:
                results[r.key] = PushResult(r.key, invoice=to_remote(doc))
        return results

    def _settle(self, r: InvoiceRequest, created: PushResult) -> PushResult:
        """The credit note is allocated to the invoice it replaces. If that fails the credit
        note still exists (the result keeps it) and the error says what a person should do."""
        assert created.invoice is not None and r.credits_ledger_id is not None
        try:
            credit = settle_credit(
                self.session, created.invoice.ledger_id, r.credits_ledger_id, r.date
            )
        except (RetriableLedgerError, SkippableLedgerError) as exc:
            why = (
                f"credit note {created.invoice.number} was created but not set against the "
                f"invoice it replaces ({exc}); allocate it to that invoice in Xero"
            )
            log.warning("%s", why)
            return PushResult(r.key, invoice=created.invoice, error=why)
        return PushResult(r.key, invoice=credit)

    def settle_credit(
        self, credit_ledger_id: str, invoice_ledger_id: str, on: Any
    ) -> RemoteInvoice:
        """For the engine, after a credit note was found by reference rather than created
        (a run that stopped in between): allocate it unless it already is."""
        return settle_credit(self.session, credit_ledger_id, invoice_ledger_id, on)

    def _document(self, r: InvoiceRequest) -> Invoice | CreditNote:
        return self._docs[r.key]

    def find_invoices(self, references: Sequence[str]) -> dict[str, RemoteInvoice]:
        return {ref: to_remote(doc) for ref, doc in self._find_docs(references).items()}

    def _find_docs(self, references: Sequence[str]) -> dict[str, Any]:
        """Xero's documents carrying these references; a live invoice beats a voided one."""
        found: dict[str, Any] = {}
        wanted = list(dict.fromkeys(references))
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = wanted[start : start + LOOKUP_CHUNK]
            where = " OR ".join(f"Reference=={quote(ref)}" for ref in chunk)

            def invoices(api: Any, tenant: str, page: int, where: str = where) -> Any:
                return api.get_invoices(tenant, where=where, page=page, page_size=PAGE).invoices

            def credit_notes(api: Any, tenant: str, page: int, where: str = where) -> Any:
                answer = api.get_credit_notes(tenant, where=where, page=page, page_size=PAGE)
                return answer.credit_notes

            unread: list[Unreadable] = []
            for doc in pages(self.session, invoices, unread):
                earlier = found.get(doc.reference)
                if earlier is None or to_remote(earlier).status in (
                    RemoteStatus.VOIDED,
                    RemoteStatus.DELETED,
                ):
                    found[doc.reference] = doc
            for doc in pages(self.session, credit_notes, unread):
                found[doc.reference] = doc
            _never_absent(unread, set(chunk))
        return {ref: doc for ref, doc in found.items() if ref in set(wanted)}

    def void_invoice(self, ledger_id: str, key: str) -> RemoteInvoice:
        # Xero scopes keys per app, not per organisation: the tenant is part of the key
        scoped = request_key("mc-void", [self.session.tenant(), key])
        for attempt in self.session.after_server_errors():  # a cached 500: look again, new key
            with attempt:
                current = self.session.call(lambda api, t: api.get_invoice(t, ledger_id))
                doc = self.session.only(current.invoices, f"invoice {ledger_id}")
                remote = to_remote(doc)
                if remote.status in (RemoteStatus.VOIDED, RemoteStatus.DELETED):
                    return remote
                if (doc.amount_paid or 0) > 0 or (doc.amount_credited or 0) > 0:
                    raise SkippableLedgerError(
                        f"invoice {remote.number} has payments or credit applied; Xero voids "
                        "only invoices with none, so it is left for a person (issue a credit "
                        "note instead)"
                    )
                status = "DELETED" if doc.status in ("DRAFT", "SUBMITTED") else "VOIDED"
                body = Invoices(invoices=[Invoice(invoice_id=ledger_id, status=status)])
                n = attempt.retry_state.attempt_number
                sent_key = scoped if n == 1 else request_key(scoped, [f"after-5xx-{n}"])

                def update(api: Any, tenant: str, body: Any = body, key: str = sent_key) -> Any:
                    return api.update_invoice(tenant, ledger_id, body, idempotency_key=key)

                answer = self.session.call(update, write=True)
                return to_remote(self.session.only(answer.invoices, f"invoice {ledger_id}"))
        raise AssertionError("unreachable")  # pragma: no cover

    # -- payments --------------------------------------------------------------------------------

    def payment_changes(self, cursor: str | None) -> PaymentChanges:
        changes, unread = payment_changes(self.session, cursor)
        self.unreadable = tuple(str(u) for u in unread)
        return replace(changes, problems=self.unreadable)

    def payments_from_now(self) -> str:
        """`StartsPaymentsNow`: the first pull, for a business with nothing in Xero yet, is
        not the read of every invoice the app made (in an organisation that other businesses
        of a fleet bill too, pages of them), but a cursor from now on."""
        return payments_from_now()

    # -- the organisation, and getting invoices to the client ----------------------------------

    def profile(self) -> LedgerProfile:
        """`Profiled`: country, currencies, tax rates, tracking and settings (four reads)."""
        return self.books.profile()

    def profile_for(self, needs: ProfileNeeds) -> LedgerProfile:
        """`ProfilesFor`: only the reads the night's bookings need (one, most nights)."""
        return self.books.profile(needs)

    def send_invoice(self, ledger_id: str, key: str) -> RemoteInvoice:
        """`SendsInvoices`: Xero emails the invoice to the contact, once (see `sending`)."""
        return sending.send_invoice(self.session, ledger_id, key)

    def payment_link(self, ledger_id: str) -> str | None:
        """The invoice's online address, read only when asked: one call per invoice."""
        return sending.payment_link(self.session, ledger_id)


def _never_absent(unread: list[Unreadable], wanted: set[str]) -> None:
    """A lookup must not call a document absent because it could not be read: the engine would
    send it again. One that may carry a wanted reference stops the lookup, named."""
    for problem in unread:
        if problem.reference is None or problem.reference in wanted:
            raise SkippableLedgerError(
                f"Xero's answer holds a document that could not be read: {problem}; it is "
                "looked up again next run"
            )


class XeroPlugin:
    """`[ledger] kind = "xero"`."""

    name = "xero"
    label = "Xero"
    rank = 2
    settings = XeroSettings

    def create(self, settings: XeroSettings, context: PluginContext) -> XeroLedger:
        session = XeroSession(
            settings,
            TokenStore(context.business, "xero"),
            retry_wait=(settings.retry_first_wait, settings.retry_max_wait),
        )
        return XeroLedger(session, settings, context.item)

    def credentials(self, context: PluginContext) -> Credentials:
        return refresh_token_credentials(context.business, self.name)

    def add_commands(self, groups: CommandGroups) -> None:
        from connector.adapters.xero.cli import register

        register(groups)
