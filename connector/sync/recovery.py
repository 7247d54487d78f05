"""Step 1 of a run: the intents an earlier run left in `pushing`, asked of the ledger before
anything is sent again, and what becomes of them once tonight's decision is known.

A document the ledger has is recorded as pushed (and a credit note found so is set against the
invoice it replaces, where the ledger allocates credits); one it does not have is sent again
with the same key and content; one older than the ledger's lookups can see is left for a
person. It never sends anything new itself.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from connector.adapters.base import LedgerAdapter, RemoteInvoice, SettlesCredits
from connector.errors import RetriableLedgerError, SkippableLedgerError
from connector.sync import schema
from connector.sync.outbox import (
    Creation,
    Intent,
    Retirements,
    Voiding,
    chunks,
    left_over,
    pushed_changes,
)
from connector.sync.report import SyncReport
from connector.sync.rows import Change, InvoiceRow, label
from connector.sync.state import State

log = logging.getLogger("connector.sync")


class Run(Protocol):
    """What recovery needs of the run it is the first step of."""

    state: State
    ledger: LedgerAdapter
    report: SyncReport
    resend: list[Intent]  # filled here: intents the ledger never received, and the voids

    def checkpoint(self, name: str) -> None: ...

    def commit(self, changes: list[Change]) -> None: ...


def resolve_in_doubt(run: Run) -> None:
    """Rows left in `pushing`: ask the ledger before anything is sent again."""
    rows = run.state.invoice_rows([schema.PUSHING])
    if not rows:
        return
    run.report.in_doubt_found = len(rows)
    try:  # an adapter may have to ask the ledger how far back its lookups see
        window = getattr(run.ledger, "lookup_window", None)
    except (RetriableLedgerError, SkippableLedgerError) as exc:
        run.report.in_doubt += len(rows)
        run.report.failures.append(
            f"{len(rows)} earlier push(es) could not be checked in the ledger ({exc}); "
            "they are checked again next run before anything is sent"
        )
        run.resend = []
        return
    doubt = in_doubt(rows, window)
    for row in doubt.too_old:
        run.report.failures.append(
            f"{label(row)} ({row.reference}) has waited since {row.created_at} "
            "for confirmation, longer than the ledger can be searched; check the ledger "
            "by hand before anything is sent again"
        )
    creates = doubt.creates
    known = {r.key: r for r in run.state.invoice_rows()} if any(r.replaces for r in creates) else {}
    for chunk in chunks(creates, run.ledger.batch_size):
        run.checkpoint("before:find_invoices")
        try:
            found = run.ledger.find_invoices([r.reference for r in chunk])
        except (RetriableLedgerError, SkippableLedgerError) as exc:
            run.report.in_doubt += len(chunk)
            run.report.failures.append(
                f"{len(chunk)} earlier push(es) could not be checked in the ledger ({exc}); "
                "they are checked again next run before anything is sent"
            )
            continue
        run.checkpoint("after:find_invoices")
        changes = []
        for row in chunk:
            remote = found.get(row.reference)
            if remote is None:
                run.resend.append(left_over(row))  # the ledger never got it: send it as it is
            else:
                old = known.get(row.replaces) if row.replaces else None
                if old is not None and remote.is_credit:
                    remote = _settle(run, row, remote, old)
                changes += pushed_changes(row, remote, old)
                run.report.resolved += 1
        run.commit(changes)
    run.resend += doubt.voids  # voiding is idempotent: voiding a voided invoice is a no-op


def beyond_lookup(rows: Sequence[InvoiceRow], window: timedelta | None) -> list[InvoiceRow]:
    """Intents older than the ledger's lookups can see: a lookup would miss them, so a re-send
    could double them; a person checks instead. No window means lookups see everything."""
    if window is None:
        return []
    limit = (datetime.now(UTC) - window).isoformat()
    return [r for r in rows if r.created_at < limit]


@dataclass(frozen=True)
class InDoubt:
    """The intents left in `pushing`, sorted for the lookups that come before anything is
    sent: the creations to look up by reference, the voids to send again (voiding twice is a
    no-op), and those older than the ledger's lookups can see, for a person to check."""

    creates: list[InvoiceRow]
    voids: list[Voiding]
    too_old: list[InvoiceRow]


def in_doubt(rows: Sequence[InvoiceRow], window: timedelta | None) -> InDoubt:
    """Sort `pushing` rows by what the lookups do with them; `window` as `beyond_lookup`."""
    pushing = [r for r in rows if r.state == schema.PUSHING]
    too_old = beyond_lookup(pushing, window)
    old = {r.key for r in too_old}
    seen = [left_over(r) for r in pushing if r.key not in old]
    return InDoubt(
        creates=[i.row for i in seen if isinstance(i, Creation)],
        voids=[i for i in seen if isinstance(i, Voiding)],
        too_old=too_old,
    )


def _settle(run: Run, row: InvoiceRow, remote: RemoteInvoice, old: InvoiceRow) -> RemoteInvoice:
    """A credit note found by lookup may have been created by a run that stopped before
    setting it against the invoice it replaces; ledgers that allocate credits explicitly
    (Xero) do it now, and do nothing when it is done already."""
    if not isinstance(run.ledger, SettlesCredits) or not old.ledger_id:
        return remote
    settle = run.ledger.settle_credit
    run.checkpoint("before:settle_credit")
    try:
        settled = settle(remote.ledger_id, old.ledger_id, row.invoice_date)
    except (RetriableLedgerError, SkippableLedgerError) as exc:
        run.report.failures.append(
            f"{label(row)}: credit note {remote.number} was not set against invoice "
            f"{old.number} ({exc}); allocate it in the ledger"
        )
        return remote
    run.checkpoint("after:settle_credit")
    return settled


def settle_left_overs(run: Run, plan: Retirements) -> None:
    """Carry out what tonight's decision says of the left-overs (`outbox.sort_retirements`):
    an invoice that never reached the ledger is retired without a ledger call, one that an
    earlier run's void or credit note retires gets no second one, and those whose invoice is
    in doubt wait. `run.resend` becomes the left-overs still to send."""
    rows = {r.key: r for r in run.state.invoice_rows()}
    if plan.forget:
        run.state.forget_intents(plan.forget)
    for key, values in plan.settled:
        log.info("%s (%s): %s", label(rows[key]), rows[key].reference, values.get("error"))
    run.commit(plan.settled)
    run.resend = plan.resend
    for intent in plan.waiting:
        old = rows[intent.row.replaces or ""]
        run.report.failures.append(
            f"{label(intent.row)}: invoice {old.number or old.reference} is retired, and the "
            "milestone billed again, once the ledger has confirmed what was sent before"
        )
