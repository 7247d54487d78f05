"""Requests to QuickBooks documents and QuickBooks documents to `RemoteInvoice` records.

Pure: no call to QuickBooks. The document is built with python-quickbooks' objects; the answer
is read from its JSON (Decimal amounts, since the client parses with use_decimal).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from quickbooks.objects.base import Ref
from quickbooks.objects.creditmemo import CreditMemo
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.invoice import Invoice

from connector.adapters.base import InvoiceRequest, RemoteInvoice, RemotePayment, RemoteStatus


def ref(value: str, name: str | None = None) -> Ref:
    out = Ref()
    out.value = value
    if name:
        out.name = name
    return out


def dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def document(r: InvoiceRequest, item: Ref, custom_numbers: bool) -> Invoice | CreditMemo:
    """The Invoice, or the CreditMemo for a request whose lines net below zero (its amounts
    positive). Our reference is the DocNumber where the company lets us set it, and always the
    first word of the private note."""
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
    doc.Line = []
    for line in r.lines:
        amount = -line.amount if credit else line.amount
        detail = SalesItemLineDetail()
        detail.ItemRef = item
        detail.Qty = 1
        detail.UnitPrice = amount
        sales = SalesItemLine()
        sales.Amount = amount
        sales.Description = line.description
        sales.SalesItemLineDetail = detail
        doc.Line.append(sales)
    return doc


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
    )


def deleted_invoice(data: dict[str, Any]) -> RemoteInvoice:
    """CDC's stub for a deleted invoice: only its Id is left."""
    return RemoteInvoice(str(data["Id"]), "", "", "", Decimal(0), Decimal(0), RemoteStatus.DELETED)


def with_payments(remote: RemoteInvoice, payments: tuple[RemotePayment, ...]) -> RemoteInvoice:
    return replace(remote, payments=payments)
