"""What the local tracker sandboxes (GitHub, Jira, Asana) share: a token gateway, a per-minute
rate limit that answers 429 with `Retry-After`, a count of answers by status (so a test can
prove a quiet night cost only 304s), and a lock around the data.

Like every sandbox it serves real HTTP on 127.0.0.1 only, and holds numbers as Decimal.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from connector_sandbox.server import (
    Clock,
    FaultInjector,
    RateLimiter,
    Request,
    Response,
    SandboxServer,
    Served,
    Window,
)


class TrackerSandbox(Served):
    """Subclasses set `kind` and implement `route`, `authorized` and `error_body`."""

    kind = "tracker"
    exempt_prefixes: tuple[str, ...] = ("/admin/",)

    def __init__(
        self,
        *,
        port: int = 0,
        clock: Clock | None = None,
        requests_per_minute: int = 1500,
        retry_after: int = 1,
    ):
        self.clock = clock or Clock()
        self.faults = FaultInjector()
        self.lock = threading.RLock()
        self.retry_after = retry_after  # seconds a throttled client is told to wait
        self.statuses: Counter[int] = Counter()
        self.limits = RateLimiter(
            [Window("minute", requests_per_minute, timedelta(minutes=1))], None, self.clock
        )
        self._server = SandboxServer(self, self.faults, port)

    def reset_counts(self) -> None:
        with self.lock:
            self.statuses.clear()

    # --- the App protocol ---

    @contextmanager
    def admit(self, request: Request) -> Iterator[Response | None]:
        if not self.authorized(request):
            yield self._count(self.unauthorized())
            return
        with self.limits.slot("token") as verdict:
            yield None if verdict.allowed else self._count(self.throttled())

    def handle(self, request: Request) -> Response:
        if request.path.startswith(self.exempt_prefixes):
            return Response.json(404, {"message": "no admin API over HTTP; use Python"})
        with self.lock:
            return self._count(self.route(request))

    def fault_response(self, request: Request, status: int) -> Response:
        if status == 429:
            return self._count(self.throttled())
        return self._count(Response.json(status, self.error_body(f"server error {status}")))

    def throttled(self) -> Response:
        return Response.json(
            429,
            self.error_body("You have exceeded the rate limit"),
            {"Retry-After": str(self.retry_after)},
        )

    def unauthorized(self) -> Response:
        return Response.json(401, self.error_body("Bad credentials"))

    def _count(self, response: Response) -> Response:
        self.statuses[response.status] += 1
        return response

    # --- for subclasses ---

    def authorized(self, request: Request) -> bool:
        raise NotImplementedError

    def route(self, request: Request) -> Response:
        raise NotImplementedError

    def error_body(self, message: str) -> dict[str, Any]:
        raise NotImplementedError
