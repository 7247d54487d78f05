"""The state database: what was billed, what is in flight, what was paid, and every run.

SQLAlchemy Core, SQLite by default, any SQLAlchemy URL (PostgreSQL) instead. Money is stored as
integer minor units beside an ISO currency code, never as a float. Every write is one short
transaction; the schema carries a version and is migrated forward on open. This module never
calls a ledger or a tracker.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    func,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import StaticPool

from connector.errors import StateError
from connector.models import BilledInvoice, InvalidMilestone, Kind, Line, Milestone, Role, Status
from connector.money import from_minor, to_minor

SCHEMA_VERSION = 2

# Outbox states of an invoice row. `pushing` means the intent is committed and the ledger may or
# may not have the document: a run that finds one asks the ledger before sending anything.
PUSHING, PUSHED, PARTIALLY_PAID, PAID = "pushing", "pushed", "partially_paid", "paid"
VOIDED, CREDITED, FAILED = "voided", "credited", "failed"
# Voided or deleted by a person in the ledger: still counts as billed, so the milestone is never
# silently billed again; reported until someone decides what to do.
VOIDED_IN_LEDGER = "voided_in_ledger"
ACTIVE_STATES = (PUSHING, PUSHED, PARTIALLY_PAID, PAID, VOIDED_IN_LEDGER)

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

invoices = Table(
    "invoices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("business", String(200), nullable=False),
    Column("key", String(64), nullable=False),
    Column("reference", String(32), nullable=False),
    Column("action", String(16), nullable=False),  # create | void
    Column("contract", String(200), nullable=False),
    Column("customer", String(500), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("milestones", Text, nullable=False),  # JSON list of ids
    Column("milestone_hashes", Text, nullable=False),  # JSON [[id, hash], ...]
    Column("revision", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("invoice_date", String(10), nullable=False),
    Column("due_date", String(10), nullable=False),
    Column("lines", Text, nullable=False),  # JSON [{description, amount_minor, role, milestone}]
    Column("total_minor", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("replaces", String(64)),
    Column("ledger_id", String(64)),
    Column("number", String(64)),
    Column("paid_minor", Integer, nullable=False, default=0),
    Column("balance_minor", Integer),
    Column("error", Text),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    UniqueConstraint("business", "key", name="uq_invoices_key"),
)

payments = Table(
    "payments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("business", String(200), nullable=False),
    Column("invoice_key", String(64), nullable=False),
    Column("payment_id", String(64), nullable=False),
    Column("amount_minor", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("paid_on", String(10), nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    UniqueConstraint("business", "invoice_key", "payment_id", name="uq_payments"),
)

milestones = Table(
    "milestones",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("business", String(200), nullable=False),
    Column("milestone", String(200), nullable=False),
    Column("record", Text, nullable=False),  # JSON of the milestone, or of why it is invalid
    Column("valid", Boolean, nullable=False),
    Column("reason", String(32)),  # last decision: None when billed
    Column("message", Text),
    Column("seen_at", String(32), nullable=False),
    UniqueConstraint("business", "milestone", name="uq_milestones"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("business", String(200), nullable=False),
    Column("started_at", String(32), nullable=False),
    Column("finished_at", String(32)),
    Column("outcome", String(16)),  # ok | problems | failed | running
    Column("counts", Text),  # JSON {name: int}
    Column("problems", Text),  # JSON [str]
)

cursors = Table(
    "cursors",
    metadata,
    Column("business", String(200), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)


# Tracker responses by request, so that a night with no changes costs only 304s. Keys are
# hashed (the request's address may be long); no request headers are ever stored.
http_cache = Table(
    "http_cache",
    metadata,
    Column("business", String(200), primary_key=True),
    Column("key", String(64), primary_key=True),  # sha256 of the source's request key
    Column("etag", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("stored_at", String(32), nullable=False),
)


def _v1(conn: Connection) -> None:
    metadata.create_all(conn)


def _v2(conn: Connection) -> None:
    http_cache.create(conn, checkfirst=True)


# Migration N takes a database at version N-1 to version N. Append, never edit.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _v1, 2: _v2}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class HttpCache:
    """ETag and body of tracker responses, per business. Sources use it for conditional
    requests; losing it costs one full read, never a wrong invoice."""

    def __init__(self, engine: Engine, business: str):
        self.engine = engine
        self.business = business

    @staticmethod
    def _hash(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    def get(self, key: str) -> tuple[str, str] | None:
        query = select(http_cache.c.etag, http_cache.c.body).where(
            http_cache.c.business == self.business, http_cache.c.key == self._hash(key)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return (row[0], row[1]) if row else None

    def put(self, key: str, etag: str, body: str) -> None:
        hashed = self._hash(key)
        with self.engine.begin() as conn:
            conn.execute(
                http_cache.delete().where(
                    http_cache.c.business == self.business, http_cache.c.key == hashed
                )
            )
            conn.execute(
                insert(http_cache).values(
                    business=self.business, key=hashed, etag=etag, body=body, stored_at=now()
                )
            )


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
        empty in-memory state instead, so `plan` writes nothing anywhere."""
        if path is not None and not path.exists():
            if read_only:
                url = "sqlite://"
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        try:
            engine = (
                create_engine(url, poolclass=StaticPool)
                if url == "sqlite://"
                else create_engine(url)
            )
            state = cls(engine, business)
            state._migrate(allow_write=not read_only or url == "sqlite://")
        except SQLAlchemyError as exc:
            raise StateError(
                f"cannot open the state database: {exc.__class__.__name__}: "
                f"{str(exc).splitlines()[0]}"
            ) from None
        return state

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

    def invoice_rows(self, states: Iterable[str] | None = None) -> list[dict[str, Any]]:
        query = select(invoices).where(invoices.c.business == self.business)
        if states is not None:
            query = query.where(invoices.c.state.in_(list(states)))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query.order_by(invoices.c.id))]

    def history(self) -> list[BilledInvoice]:
        return [to_billed(row) for row in self.invoice_rows()]

    def record_intents(self, rows: Sequence[dict[str, Any]]) -> None:
        """Commit every intent (state `pushing`) in one transaction, before any ledger call."""
        if not rows:
            return
        stamp = now()
        with self.engine.begin() as conn:
            conn.execute(
                insert(invoices),
                [
                    {
                        **row,
                        "business": self.business,
                        "state": PUSHING,
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

    def update_invoices(self, changes: Sequence[tuple[str, dict[str, Any]]]) -> None:
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
            if row["milestone"] not in seen:
                seen.add(row["milestone"])
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
                            "reason": reasons.get(row["milestone"], (None, None))[0],
                            "message": reasons.get(row["milestone"], (None, None))[1],
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


# -- row <-> record conversions ------------------------------------------------------------


def lines_to_json(lines: Sequence[Line], currency: str) -> str:
    return json.dumps(
        [
            {
                "description": ln.description,
                "amount_minor": to_minor(ln.amount, currency),
                "role": str(ln.role),
                "milestone": ln.milestone,
            }
            for ln in lines
        ]
    )


def lines_from_json(text: str, currency: str) -> tuple[Line, ...]:
    return tuple(
        Line(
            d["description"],
            from_minor(d["amount_minor"], currency),
            Role(d["role"]),
            d["milestone"],
        )
        for d in json.loads(text)
    )


def to_billed(row: dict[str, Any]) -> BilledInvoice:
    currency = row["currency"]
    return BilledInvoice(
        key=row["key"],
        contract=row["contract"],
        kind=Kind(row["kind"]),
        milestones=tuple(json.loads(row["milestones"])),
        lines=lines_from_json(row["lines"], currency),
        active=row["state"] in ACTIVE_STATES,
        revision=row["revision"],
        milestone_hashes=tuple(tuple(p) for p in json.loads(row["milestone_hashes"])),  # type: ignore[misc]
        paid=from_minor(row["paid_minor"] or 0, currency),
        number=row["number"],
        total=from_minor(row["total_minor"], currency),
        date=date.fromisoformat(row["invoice_date"]),
    )


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def milestone_to_json(m: Milestone) -> dict[str, Any]:
    return {
        "id": m.id,
        "contract": m.contract,
        "title": m.title,
        "percent": _dec(m.percent),
        "amount": _dec(m.amount),
        "status": str(m.status),
        "completed": m.completed.isoformat() if m.completed else None,
        "accepted": m.accepted.isoformat() if m.accepted else None,
        "terms_days": m.terms_days,
        "where": m.where,
        "currency": m.currency,
    }


def milestone_from_json(d: dict[str, Any]) -> Milestone:
    def day(v: str | None) -> date | None:
        return date.fromisoformat(v) if v else None

    return Milestone(
        id=d["id"],
        contract=d["contract"],
        title=d["title"],
        percent=Decimal(d["percent"]) if d["percent"] is not None else None,
        amount=Decimal(d["amount"]) if d["amount"] is not None else None,
        status=Status(d["status"]),
        completed=day(d["completed"]),
        accepted=day(d["accepted"]),
        terms_days=d["terms_days"],
        where=d["where"],
        currency=d.get("currency"),
    )
