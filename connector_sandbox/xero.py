"""A local Xero: the identity service plus the Accounting API, over real HTTP.

It lets the Xero adapter be tested through the real xero-python SDK with no mocks and no
internet:

    sandbox = XeroSandbox().start()
    tenant = sandbox.seed_organisation()
    AccountingApi(api_client, base_url=sandbox.api_url)       # .../api.xro/2.0
    IdentityApi(api_client, base_url=sandbox.identity_url)    # /connections
    token refresh against sandbox.token_url                   # /connect/token

The gateway runs in Xero's order: bearer token (401), tenant (403), rate limits per tenant (60 a
minute, 5 in flight, 5,000 a day) and per app (10,000 a minute) answered with 429, `Retry-After`
and `X-Rate-Limit-Problem`; only then is a repeated `Idempotency-Key` replayed (so duplicates
consume quota, as in Xero) or refused with 400 when it comes back with a different request.
Every API response carries `X-MinLimit-Remaining`, `X-DayLimit-Remaining` and
`X-AppMinLimit-Remaining`. Admin calls (Python methods, or HTTP under /admin/) seed
organisations, record customer payments, read what an organisation holds and switch faults;
faults and limits never touch /admin/. This module must never bind anything but 127.0.0.1.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from connector_sandbox import xero_api
from connector_sandbox.server import (
    Clock,
    RateLimiter,
    Request,
    Response,
    SandboxServer,
    Served,
    Tenants,
    Verdict,
    Window,
)
from connector_sandbox.xero_admin import XeroAdminApi
from connector_sandbox.xero_entities import Invalid, payment_view
from connector_sandbox.xero_faults import XeroFaults
from connector_sandbox.xero_identity import (
    AUTHORIZE_PATH,
    CONNECTIONS_PATH,
    REVOKE_PATH,
    TOKEN_PATH,
    Identity,
    problem,
)
from connector_sandbox.xero_keys import IdempotencyKeys
from connector_sandbox.xero_org import Organisation, OrgSettings

CLIENT_ID = "XEROSANDBOXCLIENTID00000000000000"
CLIENT_SECRET = "xero-sandbox-client-secret"
DEFAULT_TENANT = "6f1a0a4e-0000-4000-8000-00000000c0de"
SCOPE = "offline_access accounting.invoices accounting.payments accounting.contacts"
WRITES = ("POST", "PUT", "PATCH")

Observer = Callable[[Request, Response], None]


class XeroSandbox(Served):
    """The Xero sandbox. Limits default to Xero's documented ones per tenant."""

    exempt_prefixes: tuple[str, ...] = ("/admin/",)

    def __init__(
        self,
        *,
        port: int = 0,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        requests_per_minute: int = 60,
        requests_per_day: int = 5000,
        max_concurrent: int = 5,
        app_requests_per_minute: int = 10_000,
        clock: Clock | None = None,
    ):
        self.clock = clock or Clock()
        self.faults = XeroFaults()
        self.client_id = client_id
        self.identity = Identity(self.clock, self._tenant_names)
        self.identity.register(client_id, client_secret)
        self.limits = RateLimiter(
            [
                Window("minute", requests_per_minute, timedelta(minutes=1)),
                Window("day", requests_per_day, timedelta(days=1)),
            ],
            max_concurrent,
            self.clock,
        )
        self.app_limits = RateLimiter(
            [Window("appminute", app_requests_per_minute, timedelta(minutes=1))], None, self.clock
        )
        self.observer: Observer | None = None  # sees every API request and its response
        self._orgs: Tenants[Organisation] = Tenants("organisation with tenant id")
        self.keys = IdempotencyKeys(self.clock)
        self._local = threading.local()
        self._admin = XeroAdminApi(self)
        self._server = SandboxServer(self, self.faults, port)

    # --- addresses ---

    @property
    def api_url(self) -> str:
        """AccountingApi(base_url=...)."""
        return self.url + xero_api.BASE

    @property
    def identity_url(self) -> str:
        """IdentityApi(base_url=...): /connections lives here."""
        return self.url

    @property
    def token_url(self) -> str:
        return self.url + TOKEN_PATH

    @property
    def authorize_url(self) -> str:
        return self.url + AUTHORIZE_PATH

    # --- admin, in Python ---

    def seed_organisation(
        self,
        tenant_id: str = DEFAULT_TENANT,
        *,
        name: str = "Sandbox Organisation",
        base_currency: str = "USD",
        currencies: Iterable[str] = (),
        items: Sequence[str | Mapping[str, Any]] = ("Services",),
        contacts: Sequence[str | Mapping[str, Any]] = (),
        country: str = "US",
        tracking: Mapping[str, Sequence[str]] | None = None,
    ) -> str:
        """A fresh organisation (replacing any with that tenant id). `currencies` beyond the
        base one are subscribed; items are codes (sold into account 200) or Item bodies;
        `country` picks the region's tax rates (`xero_setup.REGIONS`); `tracking` is
        {category: [options]}."""
        settings = OrgSettings(
            tenant_id, name, base_currency, frozenset(currencies), country, dict(tracking or {})
        )
        org = Organisation(settings, self.clock)
        with org.lock:
            for item in items:
                body = (
                    {"Code": item, "Name": item, "SalesDetails": {"AccountCode": "200"}}
                    if isinstance(item, str)
                    else dict(item)
                )
                org.create_item(body)
            for contact in contacts:
                org.create_contact({"Name": contact} if isinstance(contact, str) else contact)
        self._orgs.put(tenant_id, org)
        return tenant_id

    def issue_tokens(
        self, tenants: Sequence[str] = (DEFAULT_TENANT,), scope: str = SCOPE
    ) -> dict[str, Any]:
        """A token response for `tenants`, without the authorize redirect."""
        for tenant in tenants:
            self.organisation(tenant)
        return self.identity.issue(self.client_id, tuple(tenants), scope)

    def revoke_token(self, token: str) -> None:
        self.identity.revoke(token)

    def record_payment(
        self,
        tenant_id: str,
        invoice_id: str,
        amount: Decimal | str,
        on: date | None = None,
        account_code: str = "090",
    ) -> dict[str, Any]:
        """The customer pays, as a bookkeeper records it in Xero (into the bank account)."""
        org = self.organisation(tenant_id)
        body = {
            "Invoice": {"InvoiceID": invoice_id},
            "Account": {"Code": account_code},
            "Amount": Decimal(str(amount)),
            "Date": (on or org.today()).isoformat(),
        }
        with org.lock:
            try:
                return payment_view(*org.create_payment(body))
            except Invalid as exc:
                raise ValueError(str(exc)) from None

    def delete_payment(self, tenant_id: str, payment_id: str) -> dict[str, Any]:
        org = self.organisation(tenant_id)
        with org.lock:
            return payment_view(*org.delete_payment(payment_id))

    def void(self, tenant_id: str, invoice_id: str) -> dict[str, Any]:
        """A person voids the invoice in Xero."""
        org = self.organisation(tenant_id)
        with org.lock:
            return org.update_document(org.document(invoice_id, False), {"Status": "VOIDED"}).view()

    def invoices(self, tenant_id: str = DEFAULT_TENANT) -> list[dict[str, Any]]:
        org = self.organisation(tenant_id)
        with org.lock:
            return [d.view() for d in org.documents_of(False)]

    def credit_notes(self, tenant_id: str = DEFAULT_TENANT) -> list[dict[str, Any]]:
        org = self.organisation(tenant_id)
        with org.lock:
            return [d.view() for d in org.documents_of(True)]

    def contacts(self, tenant_id: str = DEFAULT_TENANT) -> list[dict[str, Any]]:
        org = self.organisation(tenant_id)
        with org.lock:
            return [dict(c) for c in org.contacts.values()]

    def set_contact_email(self, tenant_id: str, name: str, email: str | None) -> None:
        """A person adds (or removes) the contact's email address in Xero."""
        org = self.organisation(tenant_id)
        with org.lock:
            contact = org.contact_by_name(name)
            if contact is None:
                raise ValueError(f"no contact named {name!r}")
            if email:
                contact["EmailAddress"] = email
            else:
                contact.pop("EmailAddress", None)
            contact["UpdatedDateUTC"] = org.now()

    def emails(self, tenant_id: str, invoice_id: str) -> list[str]:
        """To whom each `POST /Invoices/{id}/Email` for this invoice went, in order."""
        org = self.organisation(tenant_id)
        with org.lock:
            return list(org.document(invoice_id, False).emails)

    def archive_tracking_option(self, tenant_id: str, category: str, option: str) -> None:
        """A person archives a tracking option in Xero."""
        org = self.organisation(tenant_id)
        with org.lock:
            for found in org.tracking.values():
                if found["Name"] == category:
                    for entry in found["Options"]:
                        if entry["Name"] == option:
                            entry["Status"] = "ARCHIVED"

    def forget_idempotency_keys(self) -> None:
        """As if Xero's 6-minute key window had passed."""
        self.keys.clear()

    def reset(self) -> None:
        """Back to empty: no organisations, tokens, keys, faults or counted limits."""
        self._orgs.clear()
        self.identity.clear()
        self.forget_idempotency_keys()
        self.faults.clear()
        self.limits.reset()
        self.app_limits.reset()

    def organisation(self, tenant_id: str) -> Organisation:
        return self._orgs.get(tenant_id)

    def _tenant_names(self) -> dict[str, str]:
        return {t: o.settings.name for t, o in self._orgs.all().items()}

    # --- HTTP ---

    def handle(self, request: Request) -> Response:
        path = request.path
        if path == AUTHORIZE_PATH:
            return self.identity.authorize(request)
        if path == TOKEN_PATH and request.method == "POST":
            return self.identity.token(request)
        if path == REVOKE_PATH and request.method == "POST":
            return self.identity.revocation(request)
        if path.lower() == CONNECTIONS_PATH and request.method == "GET":
            return self._observed(request, self.identity.connections(request))
        if path.startswith(xero_api.BASE + "/"):
            return self._observed(request, self._api(request))
        if path.startswith("/admin/"):
            return self._admin.handle(request)
        return Response.json(404, {"error": f"no route for {request.method} {path}"})

    def _observed(self, request: Request, response: Response) -> Response:
        if self.observer is not None:
            self.observer(request, response)
        return response

    def fault_response(self, request: Request, status: int) -> Response:
        if status == 429:
            headers = {"Retry-After": "1", "X-Rate-Limit-Problem": "minute"}
            return Response(429, b"", headers)
        return problem(status, "Service Unavailable", "The Xero API is temporarily unavailable")

    @contextmanager
    def admit(self, request: Request) -> Iterator[Response | None]:
        """Xero's gateway: bearer token, tenant, then the tenant's and the app's rate limits.
        A request holds its concurrency slot until it is answered."""
        self._local.verdict = None
        if not request.path.startswith(xero_api.BASE + "/"):
            yield None
            return
        grant, refusal = self.identity.bearer(request.header("Authorization"))
        if refusal is not None:
            yield refusal
            return
        assert grant is not None
        tenant = request.header("xero-tenant-id") or ""
        if tenant not in grant.tenants or tenant not in self._tenant_names():
            yield problem(403, "Forbidden", "AuthorizationUnsuccessful")
            return
        self._local.app = grant.client_id
        with ExitStack() as stack:
            verdict = stack.enter_context(self.limits.slot(tenant))
            if verdict.allowed:
                app = stack.enter_context(self.app_limits.slot(grant.client_id))
                merged = {**verdict.remaining, **app.remaining}
                verdict = Verdict(app.allowed, app.problem, merged, app.retry_after)
            self._local.verdict = verdict
            yield None if verdict.allowed else self._throttled(verdict)

    def _throttled(self, verdict: Verdict) -> Response:
        headers = self._limit_headers(verdict)
        headers["Retry-After"] = str(verdict.retry_after or 1)
        headers["X-Rate-Limit-Problem"] = verdict.problem or "minute"
        return Response(429, b"", headers)

    def _limit_headers(self, verdict: Verdict | None) -> dict[str, str]:
        """What is left in each window the verdict knows of (a refusal knows only its own)."""
        remaining = dict(verdict.remaining) if verdict else {}
        names = {
            "minute": "X-MinLimit-Remaining",
            "day": "X-DayLimit-Remaining",
            "appminute": "X-AppMinLimit-Remaining",
        }
        return {header: str(remaining[w]) for w, header in names.items() if w in remaining}

    def _api(self, request: Request) -> Response:
        tenant = request.header("xero-tenant-id") or ""
        org = self.organisation(tenant)
        verdict: Verdict | None = getattr(self._local, "verdict", None)
        app = getattr(self._local, "app", "")
        rest = [p for p in request.path[len(xero_api.BASE) :].split("/") if p]
        key = request.header("Idempotency-Key") if request.method in WRITES else None

        def run() -> Response:
            return self.faults.shape(request, xero_api.serve(org, request, rest, app))

        if key is None:
            response = self.faults.server_error_instead(request, run) or run()
        else:
            response = self.keys.answer(
                request, key, app, lambda: self.faults.server_error_instead(request, run) or run()
            )
        response = Response(response.status, response.body, dict(response.headers))
        if verdict is not None:
            response.headers.update(self._limit_headers(verdict))
        return response


def main(port: int = 8766, tenant_id: str = DEFAULT_TENANT) -> None:
    """Serve a sandbox holding one organisation until interrupted (`connector sandbox xero`)."""
    sandbox = XeroSandbox(port=port)
    sandbox.seed_organisation(tenant_id, currencies=["EUR"])
    sandbox.start()
    print(f"Xero sandbox on {sandbox.url}")
    print(f"  api_url:       {sandbox.api_url}")
    print(f"  identity_url:  {sandbox.identity_url}")
    print(f"  token_url:     {sandbox.token_url}")
    print(f"  authorize_url: {sandbox.authorize_url}")
    # the sandbox's own fixed test credentials, not anybody's secret: `connector auth` needs them
    print(f"  client id / secret: {CLIENT_ID} / {CLIENT_SECRET}")
    print(f"  tenant id:     {tenant_id}")
    print("  admin:         POST /admin/organisations, GET /admin/organisations/<tenant>")
    sandbox.serve_forever()
