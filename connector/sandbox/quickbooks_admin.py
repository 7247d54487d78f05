"""The sandbox's own HTTP admin API under /admin/ (not part of QuickBooks).

It mirrors the Python admin methods so a test in another process, or a person with curl, can
drive a running `connector sandbox quickbooks`:

    POST   /admin/companies                       {"realm_id", "currency", "items", ...}
    GET    /admin/companies/<realm>               invoices, customers, payments, ...
    POST   /admin/companies/<realm>/payments      {"invoice_id", "amount": "12.50", "date"}
    POST   /admin/companies/<realm>/forget-request-ids
    POST   /admin/tokens                          {"realm_id"} -> a token response
    GET|POST|DELETE /admin/faults                 {"latency_ms", "fail": {"count", "status",
                                                   "match"}, "throttle": {...}, "drop": {...}}
    POST   /admin/clock                           {"advance_seconds": 3600}
    POST   /admin/reset

Amounts are strings or JSON numbers, never floats.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from connector.sandbox.quickbooks_faults import QboFault
from connector.sandbox.server import Request, Response

if TYPE_CHECKING:
    from connector.sandbox.quickbooks import QuickBooksSandbox

_SEED_KEYS = (
    "currency",
    "company_name",
    "items",
    "custom_txn_numbers",
    "currencies",
    "exchange_rates",
    "custom_fields",
    "timezone",
)


class AdminApi:
    def __init__(self, sandbox: QuickBooksSandbox):
        self.sandbox = sandbox

    def handle(self, request: Request) -> Response:
        parts = [p for p in request.path.split("/")[2:] if p]
        route = self._route(request.method, parts)
        if route is None:
            return Response.json(404, {"error": f"no admin route {request.method} {request.path}"})
        try:
            body = request.json() if request.body else {}
            return Response.json(200, route(body))
        except QboFault as fault:
            return Response.json(fault.status, {"Fault": fault.fault()})
        except (KeyError, ValueError, TypeError) as e:
            return Response.json(400, {"error": str(e)})

    def _route(self, method: str, parts: list[str]) -> Callable[[Any], Any] | None:
        sb = self.sandbox
        match method, parts:
            case "POST", ["companies"]:
                return lambda b: {
                    "realm_id": sb.seed_company(
                        str(b["realm_id"]), **{k: b[k] for k in _SEED_KEYS if k in b}
                    )
                }
            case "GET", ["companies", realm]:
                return lambda b: sb.snapshot(realm)
            case "POST", ["companies", realm, "payments"]:
                return lambda b: sb.record_payment(
                    realm,
                    str(b["invoice_id"]),
                    b["amount"],
                    date.fromisoformat(b["date"]) if b.get("date") else None,
                )
            case "POST", ["companies", realm, "forget-request-ids"]:
                return lambda b: sb.forget_request_ids(realm) or {}
            case "POST", ["tokens"]:
                return lambda b: sb.issue_tokens(str(b["realm_id"]))
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
            case "POST", ["reset"]:
                return lambda b: sb.reset() or {}
        return None
