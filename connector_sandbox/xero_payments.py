"""Payments and credit allocations in a sandbox organisation, by Xero's rules: only AUTHORISED
documents take them, never more than is due; a document with nothing left due becomes PAID with
its FullyPaidOnDate, and deleting a payment reopens it. Mixed into `Organisation`, whose lock the
caller holds.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from connector_sandbox.xero_dates import ms_date
from connector_sandbox.xero_entities import Document, Invalid, a_date, cents, money, payment_summary


class PaymentRules:
    """What a payment or allocation does to the documents it touches."""

    documents: dict[str, Document]
    payments: dict[str, dict[str, Any]]
    accounts: dict[str, dict[str, Any]]

    def now(self) -> datetime:  # pragma: no cover - provided by Organisation
        raise NotImplementedError

    def today(self) -> date:  # pragma: no cover - provided by Organisation
        raise NotImplementedError

    def create_payment(self, body: Any) -> tuple[dict[str, Any], Document]:
        if not isinstance(body, dict):
            raise Invalid("A payment must be an object")
        ref = body.get("Invoice") or body.get("CreditNote") or {}
        doc = None
        if ref.get("InvoiceID"):
            doc = self.documents.get(str(ref["InvoiceID"]))
        elif ref.get("InvoiceNumber"):
            doc = next(
                (d for d in self.documents.values() if d.number == ref["InvoiceNumber"]), None
            )
        if doc is None:
            raise Invalid("Invoice could not be found")
        account = self._payment_account(body.get("Account") or {})
        amount = money(body.get("Amount"), "Amount")
        if amount is None or amount <= 0:
            raise Invalid("Payment amount must be greater than zero")
        amount = cents(amount)
        if doc.status != "AUTHORISED":
            raise Invalid("Payment can only be made against Authorised documents")
        if amount > doc.due:
            raise Invalid("Payment amount exceeds the amount outstanding on this document")
        paid_on = a_date(body.get("Date"), "Date") or self.today()
        payment = {
            "PaymentID": str(uuid.uuid4()),
            "Date": paid_on,
            "Amount": amount,
            "Reference": str(body.get("Reference") or ""),
            "Status": "AUTHORISED",
            "UpdatedDateUTC": self.now(),
            "AccountID": account["AccountID"],
            "AccountCode": account["Code"],
            "DocumentID": doc.id,
        }
        self.payments[payment["PaymentID"]] = payment
        doc.paid += amount
        doc.payments.append(payment_summary(payment))
        self._settle(doc, paid_on)
        return payment, doc

    def _payment_account(self, ref: dict[str, Any]) -> dict[str, Any]:
        for account in self.accounts.values():
            if account["Code"] == ref.get("Code") or account["AccountID"] == ref.get("AccountID"):
                if account["Type"] != "BANK":
                    raise Invalid("Account type is invalid for making a payment to/from")
                return account
        raise Invalid("Account could not be found")

    def delete_payment(self, payment_id: str) -> tuple[dict[str, Any], Document]:
        payment = self.payments.get(payment_id)
        if payment is None:
            raise KeyError(payment_id)
        doc = self.documents[payment["DocumentID"]]
        if payment["Status"] == "DELETED":
            raise Invalid("Payment has already been deleted")
        payment["Status"] = "DELETED"
        payment["UpdatedDateUTC"] = self.now()
        doc.paid -= payment["Amount"]
        doc.payments = [p for p in doc.payments if p["PaymentID"] != payment_id]
        if doc.status == "PAID":
            doc.status = "AUTHORISED"
        doc.fully_paid_on = None
        doc.updated = self.now()
        return payment, doc

    def allocate(self, credit: Document, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise Invalid("An allocation must be an object")
        invoice = self.documents.get(str((body.get("Invoice") or {}).get("InvoiceID") or ""))
        if invoice is None or invoice.is_credit:
            raise Invalid("Invoice could not be found")
        amount = money(body.get("Amount"), "Amount")
        if amount is None or amount <= 0:
            raise Invalid("Allocation amount must be greater than zero")
        amount = cents(amount)
        if credit.status != "AUTHORISED" or invoice.status != "AUTHORISED":
            raise Invalid("Only authorised documents can be allocated")
        if invoice.currency != credit.currency:
            raise Invalid("The credit note and the invoice must be in the same currency")
        if amount > credit.due or amount > invoice.due:
            raise Invalid("The amount allocated is more than the amount outstanding")
        on = a_date(body.get("Date"), "Date") or self.today()
        allocation = {
            "AllocationID": str(uuid.uuid4()),
            "Amount": amount,
            "Date": on,
            "Invoice": {"InvoiceID": invoice.id, "InvoiceNumber": invoice.number},
            "CreditNote": {"CreditNoteID": credit.id, "CreditNoteNumber": credit.number},
        }
        credit.credited += amount
        invoice.credited += amount
        view = _allocation_view(allocation)
        credit.allocations.append(view)
        invoice.allocations.append(view)
        self._settle(invoice, on)
        self._settle(credit, on)
        return view

    def _settle(self, doc: Document, on: date) -> None:
        if doc.due <= 0 and doc.status == "AUTHORISED":
            doc.status = "PAID"
            doc.fully_paid_on = on
        doc.updated = self.now()


def _allocation_view(allocation: dict[str, Any]) -> dict[str, Any]:
    return {**allocation, "Date": ms_date(allocation["Date"])}
