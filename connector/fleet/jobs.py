"""The fleet's tasks on procrastinate: the scheduling tick, one business's sync, and one
recipient's morning digest (connector/fleet/digests.py).

The tick is a procrastinate periodic task: every worker's deferrer offers it each period and the
database keeps one per period, so exactly one worker of the fleet runs it. It takes up the jobs
of workers that stopped answering (killed, or their machine gone), then defers one sync job for
each business whose latest scheduled slot has no record yet, and records those slots. A sync
job carries a queueing lock per business and slot (never two waiting for one slot) and a lock per
business (never two running at once, on any machine); it syncs only if the slot is not done
yet, and records it done. A job that could not start (the business's lock held by a manual
`connector sync`, the database unreachable) is retried with back-off, within the night.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from procrastinate import App, JobContext, exceptions
from procrastinate.jobs import Job, JobDeferrer
from procrastinate.retry import BaseRetryStrategy, RetryDecision
from sqlalchemy.exc import SQLAlchemyError

from connector.business_configs import Business
from connector.config import Config
from connector.daemon import run_business
from connector.errors import LockHeld, StateError
from connector.fleet import digests
from connector.fleet.folder import Folder
from connector.fleet.schedule import latest_slot
from connector.fleet.slots import SlotBook, slot_name
from connector.notify import NotifySettings

log = logging.getLogger("connector.fleet")

SYNC_TASK = "connector.sync"
TICK_TASK = "connector.tick"
MAX_ATTEMPTS = 10  # with FIRST_WAIT doubling up to MAX_WAIT: about two hours of trying
FIRST_WAIT = 30.0  # seconds
MAX_WAIT = 1800.0
DEFER_BATCH = 500  # sync jobs deferred in one statement by the tick
TICK_PRIORITY = 10  # before any sync job waiting, so the tick is never stuck behind a night


@dataclass(frozen=True)
class FleetSettings:
    """How one `connector run` process takes part in the fleet."""

    url: str  # the state database every business of the folder shares (PostgreSQL)
    config: Path | None
    config_dir: Path | None
    workers: int = 4  # syncs at once in this process
    tick: int = 60  # seconds between scheduling ticks (a divisor of 60)
    now: datetime | None = None  # a fixed clock (`--now`): rehearsals and tests
    notify: NotifySettings | None = None
    first_wait: float = FIRST_WAIT

    @property
    def stalled(self) -> float:
        """A worker silent this long is taken for dead, and its jobs are taken up."""
        return max(5.0, self.tick / 2)

    @property
    def heartbeat(self) -> float:
        return self.stalled / 3

    @property
    def tick_cron(self) -> str:
        return "* * * * *" if self.tick >= 60 else f"* * * * * */{self.tick}"


class Stopped(Exception):
    """The worker is shutting down: the sync stopped between ledger calls; another worker (or
    this one, started again) goes on from there at once."""


NOT_STARTED = (LockHeld, StateError, SQLAlchemyError)


class FleetRetry(BaseRetryStrategy):
    """Stopped syncs go back to the queue at once; syncs that could not start are tried again
    after 30 s, 1, 2, 4 ... minutes (at most 30) until MAX_ATTEMPTS; anything else is final."""

    def __init__(self, first_wait: float):
        self.first_wait = first_wait

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if isinstance(exception, Stopped):
            return RetryDecision(retry_in={"seconds": 0})
        if isinstance(exception, NOT_STARTED) and job.attempts + 1 < MAX_ATTEMPTS:
            wait = min(MAX_WAIT, self.first_wait * 2**job.attempts)
            log.warning(
                "%s: could not start (%s); trying again in %.0f s", job.call_string, exception, wait
            )
            return RetryDecision(retry_in={"seconds": wait})
        return None


class Fleet:
    """One process's share of the fleet: its folder, the slot record, the stop flag."""

    def __init__(self, settings: FleetSettings, book: SlotBook, name: str):
        self.settings = settings
        self.folder = Folder(settings.config, settings.config_dir)
        self.book = book
        self.name = name
        self.stop = threading.Event()
        self.app: App | None = None

    def clock(self) -> datetime:
        return self.settings.now or datetime.now(UTC)

    # -- the tick ------------------------------------------------------------------------

    def due(self, now: datetime) -> list[tuple[str, str, str]]:
        """(config file, business, slot) for each business whose latest slot has no record."""
        wanted: dict[tuple[str, str], str] = {}
        for file_name, business in sorted(self.folder.scan().items()):
            slot = latest_slot(business.config, now)
            name = business.config.business.name
            if slot is None:
                continue
            key = (name, slot_name(slot))
            if key in wanted:
                log.error(
                    "%s and %s both name the business %r; only the first is synced",
                    wanted[key],
                    file_name,
                    name,
                )
                continue
            wanted[key] = file_name
        self.book.forget_old(now)
        recorded = self.book.recorded(wanted)
        return [(f, b, s) for (b, s), f in sorted(wanted.items()) if (b, s) not in recorded]

    async def tick(self, timestamp: int) -> None:
        assert self.app is not None
        await self.rescue(self.app)
        due = await asyncio.to_thread(self.due, self.clock())
        task = self.app.tasks[SYNC_TASK]
        jobs = [
            task.configure(
                lock=f"business {business}",
                queueing_lock=f"slot {business} {slot}",
                task_kwargs={"config": file_name, "business": business, "slot": slot},
            )
            for file_name, business, slot in due
        ]
        for start in range(0, len(jobs), DEFER_BATCH):
            await self._defer(jobs[start : start + DEFER_BATCH])
        await asyncio.to_thread(self.book.deferred, [(b, s) for _, b, s in due])
        if due:
            log.info("deferred %d sync(s) for their scheduled slot", len(due))
        await self._defer_digests()

    # -- the morning digests -------------------------------------------------------------

    def configs(self) -> dict[Path, Config]:
        return {b.path: b.config for b in self.folder.scan().values()}

    async def _defer_digests(self) -> None:
        """Each recipient's digest once its night is done or its digest_by has come."""
        assert self.app is not None
        now = self.clock()
        due = await asyncio.to_thread(
            digests.due, self.configs(), self.settings.notify, self.book, now
        )
        task = self.app.tasks[digests.DIGEST_TASK]
        for d in due:
            job = task.configure(
                queueing_lock=f"digest {d.recipient} {d.slot}",
                task_kwargs={"recipient": d.recipient, "slot": d.slot},
            )
            with contextlib.suppress(exceptions.AlreadyEnqueued):
                await job.defer_async()
        await asyncio.to_thread(self.book.deferred, [d.record for d in due])

    def digest(self, recipient: str, slot: str) -> str:
        return digests.send(
            recipient, slot, self.configs(), self.settings.notify, self.book, self.clock()
        )

    async def _defer(self, jobs: list[JobDeferrer]) -> None:
        """Defer these jobs in one statement (3,000 one at a time took two minutes of a
        worker's night), or one by one when one of them is waiting already."""
        assert self.app is not None
        try:
            await self.app.job_manager.batch_defer_jobs_async([j.job for j in jobs])
            return
        except exceptions.AlreadyEnqueued:
            pass
        for job in jobs:
            # AlreadyEnqueued: deferred by a tick that died before recording it; it is waiting
            with contextlib.suppress(exceptions.AlreadyEnqueued):
                await job.defer_async()

    async def rescue(self, app: App) -> None:
        """Put back in the queue the jobs of workers that stopped answering (SIGKILL, a machine
        gone): their businesses' locks are released and another worker takes them up."""
        manager = app.job_manager
        stalled = await manager.get_stalled_jobs(seconds_since_heartbeat=self.settings.stalled)
        for job in stalled:
            try:
                await manager.retry_job(job)
            except exceptions.ProcrastinateException:  # another worker's tick got there first
                continue
            log.warning("taking up %s, left by a worker that stopped answering", job.call_string)
        await manager.prune_stalled_workers(self.settings.stalled)

    # -- one business, one slot ----------------------------------------------------------

    def sync(self, context: JobContext, config: str, business: str, slot: str) -> str:
        """Sync `business` for `slot` unless that is done; the outcome."""
        known = self.book.get(business, slot)
        if known is not None and known.done_at:
            log.info("%s: already synced for the slot %s (%s)", business, slot, known.outcome)
            return str(known.outcome)
        if known is not None and known.claimed_at and known.runs_before is not None:
            # An attempt that finished its run but died before saying so: it is done.
            finished = self.book.finished_since(business, known.runs_before)
            if finished is not None:
                self.book.done(business, slot, finished)
                return finished
        found = self.folder.get(config)
        if found is None or found.config.business.name != business:
            log.error(
                "%s: its config %s is gone from the folder; slot %s not synced",
                business,
                config,
                slot,
            )
            self.book.done(business, slot, "gone")
            return "gone"
        return self._run(context, found, slot)

    def _run(self, context: JobContext, found: Business, slot: str) -> str:
        if self.stop.is_set():
            raise Stopped(slot)
        business = found.config.business.name
        self.book.claim(business, slot, self.name)
        as_of = datetime.fromisoformat(slot).astimezone(found.config.zone).date()
        last_try = context.job.attempts + 1 >= MAX_ATTEMPTS
        outcome = run_business(
            found,
            self.stop,
            self.settings.notify,
            as_of=as_of,
            raise_not_started=not last_try,
            digest_later=True,  # a recipient with digest = true hears of it in the digest
        )
        if outcome == "stopped":
            raise Stopped(slot)
        self.book.done(business, slot, outcome or "not run")
        return outcome or "not run"


def make_app(fleet: Fleet, connector: Any) -> App:
    """The procrastinate App with the fleet's tick and sync tasks."""
    app = App(connector=connector)
    retry = FleetRetry(fleet.settings.first_wait)

    def sync(context: JobContext, config: str, business: str, slot: str) -> str:
        return fleet.sync(context, config, business, slot)

    async def tick(timestamp: int) -> None:
        await fleet.tick(timestamp)

    def digest(recipient: str, slot: str) -> str:
        return fleet.digest(recipient, slot)

    app.task(name=SYNC_TASK, pass_context=True, retry=retry)(sync)
    app.task(name=digests.DIGEST_TASK)(digest)
    ticking = app.task(name=TICK_TASK, queueing_lock=TICK_TASK)(tick)
    app.periodic(cron=fleet.settings.tick_cron, periodic_id="tick", priority=TICK_PRIORITY)(ticking)
    fleet.app = app
    return app
