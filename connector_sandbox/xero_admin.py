"""The Xero sandbox's own HTTP admin routes under /admin/ (not part of Xero).

It mirrors the Python admin methods so a test in another process, or a person with curl, can
drive a running `connector sandbox xero`:

    POST   /admin/organisations                    {"tenant_id", "base_currency", "currencies",
                                                    "items", "contacts", "name", "country",
                                                    "tracking": {"Region": ["North"]}}
    GET    /admin/organisations/<tenant>           invoices, credit notes, contacts
    POST   /admin/organisations/<tenant>/payments  {"invoice_id", "amount": "12.50", "date"}
    POST   /admin/organisations/<tenant>/contact-email  {"name", "email"} (email null: remove)
    GET    /admin/organisations/<tenant>/emails/<invoice_id>  -> {"emails": [...]}
    POST   /admin/tokens                           {"tenants": [...]} -> a token response
    GET|POST|DELETE /admin/faults                  {"latency_ms", "fail", "throttle", "drop",
                                                    "omit", "reorder", "server_error",
                                                    "odd_field": {"field", "value", "match"}}
    POST   /admin/clock                            {"advance_seconds": 3600}
    POST   /admin/forget-idempotency-keys
    POST   /admin/reset

Amounts are strings or JSON numbers, never floats.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from connector_sandbox.admin import AdminApi, Route, doing

if TYPE_CHECKING:
    from connector_sandbox.xero import XeroSandbox

_SEED_KEYS = ("name", "base_currency", "currencies", "items", "contacts", "country", "tracking")


class XeroAdminApi(AdminApi):
    """Xero's own admin routes; faults, clock and reset are the shared ones."""

    def __init__(self, sandbox: XeroSandbox):
        super().__init__(sandbox)
        self.sandbox = sandbox

    def vendor_route(self, method: str, parts: list[str]) -> Route | None:
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
            case "POST", ["organisations", tenant, "contact-email"]:
                return doing(
                    lambda b: sb.set_contact_email(tenant, str(b["name"]), b.get("email")), dict
                )
            case "GET", ["organisations", tenant, "emails", invoice_id]:
                return lambda b: {"emails": sb.emails(tenant, invoice_id)}
            case "POST", ["tokens"]:
                return lambda b: sb.issue_tokens(list(b["tenants"]))
            case "POST", ["forget-idempotency-keys"]:
                return doing(lambda b: sb.forget_idempotency_keys(), dict)
        return None
