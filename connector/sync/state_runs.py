"""The run book and the cursors of one business: every run with its outcome and counts, and
where the tracker and the ledger's payments were last read up to.

Used through `state.State`. A cursor is only written when a run succeeds (the engine decides
when); nothing here calls a ledger or a tracker.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import RowMapping, func, insert, select, update
from sqlalchemy.engine import Engine

from connector.sync.schema import cursors, now, runs
from connector.sync.state_records import RunOutcome, RunRow


def cursor(engine: Engine, business: str, name: str) -> str | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(cursors.c.value).where(cursors.c.business == business, cursors.c.name == name)
        ).first()
        return row[0] if row else None


def set_cursors(engine: Engine, business: str, values: Mapping[str, str | None]) -> None:
    """Move the named cursors together; a None leaves that cursor where it was."""
    with engine.begin() as conn:
        for name, value in values.items():
            if value is None:
                continue
            conn.execute(
                cursors.delete().where(cursors.c.business == business, cursors.c.name == name)
            )
            conn.execute(insert(cursors).values(business=business, name=name, value=value))


def start_run(engine: Engine, business: str) -> int:
    with engine.begin() as conn:
        result = conn.execute(
            insert(runs).values(
                business=business, started_at=now(), outcome=str(RunOutcome.RUNNING)
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]


def finish_run(
    engine: Engine,
    run_id: int,
    outcome: str,
    counts: Mapping[str, int],
    problems: list[str],
) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(runs)
            .where(runs.c.id == run_id)
            .values(
                finished_at=now(),
                outcome=str(RunOutcome(outcome)),
                counts=json.dumps(dict(counts)),
                problems=json.dumps(problems),
            )
        )


def last_run(engine: Engine, business: str) -> RunRow | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(runs).where(runs.c.business == business).order_by(runs.c.id.desc()).limit(1)
        ).first()
    return None if row is None else run_from_db(row._mapping)


def count_runs(engine: Engine, business: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(runs).where(runs.c.business == business)
            ).scalar_one()
        )


def run_from_db(m: RowMapping) -> RunRow:
    """A database row of `runs` as the record the store hands out."""
    return RunRow(
        id=m["id"],
        started_at=datetime.fromisoformat(m["started_at"]),
        finished_at=datetime.fromisoformat(m["finished_at"]) if m["finished_at"] else None,
        outcome=RunOutcome(m["outcome"]),
        counts=json.loads(m["counts"] or "{}"),
        problems=tuple(json.loads(m["problems"] or "[]")),
    )
