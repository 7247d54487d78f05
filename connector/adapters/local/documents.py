"""The practice ledger's documents, and each one as its file's `document` line holds it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from connector.adapters.base import RemoteInvoice, RemotePayment, RemoteStatus


@dataclass
class Doc:
    id: str
    number: str
    reference: str
    key: str
    customer: str
    currency: str
    is_credit: bool
    date: dt.date  # dt.: the field's name would shadow the type
    due_date: dt.date
    total: Decimal
    lines: list[tuple[str, Decimal]]
    voided: bool = False
    payments: list[RemotePayment] = field(default_factory=list)
    changed: int = 0
    credits: str | None = None  # a credit note: the id of the invoice it credits
    sent: bool = False

    def remote(self) -> RemoteInvoice:
        paid = sum((p.amount for p in self.payments if not p.deleted), Decimal(0))
        balance = Decimal(0) if self.voided else self.total - paid
        if self.voided:
            status = RemoteStatus.VOIDED
        elif balance <= 0 and self.total > 0:
            status = RemoteStatus.PAID
        elif paid > 0:
            status = RemoteStatus.PARTIALLY_PAID
        else:
            status = RemoteStatus.OPEN
        return RemoteInvoice(
            self.id,
            self.number,
            self.reference,
            self.currency,
            self.total,
            balance,
            status,
            self.is_credit,
            tuple(self.payments),
            sent=self.sent,
        )


def doc_record(d: Doc) -> dict[str, Any]:
    return {
        "id": d.id,
        "number": d.number,
        "reference": d.reference,
        "key": d.key,
        "customer": d.customer,
        "currency": d.currency,
        "is_credit": d.is_credit,
        "date": d.date.isoformat(),
        "due_date": d.due_date.isoformat(),
        "total": str(d.total),
        "voided": d.voided,
        "sent": d.sent,
        "changed": d.changed,
        "lines": [[text, str(amount)] for text, amount in d.lines],
        "payments": [[p.id, str(p.amount), p.date.isoformat(), p.deleted] for p in d.payments],
    }


def doc_from(d: dict[str, Any]) -> Doc:
    return Doc(
        id=d["id"],
        number=d["number"],
        reference=d["reference"],
        key=d["key"],
        customer=d["customer"],
        currency=d["currency"],
        is_credit=d["is_credit"],
        date=date.fromisoformat(d["date"]),
        due_date=date.fromisoformat(d["due_date"]),
        total=Decimal(d["total"]),
        voided=d["voided"],
        sent=bool(d.get("sent", False)),  # files written before sending existed
        changed=d["changed"],
        lines=[(text, Decimal(amount)) for text, amount in d["lines"]],
        payments=[
            RemotePayment(pid, Decimal(amount), date.fromisoformat(on), deleted)
            for pid, amount, on, deleted in d["payments"]
        ],
    )
