"""The tracker `Source` Protocol and the conformance contract every source must meet.

A source reads milestones; it never decides billing and never writes to the tracker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from connector.models import InvalidMilestone, Milestone


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
