"""The sync: billing (pure) -> plan (pure) -> actions against the ledger -> state -> report.

`run_once` is the one entry point for a run; `preview` is the same without effects.
"""

from connector.sync.engine import run_once
from connector.sync.plan import preview

__all__ = ["preview", "run_once"]
