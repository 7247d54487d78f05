"""`connector run`: one long-lived process syncing many businesses, each on its own schedule.

APScheduler runs one job per business config (a cron line in the business's time zone, coalesced,
never two at once, a little jitter so fifty businesses do not hit one ledger in the same second).
A broken config is reported and skipped; one failing business never stops another. SIGHUP re-reads
the configs; SIGTERM and SIGINT let the syncs in flight finish and record their state, then exit 0.
This module schedules; the sync itself is `connector.sync.run_once`.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from connector import config as config_mod
from connector.errors import ConnectorError, LockHeld
from connector.notify import send, should_notify
from connector.sync import run_once

log = logging.getLogger("connector.daemon")

MISFIRE_GRACE = 3600  # a run missed by under an hour (machine asleep, busy) still happens
JITTER = 120  # seconds


@dataclass
class Business:
    path: Path
    config: config_mod.Config
    mtime: float


def config_files(config: Path | None, config_dir: Path | None) -> list[Path]:
    if config is not None:
        return [config]
    assert config_dir is not None
    return sorted(p for p in config_dir.glob("*.toml") if p.is_file())


def load_all(paths: list[Path]) -> dict[Path, Business]:
    """Every config that loads; each one that does not is logged with its problems and skipped."""
    out: dict[Path, Business] = {}
    for path in paths:
        try:
            out[path] = Business(path, config_mod.load(path), path.stat().st_mtime)
        except (ConnectorError, OSError) as exc:
            log.error("skipping %s: %s", path, exc)
    return out


def sync_business(business: Business, on_done: Callable[[str, str], None] | None = None) -> None:
    """One scheduled run. Never raises: a failure is logged and recorded in run history."""
    name = business.config.business.name
    try:
        report = run_once(business.config)
    except LockHeld as exc:
        log.warning("[%s] skipped: %s", name, exc)
        return
    except ConnectorError as exc:
        log.error("[%s] could not run: %s", name, exc)
        if on_done:
            on_done(name, "failed")
        return
    except Exception:  # one business must never take the daemon down
        log.exception("[%s] crashed; its next run checks the ledger before sending anything", name)
        if on_done:
            on_done(name, "failed")
        return
    counts = report.counts()
    log.info(
        "[%s] run %s: %s, %d invoice(s) created, %d payment(s) seen, %d problem(s)",
        name,
        report.run_id,
        report.outcome,
        counts["invoices_created"],
        counts["payments_pulled"],
        counts["problems"],
    )
    for problem in report.problems():
        log.warning("[%s] run %s: needs attention: %s", name, report.run_id, problem)
    if should_notify(report, business.config.notify):
        for problem in send(report, business.config.notify, name):
            log.error("[%s] run %s: notification not delivered: %s", name, report.run_id, problem)
    if on_done:
        on_done(name, report.outcome)


class Daemon:
    def __init__(
        self,
        config: Path | None,
        config_dir: Path | None,
        workers: int = 4,
        run_now: bool = False,
        on_done: Callable[[str, str], None] | None = None,
    ):
        self.config, self.config_dir = config, config_dir
        self.run_now = run_now
        self.on_done = on_done
        self.scheduler = BlockingScheduler(executors={"default": ThreadPoolExecutor(workers)})
        self.businesses: dict[Path, Business] = {}
        self._reload = threading.Event()

    def schedule(self, business: Business, *, now: bool) -> None:
        cfg = business.config
        job_id = str(business.path)
        trigger = CronTrigger.from_crontab(cfg.schedule.cron, timezone=cfg.business.timezone)
        trigger.jitter = JITTER
        first = {"next_run_time": datetime.now(trigger.timezone)} if now else {}
        self.scheduler.add_job(
            sync_business,
            trigger,
            args=[business, self.on_done],
            id=job_id,
            name=cfg.business.name,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=MISFIRE_GRACE,
            replace_existing=True,
            **first,
        )

    def reload(self) -> None:
        """Re-read the configs: add new businesses, drop removed ones, reschedule changed ones."""
        found = load_all(config_files(self.config, self.config_dir))
        for path in set(self.businesses) - set(found):
            self.scheduler.remove_job(str(path))
            log.info("removed %s", path)
        for path, business in found.items():
            old = self.businesses.get(path)
            if old is None or old.mtime != business.mtime:
                self.schedule(business, now=False)
                log.info(
                    "%s %s (%s)",
                    "updated" if old else "scheduled",
                    business.config.business.name,
                    business.config.schedule.cron,
                )
        self.businesses = found

    def start(self) -> None:
        self.businesses = load_all(config_files(self.config, self.config_dir))
        for business in self.businesses.values():
            self.schedule(business, now=self.run_now)
            log.info(
                "scheduled %s (%s, %s)",
                business.config.business.name,
                business.config.schedule.cron,
                business.config.business.timezone,
            )
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGHUP, lambda *_: self.scheduler.add_job(self.reload))
        self.scheduler.start()  # blocks until _stop

    def _stop(self, signum: int, frame: object) -> None:
        log.info("stopping on signal %d: letting runs in flight finish", signum)
        threading.Thread(target=self.scheduler.shutdown, kwargs={"wait": True}).start()
