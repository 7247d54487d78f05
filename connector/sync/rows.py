"""Invoice and milestone rows as stored <-> the records the rest of the sync passes around,
and the label that names an invoice row in a message.

Amounts go in as integer minor units and come out as `Decimal` in the row's currency; dates are
ISO text. Pure functions: nothing here opens the database.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any, TypedDict

from connector.models import BilledInvoice, Kind, Line, Milestone, Role, Status
from connector.money import from_minor, to_minor
from connector.sync.schema import ACTIVE_STATES, PUSHING, Delivery, OutboxAction, OutboxState


def lines_to_json(lines: Sequence[Line], currency: str) -> str:
    return json.dumps(
        [
            {
                "description": ln.description,
                "amount_minor": to_minor(ln.amount, currency),
                "role": str(ln.role),
                "milestone": ln.milestone,
            }
            for ln in lines
        ]
    )


def lines_from_json(text: str, currency: str) -> tuple[Line, ...]:
    return tuple(
        Line(
            d["description"],
            from_minor(d["amount_minor"], currency),
            Role(d["role"]),
            d["milestone"],
        )
        for d in json.loads(text)
    )


@dataclass(frozen=True, slots=True)
class InvoiceRow:
    """One invoice (or credit note, or void) as the outbox holds it: its intent, and what the
    ledger has said of it since. Amounts are integer minor units of `currency`."""

    key: str
    reference: str
    action: OutboxAction
    contract: str
    customer: str
    kind: Kind
    milestones: tuple[str, ...]
    milestone_hashes: tuple[tuple[str, str], ...]
    revision: int
    currency: str
    invoice_date: dt.date
    due_date: dt.date
    lines: tuple[Line, ...]
    total_minor: int
    replaces: str | None = None
    state: OutboxState = OutboxState.PUSHING
    ledger_id: str | None = None
    number: str | None = None
    paid_minor: int = 0
    balance_minor: int | None = None
    error: str | None = None
    created_at: str = ""
    updated_at: str = ""
    id: int = 0  # the database's order of writing; 0 until recorded
    tax_minor: int | None = None  # as the ledger computed it; None until it says
    payment_link: str | None = None
    delivery: Delivery | None = None  # None: not to be emailed to the client
    sent_at: str | None = None

    @property
    def total(self) -> Decimal:
        return from_minor(self.total_minor, self.currency)

    @property
    def paid(self) -> Decimal:
        return from_minor(self.paid_minor, self.currency)

    @property
    def balance(self) -> Decimal:
        """What is still due (left to use, on a credit note); the total until the ledger says."""
        minor = self.total_minor if self.balance_minor is None else self.balance_minor
        return from_minor(minor, self.currency)

    @property
    def is_credit_note(self) -> bool:
        return self.total_minor < 0

    @property
    def tax(self) -> Decimal | None:
        return None if self.tax_minor is None else from_minor(self.tax_minor, self.currency)

    def updated(self, change: RowUpdate) -> InvoiceRow:
        return replace(self, **change)


class RowUpdate(TypedDict, total=False):
    """The columns a ledger's answer (or a run's decision) changes on one invoice row."""

    state: OutboxState
    ledger_id: str | None
    number: str | None
    paid_minor: int
    balance_minor: int | None
    error: str | None
    tax_minor: int | None
    payment_link: str | None
    delivery: Delivery | None
    sent_at: str | None


# A row update: the invoice's key and what changes on it.
Change = tuple[str, RowUpdate]


def row_from_db(m: Mapping[Any, Any]) -> InvoiceRow:
    currency = m["currency"]
    return InvoiceRow(
        key=m["key"],
        reference=m["reference"],
        action=OutboxAction(m["action"]),
        contract=m["contract"],
        customer=m["customer"],
        kind=Kind(m["kind"]),
        milestones=tuple(json.loads(m["milestones"])),
        milestone_hashes=tuple((str(a), str(b)) for a, b in json.loads(m["milestone_hashes"])),
        revision=m["revision"],
        currency=currency,
        invoice_date=dt.date.fromisoformat(m["invoice_date"]),
        due_date=dt.date.fromisoformat(m["due_date"]),
        lines=lines_from_json(m["lines"], currency),
        total_minor=m["total_minor"],
        replaces=m["replaces"],
        state=OutboxState(m["state"]),
        ledger_id=m["ledger_id"],
        number=m["number"],
        paid_minor=m["paid_minor"] or 0,
        balance_minor=m["balance_minor"],
        error=m["error"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        id=m["id"],
        tax_minor=m["tax_minor"],
        payment_link=m["payment_link"],
        delivery=Delivery(m["delivery"]) if m["delivery"] else None,
        sent_at=m["sent_at"],
    )


def row_to_db(row: InvoiceRow) -> dict[str, Any]:
    """The columns of a new intent (the database gives it its id and time stamps)."""
    return {
        "key": row.key,
        "reference": row.reference,
        "action": str(row.action),
        "contract": row.contract,
        "customer": row.customer,
        "kind": str(row.kind),
        "milestones": json.dumps(list(row.milestones)),
        "milestone_hashes": json.dumps([list(h) for h in row.milestone_hashes]),
        "revision": row.revision,
        "currency": row.currency,
        "invoice_date": row.invoice_date.isoformat(),
        "due_date": row.due_date.isoformat(),
        "lines": lines_to_json(row.lines, row.currency),
        "total_minor": row.total_minor,
        "replaces": row.replaces,
        "delivery": None if row.delivery is None else str(row.delivery),
    }


def to_billed(row: InvoiceRow) -> BilledInvoice:
    return BilledInvoice(
        key=row.key,
        contract=row.contract,
        kind=row.kind,
        milestones=row.milestones,
        lines=row.lines,
        active=row.state in ACTIVE_STATES,
        revision=row.revision,
        milestone_hashes=row.milestone_hashes,
        paid=row.paid,
        number=row.number,
        total=row.total,
        date=row.invoice_date,
        confirmed=row.state != PUSHING,
    )


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def milestone_to_json(m: Milestone) -> dict[str, Any]:
    return {
        "id": m.id,
        "contract": m.contract,
        "title": m.title,
        "percent": _dec(m.percent),
        "amount": _dec(m.amount),
        "status": str(m.status),
        "completed": m.completed.isoformat() if m.completed else None,
        "accepted": m.accepted.isoformat() if m.accepted else None,
        "terms_days": m.terms_days,
        "where": m.where,
        "currency": m.currency,
    }


def milestone_from_json(d: dict[str, Any]) -> Milestone:
    def day(v: str | None) -> date | None:
        return date.fromisoformat(v) if v else None

    return Milestone(
        id=d["id"],
        contract=d["contract"],
        title=d["title"],
        percent=Decimal(d["percent"]) if d["percent"] is not None else None,
        amount=Decimal(d["amount"]) if d["amount"] is not None else None,
        status=Status(d["status"]),
        completed=day(d["completed"]),
        accepted=day(d["accepted"]),
        terms_days=d["terms_days"],
        where=d["where"],
        currency=d.get("currency"),
    )


def label(row: InvoiceRow) -> str:
    """How a person finds an invoice row in a message: its contract and milestones."""
    what = f"milestone {', '.join(row.milestones)}" if row.milestones else f"{row.kind} invoice"
    return f"contract {row.contract}, {what}"
