"""What a night will do, decided in one place for `connector plan` and `connector sync` alike.

Both hand it the same inputs: the invoice rows as the night finds them once the ledger has been
asked (unconfirmed intents looked up, payments pulled), the intents to send again, and the
milestones. `plan` gets those rows by asking the ledger read-only (`as_tonight_finds`); `sync`
by recording what it asked. Pure but for those read-only ledger calls; it never writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from connector.adapters.base import LedgerAdapter
from connector.config import Config
from connector.errors import RetriableLedgerError, SkippableLedgerError
from connector.models import InvalidMilestone, Milestone
from connector.sync import billing
from connector.sync.actions import Action, Settle
from connector.sync.outbox import (
    Intent,
    Retirements,
    chunks,
    intents,
    left_over,
    pushed_changes,
    sort_retirements,
)
from connector.sync.payments import as_paid, changes_since
from connector.sync.recovery import in_doubt
from connector.sync.rows import InvoiceRow, to_billed


@dataclass(frozen=True)
class Tonight:
    decisions: billing.Decisions
    retirements: Retirements
    # the key of each of billing's documents (all its actions but the `Settle`s), in order:
    # an action's key is a hash of it, and large books have 100,000s
    keys: Sequence[str] = ()

    def actions(self) -> list[Action]:
        """The actions that go to the ledger tonight, in billing's order: a void or credit
        note made unnecessary by an earlier one still in flight is not among them, nor is
        the `Settle` of a credit note that is not."""
        going = {i.key for i in self.retirements.going}
        keys = iter(
            self.keys or [a.key for a in self.decisions.actions if not isinstance(a, Settle)]
        )
        return [
            a
            for a in self.decisions.actions
            if (a.credit if isinstance(a, Settle) else next(keys)) in going
        ]


def decide_tonight(
    config: Config,
    good: Sequence[Milestone],
    bad: Sequence[InvalidMilestone],
    rows: Sequence[InvoiceRow],
    resend: Sequence[Intent],
    as_of: date,
    *,
    stored: bool = True,
) -> Tonight:
    """Billing's decisions over `rows`, and what becomes of the retirements they plan.
    `stored`: False for a plan, whose intents are never recorded (`outbox.intent_row`)."""
    history = [to_billed(r) for r in rows]
    decisions = billing.decide(config.contracts, good, bad, history, config.rules, as_of)
    planned = intents(
        decisions.actions,
        lambda contract: config.books_for(contract).send_on_create,
        decisions.keys,
        stored=stored,
    )
    retirements = sort_retirements(planned, resend, {r.key: r for r in rows})
    return Tonight(decisions, retirements, [i.key for i in planned])


def as_tonight_finds(
    rows: Sequence[InvoiceRow], ledger: LedgerAdapter, payments_cursor: str | None
) -> tuple[list[InvoiceRow], list[Intent]]:
    """The invoice rows as tonight's sync will find them, asking the ledger the same read-only
    questions it asks first: where each unconfirmed intent is, and what was paid since the last
    run. Returns the rows (copies; nothing is written) and the intents it would send again."""
    by_key = {r.key: r for r in rows}
    resend = _looked_up(by_key, ledger)
    changes = changes_since(ledger, payments_cursor, nothing_sent=not rows)
    return as_paid(list(by_key.values()), changes.invoices), resend


def _looked_up(by_key: dict[str, InvoiceRow], ledger: LedgerAdapter) -> list[Intent]:
    """Each unconfirmed intent as the ledger has it (updated in `by_key`), as the sync's
    recovery looks it up; returns those the ledger does not have, and the voids, which the
    sync sends again. When the ledger cannot say how far back it sees, the sync checks
    nothing tonight, and neither does this."""
    try:
        window = getattr(ledger, "lookup_window", None)
    except (RetriableLedgerError, SkippableLedgerError):
        return []
    doubt = in_doubt(list(by_key.values()), window)
    resend: list[Intent] = []
    for chunk in chunks(doubt.creates, ledger.batch_size):
        found = ledger.find_invoices([r.reference for r in chunk])
        for row in chunk:
            remote = found.get(row.reference)
            if remote is None:
                resend.append(left_over(row))
                continue
            for key, values in pushed_changes(row, remote, by_key.get(row.replaces or "")):
                by_key[key] = by_key[key].updated(values)
    return resend + doubt.voids
