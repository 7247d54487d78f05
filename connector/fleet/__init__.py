"""The fleet: `connector run` on any number of machines sharing one PostgreSQL state database.

With every business's state in one PostgreSQL database, `connector run` is a worker of
procrastinate (PostgreSQL's own job queue) instead of a scheduler of its own: one scheduling
tick, deduplicated across all workers by procrastinate, defers one sync job per business per
scheduled slot; the queue's locks keep a business from running twice at once or twice in a slot,
and `fleet_slots` records each slot done so that a worker starting late never syncs it again.
Start as many workers as wanted, on as many machines, each with the same config folder.

    jobs      the tick and the sync task, the retry strategy
    worker    the process: migrate once, run procrastinate's worker, stop on SIGTERM
    migrate   procrastinate's schema, ours and the slot record, under one advisory lock
    slots     the slot record (fleet_slots)
    budgets   the ledgers' rate budgets, shared by every worker (connector.budgets)
    schedule  each business's latest slot, from its cron in its time zone
    folder    the config folder, read again when a file changes
    engines   closing the state engines a sync opened, when it ends

SQLite (or businesses on several databases) keeps the embedded APScheduler daemon of
`connector.daemon`, for one machine. Nothing here decides what to bill: a sync is
`connector.sync.run_once`, as in the embedded daemon.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterable

from sqlalchemy import make_url

from connector.config import Config

log = logging.getLogger("connector.fleet")

__all__ = ["fleet_url"]


def fleet_url(configs: Iterable[Config]) -> str | None:
    """The PostgreSQL database a fleet of these businesses shares, or None for the embedded
    daemon: some state is elsewhere than one PostgreSQL database, or procrastinate (the `fleet`
    extra) is not installed; the reason is logged."""
    urls = {c.state_url for c in configs}
    on_postgres = {u for u in urls if make_url(u).get_backend_name() == "postgresql"}
    if not on_postgres:
        return None
    if len(urls) > 1:
        log.warning(
            "not a fleet: the businesses keep their state in %d databases (a fleet needs one "
            "PostgreSQL database for all); scheduling them here, on this machine only",
            len(urls),
        )
        return None
    if importlib.util.find_spec("procrastinate") is None:
        log.warning(
            "not a fleet: procrastinate is not installed (pip install "
            "'milestone-connector[fleet]'); scheduling every business here, on this machine only"
        )
        return None
    return next(iter(on_postgres))
