"""The tracker `Source` Protocol and the conformance contract every source must meet.

A source reads milestones; it never decides billing and never writes to the tracker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from connector.models import InvalidMilestone, Milestone

if TYPE_CHECKING:  # the engine hands the state's cache over; a source never opens the state
    from connector.sources.file_groups import ContractGroups
    from connector.sync.http_cache import HttpCache


@dataclass(frozen=True, slots=True)
class SourceBatch:
    """Milestones changed since the cursor the source was given.

    `complete` means this is every milestone the tracker has (so one missing from it was
    removed); otherwise the engine merges the batch into the milestones it already knows.
    `cursor` is stored only when the whole run succeeds.
    """

    milestones: list[Milestone] = field(default_factory=list)
    invalid: list[InvalidMilestone] = field(default_factory=list)
    cursor: str | None = None
    complete: bool = True


class Source(Protocol):
    name: str

    def read(self, cursor: str | None) -> SourceBatch:
        """Milestones changed since `cursor` (everything when it is None).

        Raises `connector.errors.RetriableTrackerError` when the tracker is down or throttling
        (the next run reads again) and `FatalTrackerError` when it cannot be read as configured
        (a person must act); a single record it cannot parse becomes an `InvalidMilestone` in
        the batch instead.
        """
        ...


# Optional abilities: a source has one by having the method; the engine and `doctor` ask with
# isinstance.


@runtime_checkable
class ReadsByContract(Protocol):
    """Sources that can hand out their milestones one contract at a time (the file source on
    a CSV), so a plan of a million milestones never holds them all (`sync.plan_stream`).
    None when this read cannot (the plan then reads the source whole)."""

    def by_contract(self) -> ContractGroups | None: ...


@runtime_checkable
class CachesResponses(Protocol):
    """Trackers that answer conditional requests: the engine hands over the state's cache, so
    a night with no changes costs only 304s."""

    def use_cache(self, cache: HttpCache) -> None: ...


@runtime_checkable
class SelfChecking(Protocol):
    """`connector doctor`: token, reachability and a count, in one sentence."""

    def check(self) -> str: ...
