"""The fleet's rate budgets in PostgreSQL: every worker on every machine draws from the same
counters (connector/budgets.py says what a budget is and where its limits come from).

A draw is one short transaction: the budgets' advisory locks (in one order, so two draws never
deadlock), the calls counted in their windows' recent buckets and the slots held, then one more
call counted (INSERT ... ON CONFLICT DO UPDATE) and a lease taken. Time is the database's
clock, so machines whose clocks disagree still share one window. A lease names the holding
process by the backend id of a connection that process keeps open for its whole life (its
anchor): a process that dies, however, closes it, and its leases stop counting at once; a lease
never given back for another reason stops counting after LEASE seconds. The tables are created
by `connector.fleet.migrate`, with the rest of the fleet's; this module never alters one.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Sequence

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    delete,
    func,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError

from connector.budgets import LEASE, Budget, Refusal, _Drawing, refusal
from connector.fleet import engines

log = logging.getLogger("connector.budgets")

budget_metadata = MetaData()

budget_calls = Table(
    "budget_calls",
    budget_metadata,
    Column("budget", String(200), primary_key=True),
    Column("span", String(16), primary_key=True),  # the window's span: "60s", "86400s"
    Column("bucket", BigInteger, primary_key=True),  # database time // (span / SLICES)
    Column("calls", Integer, nullable=False),
)

budget_leases = Table(
    "budget_leases",
    budget_metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("budget", String(200), nullable=False),
    Column("holder", Integer, nullable=False),  # the holding process's anchor backend pid
    Column("expires", Float, nullable=False),  # database epoch seconds
    Index("budget_leases_budget", "budget"),
)

# pg_advisory_xact_lock(BUDGET_NAMESPACE, hashtext(budget)): apart from the business locks'
# and the migration's namespace (connector.sync.lock.ADVISORY_NAMESPACE).
BUDGET_NAMESPACE = 0x4D44

# The budgets' locks, taken in one order so that two draws never deadlock, then the database's
# clock (read once they are held). A count lost with a crash of the database costs nothing (the
# vendor's window has moved on by the time it is back), so a draw does not wait for its commit
# to reach the disk.
_LOCK_AND_NOW = text(
    "SELECT extract(epoch FROM clock_timestamp())::float8 FROM "
    "(SELECT count(pg_advisory_xact_lock(:ns, h)), "
    "set_config('synchronous_commit', 'off', true) FROM "
    "(SELECT DISTINCT hashtext(k) AS h FROM unnest(:keys) AS k ORDER BY h) AS ordered) AS locks"
).bindparams(bindparam("keys", type_=ARRAY(String)))
# One more call counted in each window's bucket, and a lease on each slot budget, in one
# statement.
_COUNT_AND_LEASE = text(
    "WITH counted AS ("
    " INSERT INTO budget_calls (budget, span, bucket, calls)"
    " SELECT b, s, n, 1 FROM unnest(:budgets, :spans, :buckets) AS u(b, s, n)"
    " ON CONFLICT (budget, span, bucket) DO UPDATE SET calls = budget_calls.calls + 1)"
    " INSERT INTO budget_leases (budget, holder, expires)"
    " SELECT b, :holder, :expires FROM unnest(:leased) AS l(b) RETURNING id"
).bindparams(
    bindparam("budgets", type_=ARRAY(String)),
    bindparam("spans", type_=ARRAY(String)),
    bindparam("buckets", type_=ARRAY(BigInteger)),
    bindparam("leased", type_=ARRAY(String)),
)
# Giving slots back, in one statement of its own transaction, not waiting for the disk either.
_GIVE_BACK = text(
    "DELETE FROM budget_leases WHERE id = ANY(:ids)"
    " AND set_config('synchronous_commit', 'off', true) IS NOT NULL"
).bindparams(bindparam("ids", type_=ARRAY(BigInteger)))
_ALIVE = text("SELECT pid FROM pg_stat_activity")
_PING = text("SELECT 1")


# A process's connections for its budgets at most: its anchor and a small pool for draws.
CONNECTIONS = 4


def create_tables(engine: Engine | Connection) -> None:
    budget_metadata.create_all(engine, checkfirst=True)


class PostgresBudgets(_Drawing):
    """Budgets shared through one PostgreSQL database by every process that draws from it."""

    def __init__(self, url: str, name: str = "connector budgets"):
        args = {"application_name": name[:63]}
        # The anchor keeps one of these; the rest stay open for draws (an overflow connection
        # would be closed and opened again for every few calls).
        self.engine = create_engine(
            url, pool_size=CONNECTIONS, max_overflow=0, pool_pre_ping=True, connect_args=args
        )
        engines.keep(self.engine)
        self._anchor_lock = threading.Lock()
        self._anchor: Connection | None = None
        self._holder = 0

    def holder(self) -> int:
        """This process's anchor: a connection open for its life, named in its leases. It is
        asked first whether it still is open: a server restarted, or a connection dropped
        after idle hours (a daemon keeps its budgets from one night to the next), leaves a
        closed anchor that looks open here, and leases naming its backend would count as a
        dead process's, so every other process would ignore them."""
        with self._anchor_lock:
            if self._anchor is not None and not (self._anchor.closed or self._anchor.invalidated):
                try:
                    self._anchor.execute(_PING)
                    self._anchor.commit()
                except DBAPIError:
                    self._anchor.invalidate()
            if self._anchor is None or self._anchor.closed or self._anchor.invalidated:
                if self._anchor is not None:
                    self._anchor.close()
                self._anchor = self.engine.connect()
                self._holder = int(
                    self._anchor.execute(text("SELECT pg_backend_pid()")).scalar_one()
                )
                self._anchor.commit()
            return self._holder

    def close(self) -> None:
        with self._anchor_lock:
            if self._anchor is not None:
                self._anchor.close()
                self._anchor = None
        self.engine.dispose()

    def _try(self, budgets: Sequence[Budget]) -> tuple[object, float, Refusal | None]:
        holder = self.holder()
        keys = sorted({b.key for b in budgets})
        with self.engine.begin() as conn:
            lock = {"ns": BUDGET_NAMESPACE, "keys": keys}
            now = float(conn.execute(_LOCK_AND_NOW, lock).scalar_one())
            counted = self._counted(conn, budgets, now)
            held = self._held(conn, budgets, now)
            refused = refusal(budgets, now, counted, held)
            if refused is not None:
                return None, now, refused
            counts = [(b.key, w.key, w.bucket(now)) for b in budgets for w in b.windows]
            leased = [b.key for b in budgets if b.at_once is not None]
            ids = list(
                conn.execute(
                    _COUNT_AND_LEASE,
                    {
                        "budgets": [k for k, _, _ in counts],
                        "spans": [s for _, s, _ in counts],
                        "buckets": [n for _, _, n in counts],
                        "leased": leased,
                        "holder": holder,
                        "expires": now + LEASE,
                    },
                ).scalars()
            )
            if random.random() < 0.02:
                self._forget_old(conn, budgets, now)
        return ids, now, None

    def _counted(
        self, conn: Connection, budgets: Sequence[Budget], now: float
    ) -> dict[tuple[str, str], dict[int, int]]:
        pairs = [(b.key, w.key, w.lowest(now)) for b in budgets for w in b.windows]
        if not pairs:
            return {}
        c = budget_calls.c
        query = select(c.budget, c.span, c.bucket, c.calls).where(
            tuple_(c.budget, c.span).in_([(k, s) for k, s, _ in pairs]),
            c.bucket >= min(lo for _, _, lo in pairs),
        )
        counted: dict[tuple[str, str], dict[int, int]] = {}
        for budget, span, bucket, calls in conn.execute(query):
            counted.setdefault((budget, span), {})[int(bucket)] = int(calls)
        return counted

    def _held(self, conn: Connection, budgets: Sequence[Budget], now: float) -> dict[str, int]:
        keys = [b.key for b in budgets if b.at_once is not None]
        if not keys:
            return {}
        c = budget_leases.c
        rows = conn.execute(
            select(c.id, c.budget, c.holder).where(c.budget.in_(keys), c.expires > now)
        ).all()
        if not rows:
            return {}
        leased: dict[str, int] = {}
        for row in rows:
            leased[row.budget] = leased.get(row.budget, 0) + 1
        if all(leased.get(b.key, 0) < (b.at_once or 0) for b in budgets if b.at_once):
            return leased  # room even if every holder is alive: no need to ask which are
        alive = set(conn.execute(_ALIVE).scalars())
        dead = [r.id for r in rows if r.holder not in alive]
        if dead:  # their process is gone: the slots are free again
            conn.execute(delete(budget_leases).where(c.id.in_(dead)))
        held: dict[str, int] = {}
        for row in rows:
            if row.holder in alive:
                held[row.budget] = held.get(row.budget, 0) + 1
        return held

    def _forget_old(self, conn: Connection, budgets: Sequence[Budget], now: float) -> None:
        """Buckets no window counts any more, and leases long expired."""
        for budget in budgets:
            for window in budget.windows:
                conn.execute(
                    delete(budget_calls).where(
                        budget_calls.c.budget == budget.key,
                        budget_calls.c.span == window.key,
                        budget_calls.c.bucket < window.lowest(now),
                    )
                )
        conn.execute(delete(budget_leases).where(budget_leases.c.expires < now - LEASE))

    def _release(self, grant: object) -> None:
        assert isinstance(grant, list)
        if not grant:
            return
        try:
            with self.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                    _GIVE_BACK, {"ids": grant}
                )
        except Exception as exc:  # the lease expires by itself; the call itself went through
            log.warning(
                "could not give back a rate budget slot (%s); it lapses in %.0f s", exc, LEASE
            )


def leases_held(engine: Engine) -> int:
    """For tests and `SELECT`: leases in the table now, expired or not."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(budget_leases)).scalar() or 0)
