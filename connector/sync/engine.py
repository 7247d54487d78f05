"""One sync of one business: read, decide, push exactly once, pull payments, record.

The order is what makes it safe. Every ledger write is preceded by a committed intent (state
`pushing`) carrying a deterministic idempotency key; a run that finds an intent left over asks the
ledger (lookup by reference) before it sends anything, and re-sends only with the same key. An
invoice is retired (voided or credited) once: never beside an earlier void or credit note of it
that is still unconfirmed, and never at all when the ledger was found not to have it (then the
milestone's current revision is billed). A failure on one item is recorded on that item and the
run goes on; only a fatal ledger error (credentials, configuration) stops the business's run.

This module keeps that order and every checkpoint. Billing's typed actions (`actions`) reach it
as outbox intents (`outbox.Intent`: tonight's actions, recorded, and the left-overs of earlier
runs), and it picks each ledger call by the intent's type; the steps before the push are
`recovery` (intents in doubt), `payments.pull`, `customers.CustomerBook` (the night's customers
looked up in one call, the missing ones created in one more) and `holding.check` (a contract the
company's books cannot take is held whole), and the one after it is `delivery` (emailing
invoices, once).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date, datetime

from connector.adapters.base import CustomerRef, LedgerAdapter
from connector.config import Config
from connector.errors import (
    FatalLedgerError,
    RetriableLedgerError,
    SkippableLedgerError,
)
from connector.logs import run_context
from connector.models import InvalidMilestone, Kind, Milestone
from connector.perf import paused_gc
from connector.sources.base import CachesResponses, Source
from connector.sync import delivery, holding, payments, quiet, recovery, schema
from connector.sync.credits import settle_targets
from connector.sync.customers import CustomerBook
from connector.sync.lock import business_lock
from connector.sync.outbox import (
    Creation,
    Intent,
    Voiding,
    chunks,
    failed_change,
    invoice_request,
    not_sent_changes,
    pushed_changes,
    reissuable,
    voided_changes,
)
from connector.sync.report import SyncReport
from connector.sync.rows import Change, InvoiceRow, label
from connector.sync.snapshot import merge_snapshot
from connector.sync.state import State
from connector.sync.state_milestones import Prepared
from connector.sync.stops import STOP_POINTS, Checkpoint, StopRequested
from connector.sync.tonight import Tonight, decide_tonight

log = logging.getLogger("connector.sync")


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
    # large books build 100,000s of small records; `paused_gc` never pauses in the daemon
    with business_lock(config), paused_gc():
        state = State.open(config.state_url, config.business.name, path=config.state_path)
        state.keep_rows()  # read once: the lock keeps every other writer out
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
        self.customers = CustomerBook(ledger, (), self.checkpoint)  # tonight's, in `_execute`
        self.resend: list[Intent] = []  # left-over intents to send again
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
            recovery.resolve_in_doubt(self)  # the intents an earlier run left, before anything
            # Payments next: whether a changed milestone's invoice is voided or credited
            # depends on what has been paid on it today, not last night.
            payment_cursor = payments.pull(self)
            if isinstance(self.source, CachesResponses):
                self.source.use_cache(self.state.http_cache)
            batch = self.source.read(self.state.cursor("source"))
            good, bad = merge_snapshot(batch, self.state.snapshot)
            prepared = self.state.prepare_snapshot(good, bad)
            known = quiet.recall(self, prepared)  # nothing billing reads changed since then
            if known is not None:
                self.report.skipped, self.report.notices = known.skipped, known.notices
            else:
                self._bill(good, bad, prepared)
            self.state.drop_rows()  # no step after this reads them: their memory goes back
            reasons = quiet.Reasons(self.report.skipped)
            self.checkpoint("before:commit:snapshot")
            decided = known.decided if known is not None else None
            self.state.save_snapshot(good, bad, reasons, prepared, decided)
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
                self._finish("stopped")
                raise
        except Exception as exc:
            self._finish("failed", f"{type(exc).__name__}: {exc}")
            raise
        self._finish(self.report.outcome)

    def _bill(self, good: list[Milestone], bad: list[InvalidMilestone], prepared: Prepared) -> None:
        # The same decision `connector plan` shows, over the rows as this run found them.
        tonight = decide_tonight(
            self.config, good, bad, self.state.invoice_rows(), self.resend, self.as_of
        )
        self.report.skipped = list(tonight.decisions.skipped)
        self.report.notices = tonight.decisions.notices
        # Tonight's customers in one lookup, before the profile is read: QuickBooks reads the
        # company's setup in the same call.
        going = [*tonight.retirements.going, *self.resend]
        self.customers = CustomerBook(self.ledger, going, self.checkpoint)
        self.customers.look_up()
        # Before the first push: a contract the company's books cannot take is held whole.
        self.push(holding.check(self, tonight))
        delivery.send_owed(self)  # once the ledger has them: emailed to the client, once
        quiet.remember(self, prepared, tonight, good)  # after the last write to the rows

    def _finish(self, outcome: str, *why: str) -> None:
        report = self.report
        self.state.finish_run(report.run_id, outcome, report.counts(), [*report.problems(), *why])

    def _forget_unsent(self) -> None:
        """A run that ends early drops the intents it never handed to the ledger: they were not
        sent, so nothing needs looking up; the next run plans them afresh."""
        unsent = self.recorded - self.sent
        if unsent:
            self.state.forget_intents(unsent)

    # -- carrying out tonight's actions ---------------------------------------------------

    def push(self, tonight: Tonight) -> None:
        """Retire old invoices (voids, credit notes) first; a milestone whose old invoice could
        not be retired is not reissued, so a customer never holds both."""
        planned = tonight.decisions.invoices
        self.report.planned = planned
        plan = tonight.retirements
        recovery.settle_left_overs(self, plan)
        self.customers.keep(plan.going + self.resend)  # only those still going are created
        ready = [i for i in plan.going + self.resend if self._customer(i) is not None]
        retiring = [i for i in ready if isinstance(i, Voiding) or i.row.kind is Kind.CREDIT]
        self._pushed, self._to_push = 0, len(ready)
        self._run_phase(plan.going, retiring)
        rest = reissuable(ready, retiring + plan.waiting, self.confirmed)
        going = {i.key for i in retiring} | {i.key for i in rest}
        for intent in ready:
            if intent.key not in going:
                self.report.failures.append(
                    f"{label(intent.row)}: not reissued because its old invoice was not retired"
                )
        after = {p.key: plan.waits_for(p.after) for p in planned if p.after}
        self._send_in_waves(plan.going, rest, after)

    def _send_in_waves(
        self, planned: list[Intent], pending: list[Intent], after: dict[str, set[str]]
    ) -> None:
        """A close-out follows the documents billed before it: it is sent only once the ledger
        has confirmed each of them, in waves; one left waiting is planned afresh next run."""
        while pending:
            wave = [i for i in pending if after.get(i.key, set()) <= self.confirmed]
            if not wave:
                break
            self._run_phase(planned, wave)
            sent = {i.key for i in wave}
            pending = [i for i in pending if i.key not in sent]
        for intent in pending:
            self.report.failures.append(
                f"{label(intent.row)}: waits until the ledger has confirmed the contract's other "
                "invoices of this run; it is planned again next run"
            )

    def _run_phase(self, planned: list[Intent], ready: list[Intent]) -> None:
        """Record the intents of `ready` this run planned, then carry each out by its type:
        the creations in batches (one netting to zero is recorded as billed, never sent), then
        the voids. A new type of action gets its case here."""
        keys = {i.key for i in ready}
        new = [i.row for i in planned if i.key in keys]
        self.checkpoint("before:commit:intents")
        self.state.record_intents(new)
        self.recorded |= {r.key for r in new}
        self.checkpoint("after:commit:intents")
        nothing: list[Creation] = []
        creations: list[Creation] = []
        voids: list[Voiding] = []
        for intent in ready:
            match intent:
                case Creation(row=row) if not row.total_minor:
                    nothing.append(intent)
                case Creation():
                    creations.append(intent)
                case Voiding():
                    voids.append(intent)
        self.commit([c for i in nothing for c in not_sent_changes(i.row)])
        for chunk in chunks(creations, self.ledger.batch_size):
            self._create(chunk)
            self._done(len(chunk))
        for void in voids:
            self._void(void)
            self._done(1)

    def _done(self, count: int) -> None:
        self._pushed += count
        self.progress("push", self._pushed, self._to_push)

    def _customer(self, intent: Intent) -> CustomerRef | None:
        row = intent.row
        if isinstance(intent, Voiding):
            return CustomerRef("", row.customer, row.currency)
        found = self.customers.get(row.customer, row.currency)
        self.report.failures += self.customers.take_problems()
        return found

    def _create(self, chunk: list[Creation]) -> None:
        olds: dict[str, InvoiceRow] = {}
        targets: dict[str, InvoiceRow] = {}
        if any(c.row.replaces or c.settle for c in chunk):
            # a credit note names the invoice it credits, or the open invoice it is set against
            known = self.state.invoice_rows_of({c.row.contract for c in chunk})
            olds = {r.key: r for r in known}  # what a credit note replaces is its contract's
            targets = settle_targets(chunk, known)
        requests = [
            invoice_request(
                c.row,
                self.customers[(c.row.customer, c.row.currency)],
                targets.get(c.key),
                self.config.books_for(c.row.contract).booking,
            )
            for c in chunk
        ]
        self.checkpoint("before:create_invoices")
        self.sent.update(c.key for c in chunk)
        try:
            results = self.ledger.create_invoices(requests)
        except (RetriableLedgerError, SkippableLedgerError) as exc:
            # A whole-batch error says nothing about which items the ledger kept: leave them
            # in `pushing`, to be looked up before anything is sent again.
            retriable = isinstance(exc, RetriableLedgerError)
            how = " by the ledger" if retriable else ": the ledger refused the batch"
            self.report.in_doubt += len(chunk)
            self.report.failures.append(
                f"{len(chunk)} invoice(s) not confirmed{how} ({exc}); the next run "
                "checks the ledger before sending them again"
            )
            return
        self.checkpoint("after:create_invoices")
        changes: list[Change] = []
        by_key = {c.key: c.row for c in chunk}
        for result in results:
            row = by_key[result.key]
            if result.invoice is not None:
                replaced = olds.get(row.replaces or "")
                applied_to = targets.get(row.key)
                changes += pushed_changes(row, result.invoice, replaced, applied_to=applied_to)
                self.report.created.append((row, result.invoice.number))
                if result.error:  # created, but a follow-up (a credit's allocation) failed
                    self.report.failures.append(f"{label(row)}: {result.error}")
                remote = result.invoice
                log.info(
                    "invoice %s created: %s, %s %s",
                    remote.number,
                    label(row),
                    remote.total,
                    row.currency,
                )
            elif result.retriable:
                self.report.in_doubt += 1
                self.report.failures.append(f"{label(row)}: not confirmed ({result.error})")
            else:
                changes.append(failed_change(row, result.error))
                self.report.failures.append(f"{label(row)}: rejected by the ledger: {result.error}")
        self.commit(changes)

    def _void(self, void: Voiding) -> None:
        row = void.row
        old = self.state.invoice_row(row.replaces or "")
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
