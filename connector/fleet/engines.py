"""Engines a sync opened, disposed of when it ends.

`State.open` makes a SQLAlchemy engine with its own connection pool on every run; nothing closes
it, so a daemon syncing many businesses on PostgreSQL held dozens of idle connections until the
garbage collector came by (issue 14 counted 39 for one daemon, 78 for two, of the server's 100).
Inside `disposed_engines()` every engine that opens a connection in this thread (or task) is
noted, and disposed of on the way out, so a process holds connections only for the syncs running
in it. This module never opens a connection itself.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import Connection, Engine, event

_SEEN: ContextVar[set[Engine] | None] = ContextVar("connector_engines_seen", default=None)
_KEPT: weakref.WeakSet[Engine] = weakref.WeakSet()


def keep(engine: Engine) -> None:
    """`engine` lives as long as its process (the rate budgets'): a sync that draws through it
    must not dispose of it, or every sync would open its connections anew."""
    _KEPT.add(engine)


def _note(conn: Connection) -> None:
    seen = _SEEN.get()
    if seen is not None and conn.engine not in _KEPT:
        seen.add(conn.engine)


# Every Engine, whoever made it: State.open's, the lock's, a plugin's.
event.listen(Engine, "engine_connect", _note)


@contextmanager
def disposed_engines() -> Iterator[None]:
    """Dispose of every engine first connected inside this block when it ends (however)."""
    seen: set[Engine] = set()
    token = _SEEN.set(seen)
    try:
        yield
    finally:
        _SEEN.reset(token)
        for engine in seen:
            engine.dispose()
