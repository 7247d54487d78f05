"""Payment status back from QuickBooks: the invoices and payments changed since the cursor,
through Change Data Capture, or a paged query where the cursor is older than CDC reaches.

Reads only. The cursor returned is the moment the read began, never later.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from connector.adapters.base import PaymentChanges, RemotePayment
from connector.adapters.quickbooks.mapping import (
    dec,
    deleted_invoice,
    remote_invoice,
    with_payments,
)
from connector.adapters.quickbooks.reads import query_all
from connector.adapters.quickbooks.session import QuickBooksSession

CDC_OVERLAP = timedelta(minutes=5)  # re-read the boundary: two changes in one second are not lost
CDC_LIMIT = timedelta(days=29)  # QuickBooks answers CDC for the last 30 days only


def payment_changes(session: QuickBooksSession, cursor: str | None) -> PaymentChanges:
    now = datetime.now(UTC)
    if cursor is None:
        return PaymentChanges([], now.isoformat())
    since = datetime.fromisoformat(cursor) - CDC_OVERLAP
    if now - since > CDC_LIMIT:
        invoices, payments = changed_by_query(session, since)
    else:
        invoices, payments = changed_by_cdc(session, since)
    applied = payments_by_invoice(payments)
    changed = [
        deleted_invoice(data)
        if data.get("status") == "Deleted"
        else with_payments(remote_invoice(data, False), applied.get(str(data["Id"]), ()))
        for data in invoices
    ]
    seen = {r.ledger_id for r in changed}
    for invoice_id in set(applied) - seen:  # a payment changed, its invoice did not show up
        data = session.get(f"invoice/{invoice_id}")["Invoice"]
        changed.append(with_payments(remote_invoice(data, False), applied[invoice_id]))
    return PaymentChanges(changed, now.isoformat())


def changed_by_cdc(session: QuickBooksSession, since: datetime) -> tuple[list[Any], list[Any]]:
    answer = session.get("cdc", {"entities": "Invoice,Payment", "changedSince": since.isoformat()})
    invoices: list[Any] = []
    payments: list[Any] = []
    for block in answer.get("CDCResponse", [{}])[0].get("QueryResponse", []):
        invoices += block.get("Invoice", [])
        payments += block.get("Payment", [])
    return invoices, payments


def changed_by_query(session: QuickBooksSession, since: datetime) -> tuple[list[Any], list[Any]]:
    """The cursor is older than CDC allows: page through a query instead."""
    where = f"MetaData.LastUpdatedTime > '{since.isoformat()}'"
    return query_all(session, "Invoice", where), query_all(session, "Payment", where)


def payments_by_invoice(payments: list[Any]) -> dict[str, tuple[RemotePayment, ...]]:
    """Each payment line applied to an invoice, by the invoice's Id."""
    out: dict[str, list[RemotePayment]] = {}
    for p in payments:
        deleted = p.get("status") == "Deleted"
        paid_on = date.fromisoformat(p["TxnDate"]) if p.get("TxnDate") else date.today()
        for line in p.get("Line", []):
            for linked in line.get("LinkedTxn", []):
                if linked.get("TxnType") == "Invoice":
                    out.setdefault(str(linked["TxnId"]), []).append(
                        RemotePayment(str(p["Id"]), dec(line.get("Amount")), paid_on, deleted)
                    )
    return {k: tuple(v) for k, v in out.items()}
