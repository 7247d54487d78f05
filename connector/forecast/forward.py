"""Billing run forward: the documents a future sync will raise for milestones not billed yet,
decided by the billing engine itself (`connector.sync.billing.decide`), night after night.

Each contract's milestones are projected (`project`) and billing is asked on the as-of night
and on every later night something can change (a projected completion or acceptance, a change
order's approval, the contract's start) up to the horizon, each night's documents added to the
history the next night bills from, as the state would record them. So the deposit, its
application, retainage withheld, the change-order true-up, caps and the retainage release
come out exactly as those syncs would bill them. Read-only use of billing: nothing here
changes how it decides.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal

from connector.forecast.habits import Habits
from connector.forecast.invoices import arrival, habit_words
from connector.forecast.project import project
from connector.forecast.records import Item, ItemKind, Scenario
from connector.models import (
    PROBLEM_REASONS,
    BilledInvoice,
    BillingRules,
    Contract,
    InvalidMilestone,
    Kind,
    Milestone,
    PlannedInvoice,
    Reason,
    Role,
)
from connector.money import fmt
from connector.sync import billing
from connector.sync.actions import Action, CreateInvoice, Settle, Void

ZERO = Decimal(0)

LABELS = {
    Kind.DEPOSIT: "deposit",
    Kind.RETAINAGE: "retainage release",
    Kind.ADJUSTMENT: "change-order adjustment",
    Kind.CLOSEOUT: "deposit remainder",
    Kind.CREDIT: "credit reversal",
}
# Lines beside the work, named in an item's reason.
_BESIDE = {
    Role.DEPOSIT_APPLIED: "deposit applied",
    Role.RETAINAGE: "retainage withheld",
    Role.CO_ADJUSTMENT: "change-order true-up",
    Role.RETAINAGE_RELEASE: "retainage released",
}


@dataclass(slots=True)
class Outcome:
    """What billing run forward raised and left, for one scenario."""

    documents: list[tuple[PlannedInvoice, str]] = field(default_factory=list)  # with the why
    retired: dict[str, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))
    not_forecast: list[str] = field(default_factory=list)


def _billed(history: Sequence[BilledInvoice]) -> set[str]:
    return {mid for h in history if h.active and h.kind is Kind.MILESTONE for mid in h.milestones}


def _nights(
    contract: Contract, projected: Sequence[Milestone], as_of: date, end: date
) -> list[date]:
    days = {as_of}
    for m in projected:
        days.update(d for d in (m.completed, m.accepted) if d is not None)
    days.update(co.approved for co in contract.change_orders)
    if contract.start is not None:
        days.add(contract.start)
    return sorted(d for d in days if as_of <= d <= end)


def _recorded(doc: PlannedInvoice, active: bool) -> BilledInvoice:
    """The document as the state would hand it to billing the next night."""
    return BilledInvoice(
        doc.key,
        doc.contract,
        doc.kind,
        doc.milestones,
        doc.lines,
        active,
        doc.revision,
        doc.milestone_hashes,
        ZERO,
        None,
        doc.total,
        doc.date,
        True,
    )


def run_contract(
    contract: Contract,
    milestones: Sequence[Milestone],
    invalid: Sequence[InvalidMilestone],
    history: Sequence[BilledInvoice],
    rules: BillingRules,
    habits: Habits,
    scenario: Scenario,
    as_of: date,
    end: date,
    out: Outcome,
) -> None:
    """One contract's documents from `as_of` to `end`, appended to `out`."""
    billed = _billed(history)
    projections = [project(m, contract, habits, rules, scenario, as_of, billed) for m in milestones]
    why = {p.milestone.id: p.why for p in projections}
    projected = [p.milestone for p in projections]
    history = list(history)
    skipped: dict[str, tuple[Reason, str]] = {}
    for n, night in enumerate(_nights(contract, projected, as_of, end)):
        decisions = billing.decide(
            {contract.id: contract}, projected, invalid, history, rules, night
        )
        _fold(decisions.actions, history, why, out)
        if n == 0:
            out.not_forecast += [
                f"{s.message} (not in the forecast)"
                for s in decisions.skipped
                if s.reason in PROBLEM_REASONS and s.reason is not Reason.EXCEEDS_CAP
            ]
        skipped = {s.milestone: (s.reason, s.message) for s in decisions.skipped}
    for p in projections:
        if not p.placed:
            out.not_forecast.append(
                f"milestone {p.milestone.id} (contract {contract.id}) has no planned date, so "
                "it is not in the forecast; give it one in the tracker (planned, or the due date)"
            )
    for _mid, (reason, message) in sorted(skipped.items()):
        if reason is Reason.EXCEEDS_CAP:
            out.not_forecast.append(
                f"{message}; by {end} there is no room for it (not in the forecast)"
            )


