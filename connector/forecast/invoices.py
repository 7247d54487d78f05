"""Invoices raised already: each balance left arrives on its due day shifted by the
customer's payment habit, never before the as-of day (what is overdue is expected now) and
never before the invoice's own day.

What is open is what `connector aging` counts (and the invoices the ledger has not confirmed
yet, which the next sync sends): a credit note's credit is set against the invoice it
replaces first, and a document billing is about to void or credit (`retired`) owes only what
is left once that lands. Pure: rows in, `Item`s out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal

from connector.forecast.habits import Learned
from connector.forecast.records import Habit, Item, ItemKind, Scenario
from connector.sync import schema
from connector.sync.rows import InvoiceRow

ZERO = Decimal(0)

# Rows whose balance the ledger holds, as aging counts them, and those on their way to it.
OPEN_STATES = (
    schema.PUSHING,
    schema.PUSHED,
    schema.PARTIALLY_PAID,
    schema.PAID,
    schema.NOT_SENT,
    schema.CREDITED,
)


def balances(rows: Sequence[InvoiceRow], retired: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """What is left to collect on each invoice: its balance, less the credit left on credit
    notes that replace it, less what billing is about to retire of it."""
    created = [r for r in rows if r.action == schema.OutboxAction.CREATE and r.state in OPEN_STATES]
    left = {r.key: r.balance for r in created}
    invoices = {r.key for r in created if not r.is_credit_note}
    for note in created:
        if note.is_credit_note and note.replaces in invoices:
            applied = max(min(left[note.key], left[note.replaces]), ZERO)
            left[note.replaces] -= applied
    for key, amount in retired.items():
        if key in left:
            left[key] -= min(amount, max(left[key], ZERO))
    return {k: v for k, v in left.items() if k in invoices and v > 0}


def habit_words(habit: Habit, scenario: Scenario) -> str:
    """`Acme pays 4 days late (median of 6 payments)`, as the reason for a day."""
    days = habit.days(scenario)
    if habit.observations == 0:
        return "no payment history yet: expected on the due day"
    what = {Scenario.EARLY: "early end", Scenario.EXPECTED: "median", Scenario.LATE: "late end"}
    when = f"{days} days late" if days > 0 else (f"{-days} days early" if days < 0 else "on time")
    return (
        f"{habit.whose} pays {when} ({what[scenario]} of {habit.observations} "
        f"payment{'s' if habit.observations != 1 else ''})"
    )


def arrival(due: date, issued: date, habit: Habit, scenario: Scenario, as_of: date) -> date:
    """The due day shifted by the habit; never before the invoice's day nor the as-of day."""
    return max(due + timedelta(days=habit.days(scenario)), issued, as_of)


def open_invoices(
    rows: Sequence[InvoiceRow],
    pay: Learned,
    scenario: Scenario,
    as_of: date,
    retired: Mapping[str, Decimal],
) -> list[Item]:
    left = balances(rows, retired)
    out = []
    for row in rows:
        amount = left.get(row.key)
        if amount is None or row.action != schema.OutboxAction.CREATE:
            continue
        habit = pay.of(row.customer)
        day = arrival(row.due_date, row.invoice_date, habit, scenario, as_of)
        paid = f", {row.paid} paid already" if row.paid_minor else ""
        why = f"due {row.due_date}{paid}; {habit_words(habit, scenario)}"
        if day == as_of and row.due_date + timedelta(days=habit.days(scenario)) < as_of:
            why += f"; {(as_of - row.due_date).days} days overdue, so expected now"
        if row.state == schema.PUSHING:
            why += "; not yet confirmed by the ledger (the next sync checks)"
        out.append(
            Item(
                ItemKind.INVOICE,
                row.number or row.reference,
                row.contract,
                row.customer,
                row.currency,
                amount,
                day,
                why,
            )
        )
    return out
