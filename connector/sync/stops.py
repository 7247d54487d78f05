"""Where a sync may stop or be crashed: the names of its checkpoints, and the stop itself.

Every effect of a run (a ledger call, a commit) is bracketed by named checkpoints; tests pass a
checkpoint that raises, to crash the run between any two effects, and the daemon asks a run to
stop (SIGTERM) at the next of `STOP_POINTS`. Names only: this module does nothing.
"""

from __future__ import annotations

from collections.abc import Callable

# Where a run asked to stop (SIGTERM) may stop: before a ledger call or before intents are
# recorded, never between a ledger call and the commit of its result.
STOP_POINTS = frozenset(
    {
        "before:find_invoices",
        "before:payment_changes",
        "before:profile",
        "before:commit:intents",
        "before:find_or_create_customer",
        "before:create_invoices",
        "before:void_invoice",
        "before:settle_credit",
        "before:commit:sending",
    }
)


class StopRequested(Exception):
    """The daemon is shutting down; the run records what it did and ends here."""


Checkpoint = Callable[[str], None]
