"""What the tracker holds now, from a read that may carry only what changed.

Shared by the run and the effect-free plan, so both decide from the same milestones.
"""

from __future__ import annotations

from collections.abc import Callable

from connector.models import InvalidMilestone, Milestone
from connector.sources.base import SourceBatch

Known = tuple[list[Milestone], list[InvalidMilestone]]


def merge_snapshot(
    batch: SourceBatch, known: Callable[[], Known]
) -> tuple[list[Milestone], list[InvalidMilestone]]:
    """What the tracker holds now: the batch itself, or the known set (`State.snapshot`,
    read only then: it is every milestone of the last run) updated by the batch."""
    good, bad = batch.milestones, batch.invalid
    if batch.complete:
        return good, bad
    changed = {m.id for m in good} | {b.id for b in bad if b.id}
    known_good, known_bad = known()
    return (
        [m for m in known_good if m.id not in changed] + good,
        [b for b in known_bad if b.id not in changed] + bad,
    )
