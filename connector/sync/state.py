"""The state database: what was billed, what is in flight, what was paid, and every run.

SQLAlchemy Core, SQLite by default, any SQLAlchemy URL (PostgreSQL) instead. The tables and
migrations are in `schema`, the row <-> record conversions in `rows`. Every write is one short
transaction; the schema is migrated forward on open. This module never calls a ledger or a
tracker.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, insert, inspect, make_url, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from connector.errors import StateError
from connector.models import BilledInvoice, InvalidMilestone, Milestone
from connector.money import to_minor
from connector.sync.http_cache import HttpCache
from connector.sync.rows import (
    Change,
    InvoiceRow,
    milestone_from_json,
    milestone_to_json,
    row_from_db,
    row_to_db,
    to_billed,
)
from connector.sync.schema import (
    MIGRATIONS,
    PUSHING,
    SCHEMA_VERSION,
    cursors,
    invoices,
    meta,
    milestones,
    now,
    payments,
    runs,
)


def _shown_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "named by state.url (not a database URL)"


def _first_line(exc: Exception) -> str:
    """The driver's own words (not SQLAlchemy's wrapping of them), first line only."""
    return (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__])[0]


def _open_problem(exc: SQLAlchemyError, where: str, path: Path | None) -> str:
    """One sentence for a database that cannot be opened or written."""
    first = _first_line(exc)
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


class State:
    """One business's view of the state database."""

    def __init__(self, engine: Engine, business: str):
        self.engine = engine
        self.business = business

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(
        cls, url: str, business: str, *, path: Path | None = None, read_only: bool = False
    ) -> State:
        """Open (and migrate) the database. Read-only callers on a missing SQLite file get an
        empty in-memory state instead, so `plan` writes nothing anywhere. A database that cannot
        be used is one `StateError` naming it (the file, or the URL without any password); a
        writer finds out here, before anything is sent, that it could not record what it sends."""
        where = str(path) if path is not None else _shown_url(url)
        if path is not None and path.is_dir():
            raise StateError(f"{path} (state.path) is a folder; it must name the database file")
        if path is not None and not path.exists():
            if read_only:
                url = "sqlite://"
            else:
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
                except OSError as exc:
                    raise StateError(
                        f"cannot create the state database {path}: {exc.strerror}; the user "
                        f"running the connector must be able to write in {path.parent}"
                    ) from None
        try:
            engine = (
                create_engine(url, poolclass=StaticPool)
                if url == "sqlite://"
                else create_engine(url)
            )
        except (ArgumentError, ValueError, ImportError) as exc:
            raise StateError(
                f"cannot use the state database {where} (state.url): {_first_line(exc)}"
            ) from None
        try:
            state = cls(engine, business)
            state._migrate(allow_write=not read_only or url == "sqlite://")
            if path is not None and not read_only:
                state._check_writable()
        except SQLAlchemyError as exc:
            raise StateError(_open_problem(exc, where, path)) from None
        return state

    def _check_writable(self) -> None:
        """Touch the schema version row and roll back: SQLite refuses this when the file is
        read-only, or when its folder is (the journal is written beside the file). A database
        another process is writing to right now is writable, whatever it answers."""
        with self.engine.connect() as conn:
            transaction = conn.begin()
            try:
                conn.execute(
                    update(meta).where(meta.c.key == "schema_version").values(value=meta.c.value)
                )
            except OperationalError as exc:
                if "locked" not in _first_line(exc):
                    raise
            finally:
                transaction.rollback()

    def version(self) -> int:
        with self.engine.connect() as conn:
            if not inspect(conn).has_table("meta"):
                return 0
            row = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).first()
            return int(row[0]) if row else 0

    def _migrate(self, *, allow_write: bool) -> None:
        current = self.version()
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
        for version in range(current + 1, SCHEMA_VERSION + 1):
            with self.engine.begin() as conn:
                if version == 1:
                    meta.create(conn, checkfirst=True)
                MIGRATIONS[version](conn)
                conn.execute(meta.delete().where(meta.c.key == "schema_version"))
                conn.execute(insert(meta).values(key="schema_version", value=str(version)))

    # -- invoices ------------------------------------------------------------------------------

    def invoice_rows(self, states: Iterable[str] | None = None) -> list[InvoiceRow]:
        query = select(invoices).where(invoices.c.business == self.business)
        if states is not None:
            query = query.where(invoices.c.state.in_([str(s) for s in states]))
        with self.engine.connect() as conn:
            return [row_from_db(r._mapping) for r in conn.execute(query.order_by(invoices.c.id))]

    def history(self) -> list[BilledInvoice]:
        return [to_billed(row) for row in self.invoice_rows()]

    def record_intents(self, rows: Sequence[InvoiceRow]) -> None:
        """Commit every intent (state `pushing`) in one transaction, before any ledger call."""
        if not rows:
            return
        stamp = now()
        with self.engine.begin() as conn:
            conn.execute(
                insert(invoices),
                [
                    {
                        **row_to_db(row),
                        "business": self.business,
                        "state": str(PUSHING),
                        "paid_minor": 0,
                        "created_at": stamp,
                        "updated_at": stamp,
                    }
                    for row in rows
                ],
            )

    def forget_intents(self, keys: Iterable[str]) -> None:
        """Drop intents that were never sent (a run that stopped before their ledger call).
        Only rows still `pushing` go; anything the ledger may have seen stays."""
        with self.engine.begin() as conn:
            conn.execute(
                invoices.delete().where(
                    invoices.c.business == self.business,
                    invoices.c.key.in_(list(keys)),
                    invoices.c.state == PUSHING,
                )
            )

    def update_invoices(self, changes: Sequence[Change]) -> None:
        """Several row updates in one transaction (a batch's results land together)."""
        if not changes:
            return
        stamp = now()
        with self.engine.begin() as conn:
            for key, values in changes:
                conn.execute(
                    update(invoices)
                    .where(invoices.c.business == self.business, invoices.c.key == key)
                    .values(**values, updated_at=stamp)
                )

    def record_payments(
        self, key: str, currency: str, items: Iterable[tuple[str, Decimal, date, bool]]
    ) -> None:
        with self.engine.begin() as conn:
            for payment_id, amount, paid_on, deleted in items:
                found = conn.execute(
                    select(payments.c.id).where(
                        payments.c.business == self.business,
                        payments.c.invoice_key == key,
                        payments.c.payment_id == payment_id,
                    )
                ).first()
                values = {
                    "amount_minor": to_minor(amount, currency),
                    "currency": currency,
                    "paid_on": paid_on.isoformat(),
                    "deleted": deleted,
                }
                if found:
                    conn.execute(update(payments).where(payments.c.id == found[0]).values(**values))
                else:
                    conn.execute(
                        insert(payments).values(
                            business=self.business, invoice_key=key, payment_id=payment_id, **values
                        )
                    )

    def payment_rows(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [
                dict(r._mapping)
                for r in conn.execute(
                    select(payments)
                    .where(payments.c.business == self.business)
                    .order_by(payments.c.id)
                )
            ]

    # -- milestones snapshot ------------------------------------------------------------------

    def snapshot(self) -> tuple[list[Milestone], list[InvalidMilestone]]:
        good, bad = [], []
        with self.engine.connect() as conn:
            for row in conn.execute(
                select(milestones)
                .where(milestones.c.business == self.business)
                .order_by(milestones.c.id)
            ):
                data = json.loads(row.record)
                if row.valid:
                    good.append(milestone_from_json(data))
                else:
                    bad.append(
                        InvalidMilestone(
                            data["id"], data["contract"], data["message"], data["where"]
                        )
                    )
        return good, bad

    def save_snapshot(
        self,
        good: Sequence[Milestone],
        bad: Sequence[InvalidMilestone],
        reasons: dict[str, tuple[str, str]],
    ) -> None:
        """Replace the known milestones with this set and their latest decisions."""
        stamp = now()
        rows = [
            {"milestone": m.id, "record": json.dumps(milestone_to_json(m)), "valid": True}
            for m in good
        ]
        rows += [
            {
                "milestone": b.id or f"?{b.where}",
                "valid": False,
                "record": json.dumps(
                    {"id": b.id, "contract": b.contract, "message": b.message, "where": b.where}
                ),
            }
            for b in bad
        ]
        seen: set[str] = set()
        unique = []
        for row in rows:  # duplicate ids in the tracker: keep one row, all are invalid anyway
            mid = str(row["milestone"])
            if mid not in seen:
                seen.add(mid)
                unique.append(row)
        with self.engine.begin() as conn:
            conn.execute(milestones.delete().where(milestones.c.business == self.business))
            if unique:
                conn.execute(
                    insert(milestones),
                    [
                        {
                            **row,
                            "business": self.business,
                            "seen_at": stamp,
                            "reason": reasons.get(str(row["milestone"]), (None, None))[0],
                            "message": reasons.get(str(row["milestone"]), (None, None))[1],
                        }
                        for row in unique
                    ],
                )

    def milestone_rows(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [
                dict(r._mapping)
                for r in conn.execute(
                    select(milestones)
                    .where(milestones.c.business == self.business)
                    .order_by(milestones.c.milestone)
                )
            ]

    @property
    def http_cache(self) -> HttpCache:
        return HttpCache(self.engine, self.business)

    # -- cursors and runs ----------------------------------------------------------------------

    def cursor(self, name: str) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(cursors.c.value).where(
                    cursors.c.business == self.business, cursors.c.name == name
                )
            ).first()
            return row[0] if row else None

    def set_cursors(self, values: dict[str, str | None]) -> None:
        with self.engine.begin() as conn:
            for name, value in values.items():
                if value is None:
                    continue
                conn.execute(
                    cursors.delete().where(
                        cursors.c.business == self.business, cursors.c.name == name
                    )
                )
                conn.execute(insert(cursors).values(business=self.business, name=name, value=value))

    def start_run(self) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(runs).values(business=self.business, started_at=now(), outcome="running")
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def finish_run(
        self, run_id: int, outcome: str, counts: dict[str, int], problems: list[str]
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(
                    finished_at=now(),
                    outcome=outcome,
                    counts=json.dumps(counts),
                    problems=json.dumps(problems),
                )
            )

    def last_run(self) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(runs)
                .where(runs.c.business == self.business)
                .order_by(runs.c.id.desc())
                .limit(1)
            ).first()
            return dict(row._mapping) if row else None

    def count_runs(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(runs).where(runs.c.business == self.business)
                ).scalar_one()
            )