def _fold(
    actions: Sequence[Action], history: list[BilledInvoice], why: dict[str, str], out: Outcome
) -> None:
    """A night's actions into the history (as the state records them) and the outcome."""
    for action in actions:
        if isinstance(action, Settle):
            continue
        if action.replaces is not None:
            history[:] = [
                replace(h, active=False) if h.key == action.replaces else h for h in history
            ]
            if action.total < 0:  # a void or credit note: that much will not be collected
                out.retired[action.replaces] += -action.total
        history.append(_recorded(action, active=not isinstance(action, Void)))
        if isinstance(action, CreateInvoice) and action.total > 0:
            reason = "; ".join(why[m] for m in action.milestones if why.get(m))
            out.documents.append((action, reason))


def label(doc: PlannedInvoice) -> str:
    if doc.kind is Kind.MILESTONE:
        return ", ".join(doc.milestones)
    return LABELS.get(doc.kind, str(doc.kind))


def items(outcome: Outcome, habits: Habits, scenario: Scenario, as_of: date) -> list[Item]:
    """Each document raised, arriving on its due day shifted by the customer's habit."""
    out = []
    for doc, done in outcome.documents:
        habit = habits.pay.of(doc.customer)
        day = arrival(doc.due_date, doc.date, habit, scenario, as_of)
        beside = [f"{_BESIDE[ln.role]} {fmt(ln.amount)}" for ln in doc.lines if ln.role in _BESIDE]
        terms = (doc.due_date - doc.date).days
        parts = [done] if done else []
        if doc.kind is Kind.DEPOSIT:
            parts.append("the contract's deposit")
        elif doc.kind in (Kind.RETAINAGE, Kind.CLOSEOUT):
            parts.append("billed once the contract's last milestone is")
        parts.append(f"invoiced {doc.date}, due {doc.due_date} ({terms} days)")
        if beside:
            parts.append(", ".join(beside))
        parts.append(habit_words(habit, scenario))
        out.append(
            Item(
                ItemKind.MILESTONE,
                label(doc),
                doc.contract,
                doc.customer,
                doc.currency,
                doc.total,
                day,
                "; ".join(parts),
            )
        )
    return out


def run_forward(
    contracts: dict[str, Contract],
    milestones: Sequence[Milestone],
    invalid: Sequence[InvalidMilestone],
    history: Sequence[BilledInvoice],
    rules: BillingRules,
    habits: Habits,
    scenario: Scenario,
    as_of: date,
    weeks: int,
) -> Outcome:
    """Every contract's documents over `weeks` weeks from `as_of`. A milestone naming no known
    contract is never billed, so it is not forecast either (the plan and status say so)."""
    end = as_of + timedelta(days=7 * weeks - 1)
    by_contract: dict[str, list[Milestone]] = defaultdict(list)
    for m in milestones:
        by_contract[m.contract].append(m)
    bad: dict[str, list[InvalidMilestone]] = defaultdict(list)
    for b in invalid:
        if b.contract:
            bad[b.contract].append(b)
    past: dict[str, list[BilledInvoice]] = defaultdict(list)
    for h in history:
        past[h.contract].append(h)
    out = Outcome()
    for cid in sorted(contracts):
        run_contract(
            contracts[cid], by_contract.get(cid, []), bad.get(cid, []), past.get(cid, []),
            rules, habits, scenario, as_of, end, out,
        )  # fmt: skip
    return out
