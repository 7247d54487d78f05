"""Creating invoices and credit memos through /batch, each item's answer read on its own.

A request the company cannot take (a tax code, class or currency it does not have) is refused
before the batch goes, with a message naming what the company has; the rest still go.

A batch answers item by item: a document, or its own Fault. Fault 6140 (the DocNumber exists)
means an earlier attempt of ours went through and its answer was lost: the document is looked
up by its reference and returned as if just created.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from quickbooks.mixins import DecimalEncoder

from connector.adapters.base import InvoiceRequest, PushResult, RemoteInvoice
from connector.adapters.quickbooks import ids
from connector.adapters.quickbooks.faults import fault_code, fault_text
from connector.adapters.quickbooks.mapping import remote_invoice
from connector.adapters.quickbooks.session import QuickBooksSession
from connector.errors import SkippableLedgerError

RETRIABLE_FAULTS = (3001, 3003)  # throttled, or the service was busy with this request

Build = Callable[[InvoiceRequest], dict[str, Any]]
Find = Callable[[Sequence[str]], dict[str, RemoteInvoice]]


def create_documents(
    session: QuickBooksSession, requests: Sequence[InvoiceRequest], build: Build, find: Find
) -> list[PushResult]:
    """One result per request, in order. `build` makes a request's document, or refuses it
    with a `SkippableLedgerError` (that request's result; the others are still sent); `find`
    looks documents up by reference. The batch's requestid and bIds come from the keys
    (`ids`), so the same requests give the same ids and a replay its first answer."""
    refused: dict[str, PushResult] = {}
    items = []
    for r in requests:
        try:
            body = build(r)
        except SkippableLedgerError as exc:
            refused[r.key] = PushResult(r.key, error=str(exc))
            continue
        items.append({"bId": ids.item_id(r.key), "operation": "create", _entity(r): body})
    sent = [r for r in requests if r.key not in refused]
    by_id = _send(session, sent, items)
    results = [
        refused.get(r.key) or _result(r.key, by_id.get(ids.item_id(r.key))) for r in requests
    ]
    taken = [r for r, p in zip(requests, results, strict=True) if p is None]
    found = find([r.reference for r in taken]) if taken else {}
    return [
        p if p is not None else _found(r, found.get(r.reference))
        for r, p in zip(requests, results, strict=True)
    ]


def _send(
    session: QuickBooksSession, sent: Sequence[InvoiceRequest], items: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The batch's answer by bId (nothing to send: no call)."""
    if not items:
        return {}
    ids.item_ids(r.key for r in sent)  # refuses two keys sharing a bId
    body = json.dumps({"BatchItemRequest": items}, cls=DecimalEncoder)
    answer = session.post("batch", body, request_id=ids.batch_id(r.key for r in sent))
    return {str(item.get("bId")): item for item in answer.get("BatchItemResponse", [])}


def _entity(r: InvoiceRequest) -> str:
    return "CreditMemo" if r.is_credit_note else "Invoice"


def _result(key: str, item: dict[str, Any] | None) -> PushResult | None:
    """The outcome of one batch item; None when its number is taken (look it up)."""
    if item is None:
        return PushResult(key, error="QuickBooks returned no result for it", retriable=True)
    if "Fault" in item:
        code = fault_code(item["Fault"])
        if code == 6140:  # the DocNumber exists: it is this very invoice, sent before
            return None
        return PushResult(key, error=fault_text(item["Fault"]), retriable=code in RETRIABLE_FAULTS)
    data = item.get("Invoice") or item.get("CreditMemo")
    return PushResult(key, invoice=remote_invoice(data or {}, "CreditMemo" in item))


def _found(r: InvoiceRequest, invoice: RemoteInvoice | None) -> PushResult:
    if invoice is None:
        return PushResult(
            r.key, error="QuickBooks reports the number as taken but it was not found"
        )
    return PushResult(r.key, invoice=invoice)
