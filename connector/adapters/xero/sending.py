"""Getting an invoice to the client through Xero itself: `POST /Invoices/{InvoiceID}/Email`
and the online invoice's address.

Xero emails only sales invoices that are SUBMITTED, AUTHORISED or PAID, to the contact's address
and its contact persons marked IncludeInEmails (bookkeeper-needs.md 1b). The call answers 204 with
no body; it carries an Idempotency-Key from the engine's key. It must happen once per document:
an invoice Xero already shows as sent (`SentToContact`) is not emailed again, which also covers a
run that stopped after Xero sent it and before the engine recorded it. After a 5xx (cached by Xero
under its key) the invoice is read again and, if still unsent, emailed under a new key.

Credit notes: Xero's API has no email call for them (xero_accounting.yaml has none under
/CreditNotes); asking to send one is a problem on that item, saying to send it from Xero.

The payment link (`GET /Invoices/{InvoiceID}/OnlineInvoice`) costs a call per invoice, so it is
read only when asked (`payment_link`) and once when an invoice is sent, never on every night.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from xero_python.accounting import RequestEmpty

from connector.adapters.base import RemoteInvoice
from connector.adapters.xero.errors import NotFound
from connector.adapters.xero.mapping import request_key, to_remote
from connector.adapters.xero.session import XeroSession
from connector.errors import RetriableLedgerError, SkippableLedgerError

log = logging.getLogger(__name__)
EMAILABLE = ("SUBMITTED", "AUTHORISED", "PAID")


def send_invoice(session: XeroSession, ledger_id: str, key: str) -> RemoteInvoice:
    """Email invoice `ledger_id` to its contact unless Xero shows it as sent; the invoice as it
    stands, `sent` True, with its payment link when Xero gives one."""
    base = request_key("mc-send", [session.tenant(), ledger_id, key])
    for attempt in session.after_server_errors():  # a 5xx is cached under its key: new key
        with attempt:
            doc = _invoice(session, ledger_id)
            if doc.sent_to_contact:
                return _sent(session, doc)
            _check_sendable(session, doc)
            n = attempt.retry_state.attempt_number
            sent_key = base if n == 1 else request_key(base, [f"after-5xx-{n}"])

            def email(api: Any, tenant: str, k: str = sent_key) -> Any:
                return api.email_invoice(tenant, ledger_id, RequestEmpty(), idempotency_key=k)

            session.call(email, write=True)
            log.info("invoice %s emailed to %s", doc.invoice_number, doc.contact.name)
            return _sent(session, doc)
    raise AssertionError("unreachable")  # pragma: no cover


def payment_link(session: XeroSession, ledger_id: str) -> str | None:
    """Where the client can see and pay the invoice online; None when Xero gives no link (a
    draft, a credit note, an invoice it does not know)."""
    try:
        answer = session.call(lambda api, t: api.get_online_invoice(t, ledger_id))
    except SkippableLedgerError:
        return None
    rows = answer.online_invoices or []
    return str(rows[0].online_invoice_url) if rows and rows[0].online_invoice_url else None


def _invoice(session: XeroSession, ledger_id: str) -> Any:
    try:
        answer = session.call(lambda api, t: api.get_invoice(t, ledger_id))
    except NotFound:
        _refuse_credit_note(session, ledger_id)
        raise
    return session.only(answer.invoices, f"invoice {ledger_id}")


def _refuse_credit_note(session: XeroSession, ledger_id: str) -> None:
    try:
        answer = session.call(lambda api, t: api.get_credit_note(t, ledger_id))
    except NotFound:
        return
    note = session.only(answer.credit_notes, f"credit note {ledger_id}")
    raise SkippableLedgerError(
        f"credit note {note.credit_note_number} is not emailed: Xero's API can email invoices "
        "only; send it from Xero (open the credit note, then Email) if the client should have it"
    )


def _check_sendable(session: XeroSession, doc: Any) -> None:
    status = str(doc.status or "")
    if doc.type is not None and str(getattr(doc.type, "value", doc.type)) != "ACCREC":
        raise SkippableLedgerError(f"invoice {doc.invoice_number} is not a sales invoice")
    if status in ("VOIDED", "DELETED"):
        raise SkippableLedgerError(f"invoice {doc.invoice_number} is {status}: it is not sent")
    if status not in EMAILABLE:
        raise SkippableLedgerError(
            f"invoice {doc.invoice_number} is {status}: Xero emails only approved invoices "
            "(submitted, authorised or paid); approve it in Xero, then send it again"
        )
    name = doc.contact.name if doc.contact else "?"
    contact = session.only(
        session.call(lambda api, t: api.get_contact(t, doc.contact.contact_id)).contacts,
        f"contact {name!r}",
    )
    persons = [p for p in contact.contact_persons or [] if p.include_in_emails and p.email_address]
    if not contact.email_address and not persons:
        raise SkippableLedgerError(
            f"customer {contact.name!r} has no email address in Xero, so invoice "
            f"{doc.invoice_number} was not sent: add one to the contact in Xero, then send it "
            "again"
        )


def _sent(session: XeroSession, doc: Any) -> RemoteInvoice:
    try:
        link = payment_link(session, str(doc.invoice_id))
    except RetriableLedgerError as exc:  # the email went: a missing link is no reason to fail
        log.warning("invoice %s: no payment link this time (%s)", doc.invoice_number, exc)
        link = None
    return replace(to_remote(doc), sent=True, payment_link=link)
