"""Where a business's books stand: one typed value, computed here from the state and the config,
rendered elsewhere (the CLI's tables, `--json`, the demo, the overview of many businesses).

It reads the state; it never writes and never calls a ledger or a tracker. Its JSON form
(`BooksStatus.to_json`) carries amounts as strings and dates as ISO text, never floats.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from connector.models import PROBLEM_REASONS, Contract, Milestone, Role, Status
from connector.money import fmt, round_money
from connector.sync import schema
from connector.sync.closeout import unbilled_remainder
from connector.sync.rows import InvoiceRow, milestone_from_json
from connector.sync.state import State
from connector.validation import printable

ZERO = Decimal(0)
BILLED_STATES = (schema.PUSHED, schema.PARTIALLY_PAID, schema.PAID, schema.NOT_SENT)

# What a bookkeeper calls each outbox state.
STATUS_WORDS = {
    schema.PUSHING: "sending",
    schema.PUSHED: "open",
    schema.PARTIALLY_PAID: "partially_paid",
    schema.PAID: "paid",
    schema.VOIDED: "voided",
    schema.CREDITED: "credited",
    schema.FAILED: "failed",
    schema.VOIDED_IN_LEDGER: "voided_in_ledger",
    schema.NOT_SENT: "nothing_to_send",  # its lines net to zero
}


@dataclass(frozen=True, slots=True)
class InvoiceStatus:
    number: str
    contract: str
    kind: str
    milestones: tuple[str, ...]
    currency: str
    total: Decimal  # negative for a credit note
    date: dt.date  # the field shadows the type inside the class: spelt in full
    due_date: dt.date
    paid: Decimal
    balance: Decimal
    status: str
    days_overdue: int
    error: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "contract": self.contract,
            "kind": self.kind,
            "milestones": list(self.milestones),
            "currency": self.currency,
            "total": fmt(self.total),
            "date": self.date.isoformat(),
            "due_date": self.due_date.isoformat(),
            "paid": fmt(self.paid),
            "balance": fmt(self.balance),
            "status": self.status,
            "days_overdue": self.days_overdue,
            "error": self.error,
        }


@dataclass(slots=True)
class _Sums:
    billed: Decimal = ZERO
    paid: Decimal = ZERO
    outstanding: Decimal = ZERO  # what is due less credit the customer has not used
    overdue: Decimal = ZERO
    retainage_held: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class ContractStatus:
    contract: str
    customer: str | None
    currency: str
    value: Decimal | None  # with every change order approved by the as-of date
    billed: Decimal
    paid: Decimal
    outstanding: Decimal  # never negative: unused credit is `credit`
    overdue: Decimal
    retainage_held: Decimal
    credit: Decimal  # the customer's unused credit

    def to_json(self) -> dict[str, Any]:
        return {
            "contract": self.contract,
            "customer": self.customer,
            "currency": self.currency,
            "value": None if self.value is None else fmt(self.value),
            "billed": fmt(self.billed),
            "paid": fmt(self.paid),
            "outstanding": fmt(self.outstanding),
            "overdue": fmt(self.overdue),
            "retainage_held": fmt(self.retainage_held),
            "credit": fmt(self.credit),
        }


@dataclass(frozen=True, slots=True)
class LastRun:
    started_at: str
    finished_at: str | None
    outcome: str
    counts: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "outcome": self.outcome,
            "counts": dict(self.counts),
        }


@dataclass(frozen=True)
class BooksStatus:
    business: str
    as_of: date
    last_run: LastRun | None
    contracts: list[ContractStatus] = field(default_factory=list)
    invoices: list[InvoiceStatus] = field(default_factory=list)
    attention: list[str] = field(default_factory=list)  # what needs a person

    def to_json(self) -> dict[str, Any]:
        return {
            "business": self.business,
            "as_of": self.as_of.isoformat(),
            "last_run": None if self.last_run is None else self.last_run.to_json(),
            "contracts": [c.to_json() for c in self.contracts],
            "invoices": [i.to_json() for i in self.invoices],
            "attention": list(self.attention),
        }


def books_status(
    business: str, contracts: dict[str, Contract], state: State, as_of: date
) -> BooksStatus:
    rows = [r for r in state.invoice_rows() if r.action == schema.OutboxAction.CREATE]
    sums: dict[str, _Sums] = {}
    for row in rows:
        _add(sums.setdefault(row.contract, _Sums()), row, as_of)
    shown = [
        _contract(cid, contracts.get(cid), sums.get(cid), rows, as_of)
        for cid in sorted(set(contracts) | set(sums))
    ]
    attention = _milestone_problems(state)
    attention += [
        f"contract {c.contract}: {c.customer} holds a credit of {fmt(c.credit)} {c.currency}; "
        "refund it or set it against their next invoice in the ledger"
        for c in shown
        if c.credit and c.customer is not None
    ]
    attention += unbilled_notices(contracts, state, rows, as_of)
    attention += _row_problems(rows)
    return BooksStatus(
        business,
        as_of,
        _last_run(state),
        shown,
        [_invoice(row, as_of) for row in rows],
        attention,
    )


def status_data(
    business: str, contracts: dict[str, Contract], state: State, as_of: date
) -> dict[str, Any]:
    """The status in its JSON form, as `status --json` prints it."""
    return books_status(business, contracts, state, as_of).to_json()


def _add(sums: _Sums, row: InvoiceRow, as_of: date) -> None:
    credit_note = row.is_credit_note  # lines that net below zero went as a credit note
    balance = row.balance
    if row.state in BILLED_STATES or row.state == schema.CREDITED:
        # A credited invoice and its credit note both count: together they bill nothing,
        # and what is still due on the one less the credit left on the other is owed.
        sums.billed += row.total
        if credit_note:
            sums.outstanding -= balance  # credit the customer has not used yet
        else:
            sums.paid += row.paid
            sums.outstanding += balance
    if row.state in BILLED_STATES and not credit_note and balance > 0 and row.due_date < as_of:
        sums.overdue += balance
    if row.state in BILLED_STATES:
        for line in row.lines:
            if line.role in (Role.RETAINAGE, Role.RETAINAGE_RELEASE):
                sums.retainage_held -= line.amount  # withheld lines are negative


def _invoice(row: InvoiceRow, as_of: date) -> InvoiceStatus:
    balance = row.balance
    late = (
        row.state in (schema.PUSHED, schema.PARTIALLY_PAID)
        and balance > 0
        and row.due_date < as_of
        and not row.is_credit_note
    )
    word = (
        "credit_note"
        if row.is_credit_note and row.state in BILLED_STATES
        else STATUS_WORDS.get(row.state, str(row.state))
    )
    return InvoiceStatus(
        number=row.number or row.reference,
        contract=row.contract,
        kind=str(row.kind),
        milestones=row.milestones,
        currency=row.currency,
        total=row.total,
        date=row.invoice_date,
        due_date=row.due_date,
        paid=row.paid,
        balance=balance,
        status=word,
        days_overdue=(as_of - row.due_date).days if late else 0,
        error=row.error,
    )


def _contract(
    cid: str,
    c: Contract | None,
    sums: _Sums | None,
    rows: list[InvoiceRow],
    as_of: date,
) -> ContractStatus:
    sums = sums or _Sums()
    currency = c.currency if c else next(r.currency for r in rows if r.contract == cid)

    def money(value: Decimal) -> Decimal:
        return round_money(value, currency)

    return ContractStatus(
        contract=cid,
        customer=c.customer if c else None,
        currency=currency,
        value=c.value_on(as_of) if c and c.value is not None else None,
        billed=money(sums.billed),
        paid=money(sums.paid),
        # Credit the customer has not used is theirs, not a negative balance they owe.
        outstanding=money(max(sums.outstanding, ZERO)),
        overdue=money(sums.overdue),
        retainage_held=money(sums.retainage_held),
        credit=money(max(-sums.outstanding, ZERO)),
    )


def _milestone_problems(state: State) -> list[str]:
    reasons = {str(x) for x in PROBLEM_REASONS}
    return [
        f"{printable(r['milestone'])}: {r['message']}"
        for r in state.milestone_rows()
        if r["reason"] in reasons
    ]


def _row_problems(rows: Iterable[InvoiceRow]) -> list[str]:
    out = []
    for row in rows:
        if row.state == schema.FAILED:
            out.append(f"{row.number or row.reference} ({row.contract}): push failed: {row.error}")
        elif row.state == schema.PUSHING:
            out.append(
                f"{row.reference} ({row.contract}): not yet confirmed by the "
                "ledger; the next sync checks before sending again"
            )
        elif row.state == schema.VOIDED_IN_LEDGER:
            out.append(
                f"{row.number} ({row.contract}): voided or deleted in the "
                "ledger; its milestone will not be billed again automatically"
            )
    return out


def _last_run(state: State) -> LastRun | None:
    last = state.last_run()
    if last is None:
        return None
    return LastRun(
        last["started_at"],
        last["finished_at"],
        last["outcome"],
        json.loads(last["counts"] or "{}"),
    )


def unbilled_notices(
    contracts: dict[str, Contract], state: State, rows: list[InvoiceRow], as_of: date
) -> list[str]:
    """Contracts whose every milestone is billed while part of their value is on none."""
    billed: set[str] = set()
    for row in rows:
        if row.kind == "milestone" and row.state in schema.ACTIVE_STATES:
            billed.update(row.milestones)
    by_contract: dict[str, list[Milestone]] = {}
    for r in state.milestone_rows():
        if r["valid"]:
            m = milestone_from_json(json.loads(r["record"]))
            by_contract.setdefault(m.contract, []).append(m)
    out = []
    for cid, milestones in sorted(by_contract.items()):
        c = contracts.get(cid)
        live = [m for m in milestones if m.status is not Status.CANCELLED]
        if c is None or not live or any(m.id not in billed for m in live):
            continue
        left = unbilled_remainder(c, live, as_of)
        if left:
            out.append(
                f"contract {cid}: every milestone is billed, but {fmt(left)} {c.currency} of "
                f"its value of {fmt(c.value_on(as_of))} {c.currency} is on no milestone; add a "
                "milestone for it, or a change order if the contract is worth less"
            )
    return out
