"""The businesses of a fleet worker: its config folder, read again whenever a file changes.

Jobs name a business by its config file's name within the folder, so that workers on other
machines, with the same folder at another path, find the same business. A file that stops
loading keeps its last good config until it is fixed or removed, as in the embedded daemon.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from pathlib import Path

from apscheduler.triggers.cron import CronTrigger

from connector.business_configs import Business, config_files, load_all, stray_files, warn_strays
from connector.daemon import next_run
from connector.errors import UserError

log = logging.getLogger("connector.fleet")


class Folder:
    """Every business config of `--config FILE` or `--config-dir DIR`, cached by mtime."""

    def __init__(self, config: Path | None, config_dir: Path | None):
        self.config, self.config_dir = config, config_dir
        self._known: dict[str, Business] = {}
        self._lock = threading.Lock()
        self._scanned = False  # the first scan is one line, not one per business
        self._strays: list[Path] = []  # warned about when they first appear, not every tick
        self._looked: object = None  # what the folder was when strays were last looked for

    def scan(self) -> dict[str, Business]:
        """The businesses now, reloading only the files that changed since the last scan."""
        with self._lock:
            try:
                paths = config_files(self.config, self.config_dir, allow_none=True)
            except UserError as exc:  # the folder itself is gone (unmounted?): change nothing
                log.error("keeping every business as it was: %s", exc)
                return dict(self._known)
            found: dict[str, Business] = {}
            for path in paths:
                business = self._current(path)
                if business is not None:
                    found[path.name] = business
            for name in set(self._known) - set(found):
                log.info("removed %s", name)
            if not self._scanned:
                log.info("%d business(es) in %s", len(found), self.config or self.config_dir)
            self._warn_new_strays(paths, found)
            self._known, self._scanned = found, True
            return dict(found)

    def _warn_new_strays(self, paths: list[Path], found: dict[str, Business]) -> None:
        """Looked for again only when a file came, went or changed: resolving every path of a
        folder of 3,000 businesses took a second a tick."""
        try:
            listing = self.config_dir.stat().st_mtime_ns if self.config_dir else None
        except OSError:
            listing = None
        looked = (listing, frozenset((name, b.mtime) for name, b in found.items()))
        if looked == self._looked:
            return
        self._looked = looked
        strays = stray_files(self.config_dir, paths, found.values())
        warn_strays(p for p in strays if p not in self._strays)
        self._strays = strays

    def _current(self, path: Path) -> Business | None:
        old = self._known.get(path.name)
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return None
        if old is not None and old.mtime == mtime:
            return old
        new = load_all([path]).get(path)
        if new is None and old is not None:
            log.error("keeping the last good config of %s until it loads again", path)
            return old
        if new is not None and self._scanned:
            log.info(
                "%s %s (%s, %s): %s",
                "updated" if old else "scheduled",
                new.config.business.name,
                new.config.schedule.cron,
                new.config.business.timezone,
                _next_slot(new),
            )
        return new

    def get(self, name: str) -> Business | None:
        """The business in file `name`, read again if it changed."""
        if Path(name).name != name:  # a job names a file in the folder, nothing else
            return None
        base = self.config.parent if self.config is not None else self.config_dir
        assert base is not None
        path = base / name
        if self.config is not None and path != self.config:
            return None
        with self._lock:
            business = self._current(path)
            if business is not None:
                self._known[name] = business
            return business


def _next_slot(business: Business) -> str:
    """The business's next scheduled time from now, as the fleet's slots count them (no
    jitter: a fleet syncs a slot once, whichever worker takes it)."""
    cfg = business.config
    trigger = CronTrigger.from_crontab(cfg.schedule.cron, timezone=cfg.business.timezone)
    return next_run(trigger.get_next_fire_time(None, datetime.now(UTC)))
