"""A command run by hand (`connector sync`, `connector plan`) for a business whose state is on
PostgreSQL draws its ledger calls from the budgets the fleet shares there, so a sync started in
the middle of the night takes its calls from the same company's minute as the workers' syncs
(issue 14: "every worker on every machine draws from the same budget"). A business on SQLite
keeps this process's own budgets: nothing else shares them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from connector import budgets
from connector.sync.lock import ADVISORY_NAMESPACE

# The fleet's migration lock (connector/fleet/migrate.py): the budget tables are made under it,
# so a command by hand and a worker starting never create them at once.
_MIGRATION = {"ns": ADVISORY_NAMESPACE, "key": -1}


@contextmanager
def shared_budgets(state_url: str, name: str) -> Iterator[None]:
    """While the command runs, its ledger calls draw from the fleet's budgets in `state_url`'s
    PostgreSQL database (made there if no worker has made them yet); elsewhere, as before."""
    if make_url(state_url).get_backend_name() != "postgresql":
        yield
        return
    from connector.fleet.budgets import PostgresBudgets, create_tables  # PostgreSQL's only

    own = budgets.current()
    if isinstance(own, PostgresBudgets):  # a fleet worker's: already shared
        yield
        return
    if not _tables_made(state_url, create_tables):
        yield  # unreachable, or refused: the state's own opening says so, once
        return
    shared = PostgresBudgets(state_url, name)
    budgets.install(shared)
    try:
        yield
    finally:
        budgets.install(own)  # what this process counted before goes on counting
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
