"""Emailing a document to the client through QuickBooks' own send: python-quickbooks'
`SendMixin.send`, `POST /invoice/{id}/send?sendTo=` (and `/creditmemo/{id}/send`, which
QuickBooks documents too but python-quickbooks gives only Invoice; the mixin is the same call).

Once: QuickBooks records EmailStatus "EmailSent" on the document (Invoice and CreditMemo
references, Send), and a document that says so is never sent again. The send takes no
`requestid` (python-quickbooks passes none), so it is tried once per call, not retried: when
its answer is lost the document is read again, and shows whether it went.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from quickbooks.mixins import SendMixin
from quickbooks.objects.creditmemo import CreditMemo
from quickbooks.objects.invoice import Invoice

from connector.adapters.base import RemoteInvoice
from connector.adapters.quickbooks.mapping import remote_invoice
from connector.adapters.quickbooks.reads import LINK
from connector.adapters.quickbooks.session import QuickBooksSession
from connector.errors import RetriableLedgerError, SkippableLedgerError


class SendableCreditMemo(CreditMemo, SendMixin):
    """A CreditMemo with Invoice's send: the endpoint is named after `qbo_object_name`."""


def send_document(session: QuickBooksSession, ledger_id: str) -> RemoteInvoice:
    """Email document `ledger_id` (an invoice, else a credit memo) to its customer's address
    on file, unless QuickBooks says it has been; the document as QuickBooks then has it."""
    entity, data = read_document(session, ledger_id)
    if data.get("EmailStatus") == "EmailSent":
        return remote_invoice(data, entity == "CreditMemo")
    email = customer_email(session, data)
    doc: Invoice | SendableCreditMemo = Invoice() if entity == "Invoice" else SendableCreditMemo()
    doc.Id = ledger_id
    try:
        session.call_once(lambda client: doc.send(qb=client, send_to=email))
    except RetriableLedgerError:
        entity, data = read_document(session, ledger_id)
        if data.get("EmailStatus") == "EmailSent":
            return remote_invoice(data, entity == "CreditMemo")
        raise
    # read once more: the send's answer carries no InvoiceLink
    entity, data = read_document(session, ledger_id)
    return replace(remote_invoice(data, entity == "CreditMemo"), sent=True)


def read_document(session: QuickBooksSession, ledger_id: str) -> tuple[str, dict[str, Any]]:
    """The invoice with this Id, or else the credit memo (QuickBooks numbers transactions in
    one sequence); 610 for both is that error."""
    try:
        return "Invoice", session.get(f"invoice/{ledger_id}", {"include": LINK})["Invoice"]
    except SkippableLedgerError as exc:
        if exc.code != "610":
            raise
    return "CreditMemo", session.get(f"creditmemo/{ledger_id}")["CreditMemo"]


def customer_email(session: QuickBooksSession, data: dict[str, Any]) -> str:
    """The customer's PrimaryEmailAddr; none is a problem on this document, naming them."""
    customer_id = str((data.get("CustomerRef") or {}).get("value", ""))
    customer = session.get(f"customer/{customer_id}")["Customer"]
    address = str((customer.get("PrimaryEmailAddr") or {}).get("Address") or "").strip()
    if not address:
        name = customer.get("DisplayName") or customer_id
        raise SkippableLedgerError(
            f"customer {name!r} has no email address in QuickBooks, so document "
            f"{data.get('DocNumber') or data.get('Id')} was not sent; add one to the customer "
            "in QuickBooks"
        )
    return address
