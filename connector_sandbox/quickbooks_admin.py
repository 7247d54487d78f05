"""The QuickBooks sandbox's own HTTP admin routes under /admin/ (not part of QuickBooks).

It mirrors the Python admin methods so a test in another process, or a person with curl, can
drive a running `connector sandbox quickbooks`:

    POST   /admin/companies                       {"realm_id", "currency", "items", ...}
    GET    /admin/companies/<realm>               invoices, customers, payments, ...
    POST   /admin/companies/<realm>/payments      {"invoice_id", "amount": "12.50", "date"}
    POST   /admin/companies/<realm>/customer-email    {"display_name", "email"}
    GET    /admin/companies/<realm>/sent-emails
    POST   /admin/companies/<realm>/forget-request-ids
    POST   /admin/tokens                          {"realm_id"} -> a token response
    GET|POST|DELETE /admin/faults                 {"latency_ms", "fail": {"count", "status",
                                                   "match"}, "throttle": {...}, "drop": {...}}
    POST   /admin/clock                           {"advance_seconds": 3600}
    POST   /admin/reset

Amounts are strings or JSON numbers, never floats.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from connector_sandbox.admin import AdminApi, Route, doing
from connector_sandbox.quickbooks_faults import QboFault
from connector_sandbox.server import Response

if TYPE_CHECKING:
    from connector_sandbox.quickbooks import QuickBooksSandbox

_SEED_KEYS = (
    "currency",
    "company_name",
    "items",
    "custom_txn_numbers",
    "currencies",
    "exchange_rates",
    "custom_fields",
    "timezone",
    "country",
    "automated_sales_tax",
    "ast_rate",
    "tax_codes",
    "classes",
    "departments",
    "class_tracking",
)


class QuickBooksAdminApi(AdminApi):
    """QuickBooks' own admin routes; faults, clock and reset are the shared ones. A data error
    comes back in QuickBooks' `Fault` envelope, as the API would send it."""

    def __init__(self, sandbox: QuickBooksSandbox):
        super().__init__(sandbox)
        self.sandbox = sandbox

    def refusal(self, exc: Exception) -> Response | None:
        if isinstance(exc, QboFault):
            return Response.json(exc.status, {"Fault": exc.fault()})
        return super().refusal(exc)

    def vendor_route(self, method: str, parts: list[str]) -> Route | None:
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
            case "POST", ["companies", realm, "customer-email"]:
                return lambda b: sb.set_customer_email(
                    realm, str(b["display_name"]), str(b["email"])
                )
            case "GET", ["companies", realm, "sent-emails"]:
                return lambda b: {"sent_emails": sb.sent_emails(realm)}
            case "POST", ["companies", realm, "forget-request-ids"]:
                return doing(lambda b: sb.forget_request_ids(realm), dict)
            case "POST", ["tokens"]:
                return lambda b: sb.issue_tokens(str(b["realm_id"]))
        return None
