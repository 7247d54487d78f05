"""Failures a test can switch on for the next requests, as networks and vendors produce them.

Latency, N errors with a given status, 429 storms, a pause that holds requests in flight, and
"commit then drop": the request is applied and then the connection is reset instead of
answered, so the client cannot know whether its write happened. Rules match `METHOD /path` by
regex and disarm themselves after `count` requests. Vendor-neutral: the app decides what the
error bodies look like.

`crash_client` is for kill -9 tests: at the N-th matching request the sandbox calls back (the
test kills the client process there) before the request reaches the service or after it was
applied, and never answers it. The point of death is then a place in the conversation, the
same on every replay, rather than a moment in time.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connector_sandbox.server import Request

ERROR, THROTTLE, DROP = "error", "throttle", "drop"


@dataclass
class _Rule:
    kind: str
    remaining: int
    status: int
    match: re.Pattern[str] | None

    def applies(self, request: Request) -> bool:
        return self.remaining > 0 and (self.match is None or bool(self.match.search(request.line)))


@dataclass
class _Crash:
    countdown: int  # matching requests left until the one the client dies on
    applied: bool  # the request is applied first (its answer is what is lost)
    then: Callable[[], None]
    match: re.Pattern[str] | None


class FaultInjector:
    """Per-test switchable failures. Each rule fires on the next `count` requests whose
    `METHOD /path` matches the regex `match` (all requests when None), then disarms itself."""

    PAUSE_LIMIT = timedelta(seconds=10)  # a paused request gives up after this, never hangs

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._crashes: list[_Crash] = []
        self._dying: list[tuple[Request, _Crash]] = []  # applied first, then the crash
        self._running = threading.Event()
        self._running.set()
        self.latency = timedelta(0)

    def set_latency(self, latency: timedelta) -> None:
        """Every request waits this long before it is handled (outside any data lock)."""
        self.latency = latency

    def fail(self, count: int = 1, status: int = 503, match: str | None = None) -> None:
        """The next `count` matching requests get `status` without reaching the service."""
        self._add(ERROR, count, status, match)

    def throttle(self, count: int = 1, match: str | None = None) -> None:
        """A 429 storm: the next `count` matching requests are refused as over the limit."""
        self._add(THROTTLE, count, 429, match)

    def drop_after_commit(self, count: int = 1, match: str | None = None) -> None:
        """The next `count` matching requests are applied, then the connection is reset instead
        of answered: the client sees an error although the write happened."""
        self._add(DROP, count, 0, match)

    def crash_client(
        self,
        at: int,
        then: Callable[[], None],
        *,
        applied: bool = False,
        match: str | None = None,
    ) -> None:
        """At the `at`-th matching request from now, call `then` (which kills the client) and
        never answer: before the request reaches the service, or once it has been applied when
        `applied`. A request refused on the way (an injected 429 or 5xx) crashes unapplied."""
        if at < 1:
            raise ValueError("at must be at least 1")
        pattern = re.compile(match) if match else None
        with self._lock:
            self._crashes.append(_Crash(at, applied, then, pattern))

    def pause(self) -> None:
        """Admitted requests wait (holding their concurrency slot) until `resume`: a
        deterministic way to have N requests in flight at once."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._crashes.clear()
            self._dying.clear()
        self.latency = timedelta(0)
        self.resume()

    def delay(self) -> None:
        """Spend the injected latency, and wait while paused (called inside the gateway)."""
        if self.latency:
            time.sleep(self.latency.total_seconds())
        self._running.wait(self.PAUSE_LIMIT.total_seconds())

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            rules = [
                {
                    "kind": r.kind,
                    "remaining": r.remaining,
                    "status": r.status,
                    "match": r.match.pattern if r.match else None,
                }
                for r in self._rules
                if r.remaining > 0
            ]
        return {"latency_ms": self.latency // timedelta(milliseconds=1), "rules": rules}

    def configure(self, spec: Mapping[str, Any]) -> None:
        """Switch faults on from JSON (the admin HTTP API): latency_ms, fail, throttle, drop."""
        if "latency_ms" in spec:
            self.set_latency(timedelta(milliseconds=int(spec["latency_ms"])))
        for kind in (ERROR, THROTTLE, DROP):
            rule = spec.get("fail" if kind == ERROR else kind)
            if rule is None:
                continue
            count, match = int(rule.get("count", 1)), rule.get("match")
            if kind == ERROR:
                self.fail(count, int(rule.get("status", 503)), match)
            elif kind == THROTTLE:
                self.throttle(count, match)
            else:
                self.drop_after_commit(count, match)

    def take_before(self, request: Request) -> int | None:
        """The status to answer with instead of handling the request, if a rule fires."""
        crash = self._due_crash(request)
        rule = self._take(request, (ERROR, THROTTLE))
        if crash is not None:
            if not crash.applied or rule is not None:
                crash.then()
                return rule.status if rule else 503  # to a client that is gone
            with self._lock:
                self._dying.append((request, crash))
        return rule.status if rule else None

    def take_drop(self, request: Request) -> bool:
        with self._lock:
            dying = next((c for r, c in self._dying if r is request), None)
            self._dying = [(r, c) for r, c in self._dying if r is not request]
        if dying is not None:
            dying.then()
            return True
        return self._take(request, (DROP,)) is not None

    def _due_crash(self, request: Request) -> _Crash | None:
        with self._lock:
            matching = [c for c in self._crashes if c.match is None or c.match.search(request.line)]
            for crash in matching:
                crash.countdown -= 1
            due = next((c for c in matching if c.countdown <= 0), None)
            if due is not None:
                self._crashes.remove(due)
            return due

    def _add(self, kind: str, count: int, status: int, match: str | None) -> None:
        if count < 1:
            raise ValueError("count must be at least 1")
        pattern = re.compile(match) if match else None
        with self._lock:
            self._rules.append(_Rule(kind, count, status, pattern))

    def _take(self, request: Request, kinds: tuple[str, ...]) -> _Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.kind in kinds and rule.applies(request):
                    rule.remaining -= 1
                    return rule
        return None
