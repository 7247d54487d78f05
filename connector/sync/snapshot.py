"""What the tracker holds now, from a read that may carry only what changed.

Shared by the run and the effect-free plan, so both decide from the same milestones.
"""

from __future__ import annotations

from connector.models import InvalidMilestone, Milestone


def merge_snapshot(
    batch_complete: bool,
    good: list[Milestone],
    bad: list[InvalidMilestone],
    known: tuple[list[Milestone], list[InvalidMilestone]],
) -> tuple[list[Milestone], list[InvalidMilestone]]:
    """What the tracker holds now: the batch itself, or the known set updated by the batch."""
    if batch_complete:
        return good, bad
    changed = {m.id for m in good} | {b.id for b in bad if b.id}
    known_good, known_bad = known
    return (
        [m for m in known_good if m.id not in changed] + good,
        [b for b in known_bad if b.id not in changed] + bad,
    )
