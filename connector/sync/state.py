"""The state database: what was billed, what is in flight, what was paid, and every run.

SQLAlchemy Core, SQLite by default, any SQLAlchemy URL (PostgreSQL) instead. The tables and
migrations are in `schema`; opening and migrating in `state_open`; the run book and cursors in
`state_runs`; the milestones last read in `state_milestones`; invoice rows <-> records in `rows`,
the other records in `state_records`. `State` is the one door to all of them: every read hands
out frozen records, every write is one short transaction, and the schema is migrated forward on
open. This module never calls a ledger or a tracker.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from itertools import groupby
from pathlib import Path

from sqlalchemy import Connection, RowMapping, bindparam, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from connector.errors import StateError
from connector.models import BilledInvoice, InvalidMilestone, Milestone
from connector.money import to_minor
from connector.perf import paused_gc
from connector.sync import state_milestones, state_runs
from connector.sync import state_open as opening
from connector.sync.http_cache import HttpCache
from connector.sync.rows import (
    ROW_COLUMNS,
    Change,
    InvoiceRow,
    row_to_db,
    rows_from_db,
    to_billed,
)
from connector.sync.schema import PUSHING, cursors, invoices, now, payments
from connector.sync.state_records import MilestoneNote, MilestoneRow, PaymentRow, RunRow

__all__ = ["MilestoneNote", "MilestoneRow", "PaymentRow", "RunRow", "State"]

QUIET_STAMP = "billing"  # the cursor holding a quiet night's stamp (`quiet`)
_IN_CHUNK = 500  # keys per `IN (...)`: well within every database's limit on parameters


class State:
    """One business's view of the state database."""

    def __init__(self, engine: Engine, business: str):
        self.engine = engine
        self.business = business
        # The invoice rows by key, kept in step with every write once `keep_rows` is asked:
        # a run reads them once, not once per step (77k rows take seconds to decode).
        self._rows: dict[str, InvoiceRow] | None = None
        self._of_contract: dict[str, dict[str, None]] = {}  # contract -> its keys, in order
        self._keeping = False  # `keep_rows` asked: the first read of every row keeps them
        self._stamped = True  # a quiet night's stamp may be stored (`quiet`): writes delete it

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(
        cls, url: str, business: str, *, path: Path | None = None, read_only: bool = False
    ) -> State:
        """Open (and migrate) the database. Read-only callers on a missing SQLite file get an
        empty in-memory state instead, so `plan` writes nothing anywhere. A database that cannot
        be used is one `StateError` naming it (the file, or the URL without any password); a
        writer finds out here, before anything is sent, that it could not record what it sends."""
        where = str(path) if path is not None else opening.shown_url(url)
        url = opening.database_url(url, path, read_only=read_only)
        engine = opening.make_engine(url, where)
        try:
            opening.migrate(engine, allow_write=not read_only or url == opening.IN_MEMORY)
            if path is not None and not read_only:
                opening.check_writable(engine)
        except SQLAlchemyError as exc:
            raise StateError(opening.open_problem(exc, where, path)) from None
        return cls(engine, business)

    def version(self) -> int:
        return opening.version(self.engine)

    # -- invoices ------------------------------------------------------------------------------

    def keep_rows(self) -> None:
        """Keep the invoice rows in memory once they are first read whole, in step with this
        object's writes; until then, rows asked for by state are read from the database (a
        quiet night never reads them all). Only for a writer that holds the business's lock (a
        run): nobody else writes its rows meanwhile, so the copy stays true."""
        self._keeping = True

    def _kept(self) -> dict[str, InvoiceRow] | None:
        if self._rows is None and self._keeping:
            self._rows = {}
            self._keep(self._read_rows(None))
        return self._rows

    def drop_rows(self) -> None:
        """Forget the rows `keep_rows` read (reads go to the database again)."""
        self._rows = None
        self._of_contract = {}
        self._keeping = False

    def invoice_mark(self) -> tuple[int, int, str]:
        """How many invoice rows the business has, the highest row id and the latest update:
        a write to any row since changes it (every write stamps `updated_at`)."""
        from sqlalchemy import func

        query = select(
            func.count(invoices.c.id), func.max(invoices.c.id), func.max(invoices.c.updated_at)
        ).where(invoices.c.business == self.business)
        with self.engine.connect() as conn:
            count, top, latest = conn.execute(query).one()
        return int(count), int(top or 0), str(latest or "")

    def _keep(self, rows: Iterable[InvoiceRow]) -> None:
        assert self._rows is not None
        for row in rows:
            self._rows[row.key] = row
            self._of_contract.setdefault(row.contract, {})[row.key] = None

    def invoice_rows(self, states: Iterable[str] | None = None) -> list[InvoiceRow]:
        """In the order they were written."""
        if self._rows is None and (states is not None or not self._keeping):
            return self._read_rows(states)
        rows = self._kept()
        assert rows is not None
        if states is None:
            return list(rows.values())
        wanted = {str(s) for s in states}
        return [r for r in rows.values() if r.state in wanted]

    def invoice_rows_of(self, contracts: Collection[str]) -> list[InvoiceRow]:
        """The rows of these contracts only, in the order they were written."""
        if self._rows is None:
            query = select(*ROW_COLUMNS).where(
                invoices.c.business == self.business, invoices.c.contract.in_(list(contracts))
            )
            with self.engine.connect() as conn:
                return rows_from_db(conn.execute(query.order_by(invoices.c.id)))
        rows = self._rows
        found = [rows[k] for c in contracts for k in self._of_contract.get(c, ())]
        return sorted(found, key=lambda r: r.id) if len(contracts) > 1 else found

    def invoice_ids_by_contract(self) -> tuple[dict[str, list[int]], bool]:
        """Each contract's row ids, in the order they were written, and whether any row is
        in doubt (`pushing`): a plan made a contract at a time reads a few contracts' rows by
        id (the rows have no index by contract), and only when nothing is in doubt."""
        query = select(invoices.c.contract, invoices.c.id, invoices.c.state).where(
            invoices.c.business == self.business
        )
        out: dict[str, list[int]] = {}
        doubt = False
        with self.engine.connect() as conn:
            for contract, row_id, state in conn.execute(query.order_by(invoices.c.id)):
                out.setdefault(contract, []).append(row_id)
                doubt = doubt or state == PUSHING
        return out, doubt

    def invoice_rows_by_id(self, ids: Sequence[int]) -> list[InvoiceRow]:
        """These rows (ids in the order they were written: `invoice_ids_by_contract`'s), in
        that order; asked for in pieces well under SQLite's limit of bound parameters."""
        rows: list[InvoiceRow] = []
        with self.engine.connect() as conn, paused_gc():
            for start in range(0, len(ids), 5000):
                piece = list(ids[start : start + 5000])
                # by id alone (ids are this business's, from `invoice_ids_by_contract`):
                # with the business named too SQLite took four times as long
                query = select(*ROW_COLUMNS).where(invoices.c.id.in_(piece))
                rows += rows_from_db(conn.execute(query.order_by(invoices.c.id)))
        return rows

    def invoice_row(self, key: str) -> InvoiceRow | None:
        if self._rows is not None:
            return self._rows.get(key)
        found = self._read_rows(None, keys=[key])
        return found[0] if found else None

    def _read_rows(
        self, states: Iterable[str] | None, keys: Sequence[str] | None = None
    ) -> list[InvoiceRow]:
        query = select(*ROW_COLUMNS).where(invoices.c.business == self.business)
        if states is not None:
            query = query.where(invoices.c.state.in_([str(s) for s in states]))
        if keys is not None:
            query = query.where(invoices.c.key.in_(list(keys)))
        with self.engine.connect() as conn, paused_gc():  # many small acyclic records
            return rows_from_db(conn.execute(query.order_by(invoices.c.id)))

    def history(self) -> list[BilledInvoice]:
        return [to_billed(row) for row in self.invoice_rows()]

    def record_intents(self, rows: Sequence[InvoiceRow]) -> None:
        """Commit every intent (state `pushing`) in one transaction, before any ledger call."""
        if not rows:
            return
        stamp = now()
        with self.engine.begin() as conn:
            self._unstamp(conn)
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
        if self._rows is not None:  # as recorded: their ids and time stamps
            keys = [row.key for row in rows]
            for start in range(0, len(keys), _IN_CHUNK):
                self._keep(self._read_rows(None, keys[start : start + _IN_CHUNK]))

    def forget_intents(self, keys: Iterable[str]) -> None:
        """Drop intents that were never sent (a run that stopped before their ledger call).
        Only rows still `pushing` go; anything the ledger may have seen stays."""
        keys = list(keys)
        with self.engine.begin() as conn:
            self._unstamp(conn)
            conn.execute(
                invoices.delete().where(
                    invoices.c.business == self.business,
                    invoices.c.key.in_(list(keys)),
                    invoices.c.state == PUSHING,
                )
            )
        if self._rows is not None:
            for key in keys:
                row = self._rows.get(key)
                if row is not None and row.state == PUSHING:
                    del self._rows[key]
                    del self._of_contract[row.contract][key]

    def update_invoices(self, changes: Sequence[Change]) -> None:
        """Several row updates in one transaction (a batch's results land together)."""
        if not changes:
            return
        stamp = now()
        with self.engine.begin() as conn:
            self._unstamp(conn)
            # one statement per run of changes to the same columns, in order (a night after
            # a large first sync records 77k payment pulls: one statement each took minutes)
            for columns, run in groupby(changes, key=lambda change: tuple(change[1])):
                conn.execute(
                    update(invoices)
                    .where(
                        invoices.c.business == bindparam("_business"),
                        invoices.c.key == bindparam("_key"),
                    )
                    .values({c: bindparam(f"_{c}") for c in (*columns, "updated_at")}),
                    [
                        {
                            "_business": self.business,
                            "_key": key,
                            "_updated_at": stamp,
                            **{f"_{c}": v for c, v in values.items()},
                        }
                        for key, values in run
                    ],
                )
        if self._rows is not None:
            for key, values in changes:
                row = self._rows.get(key)
                if row is not None:
                    self._rows[key] = row.updated(values)._replace(updated_at=stamp)

    def _unstamp(self, conn: Connection) -> None:
        """In the transaction of a write to the invoice rows: a quiet night's stamp, made over
        the rows as they were, goes (`quiet`)."""
        if self._stamped:
            conn.execute(
                cursors.delete().where(
                    cursors.c.business == self.business, cursors.c.name == QUIET_STAMP
                )
            )
            self._stamped = False

    def stamp(self, text: str) -> None:
        """Store the quiet night's stamp (`quiet`): the next write to the rows deletes it."""
        self.set_cursors({QUIET_STAMP: text})
        self._stamped = True

    def record_payments(
        self, key: str, currency: str, items: Iterable[tuple[str, Decimal, date, bool]]
    ) -> tuple[int, int]:
        """Record an invoice's payments as the ledger now has them; returns how many are new
        or changed, and how many of those the ledger deleted (withdrawn). A pull that reads an
        invoice again (its window overlaps the last, or something else on it moved) writes
        nothing for payments already recorded, and counts none."""
        received = withdrawn = 0
        with self.engine.begin() as conn:
            for payment_id, amount, paid_on, deleted in items:
                found = conn.execute(
                    select(
                        payments.c.id,
                        payments.c.amount_minor,
                        payments.c.currency,
                        payments.c.paid_on,
                        payments.c.deleted,
                    ).where(
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
                if found and tuple(found[1:]) == tuple(values.values()):
                    continue
                self._unstamp(conn)
                received += not deleted
                withdrawn += bool(deleted) and bool(found)  # one never recorded withdrew nothing
                if found:
                    conn.execute(update(payments).where(payments.c.id == found[0]).values(**values))
                else:
                    conn.execute(
                        insert(payments).values(
                            business=self.business, invoice_key=key, payment_id=payment_id, **values
                        )
                    )
        return received, withdrawn

    def payment_rows(self) -> list[PaymentRow]:
        with self.engine.connect() as conn:
            return [
                _payment(r._mapping)
                for r in conn.execute(
                    select(payments)
                    .where(payments.c.business == self.business)
                    .order_by(payments.c.id)
                )
            ]

    # -- milestones snapshot ------------------------------------------------------------------

    def snapshot(self) -> tuple[list[Milestone], list[InvalidMilestone]]:
        return state_milestones.snapshot(self.engine, self.business)

    def save_snapshot(
        self,
        good: Sequence[Milestone],
        bad: Sequence[InvalidMilestone],
        reasons: state_milestones.Reasons,
        prepared: state_milestones.Prepared | None = None,
        decided: str | None = None,
    ) -> None:
        """Replace the known milestones with this set and their latest decisions (`prepared`:
        the same set's `prepare_snapshot`, so that it is not written out and hashed twice;
        `decided`: the digest of `reasons`, when a quiet night's stamp has it)."""
        state_milestones.save_snapshot(
            self.engine, self.business, good, bad, reasons, prepared, decided
        )

    def prepare_snapshot(
        self, good: Sequence[Milestone], bad: Sequence[InvalidMilestone]
    ) -> state_milestones.Prepared:
        """The milestones as the snapshot stores them, and the digest of their records."""
        return state_milestones.prepare(good, bad)

    def milestone_rows(self) -> list[MilestoneRow]:
        return state_milestones.milestone_rows(self.engine, self.business)

    def milestone_notes(self) -> list[MilestoneNote]:
        """`milestone_rows` with each record decoded only when asked."""
        return state_milestones.milestone_notes(self.engine, self.business)

    @property
    def http_cache(self) -> HttpCache:
        return HttpCache(self.engine, self.business)

    # -- cursors and runs ----------------------------------------------------------------------

    def cursor(self, name: str) -> str | None:
        return state_runs.cursor(self.engine, self.business, name)

    def set_cursors(self, values: Mapping[str, str | None]) -> None:
        state_runs.set_cursors(self.engine, self.business, values)

    def start_run(self) -> int:
        return state_runs.start_run(self.engine, self.business)

    def finish_run(
        self, run_id: int, outcome: str, counts: Mapping[str, int], problems: list[str]
    ) -> None:
        state_runs.finish_run(self.engine, run_id, outcome, counts, problems)

    def last_run(self) -> RunRow | None:
        return state_runs.last_run(self.engine, self.business)

    def count_runs(self) -> int:
        return state_runs.count_runs(self.engine, self.business)


def _payment(m: RowMapping) -> PaymentRow:
    """A database row of `payments` as a record."""
    return PaymentRow(
        id=m["id"],
        invoice_key=m["invoice_key"],
        payment_id=m["payment_id"],
        amount_minor=m["amount_minor"],
        currency=m["currency"],
        paid_on=date.fromisoformat(m["paid_on"]),
        deleted=bool(m["deleted"]),
    )
