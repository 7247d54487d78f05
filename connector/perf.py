"""Speed helpers for the bulk paths (reading and billing 100,000 milestones).

The cycle collector is process-wide: turning it off in one thread turns it off for all. So a
pause must never happen where other threads do real work, such as the daemon (`connector run`),
whose syncs run in a thread pool beside a scheduler on the main thread.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager


def _alone() -> bool:
    """True on the main thread of a process that runs no other thread but daemonic helpers
    (a progress bar's refresh): a one-shot command, a benchmark. Never in the daemon, whose
    scheduler pool and signal handlers are ordinary threads, nor in any pool worker."""
    main = threading.main_thread()
    if threading.current_thread() is not main:
        return False
    return all(t is main or t.daemon for t in threading.enumerate())


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cycle collector while building many small acyclic records (milestones, lines,
    invoices): its passes find nothing to free and cost about a quarter of the time. Reference
    counting still frees everything as usual. Where other threads run (`_alone`), nothing is
    paused: the records are built just the same, only slower."""
    if not _alone() or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
