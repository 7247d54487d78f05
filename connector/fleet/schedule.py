"""Which slot each business is due for: its `[schedule] cron`, in its time zone, as of now.

The same APScheduler CronTrigger the embedded daemon uses reads the cron line, so a business is
synced at the same moments whichever scheduler runs it. A slot missed by less than the embedded
daemon's misfire grace still runs, late; one missed by more waits for its next time. Pure: no
database, no clock of its own (the caller says what time it is).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache

from apscheduler.triggers.cron import CronTrigger

from connector.config import Config
from connector.daemon import MISFIRE_GRACE

GRACE = timedelta(seconds=MISFIRE_GRACE)
# Windows looked back through in turn: a cron every minute finds its slot in the first, a
# nightly one in the last, so no cron line is walked through more than a few dozen times.
_WINDOWS = (timedelta(minutes=2), timedelta(hours=1), GRACE)
_TICK = timedelta(microseconds=1)


def latest_slot(config: Config, now: datetime) -> datetime | None:
    """The business's latest scheduled time at or before `now`, within the grace, or None."""
    return _latest(config.schedule.cron, config.business.timezone, now)


@lru_cache(maxsize=4096)
def _latest(cron: str, timezone: str, now: datetime) -> datetime | None:
    """Kept per cron line, zone and tick: a fleet's businesses mostly share a few, and a tick
    over 3,000 of them walked the same cron line 3,000 times."""
    trigger = CronTrigger.from_crontab(cron, timezone=timezone)
    now = now.astimezone(trigger.timezone)
    for window in _WINDOWS:
        last = None
        fire = trigger.get_next_fire_time(None, now - window)
        while fire is not None and fire <= now:
            last = fire
            fire = trigger.get_next_fire_time(fire, fire + _TICK)
        if last is not None:
            return last
    return None
