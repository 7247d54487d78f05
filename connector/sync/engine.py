"""One sync of one business: read, decide, push exactly once, pull payments, record.

The order is what makes it safe. Every ledger write is preceded by a committed intent (state
`pushing`) carrying a deterministic idempotency key; a run that finds an intent left over asks the
ledger (lookup by reference) before it sends anything, and re-sends only with the same key. An
invoice is retired (voided or credited) once: never beside an earlier void or credit note of it
that is still unconfirmed, and never at all when the ledger was found not to have it (then the
milestone's current revision is billed). A failure on one item is recorded on that item and the
run goes on; only a fatal ledger error (credentials, configuration) stops the business's run.

This module keeps that order and every checkpoint; building rows and requests (`outbox`) and
reading payment changes (`payments`) are plain functions it calls.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import date, datetime

from connector.adapters.base import CustomerRef, LedgerAdapter
from connector.config import Config
from connector.errors import (
    FatalLedgerError,
    RetriableLedgerError,
    SkippableLedgerError,
)
from connector.logs import run_context
from connector.models import PlannedInvoice
from connector.sources.base import CachesResponses, Source
from connector.sync import recovery, schema
from connector.sync.lock import business_lock
from connector.sync.outbox import (
    Retirements,
    chunks,
    credit_targets,
    failed_change,
    invoice_request,
    not_sent_changes,
    pushed_changes,
    reissuable,
    voided_changes,
)
from connector.sync.payments import invoice_updates
from connector.sync.report import SyncReport
from connector.sync.rows import Change, InvoiceRow, label
from connector.sync.snapshot import merge_snapshot
from connector.sync.state import State
from connector.sync.tonight import decide_tonight

log = logging.getLogger("connector.sync")

# Where a run asked to stop (SIGTERM) may stop: before a ledger call or before intents are
# recorded, never between a ledger call and the commit of its result.
STOP_POINTS = frozenset(
    {
        "before:find_invoices",
        "before:payment_changes",
        "before:commit:intents",
        "before:find_or_create_customer",
        "before:create_invoices",
        "before:void_invoice",
        "before:settle_credit",
    }
)


class StopRequested(Exception):
    """The daemon is shutting down; the run records what it did and ends here."""


Checkpoint = Callable[[str], None]


def _no_checkpoint(name: str) -> None:
    """Tests pass a checkpoint that raises, to crash the run between any two effects."""


def run_once(
    config: Config,
    *,
    as_of: date | None = None,
    ledger: LedgerAdapter | None = None,
    source: Source | None = None,
    checkpoint: Checkpoint = _no_checkpoint,
    progress: Callable[[str, int, int], None] | None = None,
    stop: threading.Event | None = None,
) -> SyncReport:
    """Run one sync of the business in `config` and return what it did. When `stop` is set
    the run ends at the next point between ledger calls, with everything so far recorded."""
    as_of = as_of or datetime.now(config.zone).date()
    with business_lock(config):
        state = State.open(config.state_url, config.business.name, path=config.state_path)
        run = _Run(
            config,
            state,
            ledger or config.ledger(),
            source or config.source(),
            as_of,
            checkpoint,
            progress,
            stop,
        )
        return run.execute()


class _Run:
    def __init__(
        self,
        config: Config,
        state: State,
        ledger: LedgerAdapter,
        source: Source,
        as_of: date,
        checkpoint: Checkpoint,
        progress: Callable[[str, int, int], None] | None,
        stop: threading.Event | None = None,
    ):
        self.config = config
        self.state = state
        self.ledger = ledger
        self.source = source
        self.as_of = as_of
        self._test_checkpoint = checkpoint
        self.stop = stop
        self.progress = progress or (lambda step, done, total: None)
        self.report = SyncReport(business=config.business.name, as_of=as_of)
        self.customers: dict[tuple[str, str], CustomerRef] = {}
        self.resend: list[InvoiceRow] = []  # intents the ledger never received
        self._pushed = self._to_push = 0  # progress
        self.confirmed: set[str] = set()  # keys the ledger confirmed in this run
        self.recorded: set[str] = set()  # intents committed by this run
        self.sent: set[str] = set()  # keys handed to a ledger write in this run

    def checkpoint(self, name: str) -> None:
        if self.stop is not None and self.stop.is_set() and name in STOP_POINTS:
            raise StopRequested(name)
        self._test_checkpoint(name)

    def execute(self) -> SyncReport:
        self.report.run_id = self.state.start_run()
        with run_context(self.config.business.name, self.report.run_id):
            log.info("sync started (as of %s)", self.as_of.isoformat())
            self._execute()
            for problem in self.report.problems():
                log.warning("needs attention: %s", problem)
            log.info(
                "sync finished: %s; %s",
                self.report.outcome,
                ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in self.report.counts().items()),
            )
            return self.report

    def _execute(self) -> None:
        try:
            self.resolve_in_doubt()
            # Payments first: whether a changed milestone's invoice is voided or credited
            # depends on what has been paid on it today, not last night.
            payment_cursor = self.pull_payments()
            if isinstance(self.source, CachesResponses):
                self.source.use_cache(self.state.http_cache)
            batch = self.source.read(self.state.cursor("source"))
            good, bad = merge_snapshot(
                batch.complete, batch.milestones, batch.invalid, self.state.snapshot()
            )
            # The same decision `connector plan` shows, over the rows as this run found them.
            tonight = decide_tonight(
                self.config, good, bad, self.state.invoice_rows(), self.resend, self.as_of
            )
            decisions = tonight.decisions
            self.report.skipped = decisions.skipped
            self.report.notices = decisions.notices
            self.push(decisions.invoices, tonight.retirements)
            reasons = {s.milestone: (str(s.reason), s.message) for s in decisions.skipped}
            self.checkpoint("before:commit:snapshot")
            self.state.save_snapshot(good, bad, reasons)
            if not self.report.fatal:
                self.state.set_cursors({"source": batch.cursor, "payments": payment_cursor})
            self.checkpoint("after:commit:snapshot")
        except FatalLedgerError as exc:
            self.report.fatal = f"{self.ledger.name}: {exc}"
            log.error("stopped for this business: %s", self.report.fatal)
            self._forget_unsent()
        except (StopRequested, KeyboardInterrupt) as exc:
            self.report.stopped = True
            log.warning("stopping as asked, between ledger calls; the next run goes on from here")
            self._forget_unsent()
            if isinstance(exc, KeyboardInterrupt):  # Ctrl-C on `connector sync`: record, then go
                self.state.finish_run(
                    self.report.run_id, "stopped", self.report.counts(), self.report.problems()
                )
                raise
        except Exception as exc:
            self.state.finish_run(
                self.report.run_id,
                "failed",
                self.report.counts(),
                [*self.report.problems(), f"{type(exc).__name__}: {exc}"],
            )
            raise
        self.state.finish_run(
            self.report.run_id, self.report.outcome, self.report.counts(), self.report.problems()
        )

    def _forget_unsent(self) -> None:
        """A run that ends early drops the intents it never handed to the ledger: they were not
        sent, so nothing needs looking up; the next run plans them afresh."""
        unsent = self.recorded - self.sent
        if unsent:
            self.state.forget_intents(unsent)

    # -- step 1: intents left by an earlier run ---------------------------------------------

    def resolve_in_doubt(self) -> None:
        recovery.resolve_in_doubt(self)

    # -- step 2: push what billing decided ----------------------------------------------------

    def push(self, planned: Sequence[PlannedInvoice], retirements: Retirements) -> None:
        """Retire old invoices (voids, credit notes) first; a milestone whose old invoice could
        not be retired is not reissued, so a customer never holds both."""
        self.report.planned = list(planned)
        plan = self._retire_once(retirements)
        rows = plan.rows
        ready = [r for r in rows + self.resend if self._customer(r) is not None]
        retiring = [r for r in ready if r.action == "void" or r.kind == "credit"]
        self._pushed, self._to_push = 0, len(ready)
        self._run_phase(rows, retiring)
        rest = reissuable(ready, retiring + plan.waiting, self.confirmed)
        retiring_keys = {r.key for r in retiring}
        rest_keys = {r.key for r in rest}
        for row in ready:
            if row.key not in retiring_keys and row.key not in rest_keys:
                self.report.failures.append(
                    f"{label(row)}: not reissued because its old invoice was not retired"
                )
        after = {p.key: plan.waits_for(p.after) for p in planned if p.after}
        self._send_in_waves(rows, rest, after)

    def _send_in_waves(
        self, planned_rows: list[InvoiceRow], pending: list[InvoiceRow], after: dict[str, set[str]]
    ) -> None:
        """A close-out follows the documents billed before it: it is sent only once the ledger
        has confirmed each of them, in waves; one left waiting is planned afresh next run."""
        while pending:
            wave = [r for r in pending if after.get(r.key, set()) <= self.confirmed]
            if not wave:
                break
            self._run_phase(planned_rows, wave)
            sent = {r.key for r in wave}
            pending = [r for r in pending if r.key not in sent]
        for row in pending:
            self.report.failures.append(
                f"{label(row)}: waits until the ledger has confirmed the contract's other "
                "invoices of this run; it is planned again next run"
            )

    def _retire_once(self, plan: Retirements) -> Retirements:
        """Carry out what tonight's decision says of retirements: an invoice that never reached
        the ledger is retired without a ledger call, one that an earlier run's void or credit
        note retires gets no second one, and those whose invoice is in doubt wait."""
        rows = {r.key: r for r in self.state.invoice_rows()}
        if plan.forget:
            self.state.forget_intents(plan.forget)
        for key, values in plan.settled:
            log.info("%s (%s): %s", label(rows[key]), rows[key].reference, values.get("error"))
        self.commit(plan.settled)
        self.resend = plan.resend
        for row in plan.waiting:
            old = rows[row.replaces or ""]
            self.report.failures.append(
                f"{label(row)}: invoice {old.number or old.reference} is retired, and the "
                "milestone billed again, once the ledger has confirmed what was sent before"
            )
        return plan

    def _run_phase(self, planned_rows: list[InvoiceRow], ready: list[InvoiceRow]) -> None:
        keys = {r.key for r in ready}
        self.checkpoint("before:commit:intents")
        self.state.record_intents([r for r in planned_rows if r.key in keys])
        self.recorded |= {r.key for r in planned_rows if r.key in keys}
        self.checkpoint("after:commit:intents")
        # A document whose lines net to zero is recorded as billed and never sent.
        nothing = [r for r in ready if r.action == "create" and not r.total_minor]
        self.commit([c for r in nothing for c in not_sent_changes(r)])
        creates = [r for r in ready if r.action == "create" and r.total_minor]
        for chunk in chunks(creates, self.ledger.batch_size):
            self._create(chunk)
            self._pushed += len(chunk)
            self.progress("push", self._pushed, self._to_push)
        for row in (r for r in ready if r.action == "void"):
            self._void(row)
            self._pushed += 1
            self.progress("push", self._pushed, self._to_push)

    def _customer(self, row: InvoiceRow) -> CustomerRef | None:
        if row.action == "void":
            return CustomerRef("", row.customer, row.currency)
        wanted = (row.customer, row.currency)
        if wanted not in self.customers:
            try:
                self.checkpoint("before:find_or_create_customer")
                self.customers[wanted] = self.ledger.find_or_create_customer(*wanted)
                self.checkpoint("after:find_or_create_customer")
            except (SkippableLedgerError, RetriableLedgerError) as exc:
                self.report.failures.append(
                    f"contract {row.contract}: customer {row.customer!r}: {exc}"
                )
                return None
        return self.customers[wanted]

    def _create(self, chunk: list[InvoiceRow]) -> None:
        olds: dict[str, InvoiceRow] = {}
        targets: dict[str, InvoiceRow] = {}
        if any(r.replaces or r.total_minor < 0 for r in chunk):
            # a credit note names the invoice it credits, or the open invoice it is set against
            known = self.state.invoice_rows()
            olds = {r.key: r for r in known}
            targets = credit_targets(chunk, known)
        requests = [
            invoice_request(
                r,
                self.customers[(r.customer, r.currency)],
                (olds.get(r.replaces) if r.replaces else targets.get(r.key)),
            )
            for r in chunk
        ]
        self.checkpoint("before:create_invoices")
        self.sent.update(r.key for r in chunk)
        try:
            results = self.ledger.create_invoices(requests)
        except RetriableLedgerError as exc:
            self.report.in_doubt += len(chunk)
            self.report.failures.append(
                f"{len(chunk)} invoice(s) not confirmed by the ledger ({exc}); the next run "
                "checks the ledger before sending them again"
            )
            return
        except SkippableLedgerError as exc:
            # A whole-batch error says nothing about which items the ledger kept: leave them
            # in `pushing`, to be looked up before anything is sent again.
            self.report.in_doubt += len(chunk)
            self.report.failures.append(
                f"{len(chunk)} invoice(s) not confirmed: the ledger refused the batch ({exc}); "
                "the next run checks the ledger before sending them again"
            )
            return
        self.checkpoint("after:create_invoices")
        changes: list[Change] = []
        by_key = {r.key: r for r in chunk}
        for result in results:
            row = by_key[result.key]
            if result.invoice is not None:
                changes += pushed_changes(
                    row,
                    result.invoice,
                    olds.get(row.replaces or ""),
                    applied_to=targets.get(row.key),
                )
                self.report.created.append((row, result.invoice.number))
                if result.error:  # created, but a follow-up (a credit's allocation) failed
                    self.report.failures.append(f"{label(row)}: {result.error}")
                log.info(
                    "invoice %s created: %s, %s %s",
                    result.invoice.number,
                    label(row),
                    result.invoice.total,
                    row.currency,
                )
            elif result.retriable:
                self.report.in_doubt += 1
                self.report.failures.append(f"{label(row)}: not confirmed ({result.error})")
            else:
                changes.append(failed_change(row, result.error))
                self.report.failures.append(f"{label(row)}: rejected by the ledger: {result.error}")
        self.commit(changes)

    def _void(self, row: InvoiceRow) -> None:
        old = next((r for r in self.state.invoice_rows() if r.key == row.replaces), None)
        if old is None or not old.ledger_id:
            self.report.failures.append(f"{label(row)}: the invoice to void is not in the ledger")
            return
        self.checkpoint("before:void_invoice")
        self.sent.add(row.key)
        try:
            remote = self.ledger.void_invoice(old.ledger_id, row.key)
        except RetriableLedgerError as exc:
            self.report.in_doubt += 1
            self.report.failures.append(f"{label(row)}: void not confirmed ({exc})")
            return
        except SkippableLedgerError as exc:
            self.commit([failed_change(row, str(exc))])
            self.report.failures.append(f"{label(row)}: {exc}")
            return
        self.checkpoint("after:void_invoice")
        self.commit(voided_changes(row, old, remote))
        self.report.voided.append((row, remote.number))

    def commit(self, changes: list[Change]) -> None:
        self.checkpoint("before:commit:results")
        self.state.update_invoices(changes)
        self.confirmed.update(
            key
            for key, values in changes
            if values.get("state") in (schema.PUSHED, schema.NOT_SENT)
        )
        self.checkpoint("after:commit:results")

    # -- step 3: payments ------------------------------------------------------------------------

    def pull_payments(self) -> str | None:
        try:
            self.checkpoint("before:payment_changes")
            changes = self.ledger.payment_changes(self.state.cursor("payments"))
            self.checkpoint("after:payment_changes")
        except (RetriableLedgerError, SkippableLedgerError) as exc:
            self.report.failures.append(f"payment status not pulled: {exc}")
            return None
        rows = self.state.invoice_rows()
        updates = invoice_updates(rows, changes.invoices)
        for update in updates:
            if update.notice:
                self.report.failures.append(update.notice)
            if update.payments is not None:
                self.state.record_payments(update.key, update.currency, update.payments)
                self.report.payments_pulled += update.received
        self.commit([(u.key, u.values) for u in updates])
        return changes.cursor
