"""The milestones the last run read, valid or not, with that run's decision on each: what a
read that carries only changes is merged into (`snapshot.merge_snapshot`), and what the status
lists as needing a person.

Used through `state.State`; nothing here calls a tracker.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import RowMapping, insert, select
from sqlalchemy.engine import Engine

from connector.models import InvalidMilestone, Milestone, Reason
from connector.sync.rows import milestone_from_json, milestone_to_json
from connector.sync.schema import milestones, now
from connector.sync.state_records import MilestoneRow

# A milestone id -> the last run's reason for not billing it and the message saying why.
Reasons = Mapping[str, tuple[str, str]]


def milestone_rows(engine: Engine, business: str) -> list[MilestoneRow]:
    """Every milestone of the last run, by id."""
    with engine.connect() as conn:
        return [
            _from_db(r._mapping)
            for r in conn.execute(
                select(milestones)
                .where(milestones.c.business == business)
                .order_by(milestones.c.milestone)
            )
        ]


def snapshot(engine: Engine, business: str) -> tuple[list[Milestone], list[InvalidMilestone]]:
    """The last run's milestones and invalid records, in the order they were read."""
    good: list[Milestone] = []
    bad: list[InvalidMilestone] = []
    with engine.connect() as conn:
        for row in conn.execute(
            select(milestones).where(milestones.c.business == business).order_by(milestones.c.id)
        ):
            record = _record(row.record, valid=row.valid)
            if isinstance(record, Milestone):
                good.append(record)
            else:
                bad.append(record)
    return good, bad


def save_snapshot(
    engine: Engine,
    business: str,
    good: Sequence[Milestone],
    bad: Sequence[InvalidMilestone],
    reasons: Reasons,
) -> None:
    """Replace the known milestones with this set and their latest decisions."""
    stamp = now()
    with engine.begin() as conn:
        conn.execute(milestones.delete().where(milestones.c.business == business))
        rows = _unique(good, bad)
        if rows:
            conn.execute(
                insert(milestones),
                [
                    {
                        "milestone": mid,
                        "record": record,
                        "valid": valid,
                        "business": business,
                        "seen_at": stamp,
                        "reason": reasons.get(mid, (None, None))[0],
                        "message": reasons.get(mid, (None, None))[1],
                    }
                    for mid, record, valid in rows
                ],
            )


def _unique(
    good: Sequence[Milestone], bad: Sequence[InvalidMilestone]
) -> list[tuple[str, str, bool]]:
    """(id, stored record, valid) once per id: a tracker holding duplicate ids gets one row,
    and every one of them is invalid anyway."""
    rows = [(m.id, json.dumps(milestone_to_json(m)), True) for m in good]
    rows += [
        (
            b.id or f"?{b.where}",
            json.dumps(
                {"id": b.id, "contract": b.contract, "message": b.message, "where": b.where}
            ),
            False,
        )
        for b in bad
    ]
    seen: set[str] = set()
    unique = []
    for row in rows:
        if row[0] not in seen:
            seen.add(row[0])
            unique.append(row)
    return unique


def _record(text: str, *, valid: bool) -> Milestone | InvalidMilestone:
    data = json.loads(text)
    if valid:
        return milestone_from_json(data)
    return InvalidMilestone(data["id"], data["contract"], data["message"], data["where"])


def _from_db(m: RowMapping) -> MilestoneRow:
    """A database row of `milestones` as a record."""
    return MilestoneRow(
        milestone=m["milestone"],
        record=_record(m["record"], valid=m["valid"]),
        reason=Reason(m["reason"]) if m["reason"] else None,
        message=m["message"],
        seen_at=datetime.fromisoformat(m["seen_at"]),
    )
