"""Finding our documents in QuickBooks again: by DocNumber in batched queries, or, where
QuickBooks numbers invoices itself, by the reference at the start of the private note.

Reads only; nothing here writes to the company.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.adapters.base import RemoteInvoice, RemoteStatus
from connector.adapters.quickbooks.faults import classify_fault
from connector.adapters.quickbooks.mapping import remote_invoice
from connector.adapters.quickbooks.session import QuickBooksSession, escape

PAGE = 1000  # QuickBooks answers a query with 1,000 rows at most
NOTE_LOOKBACK = timedelta(days=60)  # how far back a reference kept only in a note is searched
DOCUMENTS = ("Invoice", "CreditMemo")
OPEN = (RemoteStatus.OPEN, RemoteStatus.PARTIALLY_PAID)
LINK = "invoiceLink"  # include= on invoice reads: the online payment link comes back too


def query_all(session: QuickBooksSession, entity: str, where: str, start: int = 1) -> list[Any]:
    """Every `entity` matching `where` (all of them when it is ""), page by page, from the
    `start`-th on."""
    rows: list[Any] = []
    condition = f" where {where}" if where else ""
    while True:
        page = session.query(
            f"select * from {entity}{condition} STARTPOSITION {start} MAXRESULTS {PAGE}",
            include=LINK if entity == "Invoice" else None,
        ).get(entity, [])
        rows += page
        if len(page) < PAGE:
            return rows
        start += PAGE


def find_by_number(
    session: QuickBooksSession, references: Sequence[str], per_batch: int
) -> dict[str, RemoteInvoice]:
    """Invoices and credit memos whose DocNumber is one of `references`: two queries each
    (one per entity), `per_batch` queries to a /batch call."""
    found: dict[str, RemoteInvoice] = {}
    wanted = list(dict.fromkeys(references))
    chunk_size = max(1, per_batch // len(DOCUMENTS))
    for start in range(0, len(wanted), chunk_size):
        # short bIds, though Intuit limits them (to 10 characters) only with a requestid
        asked = {
            f"{entity[0]}{n}": (entity, number)
            for n, number in enumerate(wanted[start : start + chunk_size])
            for entity in DOCUMENTS
        }
        queries = [
            {"bId": bid, "Query": f"select * from {entity} where DocNumber = {escape(number)}"}
            for bid, (entity, number) in asked.items()
        ]
        answer = session.post("batch", json.dumps({"BatchItemRequest": queries}))
        for item in answer.get("BatchItemResponse", []):
            if "Fault" in item:
                raise classify_fault(item["Fault"])
            entity = asked.get(item.get("bId"), ("", ""))[0]
            for data in item.get("QueryResponse", {}).get(entity, []):
                remote = remote_invoice(data, entity == "CreditMemo")
                found[remote.reference] = remote
    return found


def find_by_note(
    session: QuickBooksSession, references: set[str], lookback: timedelta | None
) -> dict[str, RemoteInvoice]:
    """Private notes cannot be queried: read the documents created lately (within `lookback`;
    None: all of them) and match them. An intent left in `pushing` is resolved on the next
    night, well inside the window."""
    where = ""
    if lookback is not None:
        where = f"MetaData.CreateTime >= '{(datetime.now(UTC) - lookback).isoformat()}'"
    found: dict[str, RemoteInvoice] = {}
    for entity in DOCUMENTS:
        for data in query_all(session, entity, where):
            remote = remote_invoice(data, entity == "CreditMemo")
            if remote.reference in references:
                found[remote.reference] = remote
    return found


def with_links(
    session: QuickBooksSession, invoices: Sequence[RemoteInvoice]
) -> list[RemoteInvoice]:
    """`invoices`, the open ones with their online payment link: batched queries and CDC do
    not document include=invoiceLink, so the open invoices among them are read once more by
    Id through the query endpoint, which does (1,000 to a query). QuickBooks generates a link
    only where online payment is on and the customer has an email address."""
    wanted = [
        i.ledger_id
        for i in invoices
        if not i.is_credit and i.payment_link is None and i.status in OPEN
    ]
    links: dict[str, str] = {}
    for start in range(0, len(wanted), PAGE):
        chunk = ", ".join(escape(i) for i in wanted[start : start + PAGE])
        rows = session.query(
            f"select * from Invoice where Id in ({chunk}) MAXRESULTS {PAGE}", include=LINK
        ).get("Invoice", [])
        links.update({str(row["Id"]): row["InvoiceLink"] for row in rows if row.get("InvoiceLink")})
    return [replace(i, payment_link=links.get(i.ledger_id, i.payment_link)) for i in invoices]
