"""The HTTP admin API every ledger sandbox serves under /admin/ (not part of any vendor), so a
test in another process, or a person with curl, can drive a running sandbox.

The routes every sandbox has live here once:

    GET|POST|DELETE /admin/faults                  the sandbox's fault switches
    POST   /admin/clock                            {"advance_seconds": 3600}
    POST   /admin/reset

A vendor's own routes (seeding, reading what a tenant holds, payments, tokens) come from its
subclass's `vendor_route`. Amounts are strings or JSON numbers, never floats.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, Protocol

from connector_sandbox.server import Clock, Request, Response

Route = Callable[[Any], Any]


def doing(action: Callable[[Any], object], answer: Callable[[], Any]) -> Route:
    """A route that runs `action(body)`, then answers with `answer()`."""

    def route(body: Any) -> Any:
        action(body)
        return answer()

    return route


class _Faults(Protocol):
    def snapshot(self) -> dict[str, Any]: ...
    def configure(self, spec: Mapping[str, Any]) -> None: ...
    def clear(self) -> None: ...


class Administered(Protocol):
    """What the shared routes need of a sandbox."""

    @property
    def faults(self) -> _Faults: ...
    @property
    def clock(self) -> Clock: ...
    def reset(self) -> None: ...


class AdminApi:
    """Routes /admin/ requests: the vendor's own first, then the shared ones. A body that is
    missing a key or holds a bad value is a 400 with the reason."""

    def __init__(self, sandbox: Administered):
        self._target = sandbox

    def handle(self, request: Request) -> Response:
        parts = [p for p in request.path.split("/")[2:] if p]
        route = self.vendor_route(request.method, parts) or self._shared_route(
            request.method, parts
        )
        if route is None:
            return Response.json(404, {"error": f"no admin route {request.method} {request.path}"})
        try:
            body = request.json() if request.body else {}
            return Response.json(200, route(body))
        except Exception as exc:
            refused = self.refusal(exc)
            if refused is None:
                raise
            return refused

    def vendor_route(self, method: str, parts: list[str]) -> Route | None:
        """The vendor's own routes; none here."""
        return None

    def refusal(self, exc: Exception) -> Response | None:
        """The answer to an admin call that raised `exc`; None lets it through as a bug."""
        if isinstance(exc, (KeyError, ValueError, TypeError)):
            return Response.json(400, {"error": str(exc)})
        return None

    def _shared_route(self, method: str, parts: list[str]) -> Route | None:
        sb = self._target
        match method, parts:
            case "GET", ["faults"]:
                return lambda b: sb.faults.snapshot()
            case "POST", ["faults"]:
                return doing(sb.faults.configure, sb.faults.snapshot)
            case "DELETE", ["faults"]:
                return doing(lambda b: sb.faults.clear(), sb.faults.snapshot)
            case "POST", ["clock"]:
                return doing(
                    lambda b: sb.clock.advance(timedelta(seconds=int(b["advance_seconds"]))),
                    lambda: {"now": sb.clock.now().isoformat()},
                )
            case "POST", ["reset"]:
                return doing(lambda b: sb.reset(), dict)
        return None
