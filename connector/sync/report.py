"""What a run did and where the books stand, as data: the CLI renders it, tests assert on it.

JSON forms carry amounts as strings and dates as ISO text, never floats.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from connector.models import (
    PROBLEM_REASONS,
    Contract,
    Milestone,
    Notice,
    PlannedInvoice,
    Role,
    Skip,
    Status,
)
from connector.money import fmt, from_minor, round_money
from connector.sync import schema
from connector.sync.closeout import unbilled_remainder
from connector.sync.rows import InvoiceRow, milestone_from_json
from connector.sync.state import State
from connector.validation import printable


@dataclass
class SyncReport:
    business: str
    as_of: date
    run_id: int = 0
    planned: list[PlannedInvoice] = field(default_factory=list)
    created: list[tuple[InvoiceRow, str]] = field(default_factory=list)
    voided: list[tuple[InvoiceRow, str]] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    in_doubt: int = 0
    in_doubt_found: int = 0
    resolved: int = 0
    payments_pulled: int = 0
    fatal: str | None = None
    stopped: bool = False  # the daemon was asked to stop; the next run goes on

    def problems(self) -> list[str]:
        out = [s.message for s in self.skipped if s.reason in PROBLEM_REASONS]
        out += [n.message for n in self.notices]
        out += self.failures
        if self.fatal:
            out.append(self.fatal)
        return out

    @property
    def outcome(self) -> str:
        if self.fatal:
            return "failed"
        if self.stopped:
            return "stopped"
        return "problems" if self.problems() else "ok"

    @property
    def exit_code(self) -> int:
        return {"ok": 0, "problems": 1, "failed": 2, "stopped": 2}[self.outcome]

    def counts(self) -> dict[str, int]:
        return {
            "invoices_created": len(self.created),
            "invoices_voided": len(self.voided),
            "in_doubt_resolved": self.resolved,
            "in_doubt_left": self.in_doubt,
            "payments_pulled": self.payments_pulled,
            "skipped": len(self.skipped),
            "problems": len(self.problems()),
        }


def invoice_json(p: PlannedInvoice) -> dict[str, Any]:
    return {
        "contract": p.contract,
        "customer": p.customer,
        "currency": p.currency,
        "kind": str(p.kind),
        "milestones": list(p.milestones),
        "date": p.date.isoformat(),
        "due_date": p.due_date.isoformat(),
        "lines": [{"description": ln.description, "amount": fmt(ln.amount)} for ln in p.lines],
        "total": fmt(p.total),
        "document": "credit_note" if p.is_credit_note else ("invoice" if p.total else "none"),
    }


def skip_json(s: Skip) -> dict[str, Any]:
    return {
        "milestone": s.milestone,
        "contract": s.contract,
        "reason": str(s.reason),
        "message": s.message,
    }


def plan_json(
    business: str, as_of: date, invoices: list[PlannedInvoice], skipped: list[Skip]
) -> dict[str, Any]:
    return {
        "business": business,
        "as_of": as_of.isoformat(),
        "invoices": [invoice_json(p) for p in invoices],
        "skipped": [skip_json(s) for s in skipped],
    }


# -- status: where the books stand --------------------------------------------------------------

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


def status_data(
    business: str, contracts: dict[str, Contract], state: State, as_of: date
) -> dict[str, Any]:
    rows = [r for r in state.invoice_rows() if r.action == "create"]
    per_contract: dict[str, dict[str, Decimal]] = {}
    invoices_out = []
    for row in rows:
        currency = row.currency
        total = from_minor(row.total_minor, currency)
        paid = from_minor(row.paid_minor or 0, currency)
        balance = (
            from_minor(row.balance_minor, currency) if row.balance_minor is not None else total
        )
        due = row.due_date
        sums = per_contract.setdefault(
            row.contract,
            {
                "billed": Decimal(0),
                "paid": Decimal(0),
                "outstanding": Decimal(0),
                "retainage_held": Decimal(0),
                "overdue": Decimal(0),
            },
        )
        credit_note = total < 0  # lines that net below zero went as a credit note
        if row.state in BILLED_STATES or row.state == schema.CREDITED:
            # A credited invoice and its credit note both count: together they bill nothing,
            # and what is still due on the one less the credit left on the other is owed.
            sums["billed"] += total
            if credit_note:
                sums["outstanding"] -= balance  # credit the customer has not used yet
            else:
                sums["paid"] += paid
                sums["outstanding"] += balance
        if row.state in BILLED_STATES and not credit_note and balance > 0 and due < as_of:
            sums["overdue"] += balance
        if row.state in BILLED_STATES:
            for line in row.lines:
                if line.role in (Role.RETAINAGE, Role.RETAINAGE_RELEASE):
                    sums["retainage_held"] -= line.amount  # withheld lines are negative
        late = row.state in (schema.PUSHED, schema.PARTIALLY_PAID) and balance > 0 and due < as_of
        overdue_days = (as_of - due).days if late and not credit_note else 0
        invoices_out.append(
            {
                "number": row.number or row.reference,
                "contract": row.contract,
                "kind": str(row.kind),
                "milestones": list(row.milestones),
                "currency": currency,
                "total": fmt(total),
                "date": row.invoice_date.isoformat(),
                "due_date": row.due_date.isoformat(),
                "paid": fmt(paid),
                "balance": fmt(balance),
                "status": "credit_note"
                if credit_note and row.state in BILLED_STATES
                else STATUS_WORDS.get(row.state, str(row.state)),
                "days_overdue": overdue_days,
                "error": row.error,
            }
        )
    contracts_out = []
    attention = [
        f"{printable(r['milestone'])}: {r['message']}"
        for r in state.milestone_rows()
        if r["reason"] in {str(x) for x in PROBLEM_REASONS}
    ]
    for cid in sorted(set(contracts) | set(per_contract)):
        c = contracts.get(cid)
        sums = per_contract.get(cid, {})
        currency = c.currency if c else next(r.currency for r in rows if r.contract == cid)
        shown = {
            k: round_money(sums.get(k, Decimal(0)), currency)
            for k in ("billed", "paid", "outstanding", "overdue", "retainage_held")
        }
        # Credit the customer has not used is theirs, not a negative balance they owe.
        credit = round_money(max(-shown["outstanding"], Decimal(0)), currency)
        shown["outstanding"] = round_money(max(shown["outstanding"], Decimal(0)), currency)
        contracts_out.append(
            {
                "contract": cid,
                "customer": c.customer if c else None,
                "currency": currency,
                "value": fmt(c.value_on(as_of)) if c and c.value is not None else None,
                **{k: fmt(v) for k, v in shown.items()},
                "credit": fmt(credit),
            }
        )
        if credit and c is not None:
            attention.append(
                f"contract {cid}: {c.customer} holds a credit of {fmt(credit)} {currency}; "
                "refund it or set it against their next invoice in the ledger"
            )
    attention += unbilled_notices(contracts, state, rows, as_of)
    for row in rows:
        if row.state == schema.FAILED:
            attention.append(
                f"{row.number or row.reference} ({row.contract}): push failed: {row.error}"
            )
        elif row.state == schema.PUSHING:
            attention.append(
                f"{row.reference} ({row.contract}): not yet confirmed by the "
                "ledger; the next sync checks before sending again"
            )
        elif row.state == schema.VOIDED_IN_LEDGER:
            attention.append(
                f"{row.number} ({row.contract}): voided or deleted in the "
                "ledger; its milestone will not be billed again automatically"
            )
    last = state.last_run()
    return {
        "business": business,
        "as_of": as_of.isoformat(),
        "last_run": None
        if last is None
        else {
            "started_at": last["started_at"],
            "finished_at": last["finished_at"],
            "outcome": last["outcome"],
            "counts": json.loads(last["counts"] or "{}"),
        },
        "contracts": contracts_out,
        "invoices": invoices_out,
        "attention": attention,
    }


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
