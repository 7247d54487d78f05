"""What a ledger adapter may keep between runs in one process: answers that change rarely (an
OAuth discovery document, a company's preferences, lists and item ids), each for a short,
stated lifetime, so that a daemon syncing many businesses of one company, or the same business
again soon, does not ask for them every time.

Never a token, a customer, an invoice or anything a run writes: those are read fresh by every
run. A value is kept only once it was read whole; a read that failed is asked again. Entries are
per process and bounded in number (the oldest go first), and `forget_all` empties every cache
(a test that stands a new company up under an old id is a new process, as far as these go).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import timedelta
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_ALL: weakref.WeakSet[TimedCache[object, object]] = weakref.WeakSet()


class TimedCache(Generic[K, V]):
    """Values by key, each kept for `lifetime` from when it was read; thread-safe (the daemon
    syncs businesses in worker threads)."""

    def __init__(
        self,
        lifetime: timedelta,
        most: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.lifetime = lifetime.total_seconds()
        self.most = most
        self.clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()
        _ALL.add(self)  # type: ignore[arg-type]

    def get(self, key: K) -> V | None:
        """The value read for `key` less than `lifetime` ago, else None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            read_at, value = entry
            if self.clock() - read_at >= self.lifetime:
                del self._entries[key]
                return None
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = (self.clock(), value)
            while len(self._entries) > self.most:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


def forget_all() -> None:
    """Empty every adapter cache of this process."""
    for cache in list(_ALL):
        cache.clear()
