"""Xero documents as the Accounting API shapes them: line and total arithmetic, tax, and the
JSON views (with .NET dates) that responses carry.

Amounts are Decimal from the JSON parser and are rounded to cents here, the one place, with
ROUND_HALF_UP. Tax is computed and rounded per line, then added up, as Xero does ("we calculate
tax on a per line item basis. The tax for each line item is rounded to 2 decimal places",
https://www.airsquare.com/support/manual/commerce/tax-zones/). Validation messages are Xero's own
words where we have seen them; the rest are marked in `ledger-apis.md` as unverified.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from connector_sandbox.xero_dates import iso_date, ms_date, ms_datetime, parse_date

CENT = Decimal("0.01")
LINE_AMOUNT_TYPES = ("Exclusive", "Inclusive", "NoTax")
ACCOUNTS = {
    "090": {"Name": "Business Bank Account", "Type": "BANK"},
    "200": {"Name": "Sales", "Type": "REVENUE"},
    "260": {"Name": "Other Revenue", "Type": "REVENUE"},
    "610": {"Name": "Accounts Receivable", "Type": "CURRENT"},
}


class Invalid(Exception):
    """One element failed validation: its messages go into ValidationErrors."""

    def __init__(self, *messages: str):
        super().__init__("; ".join(messages))
        self.messages = list(messages)


def money(value: Any, name: str) -> Decimal | None:
    """An amount from a request body; a float never reaches here (the parser makes Decimals)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool | float):
        raise Invalid(f"{name} must be a number")
    try:
        number = Decimal(value) if isinstance(value, Decimal | int) else Decimal(str(value))
    except InvalidOperation:
        raise Invalid(f"{name} must be a number") from None
    if not number.is_finite():
        raise Invalid(f"{name} must be a number")
    return number


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def a_date(value: Any, name: str) -> date | None:
    try:
        return parse_date(value)
    except ValueError:
        raise Invalid(f"{name} is not a valid date") from None


@dataclass
class Line:
    id: str
    description: str
    quantity: Decimal
    unit_amount: Decimal
    account_code: str | None
    item_code: str | None
    tax_type: str | None
    tax_rate: Decimal = Decimal(0)  # percent, the organisation's rate for `tax_type`
    tracking: list[dict[str, Any]] = field(default_factory=list)
    line_amount: Decimal = Decimal(0)
    tax_amount: Decimal = Decimal(0)

    def view(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "LineItemID": self.id,
            "Description": self.description,
            "Quantity": self.quantity,
            "UnitAmount": self.unit_amount,
            "TaxAmount": self.tax_amount,
            "LineAmount": self.line_amount,
            "Tracking": [dict(t) for t in self.tracking],
        }
        if self.account_code:
            out["AccountCode"] = self.account_code
        if self.item_code:
            out["ItemCode"] = self.item_code
        if self.tax_type:
            out["TaxType"] = self.tax_type
        return out


@dataclass
class Document:
    """An invoice (ACCREC/ACCPAY) or a credit note (ACCRECCREDIT); credit notes keep their
    amounts positive, as Xero does."""

    id: str
    type: str
    number: str
    reference: str
    contact_id: str
    contact_name: str
    date: dt.date  # dt.: the field's name would shadow the type
    due_date: dt.date | None
    status: str
    line_amount_types: str
    currency: str
    lines: list[Line]
    updated: datetime
    app: str  # the OAuth client that created it, for createdByMyApp
    sub_total: Decimal = Decimal(0)
    total_tax: Decimal = Decimal(0)
    total: Decimal = Decimal(0)
    paid: Decimal = Decimal(0)
    credited: Decimal = Decimal(0)
    fully_paid_on: dt.date | None = None
    payments: list[dict[str, Any]] = field(default_factory=list)
    allocations: list[dict[str, Any]] = field(default_factory=list)
    sent_to_contact: bool = False
    emails: list[str] = field(default_factory=list)  # to whom each POST .../Email went

    @property
    def is_credit(self) -> bool:
        return self.type.endswith("CREDIT")

    @property
    def due(self) -> Decimal:
        if self.status in ("VOIDED", "DELETED"):
            return Decimal(0)
        return self.total - self.paid - self.credited

    def compute(self) -> None:
        """Line amounts, tax and totals, as Xero computes them from the lines: Exclusive adds
        the tax to the lines, Inclusive takes it out of them, NoTax has none
        (xero_accounting.yaml, LineAmountTypes; TotalTax, SubTotal, Total)."""
        sub = tax = Decimal(0)
        for line in self.lines:
            line.line_amount = cents(line.quantity * line.unit_amount)
            rate = line.tax_rate / 100
            if self.line_amount_types == "Exclusive":
                line.tax_amount = cents(line.line_amount * rate)
                sub += line.line_amount
            elif self.line_amount_types == "Inclusive":
                line.tax_amount = cents(line.line_amount - line.line_amount / (1 + rate))
                sub += line.line_amount - line.tax_amount
            else:
                line.tax_amount = Decimal(0)
                sub += line.line_amount
            tax += line.tax_amount
        self.sub_total, self.total_tax = cents(sub), cents(tax)
        self.total = self.sub_total + self.total_tax

    def view(self) -> dict[str, Any]:
        """The JSON Xero returns for this document."""
        out: dict[str, Any] = {
            "Type": self.type,
            "Contact": {"ContactID": self.contact_id, "Name": self.contact_name},
            "Date": ms_date(self.date),
            "DateString": iso_date(self.date),
            "Status": self.status,
            "LineAmountTypes": self.line_amount_types,
            "LineItems": [line.view() for line in self.lines],
            "SubTotal": self.sub_total,
            "TotalTax": self.total_tax,
            "Total": self.total,
            "UpdatedDateUTC": ms_datetime(self.updated),
            "CurrencyCode": self.currency,
            "CurrencyRate": Decimal("1.000000"),
            "Reference": self.reference,
            "HasAttachments": False,
            "HasErrors": False,
        }
        if self.due_date is not None:
            out["DueDate"] = ms_date(self.due_date)
            out["DueDateString"] = iso_date(self.due_date)
        if self.fully_paid_on is not None:
            out["FullyPaidOnDate"] = ms_date(self.fully_paid_on)
        if self.is_credit:
            out["CreditNoteID"] = self.id
            out["CreditNoteNumber"] = self.number
            out["RemainingCredit"] = self.due
            out["Allocations"] = list(self.allocations)
            out["AppliedAmount"] = self.credited
        else:
            out["InvoiceID"] = self.id
            out["InvoiceNumber"] = self.number
            out["AmountDue"] = self.due
            out["AmountPaid"] = self.paid
            out["AmountCredited"] = self.credited
            out["IsDiscounted"] = False
            out["SentToContact"] = self.sent_to_contact
            out["Payments"] = list(self.payments)
            out["CreditNotes"] = list(self.allocations)
            out["Prepayments"] = []
            out["Overpayments"] = []
        return out


