"""Which open invoice a credit note is set against when the ledger allocates credits itself
(Xero): the one its `Settle` names, or the contract's oldest invoice still owing enough.

Pure: the engine hands it the rows of the chunk's contracts (`State.invoice_rows_of`).
"""

from __future__ import annotations

from collections.abc import Sequence

from connector.sync import schema
from connector.sync.outbox import Creation
from connector.sync.rows import InvoiceRow
from connector.sync.schema import OutboxAction


def settle_targets(chunk: Sequence[Creation], known: Sequence[InvoiceRow]) -> dict[str, InvoiceRow]:
    """The invoice each credit note in `chunk` is set against, by the credit note's key: the
    one its `Settle` names, or with none named the contract's oldest invoice still owing at
    least as much. A ledger that allocates credits explicitly (Xero) does so; with no invoice,
    the credit stays with the customer, and status shows it as a credit."""
    by_key = {r.key: r for r in known}
    owing = sorted(
        (
            r
            for r in known
            if r.action == OutboxAction.CREATE
            and r.state in (schema.PUSHED, schema.PARTIALLY_PAID)
            and r.ledger_id
            and r.total_minor > 0
        ),
        key=lambda r: (r.invoice_date, r.id),
    )
    targets = {}
    for creation in chunk:
        settle = creation.settle
        if settle is None:
            continue
        if settle.against:
            target = by_key.get(settle.against)
        else:
            target = _oldest_owing(creation.row, owing)
        if target is not None:
            targets[creation.key] = target
    return targets


def _oldest_owing(credit: InvoiceRow, owing: Sequence[InvoiceRow]) -> InvoiceRow | None:
    """The first of `owing` (oldest first) of the credit note's contract and currency whose
    balance takes the whole credit."""
    for candidate in owing:
        balance = candidate.balance_minor
        if (
            candidate.contract == credit.contract
            and candidate.currency == credit.currency
            and (balance if balance is not None else candidate.total_minor) >= -credit.total_minor
        ):
            return candidate
    return None
