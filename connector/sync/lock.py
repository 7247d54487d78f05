"""One sync per business at a time, across processes: `connector run` and a manual
`connector sync` share this lock, and the one that finds it held says who holds it.

The holder is written to a small file beside the lock (the lock file itself is truncated by
every process that tries it, so it cannot carry the name). When the state lives in PostgreSQL,
which other machines may share, an advisory lock in that database is taken as well; its holder
is named by the connection's application_name.
"""

from __future__ import annotations

import hashlib
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

import platformdirs
from filelock import FileLock, Timeout
from sqlalchemy import Connection, Engine, create_engine, make_url, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from connector.config import Config, slug
from connector.errors import LockHeld, StateError


def lock_path(config: Config) -> Path:
    if config.state_path is not None:
        return config.state_path.with_name(config.state_path.name + ".lock")
    return (
        Path(platformdirs.user_data_dir("milestone-connector"))
        / "locks"
        / (slug(config.business.name) + ".lock")
    )


def _holder_path(path: Path) -> Path:
    return path.with_name(path.name + ".holder")


def _describe_self() -> str:
    command = " ".join(["connector", *sys.argv[1:2]]) if sys.argv[1:2] else "connector"
    started = datetime.now(UTC).isoformat(timespec="seconds")
    return f"{command} (pid {os.getpid()} on {socket.gethostname()}, since {started})"


def _holder(path: Path) -> str:
    with suppress(OSError):
        text = _holder_path(path).read_text().strip()
        if text:
            return text
    return "another process"


@contextmanager
def business_lock(config: Config) -> Iterator[None]:
    with _file_lock(config), _database_lock(config):
        yield


# Advisory locks are (namespace, key) pairs of 32-bit integers; this namespace is ours.
ADVISORY_NAMESPACE = 0x4D43  # "MC"


def _advisory_key(business: str) -> int:
    return int.from_bytes(hashlib.sha256(business.encode()).digest()[:4], "big") >> 1


@contextmanager
def _database_lock(config: Config) -> Iterator[None]:
    url = make_url(config.state_url)
    if url.get_backend_name() != "postgresql":
        yield
        return
    me = _describe_self()[:63]  # application_name holds at most 63 characters
    engine = create_engine(
        url, poolclass=NullPool, isolation_level="AUTOCOMMIT", connect_args={"application_name": me}
    )
    key = _advisory_key(config.business.name)
    try:
        with _connected(engine, url.render_as_string(hide_password=True)) as conn:
            args = {"ns": ADVISORY_NAMESPACE, "key": key}
            if not conn.execute(text("SELECT pg_try_advisory_lock(:ns, :key)"), args).scalar():
                holder = conn.execute(
                    text(
                        "SELECT a.application_name, a.client_addr FROM pg_locks l "
                        "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
                        "AND l.granted AND l.classid = :ns AND l.objid = :key AND l.objsubid = 2"
                    ),
                    args,
                ).first()
                who = (
                    f"{holder[0] or 'a process'} from {holder[1] or 'this machine'}"
                    if holder
                    else "another process"
                )
                raise LockHeld(
                    f"{config.business.name!r} is being synced by {who} (a lock in the state "
                    "database); wait for it to finish"
                )
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:ns, :key)"), args)
    finally:
        engine.dispose()


@contextmanager
def _connected(engine: Engine, shown: str) -> Iterator[Connection]:
    """A connection, or one sentence naming the database that cannot be reached."""
    try:
        conn = engine.connect()
    except SQLAlchemyError as exc:
        why = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StateError(f"cannot reach the state database {shown} (state.url): {why}") from None
    with conn:
        yield conn


def _unwritable(path: Path, exc: OSError, config: Config) -> StateError:
    folder = "the state database's folder" if config.state_path else "the connector's lock folder"
    return StateError(
        f"cannot write the lock file {path}: {exc.strerror}; the user running the connector "
        f"must be able to write in {path.parent}, {folder}"
    )


@contextmanager
def _file_lock(config: Config) -> Iterator[None]:
    path = lock_path(config)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unwritable(path, exc, config) from None
    lock = FileLock(str(path), timeout=0, mode=0o600)
    try:
        lock.acquire()
    except Timeout:
        raise LockHeld(
            f"{config.business.name!r} is being synced by {_holder(path)}; wait for it to "
            f"finish (lock {path})"
        ) from None
    except OSError as exc:
        raise _unwritable(path, exc, config) from None
    holder = _holder_path(path)
    try:
        try:
            fd = os.open(holder, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        except OSError as exc:
            raise _unwritable(holder, exc, config) from None
        with os.fdopen(fd, "w") as f:
            f.write(_describe_self() + "\n")
        yield
    finally:
        with suppress(OSError):
            holder.unlink()
        lock.release()
