"""The fleet's database, made ready once before any worker starts: procrastinate's schema, the
state schema, the fleet's slot record and its rate budgets, all under one PostgreSQL advisory
lock.

Two daemons migrating one fresh database at once failed with a UniqueViolation on pg_type (issue
14: five businesses lost their night). Here each starting worker waits for the lock, finds the
work done by the first, and goes on. Nothing else in the fleet creates or alters a table.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine, inspect, text

from connector.fleet.budgets import create_tables as create_budget_tables
from connector.fleet.slots import SlotBook
from connector.sync.lock import ADVISORY_NAMESPACE
from connector.sync.state import State

log = logging.getLogger("connector.fleet")

# (ADVISORY_NAMESPACE, MIGRATION_KEY): a business's lock key is a hash shifted right by one, so
# it is never negative; this one is, and can never be a business's.
MIGRATION_KEY = -1


def migrate_once(engine: Engine, url: str) -> None:
    """Bring every table the fleet uses up to date, waiting for any other worker doing it."""
    args = {"ns": ADVISORY_NAMESPACE, "key": MIGRATION_KEY}
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:ns, :key)"), args)
        conn.commit()
        try:
            if not inspect(conn).has_table("procrastinate_jobs"):
                log.info("creating the job queue's tables (procrastinate)")
                _apply_procrastinate_schema(conn.connection.driver_connection)
            conn.commit()
            # The state schema (State.open migrates it forward) and the fleet's slot record.
            State.open(url, "").engine.dispose()
            SlotBook(engine).create()
            create_budget_tables(engine)
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:ns, :key)"), args)
            conn.commit()


def _apply_procrastinate_schema(raw: object) -> None:
    """procrastinate's own schema file, as `procrastinate schema --apply` runs it."""
    import psycopg
    from procrastinate.schema import SchemaManager

    assert isinstance(raw, psycopg.Connection)
    with raw.transaction():
        raw.execute(SchemaManager.get_schema())
