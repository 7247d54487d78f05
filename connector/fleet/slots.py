"""The fleet's record of each business's scheduled slots: deferred, claimed, done.

A slot is one scheduled time of one business (its cron, in its time zone), named by the UTC
instant. The scheduling tick records a slot once it has deferred its job, and never defers a
slot it finds recorded; the job records when it starts the sync and when the sync has finished.
So a worker that starts late, or a tick that runs twice, never syncs a business again for a slot
already done (issue 14: a second daemon 15 s behind the first synced 44 of 100 again). The
record lives in the state database beside the runs it points at; this module only reads `runs`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    Column,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert

from connector.sync.schema import now, runs

fleet_metadata = MetaData()

slots = Table(
    "fleet_slots",
    fleet_metadata,
    Column("business", String(200), primary_key=True),
    Column("slot", String(32), primary_key=True),  # UTC ISO to the second, as schema.now()
    Column("deferred_at", String(32)),
    Column("claimed_at", String(32)),  # the latest attempt's start
    Column("claimed_by", String(200)),  # which worker, for `SELECT * FROM fleet_slots`
    Column("runs_before", Integer),  # the business's last run id before that attempt
    Column("attempts", Integer, nullable=False, default=0),
    Column("done_at", String(32)),
    Column("outcome", String(16)),  # the run's outcome, or "gone" (config removed)
    Index("fleet_slots_slot", "slot"),
)

# A slot's record is kept this long after its time, then dropped by the tick.
KEEP = timedelta(days=35)


def slot_name(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class SlotRow:
    business: str
    slot: str
    claimed_at: str | None
    runs_before: int | None
    attempts: int
    done_at: str | None
    outcome: str | None


class SlotBook:
    """The fleet_slots table through one small engine of the fleet's own."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def create(self) -> None:
        fleet_metadata.create_all(self.engine, checkfirst=True)

    def recorded(self, wanted: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these (business, slot) pairs have a record already."""
        wanted = set(wanted)
        if not wanted:
            return set()
        oldest = min(slot for _, slot in wanted)
        query = select(slots.c.business, slots.c.slot).where(slots.c.slot >= oldest)
        with self.engine.connect() as conn:
            return {(b, s) for b, s in conn.execute(query)} & wanted

    def finished(self, wanted: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these (business, slot) pairs are done (synced, or given up)."""
        wanted = set(wanted)
        if not wanted:
            return set()
        oldest = min(slot for _, slot in wanted)
        query = select(slots.c.business, slots.c.slot).where(
            slots.c.slot >= oldest, slots.c.done_at.is_not(None)
        )
        with self.engine.connect() as conn:
            return {(b, s) for b, s in conn.execute(query)} & wanted

    def deferred(self, pairs: Iterable[tuple[str, str]]) -> None:
        rows = [{"business": b, "slot": s, "deferred_at": now(), "attempts": 0} for b, s in pairs]
        if not rows:
            return
        with self.engine.begin() as conn:
            conn.execute(insert(slots).on_conflict_do_nothing(), rows)

    def get(self, business: str, slot: str) -> SlotRow | None:
        query = select(slots).where(slots.c.business == business, slots.c.slot == slot)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        m = row._mapping
        return SlotRow(
            m["business"],
            m["slot"],
            m["claimed_at"],
            m["runs_before"],
            m["attempts"] or 0,
            m["done_at"],
            m["outcome"],
        )

    def finished_since(self, business: str, runs_before: int) -> str | None:
        """The outcome of a run of `business` after run `runs_before` that finished (a run
        killed mid-way never does), or None."""
        query = (
            select(runs.c.outcome)
            .where(
                runs.c.business == business,
                runs.c.id > runs_before,
                runs.c.finished_at.is_not(None),
                runs.c.outcome != "stopped",
            )
            .order_by(runs.c.id.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            found = conn.execute(query).scalar()
        return None if found is None else str(found)

    def claim(self, business: str, slot: str, worker: str) -> None:
        """Note that an attempt starts now, after the business's last run so far."""
        with self.engine.begin() as conn:
            last = conn.execute(
                select(func.max(runs.c.id)).where(runs.c.business == business)
            ).scalar()
            values = {"claimed_at": now(), "claimed_by": worker[:200], "runs_before": last or 0}
            conn.execute(
                insert(slots)
                .values(business=business, slot=slot, attempts=1, **values)
                .on_conflict_do_update(
                    index_elements=[slots.c.business, slots.c.slot],
                    set_={**values, "attempts": slots.c.attempts + 1},
                )
            )

    def done(self, business: str, slot: str, outcome: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(slots)
                .where(slots.c.business == business, slots.c.slot == slot)
                .values(done_at=now(), outcome=outcome)
            )

    def forget_old(self, before: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(slots).where(slots.c.slot < slot_name(before - KEEP)))
