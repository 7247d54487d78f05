"""Xero ledger adapter, on xero-python.

Invoices and credit notes go out in batches of up to 50 per call (`PUT /Invoices`,
`PUT /CreditNotes`) with `summarizeErrors=false`, so every element comes back with its own
result, and with an Idempotency-Key derived from the documents' keys, so a retried call is
replayed rather than applied twice. Each document carries the connector's reference in
`Reference`, so an invoice whose response was lost is found by a lookup before anything is sent
again (Xero keeps a key for only 6 minutes). New contacts are created in one call, just before
the first batch that needs them. Payment status comes back through `If-Modified-Since` since the
stored cursor, plus `/Payments` to notice deleted payments. This module translates; it never
decides what to bill and never touches the state database.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from xero_python.accounting import (
    Contact,
    Contacts,
    CreditNote,
    CreditNotes,
    Invoice,
    Invoices,
    LineItem,
)

from connector.adapters.base import (
    CustomerRef,
    InvoiceRequest,
    PaymentChanges,
    PushResult,
    RemoteInvoice,
    RemotePayment,
    RemoteStatus,
)
from connector.adapters.xero_mapping import (
    day,
    messages,
    quote,
    request_key,
    server_time,
    to_remote,
    with_payments,
)
from connector.adapters.xero_session import (
    IdempotencyConflict,
    XeroSession,
    XeroSettings,
)
from connector.credentials import TokenStore
from connector.errors import SkippableLedgerError
from connector.models import Kind
from connector.plugins import PluginContext

PAGE = 1000  # Xero's largest pageSize
LOOKUP_CHUNK = 25  # references per `where` filter
OVERLAP = timedelta(minutes=5)  # re-read the boundary: two changes in one second are not lost
PENDING = "pending:"  # a contact to be created with the next batch
# invoices whose payment status may have moved: anything paid, credited, voided or deleted
CHANGED = (
    'Type=="ACCREC" AND (AmountPaid>0 OR AmountCredited>0 OR Status=="VOIDED" OR Status=="DELETED")'
)


class XeroLedger:
    name = "xero"
    batch_size = 50  # Xero's recommended most elements per call
    lookup_window = None  # `Reference` can be searched however old the invoice is

    def __init__(self, session: XeroSession, settings: XeroSettings, item: str):
        self.session = session
        self.settings = settings
        self.item = item
        self._contacts: dict[str, CustomerRef] | None = None  # casefolded name -> contact
        self._pending: dict[str, CustomerRef] = {}

    def check(self) -> str:
        """For `connector doctor`: the stored token works and the organisation answers."""
        orgs = self.session.call(lambda api, t: api.get_organisations(t)).organisations or []
        name = orgs[0].name if orgs else "?"
        return f"organisation {name!r} ({self.session.tenant()}) reachable"

    # -- contacts ------------------------------------------------------------------------------

    def find_or_create_customer(self, name: str, currency: str) -> CustomerRef:
        key = name.strip().casefold()
        known = self._known().get(key) or self._pending.get(key)
        if known is not None:
            if known.currency and known.currency != currency:
                raise SkippableLedgerError(
                    f"customer {name!r} is set up in {known.currency} in Xero, but the "
                    f"contract is in {currency}; change the contact's default currency in Xero "
                    "or the contract's currency"
                )
            return CustomerRef(known.id, known.name, currency)
        pending = CustomerRef(PENDING + name, name, currency)
        self._pending[key] = pending
        return pending

    def _known(self) -> dict[str, CustomerRef]:
        """Every active contact, read once per run (a page holds 1,000)."""
        if self._contacts is None:
            contacts: dict[str, CustomerRef] = {}
            for c in self._pages(
                lambda api, t, page: (
                    api.get_contacts(t, page=page, page_size=PAGE, summary_only=True).contacts
                )
            ):
                currency = c.default_currency.value if c.default_currency else ""
                contacts[c.name.strip().casefold()] = CustomerRef(c.contact_id, c.name, currency)
            self._contacts = contacts
        return self._contacts

    def _flush_contacts(self) -> dict[str, str]:
        """Create every pending contact in one call; returns names that failed, with why."""
        if not self._pending:
            return {}
        pending = list(self._pending.values())
        body = Contacts(
            contacts=[Contact(name=c.name, default_currency=c.currency) for c in pending]
        )
        names = [f"{c.name}|{c.currency}" for c in pending]
        key = request_key("mc-contacts", [self.session.tenant(), *names])
        answer = self.session.call(
            lambda api, t: api.create_contacts(t, body, summarize_errors=False, idempotency_key=key)
        )
        failed: dict[str, str] = {}
        known = self._known()
        for want, got in zip(pending, answer.contacts or [], strict=False):
            if got.has_validation_errors or not got.contact_id:
                failed[want.name.casefold()] = messages(got)
            else:
                known[want.name.casefold()] = CustomerRef(got.contact_id, want.name, want.currency)
        if any("already assigned" in why for why in failed.values()):
            self._contacts = None  # someone created it meanwhile: read the contacts again
            known = self._known()
            failed = {k: v for k, v in failed.items() if k not in known}
        self._pending.clear()
        return failed

    def _contact_id(self, customer: CustomerRef) -> str | None:
        if not customer.id.startswith(PENDING):
            return customer.id
        found = self._known().get(customer.name.strip().casefold())
        return found.id if found else None

    # -- invoices --------------------------------------------------------------------------------

    def create_invoices(self, requests: Sequence[InvoiceRequest]) -> list[PushResult]:
        if len(requests) > self.batch_size:
            raise ValueError(f"at most {self.batch_size} documents per batch")
        failed_contacts = self._flush_contacts()
        results: dict[str, PushResult] = {}
        ready: list[InvoiceRequest] = []
        for r in requests:
            contact = self._contact_id(r.customer)
            if contact is None:
                why = failed_contacts.get(r.customer.name.casefold(), "it could not be created")
                results[r.key] = PushResult(r.key, error=f"contact {r.customer.name!r}: {why}")
            else:
                ready.append(r)
        for credit in (False, True):
            group = [r for r in ready if (r.kind is Kind.CREDIT) == credit]
            if group:
                results.update(self._send(group, credit))
        return [results[r.key] for r in requests]

    def _send(self, group: list[InvoiceRequest], credit: bool) -> dict[str, PushResult]:
        key = request_key("mc-b", [self.session.tenant(), *(r.key for r in group)])
        try:
            answer = self._put(group, credit, key)
        except IdempotencyConflict:
            # The key came back with a different body: whatever the first request created is
            # found by reference; only what is missing is sent, under a key of its own.
            found = self.find_invoices([r.reference for r in group])
            results = {
                r.key: PushResult(r.key, invoice=found[r.reference])
                for r in group
                if r.reference in found
            }
            missing = [r for r in group if r.reference not in found]
            if missing:
                body_key = request_key(key, [repr(self._document(r)) for r in missing])
                results.update(self._results(missing, self._put(missing, credit, body_key)))
            return results
        return self._results(group, answer)

    def _put(self, group: list[InvoiceRequest], credit: bool, key: str) -> list[Any]:
        docs = [self._document(r) for r in group]
        if credit:
            body = CreditNotes(credit_notes=docs)
            return (
                self.session.call(
                    lambda api, t: api.create_credit_notes(
                        t, body, summarize_errors=False, idempotency_key=key
                    )
                ).credit_notes
                or []
            )
        invoices = Invoices(invoices=docs)
        return (
            self.session.call(
                lambda api, t: api.create_invoices(
                    t, invoices, summarize_errors=False, idempotency_key=key
                )
            ).invoices
            or []
        )

    def _results(self, group: list[InvoiceRequest], answer: list[Any]) -> dict[str, PushResult]:
        results = {}
        for n, r in enumerate(group):
            doc = answer[n] if n < len(answer) else None
            if doc is None:
                results[r.key] = PushResult(
                    r.key, error="Xero returned no result for it", retriable=True
                )
            elif doc.has_errors or doc.validation_errors:
                results[r.key] = PushResult(r.key, error=messages(doc))
            else:
                results[r.key] = PushResult(r.key, invoice=to_remote(doc))
        return results

    def _document(self, r: InvoiceRequest) -> Invoice | CreditNote:
        credit = r.kind is Kind.CREDIT
        lines = [
            LineItem(
                description=line.description,
                quantity=Decimal(1),
                unit_amount=-line.amount if credit else line.amount,  # credit notes are positive
                item_code=self.item or None,
                account_code=self.settings.account_code,
                tax_type=self.settings.tax_type,
            )
            for line in r.lines
        ]
        common: dict[str, Any] = {
            "contact": Contact(contact_id=self._contact_id(r.customer)),
            "line_items": lines,
            "date": r.date,
            "line_amount_types": self.settings.line_amount_types,
            "reference": r.reference,
            "currency_code": r.currency,
            "status": self.settings.invoice_status,
        }
        if credit:
            return CreditNote(type="ACCRECCREDIT", **common)
        return Invoice(type="ACCREC", due_date=r.due_date, **common)

    def find_invoices(self, references: Sequence[str]) -> dict[str, RemoteInvoice]:
        found: dict[str, RemoteInvoice] = {}
        wanted = list(dict.fromkeys(references))
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = wanted[start : start + LOOKUP_CHUNK]
            where = " OR ".join(f"Reference=={quote(ref)}" for ref in chunk)
            for doc in self._pages(
                lambda api, t, page, where=where: (
                    api.get_invoices(t, where=where, page=page, page_size=PAGE).invoices
                )
            ):
                earlier = found.get(doc.reference)
                if earlier is None or earlier.status in (RemoteStatus.VOIDED, RemoteStatus.DELETED):
                    found[doc.reference] = to_remote(doc)  # a live one beats a voided one
            for doc in self._pages(
                lambda api, t, page, where=where: (
                    api.get_credit_notes(t, where=where, page=page, page_size=PAGE).credit_notes
                )
            ):
                found[doc.reference] = to_remote(doc)
        return {ref: remote for ref, remote in found.items() if ref in set(wanted)}

    def void_invoice(self, ledger_id: str, key: str) -> RemoteInvoice:
        current = self.session.call(lambda api, t: api.get_invoice(t, ledger_id)).invoices[0]
        remote = to_remote(current)
        if remote.status in (RemoteStatus.VOIDED, RemoteStatus.DELETED):
            return remote
        if (current.amount_paid or 0) > 0 or (current.amount_credited or 0) > 0:
            raise SkippableLedgerError(
                f"invoice {remote.number} has payments or credit applied; Xero voids only "
                "invoices with none, so it is left for a person (issue a credit note instead)"
            )
        status = "DELETED" if current.status in ("DRAFT", "SUBMITTED") else "VOIDED"
        body = Invoices(invoices=[Invoice(invoice_id=ledger_id, status=status)])
        answer = self.session.call(
            lambda api, t: api.update_invoice(t, ledger_id, body, idempotency_key=key)
        )
        return to_remote(answer.invoices[0])

    # -- payments --------------------------------------------------------------------------------

    def payment_changes(self, cursor: str | None) -> PaymentChanges:
        since = datetime.fromisoformat(cursor) - OVERLAP if cursor else None
        stamp: list[datetime] = []

        def invoices(api: Any, tenant: str, page: int) -> list[Any]:
            window: dict[str, Any] = (
                {"if_modified_since": since} if since else {"created_by_my_app": True}
            )
            answer = api.get_invoices(tenant, where=CHANGED, page=page, page_size=PAGE, **window)
            stamp.append(server_time(getattr(self.session.client(), "last_response", None)))
            return answer.invoices or []

        changed = {doc.invoice_id: doc for doc in self._pages(invoices, since is not None)}
        deleted: dict[str, list[RemotePayment]] = {}
        if since is not None:
            for p in self._pages(
                lambda api, t, page: (
                    api.get_payments(t, if_modified_since=since, page=page, page_size=PAGE).payments
                )
            ):
                if p.status == "DELETED" and p.invoice is not None:
                    deleted.setdefault(p.invoice.invoice_id, []).append(
                        RemotePayment(p.payment_id, p.amount, day(p.date), deleted=True)
                    )
                if p.invoice is not None and p.invoice.invoice_id not in changed:
                    changed[p.invoice.invoice_id] = None
        missing = [i for i, doc in changed.items() if doc is None]
        for start in range(0, len(missing), 50):
            ids = missing[start : start + 50]
            for doc in (
                self.session.call(
                    lambda api, t, ids=ids: api.get_invoices(t, i_ds=ids, page=1, page_size=PAGE)
                ).invoices
                or []
            ):
                changed[doc.invoice_id] = doc
        out = []
        for invoice_id, doc in changed.items():
            if doc is None:
                continue
            remote = to_remote(doc)
            payments = tuple(
                RemotePayment(p.payment_id, p.amount, day(p.date)) for p in doc.payments or []
            ) + tuple(deleted.get(invoice_id, ()))
            out.append(with_payments(remote, payments))
        now = stamp[0] if stamp else datetime.now(UTC)
        return PaymentChanges(out, now.isoformat())

    def _pages(self, fetch: Any, paged: bool = True) -> list[Any]:
        """Every row of a paged Xero list (pageSize 1,000)."""
        rows: list[Any] = []
        page = 1
        while True:
            chunk = self.session.call(lambda api, t, page=page: fetch(api, t, page)) or []
            rows += chunk
            if len(chunk) < PAGE or not paged:
                return rows
            page += 1

    # -- mapping -------------------------------------------------------------------------------


class XeroPlugin:
    """`[ledger] kind = "xero"`."""

    name = "xero"
    settings = XeroSettings

    def create(self, settings: XeroSettings, context: PluginContext) -> XeroLedger:
        session = XeroSession(
            settings,
            TokenStore(context.business, "xero"),
            retry_wait=(settings.retry_first_wait, settings.retry_max_wait),
        )
        return XeroLedger(session, settings, context.item)
