"""Payment pull-back: what the ledger says changed on our invoices, as updates to their rows.

`invoice_updates` is pure; `pull` is the run's step that asks the ledger and records them. An
invoice a person voided or deleted in the ledger is never treated as unbilled; it is kept and
reported instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol

from connector.adapters.base import (
    LedgerAdapter,
    PaymentChanges,
    RemoteInvoice,
    RemoteStatus,
    StartsPaymentsNow,
)
from connector.errors import RetriableLedgerError, SkippableLedgerError
from connector.money import to_minor
from connector.sync import schema
from connector.sync.outbox import answer_values
from connector.sync.report import SyncReport
from connector.sync.rows import Change, InvoiceRow, RowUpdate, label
from connector.sync.schema import OutboxAction
from connector.sync.state import State


class Run(Protocol):
    """What the payment pull needs of the run it is a step of."""

    state: State
    ledger: LedgerAdapter
    report: SyncReport

    def checkpoint(self, name: str) -> None: ...

    def commit(self, changes: list[Change]) -> None: ...


def pull(run: Run) -> str | None:
    """Record what the ledger says changed since the last pull; returns the cursor to store
    once the run succeeds (None when the ledger could not be asked: the next run asks again)."""
    try:
        run.checkpoint("before:payment_changes")
        cursor = run.state.cursor("payments")
        nothing_sent = cursor is None and not run.state.invoice_mark()[0]
        changes = changes_since(run.ledger, cursor, nothing_sent)
        run.checkpoint("after:payment_changes")
    except (RetriableLedgerError, SkippableLedgerError) as exc:
        run.report.failures.append(f"payment status not pulled: {exc}")
        return None
    # documents the ledger answered with but that could not be read (the adapter logged them)
    run.report.failures += changes.problems
    if not changes.invoices:  # a quiet night: the rows are not read for nothing
        return changes.cursor
    updates = invoice_updates(run.state.invoice_rows(), changes.invoices)
    for update in updates:
        if update.notice:
            run.report.failures.append(update.notice)
        if update.payments is not None:
            received, withdrawn = run.state.record_payments(
                update.key, update.currency, update.payments
            )
            run.report.payments_pulled += received
            run.report.payments_withdrawn += withdrawn
    run.commit([(u.key, u.values) for u in updates if u.changes_row])
    return changes.cursor


def changes_since(ledger: LedgerAdapter, cursor: str | None, nothing_sent: bool) -> PaymentChanges:
    """What the ledger says changed since `cursor`. A business that has sent the ledger nothing
    yet (`nothing_sent`: no invoice row at all) has nothing to pull, so a ledger whose first pull
    is a read of its own (`StartsPaymentsNow`) is only asked for a cursor from now on."""
    if cursor is None and nothing_sent and isinstance(ledger, StartsPaymentsNow):
        return PaymentChanges([], ledger.payments_from_now())
    return ledger.payment_changes(cursor)


def as_paid(rows: list[InvoiceRow], remote: Iterable[RemoteInvoice]) -> list[InvoiceRow]:
    """`rows` as the ledger's answers leave them (copies, in their order; nothing is written):
    what a plan sees of tonight's pull, before the sync records it."""
    by_key = {r.key: r for r in rows}
    for update in invoice_updates(rows, remote):
        by_key[update.key] = by_key[update.key].updated(update.values)
    return list(by_key.values())


@dataclass(frozen=True)
class InvoiceUpdate:
    """One of our invoices as the ledger now has it. `payments` is None for a credit note:
    only its remaining credit changes, and nothing is recorded as paid."""

    key: str
    currency: str
    values: RowUpdate
    payments: list[tuple[str, Decimal, date, bool]] | None = None
    notice: str | None = None  # for the report: a person voided it in the ledger
    changes_row: bool = True  # False: the row already says all of this (read again)


def invoice_updates(
    rows: Iterable[InvoiceRow], remote_invoices: Iterable[RemoteInvoice]
) -> list[InvoiceUpdate]:
    """Changes on invoices this connector created; anything else in the ledger is ignored.
    An invoice that a void of ours, not yet confirmed, retires is left as it is: the ledger
    showing it voided is that void landing, not a person's doing."""
    rows = list(rows)
    voiding = {
        r.replaces
        for r in rows
        if r.replaces and r.action == OutboxAction.VOID and r.state == schema.PUSHING
    }
    by_ledger_id = {r.ledger_id: r for r in rows if r.ledger_id}
    updates = []
    for remote in remote_invoices:
        row = by_ledger_id.get(remote.ledger_id)
        if row is None or row.action != OutboxAction.CREATE:
            continue
        currency = row.currency
        if remote.is_credit:  # only what is left of the credit changes on a credit note
            values: RowUpdate = {
                "balance_minor": to_minor(remote.balance, currency),
                **answer_values(row, remote),
            }
            updates.append(
                InvoiceUpdate(row.key, currency, values, changes_row=row.updated(values) != row)
            )
            continue
        voided = remote.status in (RemoteStatus.VOIDED, RemoteStatus.DELETED)
        paid = Decimal(0) if voided else remote.total - remote.balance - remote.credited
        new_state = state_for(row.state, remote, ours=row.key in voiding)
        notice = None
        if new_state == schema.VOIDED_IN_LEDGER and row.state != schema.VOIDED_IN_LEDGER:
            notice = (
                f"{label(row)} ({remote.number}) was voided or deleted in the ledger; its "
                "milestone is not billed again until a person decides"
            )
        values = {
            "state": new_state,
            "paid_minor": to_minor(paid, currency),
            "balance_minor": to_minor(remote.balance, currency),
            **answer_values(row, remote),
        }
        updates.append(
            InvoiceUpdate(
                row.key,
                currency,
                values,
                payments=[(p.id, p.amount, p.date, p.deleted) for p in remote.payments],
                notice=notice,
                changes_row=row.updated(values) != row,
            )
        )
    return updates


def state_for(
    current: schema.OutboxState, remote: RemoteInvoice, ours: bool = False
) -> schema.OutboxState:
    """The outbox state a row moves to; one we retired ourselves stays retired, and one we are
    voiding (`ours`) stays as it is until that void is confirmed."""
    if current in (schema.CREDITED, schema.VOIDED):
        return current  # we retired it ourselves
    if remote.status in (RemoteStatus.VOIDED, RemoteStatus.DELETED):
        return current if ours else schema.VOIDED_IN_LEDGER
    return {
        RemoteStatus.PAID: schema.PAID,
        RemoteStatus.PARTIALLY_PAID: schema.PARTIALLY_PAID,
    }.get(remote.status, schema.PUSHED)
