"""What the tracker sources share after the HTTP call: one record, in the file source's keys,
becomes a `Milestone` or an `InvalidMilestone` that names the tracker's link; timestamps become
dates in the business's time zone.

The parsing itself is the file source's (`read_record`), so a milestone means the same thing and
gets the same messages whichever tracker it came from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from connector.models import InvalidMilestone, Milestone
from connector.sources.file import read_record


def to_milestone(
    record: dict[str, Any],
    where: str,
    extra: Iterable[str] = (),
    locate: Callable[[list[str]], list[str]] | None = None,
) -> Milestone | InvalidMilestone:
    """`record` uses the file source's keys; `extra` are problems the tracker reader found
    first (a missing field, a block line it could not read); `locate` rewrites the parser's
    problems to say where in the tracker each value is."""
    found: list[str] = []
    milestone = read_record({k: v for k, v in record.items() if v is not None}, where, found)
    problems = [*extra, *(locate(found) if locate else found)]
    if milestone is not None and not problems:
        return milestone
    mid = str(record.get("id") or "").strip() or None
    label = f"milestone {mid}" if mid else "a milestone without an id"
    contract = str(record.get("contract") or "").strip() or None
    return InvalidMilestone(mid, contract, f"{where}: {label}: {'; '.join(problems)}", where)


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
