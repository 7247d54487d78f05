"""The Xero sandbox's own HTTP admin API under /admin/ (not part of Xero).

It mirrors the Python admin methods so a test in another process, or a person with curl, can
drive a running `connector sandbox xero`:

    POST   /admin/organisations                    {"tenant_id", "base_currency", "currencies",
                                                    "items", "contacts", "name"}
    GET    /admin/organisations/<tenant>           invoices, credit notes, contacts
    POST   /admin/organisations/<tenant>/payments  {"invoice_id", "amount": "12.50", "date"}
    POST   /admin/tokens                           {"tenants": [...]} -> a token response
    GET|POST|DELETE /admin/faults                  {"latency_ms", "fail", "throttle", "drop",
                                                    "omit", "reorder", "server_error"}
    POST   /admin/clock                            {"advance_seconds": 3600}
    POST   /admin/forget-idempotency-keys
    POST   /admin/reset

Amounts are strings or JSON numbers, never floats.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from connector.sandbox.server import Request, Response

if TYPE_CHECKING:
    from connector.sandbox.xero import XeroSandbox

_SEED_KEYS = ("name", "base_currency", "currencies", "items", "contacts")


class AdminApi:
    def __init__(self, sandbox: XeroSandbox):
        self.sandbox = sandbox

    def handle(self, request: Request) -> Response:
        parts = [p for p in request.path.split("/")[2:] if p]
        route = self._route(request.method, parts)
        if route is None:
            return Response.json(404, {"error": f"no admin route {request.method} {request.path}"})
        try:
            body = request.json() if request.body else {}
            return Response.json(200, route(body))
        except (KeyError, ValueError, TypeError) as e:
            return Response.json(400, {"error": str(e)})

    def _route(self, method: str, parts: list[str]) -> Callable[[Any], Any] | None:
        sb = self.sandbox
        match method, parts:
            case "POST", ["organisations"]:
                return lambda b: {
                    "tenant_id": sb.seed_organisation(
                        str(b["tenant_id"]), **{k: b[k] for k in _SEED_KEYS if k in b}
                    )
                }
            case "GET", ["organisations", tenant]:
                return lambda b: {
                    "invoices": sb.invoices(tenant),
                    "credit_notes": sb.credit_notes(tenant),
                    "contacts": [
                        {k: v for k, v in c.items() if k != "UpdatedDateUTC"}
                        for c in sb.contacts(tenant)
                    ],
                }
            case "POST", ["organisations", tenant, "payments"]:
                return lambda b: sb.record_payment(
                    tenant,
                    str(b["invoice_id"]),
                    str(b["amount"]),
                    date.fromisoformat(b["date"]) if b.get("date") else None,
                )
            case "POST", ["tokens"]:
                return lambda b: sb.issue_tokens(list(b["tenants"]))
            case "GET", ["faults"]:
                return lambda b: sb.faults.snapshot()
            case "POST", ["faults"]:
                return lambda b: sb.faults.configure(b) or sb.faults.snapshot()
            case "DELETE", ["faults"]:
                return lambda b: sb.faults.clear() or sb.faults.snapshot()
            case "POST", ["clock"]:
                return lambda b: (
                    sb.clock.advance(timedelta(seconds=int(b["advance_seconds"])))
                    or {"now": sb.clock.now().isoformat()}
                )
            case "POST", ["forget-idempotency-keys"]:
                return lambda b: sb.forget_idempotency_keys() or {}
            case "POST", ["reset"]:
                return lambda b: sb.reset() or {}
        return None
