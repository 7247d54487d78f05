"""The last step of a push: invoices emailed to the client through the ledger's own send,
exactly once.

Only an invoice whose intent asked for it is sent: `delivery` is `wanted` when billing planned
it under send = "on-create" (`outbox.intent_row`), so documents created before sending was
switched on are never emailed by the connector, nor are credit notes, voids, documents netting
to zero, or an invoice paid, voided or credited before it went. It goes once the ledger has
confirmed it (pushed, with its ledger id), on the night it was created or a later one.

Once, because `sending` is committed before the ledger is asked and `sent` after: a run that
finds `sending` (a crash, a lost answer, an error that may have come after the email) asks the
ledger whether it went (`find_invoices`, `RemoteInvoice.sent`) and sends only if it did not.
A refusal (a customer without an email address) is `refused`, a problem of the run in the
ledger's words, tried again each night until a person fixes the customer. A resend of one
that went is a person's decision, in the ledger.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from connector.adapters.base import LedgerAdapter, RemoteInvoice, SendsInvoices
from connector.errors import RetriableLedgerError, SkippableLedgerError
from connector.sync import schema
from connector.sync.outbox import answer_values, chunks
from connector.sync.report import SyncReport
from connector.sync.rows import Change, InvoiceRow, RowUpdate, label
from connector.sync.schema import Delivery, OutboxAction
from connector.sync.state import State

log = logging.getLogger("connector.sync")

OWED = (Delivery.WANTED, Delivery.SENDING, Delivery.REFUSED)  # not sent, and to be
SENDABLE = (schema.PUSHED, schema.PARTIALLY_PAID)  # confirmed, and still asking to be paid


@runtime_checkable
class LinksInvoices(Protocol):
    """Ledgers whose answers leave the payment link out because it costs a call of its own
    (Xero's online invoice): asked once, for an email found sent by lookup."""

    def payment_link(self, ledger_id: str) -> str | None: ...


class Run(Protocol):
    """What sending needs of the run it is a step of."""

    state: State
    ledger: LedgerAdapter
    report: SyncReport

    def checkpoint(self, name: str) -> None: ...

    def commit(self, changes: list[Change]) -> None: ...


def send_owed(run: Run) -> None:
    """Email every invoice still owed an email, the unconfirmed ones asked about first."""
    owed = [
        r
        for r in run.state.invoice_rows()
        if r.delivery in OWED and r.ledger_id and r.action == OutboxAction.CREATE
    ]
    if not owed:
        return
    ledger = run.ledger
    if not isinstance(ledger, SendsInvoices):
        run.report.failures.append(
            f"{len(owed)} invoice(s) are to be emailed to the client, but the {ledger.name} "
            "ledger cannot send them; send them from the ledger"
        )
        return
    for row in _not_sent(run, owed):
        if row.state in SENDABLE:
            _send(run, ledger, row)


def _not_sent(run: Run, owed: Sequence[InvoiceRow]) -> list[InvoiceRow]:
    """The owed rows to send now. Those left `sending` are asked of the ledger first: one it
    shows as sent is recorded so, one it cannot tell about waits for the next run."""
    ready = [r for r in owed if r.delivery != Delivery.SENDING]
    asking = [r for r in owed if r.delivery == Delivery.SENDING]
    for chunk in chunks(asking, run.ledger.batch_size):
        run.checkpoint("before:find_invoices")
        try:
            found = run.ledger.find_invoices([r.reference for r in chunk])
        except (RetriableLedgerError, SkippableLedgerError) as exc:
            run.report.failures.append(
                f"{len(chunk)} invoice email(s) could not be checked in the ledger ({exc}); "
                "the next run asks again before sending anything"
            )
            continue
        run.checkpoint("after:find_invoices")
        changes: list[Change] = []
        for row in chunk:
            remote = found.get(row.reference)
            if remote is None:
                run.report.failures.append(
                    f"{label(row)} ({row.number}): the ledger no longer shows it, so whether "
                    "it was emailed is unknown; check the ledger"
                )
            elif remote.sent:  # it went, and the run that sent it never said: this one does
                changes.append((row.key, _with_link(run, row, answer_values(row, remote))))
                run.report.sent.append((row, row.number or remote.number))
            else:
                ready.append(row)
        run.commit(changes)
    return sorted(ready, key=lambda r: r.id)


def _with_link(run: Run, row: InvoiceRow, values: RowUpdate) -> RowUpdate:
    """A sent invoice's answer without its payment link, from a ledger that gives it on its
    own: asked once here, as the send itself would have (a failure only leaves it out)."""
    ledger = run.ledger
    if "payment_link" in values or row.payment_link or not isinstance(ledger, LinksInvoices):
        return values
    try:
        link = ledger.payment_link(str(row.ledger_id))
    except (RetriableLedgerError, SkippableLedgerError) as exc:
        log.warning("%s: no payment link this time (%s)", label(row), exc)
        return values
    return {**values, "payment_link": link} if link else values


def _send(run: Run, ledger: SendsInvoices, row: InvoiceRow) -> None:
    assert row.ledger_id is not None
    run.checkpoint("before:commit:sending")
    run.commit([(row.key, {"delivery": Delivery.SENDING})])
    run.checkpoint("before:send_invoice")
    try:
        remote = ledger.send_invoice(row.ledger_id, row.key + ":send")
    except SkippableLedgerError as exc:  # the ledger's reason stays on the row, for status
        run.commit([(row.key, {"delivery": Delivery.REFUSED, "error": str(exc)})])
        run.report.failures.append(f"{label(row)} ({row.number}) was not emailed: {exc}")
        return
    except RetriableLedgerError as exc:  # it may have gone: `sending` has the next run ask
        run.report.failures.append(
            f"{label(row)} ({row.number}): the email is not confirmed ({exc}); the next run "
            "asks the ledger whether it went before sending it"
        )
        return
    run.checkpoint("after:send_invoice")
    run.commit([(row.key, _sent(row, remote))])
    run.report.sent.append((row, row.number or remote.number))
    log.info("invoice %s emailed to the client: %s", row.number, label(row))


def _sent(row: InvoiceRow, remote: RemoteInvoice) -> RowUpdate:
    """The send answered: sent now, with what the ledger says of the invoice."""
    values = answer_values(row, remote)
    values["delivery"] = Delivery.SENT
    values.setdefault("sent_at", schema.now())
    values["error"] = None  # a refusal of an earlier night is over
    return values
