"""The fleet's budgets drawn outside a fleet worker: a command run by hand (`connector sync`,
`connector plan`) and the embedded daemon (`connector run` with its businesses on several
databases, or on SQLite and PostgreSQL) draw the ledger calls of a business whose state is on
PostgreSQL from the budgets the fleet shares in that database, so a sync started in the middle
of the night takes its calls from the same company's minute as the workers' syncs (issue 14:
"every worker on every machine draws from the same budget"). A business on SQLite keeps this
process's own budgets: nothing else shares them. This module never installs budgets for the
whole process (a fleet worker does): each sync's choice is its own (`budgets.using`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from connector import budgets
from connector.sync.lock import ADVISORY_NAMESPACE

if TYPE_CHECKING:
    from connector.fleet.budgets import PostgresBudgets

# The fleet's migration lock (connector/fleet/migrate.py): the budget tables are made under it,
# so a command by hand and a worker starting never create them at once.
_MIGRATION = {"ns": ADVISORY_NAMESPACE, "key": -1}


def on_postgresql(state_url: str) -> bool:
    return make_url(state_url).get_backend_name() == "postgresql"


def open_shared(state_url: str, name: str) -> PostgresBudgets | None:
    """The fleet's budgets in `state_url`'s PostgreSQL database, their tables made there under
    the fleet's migration lock if no worker has made them yet; None on another database, or
    when this one cannot be reached (the state's own opening says so, once). The caller closes
    them."""
    if not on_postgresql(state_url):
        return None
    from connector.fleet.budgets import PostgresBudgets, create_tables  # PostgreSQL's only

    if not _tables_made(state_url, create_tables):
        return None
    return PostgresBudgets(state_url, name)


@contextmanager
def shared_budgets(state_url: str, name: str) -> Iterator[None]:
    """While the command runs, its ledger calls draw from the fleet's budgets in `state_url`'s
    PostgreSQL database; elsewhere, as before."""
    if not on_postgresql(state_url):
        yield
        return
    from connector.fleet.budgets import PostgresBudgets

    if isinstance(budgets.current(), PostgresBudgets):  # a fleet worker's: already shared
        yield
        return
    shared = open_shared(state_url, name)
    if shared is None:
        yield
        return
    try:
        with budgets.using(shared):  # this process's own go on counting as before
            yield
    finally:
        shared.close()


class EachDatabase:
    """The embedded daemon's budgets: for a business on PostgreSQL, the fleet's budgets in its
    own database, opened at its first run and kept until `close` (a night of many businesses
    does not open their connections anew for each); for the rest, None: this process's own.
    The key is the state URL as written: two spellings of one database share its counts
    still, at the cost of a few more connections."""

    def __init__(self, name: str):
        self.name = name
        self._lock = threading.Lock()
        self._opening: dict[str, threading.Lock] = {}  # one database's opening waits on no other's
        self._open: dict[str, PostgresBudgets] = {}
        self._closed = False

    def of(self, state_url: str) -> budgets.Budgets | None:
        if not on_postgresql(state_url):
            return None
        with self._lock:
            opening = self._opening.setdefault(state_url, threading.Lock())
        with opening:
            with self._lock:
                if self._closed or state_url in self._open:
                    return self._open.get(state_url)
            made = open_shared(state_url, self.name)  # unreachable: tried again next run
            if made is None:
                return None
            with self._lock:
                kept = not self._closed  # the daemon may have stopped meanwhile
                if kept:
                    self._open[state_url] = made
            if not kept:
                made.close()
                return None
            return made

    def close(self) -> None:
        with self._lock:
            self._closed = True
            opened, self._open = list(self._open.values()), {}
        for shared in opened:
            shared.close()


def _tables_made(state_url: str, create_tables: Callable[[Connection], None]) -> bool:
    """The budget tables made, under the fleet's migration lock; False if the database cannot
    be reached."""
    maker = create_engine(state_url, poolclass=NullPool)
    try:
        with maker.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:ns, :key)"), _MIGRATION)
            try:
                create_tables(conn)
                conn.commit()
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:ns, :key)"), _MIGRATION)
                conn.commit()
        return True
    except SQLAlchemyError:
        return False
    finally:
        maker.dispose()
