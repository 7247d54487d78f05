"""Rate budgets: the calls a ledger allows per company, organisation or app, drawn before each
call so that the vendor never has to answer 429.

The limits, as the vendors document them (/work/shared/reference/ledger-apis.md, section 3):

- QuickBooks, per company (realm): 500 requests a minute, batch requests included, and 10 at
  once per app and realm ([QBO-THR16] blogs.intuit.com/2016/08/08/idg-concurrent-api-use-
  changes-coming-soon/); 10 a second per realm and app ([QBO-CHG25] blogs.intuit.com/2025/08/13/
  upcoming-changes-to-the-accounting-api).
- Xero, per organisation (tenant): 60 calls a minute, 5,000 a day, 5 at once; per app 10,000 a
  minute across all its tenants ([X-LIM] developer.xero.com/documentation/oauth2/limits).

Where the state is on PostgreSQL the fleet shares the counters (`PostgresBudgets`: every
worker on every machine draws from the same budget); otherwise they live in this process
(`LocalBudgets`: SQLite, one machine). A fleet worker installs its database's budgets for the
whole process; the embedded daemon, whose threads sync businesses of several databases at
once, chooses each sync's budgets for that sync alone (`using`). A call that would exceed a
budget waits for room, at most `max_wait` seconds, and is never sent early; a window that
stays full longer (Xero's day) raises `BudgetFull` at once, without sending anything.

A window of `span` seconds is counted in buckets of a tenth of it; a call is allowed while the
calls of the buckets that began in the last span and MARGIN, its own included, are within the
limit. Those buckets cover the whole span before the call reaches the vendor, so the vendor's
window never sees more, whether it slides (the sandboxes) or is fixed (Xero) and however it is
aligned; the cost is at most a tenth of the rate (and MARGIN). A slot held at once is a lease:
released when the call ends, and free again when the process holding it dies (its connection
is gone) or after LEASE seconds whatever happens.
This module never decides what a call is; the sessions say which budgets it draws from.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from connector.adapters.cache import TimedCache
from connector.errors import RetriableLedgerError

log = logging.getLogger("connector.budgets")

SLICES = 10  # buckets per window
LEASE = 120.0  # seconds a slot held at once stays held if its holder never gives it back
MAX_WAIT = 120.0  # seconds a call waits for room before the run is told the budget is full
POLL = 0.05  # seconds between looks at a full concurrency budget held elsewhere
# Seconds added to every window (a tenth of a one-second one): a call reaches the vendor a
# little after it was let through, and not always equally late, so windows counted to the
# millisecond would let one too many in.
MARGIN = 0.25


@dataclass(frozen=True)
class Window:
    """At most `calls` in any `span` seconds."""

    calls: int
    span: float
    name: str  # for messages: "a minute", "a day"

    @property
    def size(self) -> float:
        return self.span / SLICES

    @property
    def margin(self) -> float:
        return min(MARGIN, self.size)

    @property
    def key(self) -> str:
        return f"{self.span:g}s"

    def bucket(self, now: float) -> int:
        return int(now // self.size)

    def lowest(self, now: float) -> int:
        """The oldest bucket a call at `now` is counted against: its start is at least a span
        and MARGIN before now."""
        return int((now - self.span - self.margin) // self.size)

    def frees(self, bucket: int) -> float:
        """When `bucket` stops counting."""
        return (bucket + 1) * self.size + self.span + self.margin


@dataclass(frozen=True)
class Budget:
    """What one company, organisation or app allows: windows of calls, and calls at once."""

    key: str  # "quickbooks realm 9130001", "xero tenant ...", "xero app <digest>"
    windows: tuple[Window, ...]
    at_once: int | None = None


def minute(calls: int) -> Window:
    return Window(calls, 60.0, "a minute")


def second(calls: int) -> Window:
    return Window(calls, 1.0, "a second")


def day(calls: int) -> Window:
    return Window(calls, 86400.0, "a day")


def app_key(vendor: str, client_id: str) -> str:
    """A budget key for an app, without its client id in the clear."""
    return f"{vendor} app {hashlib.sha256(client_id.encode()).hexdigest()[:16]}"


class BudgetFull(RetriableLedgerError):
    """A budget had no room for a call within the wait allowed; nothing was sent."""

    def __init__(self, budget: Budget, window: Window | None, wait: float):
        what = f"{window.calls} calls {window.name}" if window else f"{budget.at_once} at once"
        super().__init__(
            f"the rate budget of {budget.key} ({what}) has no room for another call for "
            f"{wait:.0f} s; nothing was sent, the next attempt goes on from here",
            code="budget",
        )
        self.budget = budget
        self.window = window
        self.wait = wait


@dataclass(frozen=True)
class Refusal:
    """Why a draw was refused now, and how long until it is worth asking again."""

    budget: Budget
    window: Window | None  # None: every slot at once is held
    wait: float


def refusal(
    budgets: Sequence[Budget],
    now: float,
    counted: dict[tuple[str, str], dict[int, int]],
    held: dict[str, int],
) -> Refusal | None:
    """None when one more call fits every budget at `now`; else the budget that is full.
    `counted[(budget, window)]` holds calls per bucket, `held[budget]` the slots held now."""
    for budget in budgets:
        for window in budget.windows:
            lowest = window.lowest(now)
            calls = counted.get((budget.key, window.key), {})
            if sum(n for b, n in calls.items() if b >= lowest) >= window.calls:
                oldest = min(b for b, n in calls.items() if b >= lowest and n)
                return Refusal(budget, window, max(window.frees(oldest) - now, 0.001))
        if budget.at_once is not None and held.get(budget.key, 0) >= budget.at_once:
            return Refusal(budget, None, POLL)
    return None


class Budgets(Protocol):
    def draw(
        self, budgets: Sequence[Budget], max_wait: float = MAX_WAIT
    ) -> AbstractContextManager[float]:
        """One call's place in every budget, held for the `with` block, which is given the
        time it was granted by the store's clock (epoch seconds)."""
        ...


