"""`connector run`: one long-lived process syncing many businesses, each on its own schedule.

APScheduler runs one job per business config (a cron line in the business's time zone, coalesced,
never two at once, a little jitter so fifty businesses do not hit one ledger in the same second).
A broken config is reported and skipped; one failing business never stops another. SIGHUP re-reads
the configs; SIGTERM and SIGINT let each sync in flight finish the ledger call it is making and
record its state, then exit 0; the next run goes on from there.
This module schedules; the sync itself is `connector.sync.run_once`. It is the embedded
scheduler, for one machine (SQLite or PostgreSQL); with every business's state on PostgreSQL,
`connector run` is a worker of the fleet instead (`connector.fleet`), which shares the nights
between machines. A business on PostgreSQL still draws its ledger calls from the rate budgets
its database shares with the fleet and with syncs by hand (`connector.fleet.by_hand`); one on
SQLite from this process's own.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

from apscheduler.events import EVENT_SCHEDULER_STARTED, SchedulerEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from connector import budgets
from connector import config as config_mod
from connector.business_configs import Business, config_files, load_all, stray_files, warn_strays
from connector.digest_send import DigestBook
from connector.errors import ConnectorError, LockHeld, StateError, UserError
from connector.fleet.by_hand import EachDatabase
from connector.fleet.engines import disposed_engines
from connector.logs import run_context
from connector.notify import (
    DAEMON_SMTP_KEY,
    NotifySettings,
    current_invoices,
    send,
    should_notify,
)
from connector.sync import run_once
from connector.sync.report import SyncReport

log = logging.getLogger("connector.daemon")

# A run missed by less than this (the machine was asleep, or every worker was busy with other
# businesses) still happens, late; one missed by more waits for its next night.
MISFIRE_GRACE = 12 * 3600
JITTER = 120  # seconds
DIGEST_JOB = "digest:"  # the job id of a recipient's `digest_by`; business jobs are paths


def next_run(when: datetime | None) -> str:
    """How a log line says when a business runs next (in its own time zone)."""
    if when is None:
        return "no next run"
    return f"next run {when.strftime('%Y-%m-%d %H:%M:%S %Z')}"


def sync_business(
    business: Business,
    on_done: Callable[[str, str], None] | None = None,
    stop: threading.Event | None = None,
    everyone: NotifySettings | None = None,
    digests: DigestBook | None = None,
    shared: EachDatabase | None = None,
) -> None:
    """One scheduled run. Never raises: a failure is logged and recorded in run history.
    `everyone` is the daemon-wide [notify], told about every business's runs; `digests`
    sends the morning digests (instead of an email per run) once their runs are done;
    `shared` holds the rate budgets of the PostgreSQL databases (None: the process's)."""
    if stop is not None and stop.is_set():
        return  # queued before a SIGTERM: leave it to the next start
    if digests is not None:
        digests.started(business.path)
    reports: list[SyncReport] = []
    try:
        outcome = run_business(
            business,
            stop,
            everyone,
            digest_later=digests is not None,
            on_report=reports.append,
            shared=shared,
        )
    finally:
        if digests is not None:  # a daemon that is stopping sends no digest on its way out
            going = not (stop is not None and stop.is_set())
            digests.finished(business.path, reports[0] if reports else None, send=going)
    if on_done and outcome:
        on_done(business.config.business.name, outcome)


def run_business(
    business: Business,
    stop: threading.Event | None,
    everyone: NotifySettings | None,
    *,
    as_of: date | None = None,
    raise_not_started: bool = False,
    digest_later: bool = False,
    on_report: Callable[[SyncReport], None] | None = None,
    shared: EachDatabase | None = None,
) -> str | None:
    """Sync one business and tell its people (`on_report` is handed the run's report); the
    run's outcome, or None when another process holds its lock. With `raise_not_started`, a
    run that could not start (the lock held, the state database unreachable) raises LockHeld
    or StateError instead, for a caller that will try again later (the fleet); everything
    else is reported, never raised. With
    `digest_later`, a [notify] with `digest = true` gets no email for this run (its morning
    digest tells it); its webhook is still told. With `shared`, the run draws its ledger
    calls from its own database's rate budgets (a fleet worker passes none: the process's
    are its database's)."""
    with run_context(business.config.business.name):
        report = _sync(business, stop, everyone, as_of, raise_not_started, digest_later, shared)
    if report is None:
        return None
    if on_report is not None:
        on_report(report)
    return report.outcome


def _sync(
    business: Business,
    stop: threading.Event | None,
    everyone: NotifySettings | None,
    as_of: date | None,
    raise_not_started: bool,
    digest_later: bool = False,
    shared: EachDatabase | None = None,
) -> SyncReport | None:
    cfg = business.config
    try:
        drawn = shared.of(cfg.state_url) if shared is not None else None
        # its connections close with the run, not at the next GC; its ledger calls draw from
        # its database's budgets, whichever businesses the pool's other threads are syncing
        with budgets.using(drawn), disposed_engines():
            report = run_once(cfg, stop=stop, as_of=as_of)
    except (LockHeld, StateError) as exc:
        if raise_not_started:
            raise
        if not isinstance(exc, LockHeld):
            report = _not_run(cfg, exc)
        else:
            log.warning("skipped: %s", exc)
            return None
    except Exception as exc:  # one business must never take the daemon down
        report = _not_run(cfg, exc)
    _tell(cfg, report, everyone, digest_later)
    return report


def _not_run(cfg: config_mod.Config, exc: Exception) -> SyncReport:
    """The bookkeeper hears of a run that could not happen as of one that went wrong."""
    report = SyncReport(business=cfg.business.name, as_of=datetime.now(cfg.zone).date())
    if isinstance(exc, ConnectorError) and exc.exit_code == 1:
        # a tracker or ledger that is down: nothing to fix, the next night tries again
        report.failures.append(exc.for_person("; "))
        log.warning("%s", report.failures[0])
    elif isinstance(exc, ConnectorError):
        report.fatal = f"could not run: {exc}"
        log.error("could not run: %s", exc)
    else:
        report.fatal = f"crashed: {type(exc).__name__}: {exc}"
        log.error("crashed; its next run checks the ledger before sending anything", exc_info=exc)
    return report


def _tell(
    cfg: config_mod.Config,
    report: SyncReport,
    everyone: NotifySettings | None,
    digest_later: bool = False,
) -> None:
    targets = [(cfg.notify, cfg.business.name)] + (
        [(everyone, DAEMON_SMTP_KEY)] if everyone else []
    )
    wanted = [
        (s, key, not (digest_later and s.digest))  # email now, or in the morning digest
        for s, key in targets
        if should_notify(report, s)
    ]
    wanted = [(s, key, email) for s, key, email in wanted if s.webhook_url or email]
    # the email lists every open invoice's payment link, not only tonight's: read them once
    with disposed_engines():
        invoices = current_invoices(cfg) if wanted else ()
    with run_context(cfg.business.name, report.run_id or None):
        for settings, password_key, email in wanted:
            for problem in send(report, settings, password_key, invoices=invoices, email=email):
                log.error("notification not delivered: %s", problem)


SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}


