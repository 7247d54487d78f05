"""Getting an invoice to the client: `POST /Invoices/{InvoiceID}/Email` and
`GET /Invoices/{InvoiceID}/OnlineInvoice`, with the rules integrators document.

Email (operationId emailInvoice in xero_accounting.yaml: body RequestEmpty, 204 with no body, 400
ValidationException otherwise, Idempotency-Key honoured by the gateway): only ACCREC invoices that
are SUBMITTED, AUTHORISED or PAID are emailed, to the contact's primary address and its contact
persons marked IncludeInEmails (https://docs.zynk.com/workflow/documentation/xero/
email-invoices.html; https://pipedream.com/apps/xero-accounting-api/actions/email-an-invoice.md;
"the invoice status cannot be 'DRAFT'", freakboy3742/pyxero#239). One invoice per request
(calcinai/xero-php#616). Afterwards the invoice shows SentToContact true (an assumption: the field
is documented, that emailing sets it is not stated in any page stored here). The refusal messages
are ours: Xero's words for them were not found.

The online invoice (getOnlineInvoice: OnlineInvoices[0].OnlineInvoiceUrl, an in.xero.com address
in the spec's example) is given for approved sales invoices only; for any other the answer is 404
(both assumptions: the spec declares only the 200). The caller holds
the organisation's lock; every email is recorded on the document so tests can count them.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING

from connector_sandbox.server import Request, Response
from connector_sandbox.xero_answers import envelope, not_found, validation
from connector_sandbox.xero_entities import Document

if TYPE_CHECKING:
    from connector_sandbox.xero_org import Organisation

EMAILABLE = ("SUBMITTED", "AUTHORISED", "PAID")


def route(org: Organisation, request: Request, lower: list[str], now: datetime) -> Response | None:
    """The answer to an email or online-invoice request; None for any other path."""
    match request.method, lower:
        case "POST", ["invoices", _, "email"]:
            return _email(org, request, _invoice(org, request))
        case "GET", ["invoices", _, "onlineinvoice"]:
            return _online(_invoice(org, request), now)
    return None


def _invoice(org: Organisation, request: Request) -> Document | None:
    doc_id = [p for p in request.path.split("/") if p][-2]
    doc = org.documents.get(doc_id)
    return None if doc is None or doc.is_credit else doc


def recipients(org: Organisation, doc: Document) -> list[str]:
    contact = org.contacts.get(doc.contact_id) or {}
    found = [contact["EmailAddress"]] if contact.get("EmailAddress") else []
    for person in contact.get("ContactPersons", []):
        if person.get("IncludeInEmails") and person.get("EmailAddress"):
            found.append(str(person["EmailAddress"]))
    return found


def _email(org: Organisation, request: Request, doc: Document | None) -> Response:
    if doc is None:
        return not_found()
    try:
        body = request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return validation([], "The request body must be an empty object")
    if doc.type != "ACCREC":
        return validation([], "Only sales invoices (ACCREC) can be emailed")
    if doc.status not in EMAILABLE:
        return validation([], f"An invoice with status {doc.status} cannot be emailed")
    to = recipients(org, doc)
    if not to:
        return validation([], f"The contact {doc.contact_name} has no email address")
    doc.emails.append(", ".join(to))
    doc.sent_to_contact = True
    return Response(204, b"", {})


def _online(doc: Document | None, now: datetime) -> Response:
    if doc is None or doc.type != "ACCREC" or doc.status not in EMAILABLE:
        return not_found()
    token = hashlib.sha256(doc.id.encode()).hexdigest()[:40]
    url = f"https://in.xero.com/{token}"
    return Response.json(200, envelope(now, "OnlineInvoices", [{"OnlineInvoiceUrl": url}]))