class _Drawing:
    """The waiting shared by both stores: try, and if refused wait (bounded) and try again."""

    def _try(self, budgets: Sequence[Budget]) -> tuple[object, float, Refusal | None]:
        """(what `_release` gives back, the store's time now, why not) for one more call."""
        raise NotImplementedError

    def _release(self, grant: object) -> None:
        raise NotImplementedError

    def _sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    @contextmanager
    def draw(self, budgets: Sequence[Budget], max_wait: float = MAX_WAIT) -> Iterator[float]:
        budgets = [b for b in budgets if b.windows or b.at_once is not None]
        if not budgets:
            yield time.time()
            return
        deadline = time.monotonic() + max_wait
        waited = False
        while True:
            grant, at, refused = self._try(budgets)
            if refused is None:
                break
            left = deadline - time.monotonic()
            if refused.wait > left:
                raise BudgetFull(refused.budget, refused.window, refused.wait)
            if not waited and refused.window is not None:
                log.info(
                    "%s: %d calls %s used; waiting %.1f s before the next",
                    refused.budget.key,
                    refused.window.calls,
                    refused.window.name,
                    refused.wait,
                )
            waited = True
            self._sleep(refused.wait * (1 + random.random() / 10))
        try:
            yield at
        finally:
            self._release(grant)


class LocalBudgets(_Drawing):
    """The budgets of one process (state on SQLite: one machine), behind one lock. The calls
    counted are forgotten with the adapters' caches (`connector.adapters.cache.forget_all`):
    a test that stands a company up anew under an old id is a new process for these too."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._counted: dict[tuple[str, str], dict[int, int]] = {}
        self._held: dict[str, int] = {}
        self._forgetting = _Forgetting(self)

    def forget_calls(self) -> None:
        """Forget the calls counted (not the slots held: their calls are still out)."""
        with self._changed:
            self._counted.clear()
            self._changed.notify_all()

    def _try(self, budgets: Sequence[Budget]) -> tuple[object, float, Refusal | None]:
        with self._changed:
            now = time.time()
            refused = refusal(budgets, now, self._counted, self._held)
            if refused is not None:
                return None, now, refused
            for budget in budgets:
                for window in budget.windows:
                    calls = self._counted.setdefault((budget.key, window.key), {})
                    bucket = window.bucket(now)
                    calls[bucket] = calls.get(bucket, 0) + 1
                    for old in [b for b in calls if b < window.lowest(now)]:
                        del calls[old]
                if budget.at_once is not None:
                    self._held[budget.key] = self._held.get(budget.key, 0) + 1
            return [b.key for b in budgets if b.at_once is not None], now, None

    def _sleep(self, seconds: float) -> None:
        with self._changed:  # a slot given back wakes the waiters at once
            self._changed.wait(seconds)

    def _release(self, grant: object) -> None:
        assert isinstance(grant, list)
        with self._changed:
            for key in grant:
                self._held[key] -= 1
            self._changed.notify_all()


class _Forgetting(TimedCache[str, str]):
    """Hooks a LocalBudgets into `forget_all`, which empties every TimedCache."""

    def __init__(self, budgets: LocalBudgets):
        super().__init__(timedelta(0), most=0)
        self._budgets = weakref.ref(budgets)

    def clear(self) -> None:
        found = self._budgets()
        if found is not None:
            found.forget_calls()


_lock = threading.Lock()
_current: Budgets | None = None
# This thread's (or task's) choice, before the process's: the embedded daemon's syncs run side
# by side in threads, each drawing from its own database's budgets.
_chosen: ContextVar[Budgets | None] = ContextVar("connector_budgets", default=None)


def current() -> Budgets:
    """The budgets a call draws from: those chosen for the sync it belongs to (`using`), else
    the process's: PostgreSQL's once a fleet worker has installed them, its own otherwise."""
    global _current
    chosen = _chosen.get()
    if chosen is not None:
        return chosen
    with _lock:
        if _current is None:
            _current = LocalBudgets()
        found: Budgets = _current
        return found


def install(budgets: Budgets | None) -> None:
    """Make `budgets` the process's (None: back to this process's own)."""
    global _current
    with _lock:
        _current = budgets


@contextmanager
def using(budgets: Budgets | None) -> Iterator[None]:
    """Inside the block, this thread's calls draw from `budgets` (None: the process's), and no
    other thread's do."""
    token = _chosen.set(budgets)
    try:
        yield
    finally:
        _chosen.reset(token)
