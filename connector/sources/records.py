"""What the tracker sources share after the HTTP call: one record, in the file source's keys,
becomes a `Milestone` or an `InvalidMilestone` that names the tracker's link; timestamps become
dates in the business's time zone; the cursor of the incremental trackers (Jira, Asana).

The parsing itself is the file source's (`read_record`), so a milestone means the same thing and
gets the same messages whichever tracker it came from.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import Field

from connector.models import InvalidMilestone, Milestone
from connector.sources.file import read_record, shown_id
from connector.sources.http import TrackerSettings


def to_milestone(
    record: dict[str, Any],
    where: str,
    extra: Iterable[str] = (),
    locate: Callable[[list[str]], list[str]] | None = None,
    currency: str | None = None,
) -> Milestone | InvalidMilestone:
    """`record` uses the file source's keys; `extra` are problems the tracker reader found
    first (a missing field, a block line it could not read); `locate` rewrites the parser's
    problems to say where in the tracker each value is; `currency` is the currency the tracker
    keeps the amount in, when it keeps one (billing refuses a mismatch with the contract)."""
    found: list[str] = []
    milestone = read_record({k: v for k, v in record.items() if v is not None}, where, found)
    problems = [*extra, *(locate(found) if locate else found)]
    if milestone is not None and not problems:
        if currency and milestone.amount is not None:
            return milestone._replace(currency=currency.strip().upper())
        return milestone
    mid = str(record.get("id") or "").strip() or None
    label = f"milestone {shown_id(mid)}" if mid else "a milestone without an id"
    contract = str(record.get("contract") or "").strip() or None
    return InvalidMilestone(mid, contract, f"{where}: {label}: {'; '.join(problems)}", where)


def field_names(names: dict[str, str | None]) -> Callable[[list[str]], list[str]]:
    """A `locate` for trackers with named custom fields: `amount: expected ...` becomes
    `field 'Amount' (amount): expected ...`, the words the person sees in the tracker."""

    def locate(found: list[str]) -> list[str]:
        out = []
        for problem in found:
            term, _, rest = problem.partition(":")
            out.append(f"field {names[term]!r} ({term}):{rest}" if names.get(term) else problem)
        return out

    return locate


def split(
    results: Iterable[Milestone | InvalidMilestone],
) -> tuple[list[Milestone], list[InvalidMilestone]]:
    good: list[Milestone] = []
    bad: list[InvalidMilestone] = []
    for r in results:
        (good if isinstance(r, Milestone) else bad).append(r)  # type: ignore[arg-type]
    return good, bad


def parse_time(value: str | None) -> datetime | None:
    """An ISO timestamp as trackers write it (`Z`, `+0000`, `+02:00`), in UTC."""
    if not value or not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def local_date(value: str | None, zone: str) -> date | None:
    """The day a timestamp fell on where the business is: a milestone closed at 23:30 in
    Chicago was completed that day, not the next day in UTC."""
    moment = parse_time(value)
    return None if moment is None else moment.astimezone(ZoneInfo(zone)).date()


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def overlap_start(since: datetime, minutes: int) -> datetime:
    """Where an incremental read starts: the last start minus the overlap, to the minute."""
    return floor_minute(since - timedelta(minutes=minutes))


def now_utc() -> datetime:
    return datetime.now(UTC)


# -- incremental reads -------------------------------------------------------------------------


class IncrementalSettings(TrackerSettings):
    """Trackers read by modification time (Jira, Asana) never see a deletion that way: an
    issue deleted or moved out of the query simply stops coming. Every `full_read_days` the
    read is complete, so the engine can drop what is gone."""

    full_read_days: int = Field(
        default=7, ge=1, le=365, description="days between complete reads (deletions seen)"
    )


@dataclass(frozen=True)
class Cursor:
    """Where an incremental read goes on from: the last read's start (`since`), the
    (id, modified) pairs it returned inside the overlap the next read asks for again (`seen`),
    when the last complete read started (`full`), and ids to re-read whatever their
    modification time (`awaiting`: Asana milestones done but not yet approved)."""

    since: datetime | None = None
    seen: frozenset[tuple[str, str]] = frozenset()
    full: datetime | None = None
    awaiting: frozenset[str] = frozenset()

    @classmethod
    def load(cls, text: str | None) -> Cursor:
        """A cursor from another kind of tracker, or none, reads everything."""
        if not text:
            return cls()
        try:
            state = json.loads(text)
            return cls(
                parse_time(state["since"]),
                frozenset((str(a), str(b)) for a, b in state.get("seen", [])),
                parse_time(state.get("full")),
                frozenset(str(g) for g in state.get("awaiting", [])),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return cls()

    def dump(self) -> str:
        return json.dumps(
            {
                "since": iso(self.since) if self.since else None,
                "full": iso(self.full) if self.full else None,
                "seen": sorted(self.seen),
                "awaiting": sorted(self.awaiting),
            }
        )

    def complete_due(self, now: datetime, days: int) -> bool:
        """A complete read when there is nothing to go on from, or the last one is too old."""
        return self.since is None or self.full is None or now - self.full >= timedelta(days=days)
