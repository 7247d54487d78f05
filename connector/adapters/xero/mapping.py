"""Xero's documents as the engine's `RemoteInvoice`, and the small encodings the adapter
needs (idempotency keys, where-filter strings, validation messages, Xero's clock)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

from xero_python.accounting import CreditNote

from connector.adapters.base import RemoteInvoice, RemotePayment, RemoteStatus

_STAMP = re.compile(rb'"DateTimeUTC"\s*:\s*"\\?/Date\((\d+)')


def to_remote(doc: Any) -> RemoteInvoice:
    """A Xero invoice or credit note as the engine sees it."""
    credit = isinstance(doc, CreditNote)
    total = doc.total or Decimal(0)
    if credit:
        balance = doc.remaining_credit if doc.remaining_credit is not None else total
        paid_or_credited = total - balance
    else:
        balance = doc.amount_due if doc.amount_due is not None else total
        paid_or_credited = (doc.amount_paid or 0) + (doc.amount_credited or 0)
    status = {
        "VOIDED": RemoteStatus.VOIDED,
        "DELETED": RemoteStatus.DELETED,
    }.get(doc.status or "")
    if status is None:
        if credit:
            status = RemoteStatus.OPEN
        elif balance <= 0 < total:
            status = RemoteStatus.PAID
        elif paid_or_credited > 0:
            status = RemoteStatus.PARTIALLY_PAID
        else:
            status = RemoteStatus.OPEN
    number = (doc.credit_note_number if credit else doc.invoice_number) or ""
    ledger_id = doc.credit_note_id if credit else doc.invoice_id
    currency = doc.currency_code.value if doc.currency_code else ""
    return RemoteInvoice(
        str(ledger_id),
        number,
        doc.reference or "",
        currency,
        total,
        Decimal(balance),
        status,
        credit,
        credited=Decimal(0) if credit else Decimal(doc.amount_credited or 0),
        tax=Decimal(doc.total_tax or 0),
        sent=bool(doc.sent_to_contact),
    )


def server_time(last: Any) -> datetime:
    """When Xero answered: the envelope's `DateTimeUTC`, else the `Date` header, else our
    clock, so the cursor rests on Xero's clock whenever it can."""
    if last is not None:
        match = _STAMP.search(last.data[:600] if last.data else b"")
        if match:
            return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(match.group(1)))
        header = last.getheader("Date")
        try:
            return parsedate_to_datetime(header) if header else datetime.now(UTC)
        except (TypeError, ValueError):
            pass
    return datetime.now(UTC)


def request_key(prefix: str, parts: Sequence[str]) -> str:
    """An Idempotency-Key (Xero allows 128 characters) from what the request stands for. Xero
    scopes keys per app, not per organisation, so the tenant id is always one of the parts."""
    return f"{prefix}-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:48]


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def messages(doc: Any) -> str:
    errors = getattr(doc, "validation_errors", None) or []
    return "; ".join(e.message for e in errors if e.message) or "Xero refused it"


def day(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.today()


def with_payments(found: RemoteInvoice, payments: tuple[RemotePayment, ...]) -> RemoteInvoice:
    return replace(found, payments=payments)


def folded(name: str) -> str:
    """A contact name as Xero compares names: trimmed, any case."""
    return name.strip().casefold()


def lines_total(doc: Any) -> Decimal:
    """What the lines add up to as sent (the connector's amounts): before tax when the lines
    are tax-exclusive, the total otherwise."""
    kind = doc.line_amount_types.value if doc.line_amount_types is not None else ""
    if kind == "Exclusive" and doc.sub_total is not None:
        return Decimal(doc.sub_total)
    return Decimal(doc.total or 0)
