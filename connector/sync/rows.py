"""Invoice and milestone rows as stored <-> the records the rest of the sync passes around,
and the label that names an invoice row in a message.

Amounts go in as integer minor units and come out as `Decimal` in the row's currency; dates are
ISO text. Pure functions: nothing here opens the database.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple, TypedDict

from connector.models import BilledInvoice, Kind, Line, Milestone, Role, Status
from connector.money import exponent, to_minor
from connector.sync.schema import (
    ACTIVE_STATES,
    PUSHING,
    Delivery,
    OutboxAction,
    OutboxState,
    invoices,
)


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


def amount_of(minor: int, currency: str) -> Decimal:
    """`money.from_minor`, the same Decimal (an integer scaled by the minor unit already has
    the currency's exponent, so it needs no quantize): status reads 100,000s of them."""
    return Decimal(minor).scaleb(-exponent(currency))


def lines_from_json(text: str, currency: str) -> tuple[Line, ...]:
    """`from_minor` for each amount, spelt out: a large state decodes hundreds of thousands."""
    places = -exponent(currency)
    return tuple(
        Line(
            d["description"],
            Decimal(d["amount_minor"]).scaleb(places),
            _ROLES[d["role"]],
            d["milestone"],
        )
        for d in json.loads(text)
    )


_ROLES = {str(r): r for r in Role}
_KINDS = {str(k): k for k in Kind}
_STATES = {str(s): s for s in OutboxState}
_ACTIONS = {str(a): a for a in OutboxAction}
_DELIVERIES: dict[str | None, Delivery | None] = {str(d): d for d in Delivery}


class InvoiceRow(NamedTuple):
    """One invoice (or credit note, or void) as the outbox holds it: its intent, and what the
    ledger has said of it since. Amounts are integer minor units of `currency`. A tuple, as
    `Line` is, not a frozen dataclass: large books read 100,000s of rows, and a frozen
    dataclass of 28 fields takes eight times as long to make (one call per field)."""

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
        return amount_of(self.total_minor, self.currency)

    @property
    def paid(self) -> Decimal:
        return amount_of(self.paid_minor, self.currency)

    @property
    def balance(self) -> Decimal:
        """What is still due (left to use, on a credit note); the total until the ledger says."""
        minor = self.total_minor if self.balance_minor is None else self.balance_minor
        return amount_of(minor, self.currency)

    @property
    def is_credit_note(self) -> bool:
        return self.total_minor < 0

    @property
    def tax(self) -> Decimal | None:
        return None if self.tax_minor is None else amount_of(self.tax_minor, self.currency)

    def updated(self, change: RowUpdate) -> InvoiceRow:
        return self._replace(**change)


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


# The columns an invoice row is read from, in the order `rows_from_db` takes them.
ROW_COLUMNS = tuple(
    invoices.c[name]
    for name in (
        "key", "reference", "action", "contract", "customer", "kind", "milestones",
        "milestone_hashes", "revision", "currency", "invoice_date", "due_date", "lines",
        "total_minor", "replaces", "state", "ledger_id", "number", "paid_minor",
        "balance_minor", "error", "created_at", "updated_at", "id", "tax_minor",
        "payment_link", "delivery", "sent_at",
    )
)  # fmt: skip


def rows_from_db(result: Iterable[Sequence[Any]]) -> list[InvoiceRow]:
    """Invoice rows from a query of `ROW_COLUMNS`, by position (a mapping per row costs more
    than the rest of the decoding together), the three JSON columns in one parse. Texts
    and days that many rows hold alike (a contract, a customer, a milestone id on a row and
    its lines, a time stamp) are kept once: 77,000 rows are 30 MB lighter."""
    loads = json.loads
    shared: dict[Any, Any] = {}
    same = shared.setdefault
    days: dict[str, dt.date] = {}

    def day(text: str) -> dt.date:
        found = days.get(text)
        if found is None:
            found = days[text] = dt.date.fromisoformat(text)
        return found

    out = []
    for (
        key,
        reference,
        action,
        contract,
        customer,
        kind,
        milestones,
        hashes,
        revision,
        currency,
        invoice_date,
        due_date,
        lines,
        total_minor,
        replaces,
        state,
        ledger_id,
        number,
        paid_minor,
        balance_minor,
        error,
        created_at,
        updated_at,
        id_,
        tax_minor,
        payment_link,
        delivery,
        sent_at,
    ) in result:
        ids, pairs, items = loads(f"[{milestones},{hashes},{lines}]")
        places = -exponent(currency)
        out.append(
            InvoiceRow(
                key,
                reference,
                _ACTIONS[action],
                same(contract, contract),
                same(customer, customer),
                _KINDS[kind],
                tuple([same(m, m) for m in ids]),
                tuple([(same(m, m), h) for m, h in pairs]),
                revision,
                same(currency, currency),
                day(invoice_date),
                day(due_date),
                tuple(
                    Line(
                        d["description"],
                        Decimal(d["amount_minor"]).scaleb(places),
                        _ROLES[d["role"]],
                        same(d["milestone"], d["milestone"]),
                    )
                    for d in items
                ),
                total_minor,
                replaces,
                _STATES[state],
                ledger_id,
                number,
                paid_minor or 0,
                balance_minor,
                error,
                same(created_at, created_at),
                same(updated_at, updated_at),
                id_,
                tax_minor,
                payment_link,
                _DELIVERIES.get(delivery),
                sent_at,
            )
        )
    return out  # fmt: skip


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


_ACTIVE = frozenset(ACTIVE_STATES)


def to_billed(row: InvoiceRow) -> BilledInvoice:
    """The row as billing reads it (a night builds one for every invoice in state)."""
    places = -exponent(row.currency)
    return BilledInvoice(
        row.key,
        row.contract,
        row.kind,
        row.milestones,
        row.lines,
        row.state in _ACTIVE,
        row.revision,
        row.milestone_hashes,
        Decimal(row.paid_minor).scaleb(places),  # `from_minor`, as in `lines_from_json`
        row.number,
        Decimal(row.total_minor).scaleb(places),
        row.invoice_date,
        row.state != PUSHING,
    )


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def milestone_to_json(m: Milestone) -> dict[str, Any]:
    """The stored milestone; `planned` (the forecast's date, which billing never reads) only
    when set, so milestones without one keep the text they were stored with."""
    data = {
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
    if m.planned is not None:
        data["planned"] = m.planned.isoformat()
    return data


_MILESTONE_STATUSES = {str(s): s for s in Status}


def milestone_from_json(d: dict[str, Any]) -> Milestone:
    def day(v: str | None) -> date | None:
        return date.fromisoformat(v) if v else None

    return Milestone(
        id=d["id"],
        contract=d["contract"],
        title=d["title"],
        percent=Decimal(d["percent"]) if d["percent"] is not None else None,
        amount=Decimal(d["amount"]) if d["amount"] is not None else None,
        status=_MILESTONE_STATUSES[d["status"]],
        completed=day(d["completed"]),
        accepted=day(d["accepted"]),
        terms_days=d["terms_days"],
        where=d["where"],
        currency=d.get("currency"),
        planned=day(d.get("planned")),
    )


def label(row: InvoiceRow) -> str:
    """How a person finds an invoice row in a message: its contract and milestones."""
    what = f"milestone {', '.join(row.milestones)}" if row.milestones else f"{row.kind} invoice"
    return f"contract {row.contract}, {what}"
