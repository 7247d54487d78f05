"""Per-tenant rate limits: sliding request windows plus concurrent requests in flight.

Vendor-neutral: QuickBooks uses a minute window and a concurrency cap per realm (and a batch
window), Xero a minute and a day window per tenant; the verdict says which window refused and
what is left, for vendors that report it in headers.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connector_sandbox.server import Clock


@dataclass(frozen=True)
class Window:
    """At most `limit` requests per tenant in any `span` (a sliding window)."""

    name: str
    limit: int
    span: timedelta


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    problem: str | None = None  # the window name, or "concurrent"
    remaining: Mapping[str, int] = field(default_factory=dict)
    retry_after: int | None = None  # whole seconds until the window has room


class RateLimiter:
    """Per-tenant limits: sliding request windows plus concurrent requests in flight.
    Refused requests do not count against the windows."""

    def __init__(self, windows: Sequence[Window], max_concurrent: int | None, clock: Clock):
        self.windows = tuple(windows)
        self.max_concurrent = max_concurrent
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], deque[datetime]] = {}
        self._in_flight: dict[str, int] = {}
        self.refused = 0  # requests refused since the start: a 429 the client was sent

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()
            self._in_flight.clear()

    def in_flight(self, tenant: str) -> int:
        with self._lock:
            return self._in_flight.get(tenant, 0)

    @contextmanager
    def slot(self, tenant: str) -> Iterator[Verdict]:
        """Holds one concurrent slot for the body of the `with` if the verdict allows it."""
        verdict = self._acquire(tenant)
        try:
            yield verdict
        finally:
            if verdict.allowed:
                with self._lock:
                    self._in_flight[tenant] -= 1

    def _acquire(self, tenant: str) -> Verdict:
        now = self._clock.now()
        with self._lock:
            remaining: dict[str, int] = {}
            for window in self.windows:
                seen = self._seen.setdefault((tenant, window.name), deque())
                while seen and seen[0] <= now - window.span:
                    seen.popleft()
                if len(seen) >= window.limit:
                    wait = seen[0] + window.span - now
                    retry = max(1, -(-wait // timedelta(seconds=1)))
                    self.refused += 1
                    return Verdict(False, window.name, {window.name: 0}, retry)
                remaining[window.name] = window.limit - len(seen) - 1
            in_flight = self._in_flight.get(tenant, 0)
            if self.max_concurrent is not None and in_flight >= self.max_concurrent:
                self.refused += 1
                return Verdict(False, "concurrent", remaining, 1)
            for window in self.windows:
                self._seen[(tenant, window.name)].append(now)
            self._in_flight[tenant] = in_flight + 1
            return Verdict(True, None, remaining)
