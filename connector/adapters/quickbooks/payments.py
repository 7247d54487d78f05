"""Payment status back from QuickBooks: the invoices and payments changed since the cursor,
through Change Data Capture, or a paged query where the cursor is older than CDC reaches.

CDC answers at most 1,000 objects, and takes only a start (`changedSince`): its window always
ends now (Change Data Capture reference; ledger-apis.md section 5). An answer at the cap is
missing changes, so each entity is asked on its own, and the window halved, later and later,
until CDC answers it whole; the time before that window is read through the query language
with both ends bounded (`MetaData.LastUpdatedTime`), which pages to the end instead of
stopping at 1,000. Only CDC reports deletions: an invoice deleted in QuickBooks within that
earlier part is not seen (a warning says when that part was needed). Payments deleted carry
no invoice anyway; their invoice's Balance shows them.

Reads only. The cursor returned is the moment the read began, never later.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from connector.adapters.base import PaymentChanges, RemotePayment
from connector.adapters.quickbooks.mapping import (
    dec,
    deleted_invoice,
    remote_invoice,
    with_payments,
)
from connector.adapters.quickbooks.reads import LINK, query_all, with_links
from connector.adapters.quickbooks.session import QuickBooksSession

log = logging.getLogger("connector.ledger.quickbooks")

CDC_OVERLAP = timedelta(minutes=5)  # re-read the boundary: two changes in one second are not lost
CDC_LIMIT = timedelta(days=29)  # QuickBooks answers CDC for the last 30 days only
CDC_CAP = 1000  # "A given CDC request returns a maximum of 1000 objects"
SMALLEST_WINDOW = timedelta(minutes=1)  # below this a capped window is read by query whole
ENTITIES = ("Invoice", "Payment")


def payment_changes(session: QuickBooksSession, cursor: str | None) -> PaymentChanges:
    now = datetime.now(UTC)
    if cursor is None:
        return PaymentChanges([], now.isoformat())
    since = datetime.fromisoformat(cursor) - CDC_OVERLAP
    if now - since > CDC_LIMIT:
        invoices, payments = changed_by_query(session, since)
    else:
        invoices, payments = changed_by_cdc(session, since, now)
    applied = payments_by_invoice(payments)
    changed = [
        deleted_invoice(data)
        if data.get("status") == "Deleted"
        else with_payments(remote_invoice(data, False), applied.get(str(data["Id"]), ()))
        for data in invoices
    ]
    seen = {r.ledger_id for r in changed}
    for invoice_id in sorted(set(applied) - seen):  # a payment changed, its invoice did not
        data = session.get(f"invoice/{invoice_id}", {"include": LINK})["Invoice"]
        changed.append(with_payments(remote_invoice(data, False), applied[invoice_id]))
    return PaymentChanges(with_links(session, changed), now.isoformat())


def changed_by_cdc(
    session: QuickBooksSession, since: datetime, now: datetime
) -> tuple[list[Any], list[Any]]:
    """Invoices and payments changed since `since`, none left out by the cap."""
    found = _cdc(session, ENTITIES, since)
    if sum(len(objects) for objects in found.values()) < CDC_CAP:
        return found["Invoice"], found["Payment"]
    return _windowed(session, "Invoice", since, now), _windowed(session, "Payment", since, now)


def _windowed(session: QuickBooksSession, entity: str, since: datetime, now: datetime) -> list[Any]:
    """One entity's changes since `since`: CDC's window halved until under the cap, the time
    before it by a bounded query (module docstring)."""
    start = since
    while True:
        found = _cdc(session, (entity,), start)[entity]
        if len(found) < CDC_CAP:
            break
        if now - start < SMALLEST_WINDOW:
            log.warning("QuickBooks: over %d %s changes a minute; read by query", CDC_CAP, entity)
            return query_all(session, entity, f"MetaData.LastUpdatedTime >= '{since.isoformat()}'")
        start += (now - start) / 2
    if start == since:
        return found
    log.warning(
        "QuickBooks: more than %d %s changes since %s; those before %s read by query (a "
        "deletion among them is not seen)",
        CDC_CAP,
        entity,
        since.isoformat(),
        start.isoformat(),
    )
    older = query_all(
        session,
        entity,
        f"MetaData.LastUpdatedTime >= '{since.isoformat()}' "
        f"and MetaData.LastUpdatedTime < '{start.isoformat()}'",
    )
    return _merged(older, found)


def _cdc(
    session: QuickBooksSession, entities: Sequence[str], since: datetime
) -> dict[str, list[Any]]:
    answer = session.get("cdc", {"entities": ",".join(entities), "changedSince": since.isoformat()})
    found: dict[str, list[Any]] = {entity: [] for entity in entities}
    for block in answer.get("CDCResponse", [{}])[0].get("QueryResponse", []):
        for entity in entities:
            found[entity] += block.get(entity, [])
    return found


def _merged(older: list[Any], newer: list[Any]) -> list[Any]:
    """Both windows' objects once each, by Id; the newer answer is the later state."""
    by_id = {str(o["Id"]): o for o in older}
    by_id.update({str(o["Id"]): o for o in newer})
    return list(by_id.values())


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
