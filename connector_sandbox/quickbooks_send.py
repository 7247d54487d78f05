"""Sending an invoice by email and its online payment link.

`POST /invoice/<id>/send[?sendTo=<address>]` (Intuit, Invoice reference, "Send an invoice"):
"The Invoice.EmailStatus parameter is set to EmailSent. The Invoice.DeliveryInfo element is
populated with sending information. The Invoice.BillEmail.Address parameter is updated to the
address specified with the value of the sendTo query parameter, if specified." python-quickbooks
calls it as `invoice.send(qb, send_to=...)` (SendMixin: an octet-stream POST, no body, no
requestid). With no sendTo the invoice's BillEmail is used, else the customer's
PrimaryEmailAddr (assumption: QuickBooks' UI fills BillEmail from the customer); with neither,
the sandbox refuses (6000, our wording: QuickBooks' own answer is not documented). An address
without an "@" is refused as an invalid sendTo (assumption). Each send is recorded so tests
can count them; nothing is mailed.

`InvoiceLink` (minorversion 36) is returned on a read with `include=invoiceLink`, "only for
invoices with online payment enabled and having a valid customer email" (python-quickbooks
issue #360, routablehq/python-quickbooks): here, AllowOnlineCreditCardPayment or
AllowOnlineACHPayment true, and a BillEmail or customer email. The link has the form QuickBooks'
sandbox companies answer (a developer.intuit.com "comingSoonview" URL, seen in public sandbox
responses); it is derived from the realm and invoice id, so it never changes.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from connector_sandbox.quickbooks_faults import business, invalid_property, not_found, text

if TYPE_CHECKING:
    from connector_sandbox.quickbooks_company import Company

LINK_BASE = "https://developer.intuit.com/comingSoonview/"


def _address(value: Any) -> str | None:
    return text(value.get("Address")) if isinstance(value, dict) else None


def _customer_email(books: Company, invoice: dict[str, Any]) -> str | None:
    customer = books.objects["Customer"].get(invoice["CustomerRef"]["value"]) or {}
    return _address(customer.get("PrimaryEmailAddr"))


def send(books: Company, invoice_id: str, send_to: str | None) -> dict[str, Any]:
    invoice = books.objects["Invoice"].get(invoice_id)
    if invoice is None:
        raise not_found(f"Invoice {invoice_id}")
    to = text(send_to) or _address(invoice.get("BillEmail")) or _customer_email(books, invoice)
    if to is None:
        raise business(
            f"Invoice {invoice_id} has no email address to send to: give sendTo, or a BillEmail "
            "on the invoice or an email on the customer"
        )
    if "@" not in to:
        raise invalid_property("sendTo", f"{to} is not an email address")
    now = books.now()
    if send_to:
        invoice["BillEmail"] = {"Address": to}
    invoice["EmailStatus"] = "EmailSent"
    invoice["DeliveryInfo"] = {"DeliveryType": "Email", "DeliveryTime": books.stamp(now)}
    books.touch("Invoice", invoice_id)
    books.sent.append(
        {
            "invoice_id": invoice_id,
            "doc_number": invoice.get("DocNumber"),
            "to": to,
            "at": books.stamp(now),
        }
    )
    return books.present("Invoice", invoice)


def with_link(books: Company, invoice: dict[str, Any]) -> dict[str, Any]:
    """The invoice as read with include=invoiceLink."""
    online = any(
        invoice.get(f) is True for f in ("AllowOnlineCreditCardPayment", "AllowOnlineACHPayment")
    )
    email = _address(invoice.get("BillEmail")) or _customer_email(books, invoice)
    if online and email and "@" in email:
        token = hashlib.sha256(f"{books.settings.realm_id}:{invoice['Id']}".encode()).hexdigest()
        invoice = {**invoice, "InvoiceLink": f"{LINK_BASE}{token}?locale=en_US&cta=v3invoicelink"}
    return invoice