def _leave_signals_to_main() -> None:
    """Block the daemon's signals in this (non-main) thread. A signal the kernel hands to a
    worker would only be noticed when the main thread next wakes, which for a scheduler waiting
    for tomorrow night's run is hours later; blocked here, it always reaches the main thread."""
    signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)


def _thread(target: Callable[[], None]) -> None:
    def run() -> None:
        _leave_signals_to_main()
        target()

    threading.Thread(target=run).start()


def _described(business: Business, verb: str = "scheduled") -> str:
    """`scheduled Northwind Studio (0 2 * * *, America/Chicago):`, what the log says first."""
    cfg = business.config
    return f"{verb} {cfg.business.name} ({cfg.schedule.cron}, {cfg.business.timezone}):"


class Daemon:
    def __init__(
        self,
        config: Path | None,
        config_dir: Path | None,
        workers: int = 4,
        run_now: bool = False,
        on_done: Callable[[str, str], None] | None = None,
        notify: NotifySettings | None = None,
    ):
        self.config, self.config_dir = config, config_dir
        self.notify = notify
        self.run_now = run_now
        self.on_done = on_done
        pool = ThreadPoolExecutor(workers, pool_kwargs={"initializer": _leave_signals_to_main})
        self.scheduler = BlockingScheduler(executors={"default": pool})
        # the rate budgets of each PostgreSQL database a business is on, kept until shutdown
        self.shared = EachDatabase(f"connector run (pid {os.getpid()})")
        self.businesses: dict[Path, Business] = {}
        self.stopping = threading.Event()
        self._shut = threading.Event()  # set once `_shutdown` is done
        self._up = threading.Event()  # set once the scheduler runs, or failed to start
        self.broken: dict[Path, str] = {}  # the configs that do not load, and why
        self.digests = DigestBook(self._configs, broken=lambda: dict(self.broken))
        # A reload and the shutdown never overlap: APScheduler's shutdown holds the job store
        # while it waits for running syncs, and a reload needs the job store.
        self._changing = threading.Lock()

    def schedule(self, business: Business, *, now: bool, verb: str = "scheduled") -> None:
        """Add or replace the business's job. Its next run time is known, and logged, once the
        scheduler runs: at once on a reload, from `_started` at start."""
        cfg = business.config
        job_id = str(business.path)
        trigger = CronTrigger.from_crontab(cfg.schedule.cron, timezone=cfg.business.timezone)
        trigger.jitter = JITTER
        first = {"next_run_time": datetime.now(trigger.timezone)} if now else {}
        self.scheduler.add_job(
            sync_business,
            trigger,
            args=[business, self.on_done, self.stopping, self.notify, self.digests, self.shared],
            id=job_id,
            name=cfg.business.name,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=MISFIRE_GRACE,
            replace_existing=True,
            **first,
        )
        if self.scheduler.running:
            job = self.scheduler.get_job(job_id)
            log.info(
                "%s %s", _described(business, verb), next_run(getattr(job, "next_run_time", None))
            )

    def _configs(self) -> tuple[dict[Path, config_mod.Config], NotifySettings | None]:
        return {p: b.config for p, b in self.businesses.items()}, self.notify

    def schedule_digests(self) -> None:
        """A job per digest recipient at its `digest_by`: the runs that finished go out then,
        even if another business's run has not (a run that hangs, a weekly schedule)."""
        for job in self.scheduler.get_jobs():
            if job.id.startswith(DIGEST_JOB):
                self.scheduler.remove_job(job.id)
        configs, _ = self._configs()
        for r in self.digests.recipients():
            hour, minute = r.settings.digest_by.split(":")
            zone = r.zone(configs)
            trigger = CronTrigger(
                hour=int(hour), minute=int(minute), **({"timezone": zone} if zone else {})
            )
            self.scheduler.add_job(
                self.digests.due,
                trigger,
                args=[r.key],
                id=f"{DIGEST_JOB}{r.key}",
                name=f"digest for {r.key}",
                coalesce=True,
                max_instances=1,
                misfire_grace_time=MISFIRE_GRACE,
                replace_existing=True,
            )

    def reload(self) -> None:
        """Re-read the configs: add new businesses, drop removed ones, reschedule changed ones.
        A file that no longer loads keeps its last good schedule until it is fixed or removed."""
        with self._changing:
            if self.stopping.is_set():
                return
            try:
                paths = config_files(self.config, self.config_dir, allow_none=True)
            except UserError as exc:  # the folder itself is gone (unmounted?): change nothing
                log.error("keeping every business as it was: %s", exc)
                return
            broken: dict[Path, str] = {}
            found = load_all(paths, broken)
            self.broken = broken
            changed = self._drop_removed(found, paths)
            for path, business in found.items():
                old = self.businesses.get(path)
                if old is None or old.mtime != business.mtime:
                    changed = True
                    self.schedule(business, now=False, verb="updated" if old else "scheduled")
            warn_strays(stray_files(self.config_dir, paths, found.values()))
            if not changed:
                log.info(
                    "SIGHUP: no change; %d business(es) keep their schedules", len(self.businesses)
                )
            self.businesses = found
            self.digests.mark_start()  # a business new to the folder: its digest starts now
            self.schedule_digests()

    def _drop_removed(self, found: dict[Path, Business], paths: list[Path]) -> bool:
        """Unschedule the businesses whose file is gone; whether there were any. A file still
        there that no longer loads keeps its last good config (put back into `found`)."""
        removed = False
        for path in set(self.businesses) - set(found):
            if path in paths:
                log.error("keeping the last good config of %s until it loads again", path)
                found[path] = self.businesses[path]
                continue
            self.scheduler.remove_job(str(path))
            log.info("removed %s", path)
            removed = True
        return removed

    def start(self) -> None:
        paths = config_files(self.config, self.config_dir)
        self.businesses = load_all(paths, self.broken)
        for business in self.businesses.values():
            self.schedule(business, now=self.run_now)
        self.digests.mark_start()
        self.schedule_digests()
        warn_strays(stray_files(self.config_dir, paths, self.businesses.values()))
        self.scheduler.add_listener(self._started, EVENT_SCHEDULER_STARTED)
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        # Handlers only start threads: the main thread may be inside the scheduler's own locks.
        signal.signal(signal.SIGHUP, lambda *_: _thread(self.reload))
        try:
            self.scheduler.start()  # blocks until _stop
        finally:
            self._up.set()  # a scheduler that failed to start: a shutdown waits no longer
            if self.stopping.is_set():
                self._shut.wait()  # the scheduler may return before its syncs have finished
            else:
                self.shared.close()

    def _started(self, event: SchedulerEvent) -> None:
        """Each business's first run time, known once the scheduler has added its job (the
        jitter is drawn then). From here on, a signal's shutdown can stop the scheduler."""
        self._up.set()
        for business in self.businesses.values():
            job = self.scheduler.get_job(str(business.path))
            log.info("%s %s", _described(business), next_run(getattr(job, "next_run_time", None)))

    def _stop(self, signum: int, frame: object) -> None:
        if self.stopping.is_set():
            return  # a second Ctrl-C or SIGTERM: already stopping
        log.info("stopping on signal %d: runs stop after their current ledger call", signum)
        self.stopping.set()
        _thread(self._shutdown)

    def _shutdown(self) -> None:
        """Stop the scheduler, waiting for the syncs in flight. A signal that came while the
        scheduler was still starting waits until it runs: stopped before, it would refuse to
        stop (it is not running yet) and then run on, deaf to that signal."""
        try:
            self._up.wait()
            with self._changing:
                if self.scheduler.running:
                    self.scheduler.shutdown(wait=True)
            self.shared.close()  # every sync has finished: their budgets' connections go too
        finally:
            self._shut.set()