def contact_view(contact: dict[str, Any], summary: bool = False) -> dict[str, Any]:
    out = {
        "ContactID": contact["ContactID"],
        "ContactStatus": contact["ContactStatus"],
        "Name": contact["Name"],
        "UpdatedDateUTC": ms_datetime(contact["UpdatedDateUTC"]),
        "IsCustomer": contact.get("IsCustomer", False),
        "IsSupplier": False,
        "HasAttachments": False,
        "HasValidationErrors": False,
    }
    for key in ("EmailAddress", "DefaultCurrency", "ContactNumber", "FirstName", "LastName"):
        if contact.get(key):
            out[key] = contact[key]
    if not summary:
        out["Addresses"] = []
        out["Phones"] = []
        out["ContactGroups"] = []
        out["ContactPersons"] = [dict(p) for p in contact.get("ContactPersons", [])]
    return out


# a payment's type follows the document it pays (Xero's PaymentType values)
PAYMENT_TYPES = {
    "ACCREC": "ACCRECPAYMENT",
    "ACCPAY": "ACCPAYPAYMENT",
    "ACCRECCREDIT": "ARCREDITPAYMENT",
    "ACCPAYCREDIT": "APCREDITPAYMENT",
}


def payment_view(payment: dict[str, Any], doc: Document) -> dict[str, Any]:
    return {
        "PaymentID": payment["PaymentID"],
        "Date": ms_date(payment["Date"]),
        "Amount": payment["Amount"],
        "Reference": payment.get("Reference", ""),
        "CurrencyRate": Decimal("1.000000"),
        "PaymentType": PAYMENT_TYPES.get(doc.type, "ACCRECPAYMENT"),
        "Status": payment["Status"],
        "UpdatedDateUTC": ms_datetime(payment["UpdatedDateUTC"]),
        "HasAccount": True,
        "IsReconciled": False,
        "Account": {"AccountID": payment["AccountID"], "Code": payment["AccountCode"]},
        "Invoice": {
            "InvoiceID": doc.id,
            "InvoiceNumber": doc.number,
            "Type": doc.type,
            "Contact": {"ContactID": doc.contact_id, "Name": doc.contact_name},
            "CurrencyCode": doc.currency,
        },
        "HasValidationErrors": False,
    }


def payment_summary(payment: dict[str, Any]) -> dict[str, Any]:
    """How a payment appears inside its invoice's `Payments` array."""
    return {
        "PaymentID": payment["PaymentID"],
        "Date": ms_date(payment["Date"]),
        "Amount": payment["Amount"],
        "Reference": payment.get("Reference", ""),
        "CurrencyRate": Decimal("1.000000"),
        "HasAccount": True,
        "HasValidationErrors": False,
    }


def with_errors(element: Any, messages: list[str]) -> dict[str, Any]:
    """An element echoed back with its validation errors, as summarizeErrors=false returns it."""
    out = dict(element) if isinstance(element, dict) else {}
    out["HasErrors"] = True
    out["StatusAttributeString"] = "ERROR"
    out["ValidationErrors"] = [{"Message": m} for m in messages]
    return out
