"""Requests to QuickBooks documents and QuickBooks documents to `RemoteInvoice` records.

Pure: no call to QuickBooks. The document is built with python-quickbooks' objects, without
the defaults python-quickbooks adds that are not ours to send (`NOT_SENT`); the answer is read
from its JSON (Decimal amounts, since the client parses with use_decimal).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from quickbooks.objects.base import Ref
from quickbooks.objects.creditmemo import CreditMemo
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.tax import TxnTaxDetail

from connector.adapters.base import InvoiceRequest, RemoteInvoice, RemotePayment, RemoteStatus
from connector.models import Line


def ref(value: str, name: str | None = None) -> Ref:
    out = Ref()
    out.value = value
    if name:
        out.name = name
    return out


def dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


@dataclass(frozen=True, slots=True)
class Booked:
    """A request's booking as the company's ids (`books.CompanyBooks.booked`)."""

    line_tax_code: str | None = None  # TaxCodeRef on every line: a TaxCode Id, or TAX/NON (US)
    txn_tax_code: str | None = None  # TxnTaxDetail.TxnTaxCodeRef: a US tax group, without AST
    calculation: str | None = None  # GlobalTaxCalculation; None: not sent (US companies)
    inclusive: bool = False  # the amounts include tax: each line's TaxInclusiveAmt says so
    line_class: str | None = None  # ClassRef on every line (class tracking per line)
    txn_class: str | None = None  # ClassRef on the document (class tracking per transaction)
    department: str | None = None  # DepartmentRef (location), on the document


# python-quickbooks serialises these defaults on every Invoice and CreditMemo (and
# GlobalTaxCalculation "TaxExcluded", set from the booking instead); none of them is ours to
# send. ExchangeRate 1 (0 on a CreditMemo) would book a foreign-currency document at
# that rate instead of the company's own ("The number of home currency units it takes to equal
# one unit of currency specified by CurrencyRef", Invoice reference); AllowIPNPayment "must
# always be set to false"; the AllowOnline* false would switch off the company's own online
# payment settings (and with them InvoiceLink, "generated only for invoices with online payment
# enabled"); the rest are read only, computed by QuickBooks.
NOT_SENT = (
    "ExchangeRate",
    "AllowIPNPayment",
    "AllowOnlineCreditCardPayment",
    "AllowOnlineACHPayment",
    "TotalAmt",
    "Balance",
    "HomeBalance",
    "HomeTotalAmt",
    "RemainingCredit",
    "InvoiceLink",
)


def document(
    r: InvoiceRequest, item: Ref, custom_numbers: bool, booked: Booked = Booked()
) -> dict[str, Any]:
    """The Invoice, or the CreditMemo for a request whose lines net below zero (its amounts
    positive), as the JSON object QuickBooks is sent. Our reference is the DocNumber where the
    company lets us set it, and always the first word of the private note."""
    credit = r.is_credit_note
    doc = CreditMemo() if credit else Invoice()
    doc.CustomerRef = ref(r.customer.id, r.customer.name)
    doc.CurrencyRef = ref(r.currency)
    doc.TxnDate = r.date.isoformat()
    if custom_numbers:
        doc.DocNumber = r.reference
    doc.PrivateNote = f"{r.reference} {r.memo}".strip()
    if not credit:
        doc.DueDate = r.due_date.isoformat()
    if booked.txn_class:
        doc.ClassRef = ref(booked.txn_class)
    if booked.department:
        doc.DepartmentRef = ref(booked.department)
    if booked.txn_tax_code:
        doc.TxnTaxDetail = TxnTaxDetail()
        doc.TxnTaxDetail.TxnTaxCodeRef = ref(booked.txn_tax_code)
        # an explicit TotalTax (0 by default) is honoured under AST (Intuit blog, 2017-12-11)
        doc.TxnTaxDetail.TotalTax = doc.TxnTaxDetail.TaxLine = None
    doc.GlobalTaxCalculation = booked.calculation
    for name in NOT_SENT:
        setattr(doc, name, None)  # python-quickbooks leaves out what is None
    doc.Line = [_line(line, item, booked, credit) for line in r.lines]
    wire: dict[str, Any] = json.loads(doc.to_json(), parse_float=Decimal)
    return wire


def _line(line: Line, item: Ref, booked: Booked, credit: bool) -> SalesItemLine:
    amount = -line.amount if credit else line.amount  # credit memo amounts are positive
    detail = SalesItemLineDetail()
    detail.ItemRef = item
    detail.Qty = 1
    detail.UnitPrice = amount
    # "if GlobalTaxCalculation is TaxInclusive and TaxCodeRef is specified, TaxInclusiveAmt is
    # required" (JournalEntry reference, AU): the amount sent is the gross; otherwise none (not
    # python-quickbooks' 0)
    detail.TaxInclusiveAmt = amount if booked.inclusive else None
    if booked.line_tax_code:
        detail.TaxCodeRef = ref(booked.line_tax_code)
    if booked.line_class:
        detail.ClassRef = ref(booked.line_class)
    sales = SalesItemLine()
    sales.Amount = amount
    sales.Description = line.description
    sales.SalesItemLineDetail = detail
    return sales


def status_of(data: dict[str, Any], credit: bool, total: Decimal, balance: Decimal) -> RemoteStatus:
    """QuickBooks has no status field: a void zeroes the amounts and notes "Voided"; paid is a
    zero balance (ledger-apis.md, Invoices: Status)."""
    if "Voided" in (data.get("PrivateNote") or "") and total == 0:
        return RemoteStatus.VOIDED
    if credit:
        return RemoteStatus.OPEN
    if balance <= 0 < total:
        return RemoteStatus.PAID
    if balance < total:
        return RemoteStatus.PARTIALLY_PAID
    return RemoteStatus.OPEN


def remote_invoice(data: dict[str, Any], credit: bool) -> RemoteInvoice:
    """An Invoice or CreditMemo as QuickBooks answers it."""
    total = dec(data.get("TotalAmt"))
    balance = dec(data.get("RemainingCredit" if credit else "Balance"))
    note = data.get("PrivateNote") or ""
    # our reference: the DocNumber, or, where QuickBooks numbers invoices itself, the note
    reference = note.split()[0] if note.startswith("MC-") else data.get("DocNumber") or ""
    return RemoteInvoice(
        ledger_id=str(data["Id"]),
        number=data.get("DocNumber") or str(data.get("Id")),
        reference=reference,
        currency=(data.get("CurrencyRef") or {}).get("value", ""),
        total=total,
        balance=balance,
        status=status_of(data, credit, total, balance),
        is_credit=credit,
        tax=dec((data.get("TxnTaxDetail") or {}).get("TotalTax")),
        payment_link=data.get("InvoiceLink") or None,
        sent=data.get("EmailStatus") == "EmailSent",
    )


def deleted_invoice(data: dict[str, Any]) -> RemoteInvoice:
    """CDC's stub for a deleted invoice: only its Id is left."""
    return RemoteInvoice(str(data["Id"]), "", "", "", Decimal(0), Decimal(0), RemoteStatus.DELETED)


def with_payments(remote: RemoteInvoice, payments: tuple[RemotePayment, ...]) -> RemoteInvoice:
    return replace(remote, payments=payments)
