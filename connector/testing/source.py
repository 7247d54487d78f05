"""The tracker `Source` conformance contract: what the sync engine relies on, whatever the tracker.

A source's test module subclasses `SourceConformance` and provides a `tracker` fixture: an object
with `source` (the Source under test) and `seed(records)`, `edit(milestone_id, **fields)` and
`break_one(milestone_id)` acting on the tracker the way a person would (`Tracker` below). A record
is a dict with the keys of `RECORDS`: text, dates as `date`, amounts and percents as strings.

pytest runs it, and only whoever runs it needs pytest; the connector never imports this module.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from connector.models import Milestone, Status
from connector.sources.base import Source

RECORDS: list[dict[str, Any]] = [
    {
        "id": "M1",
        "contract": "ACME-WEB",
        "title": "Discovery",
        "percent": "20",
        "status": "done",
        "completed": date(2026, 9, 20),
        "accepted": date(2026, 9, 22),
    },
    {"id": "M2", "contract": "ACME-WEB", "title": "Design", "amount": "9600.00", "status": "open"},
    {
        "id": "M3",
        "contract": "ACME-WEB",
        "title": "Launch",
        "percent": "12.5",
        "status": "cancelled",
    },
]


class Tracker(Protocol):
    """The `tracker` fixture: the source under test and a person's hands on its tracker."""

    @property
    def source(self) -> Source: ...

    def seed(self, records: list[dict[str, Any]]) -> None:
        """Replace whatever the tracker holds with these records."""
        ...

    def edit(self, mid: str, **fields: Any) -> None:
        """Change some fields of milestone `mid`."""
        ...

    def break_one(self, mid: str) -> None:
        """Make milestone `mid` unreadable as a milestone (say, an amount that is not a number)."""
        ...


def everything(tracker: Tracker, cursor: str | None = None) -> dict[str, Milestone]:
    batch = tracker.source.read(cursor)
    return {m.id: m for m in batch.milestones}


class SourceConformance:
    """Behaviour the sync engine relies on, whatever the tracker."""

    def test_reads_every_field_a_milestone_has(self, tracker: Tracker) -> None:
        tracker.seed(RECORDS)
        found = everything(tracker)
        assert sorted(found) == ["M1", "M2", "M3"]
        m1, m2, m3 = found["M1"], found["M2"], found["M3"]
        assert (m1.contract, m1.title, m1.percent, m1.amount) == (
            "ACME-WEB",
            "Discovery",
            Decimal("20"),
            None,
        )
        assert (m1.status, m1.completed, m1.accepted) == (
            Status.DONE,
            date(2026, 9, 20),
            date(2026, 9, 22),
        )
        assert (m2.amount, m2.status, m2.completed) == (Decimal("9600.00"), Status.OPEN, None)
        assert (m3.percent, m3.status) == (Decimal("12.5"), Status.CANCELLED)
        assert all(m.where for m in found.values())

    def test_amounts_are_exact_decimals(self, tracker: Tracker) -> None:
        tracker.seed([{**RECORDS[1], "amount": "0.10"}, {**RECORDS[0], "percent": "33.33"}])
        found = everything(tracker)
        assert found["M2"].amount == Decimal("0.10") and type(found["M2"].amount) is Decimal
        assert found["M1"].percent == Decimal("33.33")

    def test_an_edit_is_seen_on_the_next_read(self, tracker: Tracker) -> None:
        tracker.seed(RECORDS)
        first = tracker.source.read(None)
        tracker.edit("M2", status="done", completed=date(2026, 11, 1))
        second = tracker.source.read(first.cursor)
        changed = {m.id: m for m in second.milestones}
        assert changed["M2"].status is Status.DONE
        assert changed["M2"].completed == date(2026, 11, 1)

    def test_a_broken_record_is_reported_and_the_rest_still_read(self, tracker: Tracker) -> None:
        tracker.seed(RECORDS)
        tracker.break_one("M2")
        batch = tracker.source.read(None)
        assert sorted(m.id for m in batch.milestones) == ["M1", "M3"]
        (bad,) = batch.invalid
        assert bad.id == "M2" and bad.where and bad.where in bad.message

    def test_reading_twice_gives_the_same_milestones(self, tracker: Tracker) -> None:
        tracker.seed(RECORDS)
        assert everything(tracker) == everything(tracker)

    def test_ids_are_unique_in_a_read(self, tracker: Tracker) -> None:
        tracker.seed(RECORDS)
        batch = tracker.source.read(None)
        ids = [m.id for m in batch.milestones] + [i.id for i in batch.invalid if i.id]
        assert len(ids) == len(set(ids)) == 3
