"""Speed helpers for the bulk paths (reading and billing 100,000 milestones).

The cycle collector is process-wide: turning it off in one thread turns it off for all. So a
pause must never happen where other threads do real work, such as the daemon (`connector run`),
whose syncs run in a thread pool beside a scheduler on the main thread.
"""

from __future__ import annotations

import atexit
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
        _survived()
        gc.enable()


def _survived() -> None:
    """Count what was built during a pause as old: moved (`freeze`, then `unfreeze`) to the
    oldest generation, as it would have got there by surviving. Otherwise the first young
    collection after the pause walks every one of those records, all still in the youngest
    generation: 0.1 s for a plan of 100,000 milestones, freeing nothing. Cyclic garbage made
    meanwhile is freed by the next full collection."""
    gc.freeze()
    gc.unfreeze()


_frozen_at_exit: list[bool] = []


def frozen_at_exit() -> None:
    """At exit, hide every object left from the cycle collector (`gc.freeze`). Python's last
    collections at shutdown walk every object still tracked and, after a command that built
    100,000s of records, spend 0.1 to 0.2 s finding nothing: the process's memory goes back to
    the system whole. Once per process. Freezing frees nothing and stops nothing, so the
    handlers that run after it (`atexit` runs the last registered first: logging's flush,
    registered at import, comes after) work as ever; only a reference cycle left unreachable
    at exit is not collected, so a finalizer in one would not run: the commands close their
    files and databases themselves, never through a finalizer."""
    if not _frozen_at_exit:
        atexit.register(gc.freeze)
        _frozen_at_exit.append(True)
