"""The scaffolding Jira and Asana share around an incremental read, so both keep the same
promises: a lazily made session, a clock tests can move, and one read that goes on from the
last cursor. What a tracker asks and how it parses an item stays in its own module.

A read is complete (every milestone, so the engine drops what is gone) when the cursor says
one is due; otherwise it asks for what changed since the last read's start minus an overlap,
and skips an item already read at the same (id, modification time), unless the cursor lists
it as awaiting (Asana: done, not yet approved).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from connector.models import InvalidMilestone, Milestone
from connector.sources.base import SourceBatch
from connector.sources.http import TrackerHttp
from connector.sources.records import Cursor, now_utc, overlap_start, parse_time, split

T = TypeVar("T")
S = TypeVar("S")
Parsed = Milestone | InvalidMilestone


@dataclass(frozen=True)
class IncrementalRead:
    """One read: when it started, the cursor it goes on from, and whether it is complete."""

    started: datetime
    last: Cursor
    complete: bool

    @classmethod
    def begin(cls, now: datetime, cursor: str | None, full_read_days: int) -> IncrementalRead:
        last = Cursor.load(cursor)
        return cls(now, last, last.complete_due(now, full_read_days))

    @property
    def since(self) -> datetime | None:
        """What to ask for changes since (before the overlap); None asks for everything."""
        return None if self.complete else self.last.since

    def batch(
        self,
        items: Iterable[tuple[str, Any, T]],
        parse: Callable[[T], Parsed],
        overlap_minutes: int,
        awaits: Callable[[T, Parsed], bool] | None = None,
    ) -> SourceBatch:
        """The batch from `items`, each (id, modification time as the tracker wrote it, item).
        The pairs inside the next read's overlap go into the next cursor so that read can
        skip them; `awaits` says which parsed items the next read must look at again."""
        boundary = overlap_start(self.started, overlap_minutes)
        keep: set[tuple[str, str]] = set()
        waiting: set[str] = set()
        results: list[Parsed] = []
        for key, modified, item in items:
            pair = (key, str(modified))
            moment = parse_time(modified)
            if moment is not None and moment >= boundary:
                keep.add(pair)  # the next read's overlap returns it again
            if not self.complete and pair in self.last.seen and key not in self.last.awaiting:
                continue  # read last time, unchanged since: not parsed again
            result = parse(item)
            if awaits is not None and awaits(item, result):
                waiting.add(key)
            results.append(result)
        good, bad = split(results)
        full = self.started if self.complete else self.last.full
        following = Cursor(self.started, frozenset(keep), full, frozenset(waiting))
        return SourceBatch(good, bad, following.dump(), complete=self.complete)


class IncrementalSource(Generic[S]):
    """What a Jira or Asana source holds: its settings, the business (whose keyring entry has
    the token), the business's time zone, and a session made on first use (`make_session`)."""

    name: str

    def __init__(self, settings: S, business: str, zone: str = "UTC"):
        self.settings = settings
        self.business = business
        self.zone = zone
        self.clock: Callable[[], datetime] = now_utc  # tests move time instead of waiting
        self._http: TrackerHttp | None = None

    def make_session(self) -> TrackerHttp:
        """A session with the token from the keyring; each tracker says how."""
        raise NotImplementedError

    @property
    def http(self) -> TrackerHttp:
        if self._http is None:
            self._http = self.make_session()
        return self._http
