"""Opening the state database: the engine for a file or a URL, the schema migrated forward, and
one sentence naming the database when it cannot be used.

Used by `state.State.open` only. A message here never shows a database password.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import create_engine, insert, inspect, make_url, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from connector.errors import StateError
from connector.sync.schema import MIGRATIONS, SCHEMA_VERSION, meta

IN_MEMORY = "sqlite://"


def shown_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "named by state.url (not a database URL)"


def first_line(exc: Exception) -> str:
    """The driver's own words (not SQLAlchemy's wrapping of them), first line only."""
    return (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__])[0]


def open_problem(exc: SQLAlchemyError, where: str, path: Path | None) -> str:
    """One sentence for a database that cannot be opened or written."""
    first = first_line(exc)
    if path is not None:
        folder = path.parent
        if "readonly" in first or "read-only" in first:
            return (
                f"the state database {path} is read-only ({first}); the user running the "
                f"connector must be able to write it and its folder {folder}"
            )
        if "unable to open database file" in first:
            return (
                f"cannot write beside the state database {path} (SQLite keeps its journal in "
                f"the same folder): the user running the connector must be able to write in "
                f"{folder}"
            )
        if "not a database" in first:
            return (
                f"{path} is not a state database ({first}); restore it from a backup, or point "
                "state.path at another file"
            )
    elif isinstance(exc, OperationalError):
        return f"cannot reach the state database {where} (state.url): {first}"
    return f"cannot open the state database {where}: {type(exc).__name__}: {first}"


def database_url(url: str, path: Path | None, *, read_only: bool) -> str:
    """The URL to open: a missing SQLite file is created (mode 0600: it names customers and
    amounts) for a writer, and is an empty in-memory database for a reader, so `plan` writes
    nothing anywhere."""
    if path is not None and path.is_dir():
        raise StateError(f"{path} (state.path) is a folder; it must name the database file")
    if path is None or path.exists():
        return url
    if read_only:
        return IN_MEMORY
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError as exc:
        raise StateError(
            f"cannot create the state database {path}: {exc.strerror}; the user "
            f"running the connector must be able to write in {path.parent}"
        ) from None
    return url


def make_engine(url: str, where: str) -> Engine:
    """One engine for the URL; the in-memory database keeps a single connection, or each
    connection would see a database of its own."""
    try:
        if url == IN_MEMORY:
            return create_engine(url, poolclass=StaticPool)
        return create_engine(url)
    except (ArgumentError, ValueError, ImportError) as exc:
        raise StateError(
            f"cannot use the state database {where} (state.url): {first_line(exc)}"
        ) from None


def check_writable(engine: Engine) -> None:
    """Touch the schema version row and roll back: SQLite refuses this when the file is
    read-only, or when its folder is (the journal is written beside the file). A database
    another process is writing to right now is writable, whatever it answers."""
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            conn.execute(
                update(meta).where(meta.c.key == "schema_version").values(value=meta.c.value)
            )
        except OperationalError as exc:
            if "locked" not in first_line(exc):
                raise
        finally:
            transaction.rollback()


def version(engine: Engine) -> int:
    with engine.connect() as conn:
        if not inspect(conn).has_table("meta"):
            return 0
        row = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).first()
        return int(row[0]) if row else 0


def migrate(engine: Engine, *, allow_write: bool) -> None:
    """Bring the schema up to this release's version, one migration per transaction; a newer
    database is refused, never touched."""
    current = version(engine)
    if current > SCHEMA_VERSION:
        raise StateError(
            f"the state database is at schema version {current}, newer than this "
            f"milestone-connector understands ({SCHEMA_VERSION}); upgrade milestone-connector"
        )
    if current == SCHEMA_VERSION:
        return
    if not allow_write:
        raise StateError(
            f"the state database is at schema version {current}; run `connector sync` once "
            f"to upgrade it to {SCHEMA_VERSION}"
        )
    for number in range(current + 1, SCHEMA_VERSION + 1):
        with engine.begin() as conn:
            if number == 1:
                meta.create(conn, checkfirst=True)
            MIGRATIONS[number](conn)
            conn.execute(meta.delete().where(meta.c.key == "schema_version"))
            conn.execute(insert(meta).values(key="schema_version", value=str(number)))
