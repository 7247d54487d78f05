"""Creating invoices and credit memos through /batch, each item's answer read on its own.

A batch answers item by item: a document, or its own Fault. Fault 6140 (the DocNumber exists)
means an earlier attempt of ours went through and its answer was lost: the document is looked
up by its reference and returned as if just created.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from quickbooks.mixins import DecimalEncoder
from quickbooks.objects.creditmemo import CreditMemo
from quickbooks.objects.invoice import Invoice

from connector.adapters.base import InvoiceRequest, PushResult, RemoteInvoice
from connector.adapters.quickbooks.faults import fault_code, fault_text
from connector.adapters.quickbooks.mapping import remote_invoice
from connector.adapters.quickbooks.session import QuickBooksSession

RETRIABLE_FAULTS = (3001, 3003)  # throttled, or the service was busy with this request

Build = Callable[[InvoiceRequest], Invoice | CreditMemo]
Find = Callable[[Sequence[str]], dict[str, RemoteInvoice]]


def create_documents(
    session: QuickBooksSession, requests: Sequence[InvoiceRequest], build: Build, find: Find
) -> list[PushResult]:
    """One result per request, in order. `build` makes a request's document; `find` looks
    documents up by reference."""
    items = [
        {
            "bId": r.key,
            "operation": "create",
            _entity(r): json.loads(build(r).to_json(), parse_float=Decimal),
        }
        for r in requests
    ]
    batch_id = "mc-b-" + hashlib.sha256("|".join(r.key for r in requests).encode()).hexdigest()[:40]
    body = json.dumps({"BatchItemRequest": items}, cls=DecimalEncoder)
    answer = session.post("batch", body, request_id=batch_id)
    by_id = {item.get("bId"): item for item in answer.get("BatchItemResponse", [])}
    results = [_result(r.key, by_id.get(r.key)) for r in requests]
    taken = [r for r, p in zip(requests, results, strict=True) if p is None]
    found = find([r.reference for r in taken]) if taken else {}
    return [
        p if p is not None else _found(r, found.get(r.reference))
        for r, p in zip(requests, results, strict=True)
    ]


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
