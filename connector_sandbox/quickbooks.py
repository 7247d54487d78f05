"""A local QuickBooks Online: OAuth 2.0 plus the v3 accounting API, over real HTTP.

It lets the QuickBooks adapter be tested through the real python-quickbooks and intuit-oauth
SDKs with no mocks and no internet:

    sandbox = QuickBooksSandbox().start()
    sandbox.seed_company("9130350000000001")
    auth = AuthClient(CLIENT_ID, CLIENT_SECRET, redirect_uri, environment=sandbox.discovery_url)
    client = QuickBooks(auth_client=auth, refresh_token=..., company_id=realm, minorversion=75)
    client.api_url_v3 = sandbox.api_url
    # plain http, for this client only (never OAUTHLIB_INSECURE_TRANSPORT, process-wide):
    client.session = LoopbackOAuth2Session(sandbox.url, CLIENT_ID, client.session.token)

The gateway checks run in QuickBooks' order: bearer token (401/403 in the lower-case `fault`
envelope), rate limits (429, code 3001, lower-case), minorversion, then a repeated `requestid`
replays the stored response; only then does the company see the request. Data errors come back
in the capital `Fault` envelope. Admin calls (Python methods, or HTTP under /admin/) seed
companies, record customer payments, read what a company holds and switch faults; faults and
limits never touch /admin/. This module must never bind anything but 127.0.0.1.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from connector_sandbox import quickbooks_api
from connector_sandbox import quickbooks_oauth as oauth
from connector_sandbox.quickbooks_admin import QuickBooksAdminApi
from connector_sandbox.quickbooks_applications import payment_body
from connector_sandbox.quickbooks_company import Company
from connector_sandbox.quickbooks_faults import (
    QboFault,
    dec,
)
from connector_sandbox.quickbooks_lists import seed_lists
from connector_sandbox.quickbooks_rates import seed_rates
from connector_sandbox.quickbooks_settings import HOME_CURRENCY, HOME_TIMEZONE, CompanySettings
from connector_sandbox.quickbooks_tax import seed_tax, tax_code_specs
from connector_sandbox.server import (
    Clock,
    FaultInjector,
    RateLimiter,
    Request,
    Response,
    SandboxServer,
    Served,
    Tenants,
    Verdict,
    Window,
)

CLIENT_ID = "sandbox-client-id"
CLIENT_SECRET = "sandbox-client-secret"
DEFAULT_REALM = "9130350000000001"


class QuickBooksSandbox(Served):
    """The QuickBooks sandbox. Limits default to QuickBooks' documented ones: 500 requests a
    minute and 10 concurrent per realm, 120 batch requests a minute. `requests_per_second`
    (10 in the real sandbox since 2025-09-15) is off unless given, to keep tests quick."""

    exempt_prefixes: tuple[str, ...] = ("/admin/",)

    def __init__(
        self,
        *,
        port: int = 0,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        redirect_uris: Iterable[str] | None = None,
        requests_per_minute: int = 500,
        max_concurrent: int = 10,
        batch_per_minute: int = 120,
        requests_per_second: int | None = None,
        reject_old_minorversion: bool = True,
        clock: Clock | None = None,
    ):
        self.clock = clock or Clock()
        self.faults = FaultInjector()
        self.client_id, self.client_secret = client_id, client_secret
        self.reject_old_minorversion = reject_old_minorversion
        self.oauth = oauth.TokenAuthority(self.clock, self._default_realm)
        uris = frozenset(redirect_uris) if redirect_uris is not None else None
        self.oauth.register(oauth.OAuthClient(client_id, client_secret, uris))
        windows = [Window("minute", requests_per_minute, timedelta(minutes=1))]
        if requests_per_second:
            windows.append(Window("second", requests_per_second, timedelta(seconds=1)))
        self.limits = RateLimiter(windows, max_concurrent, self.clock)
        self.batch_limits = RateLimiter(
            [Window("batch", batch_per_minute, timedelta(minutes=1))], None, self.clock
        )
        self._companies: Tenants[Company] = Tenants("company with realm id")
        self._admin = QuickBooksAdminApi(self)
        self._server = SandboxServer(self, self.faults, port)

    # --- addresses ---

    @property
    def discovery_url(self) -> str:
        """What to pass as AuthClient(environment=...)."""
        return self.url + oauth.DISCOVERY_PATHS[0]

    @property
    def api_url(self) -> str:
        """What to set as QuickBooks.api_url_v3 (ends in /v3)."""
        return self.url + "/v3"

    @property
    def authorize_url(self) -> str:
        return self.url + oauth.AUTHORIZE_PATH

    @property
    def token_url(self) -> str:
        return self.url + oauth.TOKEN_PATH

    # --- admin, in Python ---

    def seed_company(
        self,
        realm_id: str = DEFAULT_REALM,
        *,
        currency: str | None = None,
        company_name: str = "Sandbox Company",
        items: Sequence[str | Mapping[str, Any]] = ("Services",),
        custom_txn_numbers: bool = True,
        currencies: Iterable[str] = (),
        exchange_rates: Mapping[str, Decimal | str] | None = None,
        custom_fields: Sequence[str] = (),
        timezone: str | None = None,
        country: str = "US",
        automated_sales_tax: bool = False,
        ast_rate: Decimal | str = "8.25",
        tax_codes: Sequence[Mapping[str, Any]] | None = None,
        classes: Sequence[str] = (),
        departments: Sequence[str] = (),
        class_tracking: str = "none",
    ) -> str:
        """A fresh company (replacing any with that realm id).

        `country` is US, CA, GB or AU; the home `currency` and the `timezone` default to the
        country's (US: America/Los_Angeles).
        `currencies` beyond the home currency turn multicurrency on; `exchange_rates` are the
        rates of the day (home units per foreign unit, 1 when not given). Items are names
        (Service items) or Item bodies. `automated_sales_tax` (US only) taxes TAX lines at
        `ast_rate` percent. `tax_codes` None gives the country's standard codes; otherwise
        each is {"name", "rate"} or {"name", "rates": [{"name", "rate"}, ...]} (optional
        "description", "active"). `class_tracking` is "none", "line" (ClassRef on lines) or
        "txn" (ClassRef on the document)."""
        rates = {
            k: dec(v, f"exchange_rates.{k}") or Decimal(1)
            for k, v in (exchange_rates or {}).items()
        }
        ast = dec(ast_rate, "ast_rate")
        settings = CompanySettings(
            realm_id=realm_id,
            company_name=company_name,
            currency=currency or HOME_CURRENCY.get(country, "USD"),
            currencies=frozenset(currencies),
            custom_txn_numbers=custom_txn_numbers,
            exchange_rates=rates,
            custom_fields=tuple(custom_fields),
            timezone=timezone or HOME_TIMEZONE.get(country, "America/Los_Angeles"),
            country=country,
            automated_sales_tax=automated_sales_tax,
            ast_rate=ast if ast is not None else Decimal("8.25"),
            tax_codes=tax_code_specs(tax_codes, country),
            classes=tuple(classes),
            departments=tuple(departments),
            class_tracking=class_tracking,
        )
        company = Company(settings, self.clock)
        with company.lock:
            for item in items:
                company.create("Item", {"Name": item} if isinstance(item, str) else item)
            seed_tax(company)
            seed_lists(company)
            seed_rates(company)
        self._companies.put(realm_id, company)
        return realm_id

    def set_customer_email(self, realm_id: str, display_name: str, email: str) -> dict[str, Any]:
        """Give a customer (found by DisplayName) a PrimaryEmailAddr, as a bookkeeper would in
        QuickBooks; the customer's SyncToken moves on, as for any update."""
        company = self.company(realm_id)
        with company.lock:
            return company.set_customer_email(display_name, email)

    def sent_emails(self, realm_id: str = DEFAULT_REALM) -> list[dict[str, Any]]:
        """Every invoice email the company sent, oldest first: invoice_id, doc_number, to, at."""
        return list(self.snapshot(realm_id)["sent_emails"])

    def issue_tokens(self, realm_id: str = DEFAULT_REALM) -> dict[str, Any]:
        """A token response (access_token, refresh_token, expires_in...) for `realm_id`,
        without going through the authorize redirect."""
        self.company(realm_id)
        return self.oauth.issue(self.client_id, realm_id)

    def revoke_token(self, token: str) -> bool:
        """Disconnect: the access or refresh token and all its siblings stop working."""
        return self.oauth.revoke_token(token)

    def record_payment(
        self,
        realm_id: str,
        invoice_id: str,
        amount: Decimal | str,
        txn_date: date | None = None,
    ) -> dict[str, Any]:
        """The customer pays `amount` against an invoice, as a bookkeeper would record it in
        QuickBooks: a Payment linked to the invoice, which lowers the invoice's Balance."""
        company = self.company(realm_id)
        value = dec(amount, "amount")
        if value is None:
            raise ValueError("amount is required")
        with company.lock:
            invoice = company.read("Invoice", invoice_id)
            return company.create("Payment", payment_body(invoice, value, txn_date))

    def snapshot(self, realm_id: str = DEFAULT_REALM) -> dict[str, Any]:
        company = self.company(realm_id)
        with company.lock:
            return company.snapshot()

    def invoices(self, realm_id: str = DEFAULT_REALM) -> list[dict[str, Any]]:
        return list(self.snapshot(realm_id)["invoices"])

    def customers(self, realm_id: str = DEFAULT_REALM) -> list[dict[str, Any]]:
        return list(self.snapshot(realm_id)["customers"])

    def payments(self, realm_id: str = DEFAULT_REALM) -> list[dict[str, Any]]:
        return list(self.snapshot(realm_id)["payments"])

    def credit_memos(self, realm_id: str = DEFAULT_REALM) -> list[dict[str, Any]]:
        return list(self.snapshot(realm_id)["creditmemos"])

    def items(self, realm_id: str = DEFAULT_REALM) -> list[dict[str, Any]]:
        return list(self.snapshot(realm_id)["items"])

    def forget_request_ids(self, realm_id: str = DEFAULT_REALM) -> None:
        """As if QuickBooks' (undocumented) requestid retention had run out."""
        company = self.company(realm_id)
        with company.lock:
            company.forget_request_ids()

    def reset(self) -> None:
        """Back to empty: no companies, tokens, faults or counted requests (the OAuth client
        registration stays)."""
        self._companies.clear()
        self.oauth.clear_tokens()
        self.faults.clear()
        self.limits.reset()
        self.batch_limits.reset()

    def company(self, realm_id: str) -> Company:
        return self._companies.get(realm_id)

    def _default_realm(self) -> str | None:
        return next(iter(self._companies.all()), None)

    # --- HTTP ---

    def handle(self, request: Request) -> Response:
        path = request.path
        if path in oauth.DISCOVERY_PATHS:
            return Response.json(200, oauth.discovery(self.url))
        if path == oauth.AUTHORIZE_PATH:
            return self.oauth.authorize(request)
        if path == oauth.TOKEN_PATH and request.method == "POST":
            return self.oauth.token(request)
        if path == oauth.REVOKE_PATH and request.method == "POST":
            return self.oauth.revoke(request)
        if path == oauth.JWKS_PATH:
            return Response.json(200, {"keys": []})
        if path.startswith("/v3/company/"):
            return self._api(request)
        if path.startswith("/admin/"):
            return self._admin.handle(request)
        return Response.json(404, {"error": f"no route for {request.method} {path}"})

    def fault_response(self, request: Request, status: int) -> Response:
        if not request.path.startswith("/v3/"):
            return Response.json(
                status, {"error": "server_error" if status >= 500 else "throttled"}
            )
        if status == 429:
            return self._throttled(None)
        if status == 500:
            fault = QboFault(
                "10000",
                "An application error has occurred while processing your request",
                "System Failure Error: An unexpected error occurred while accessing or saving "
                "your data. Please wait a few minutes and try again.",
                status=500,
                kind="SystemFault",
            )
            return Response.json(500, {"Fault": fault.fault(), "time": self._time()})
        html = f"<html><body><h1>{status} Service Unavailable</h1></body></html>"
        return Response(status, html.encode(), {"Content-Type": "text/html"})

    @contextmanager
    def admit(self, request: Request) -> Iterator[Response | None]:
        """The gateway in front of /v3: bearer token, then the realm's rate limits. A request
        holds its concurrency slot until it is answered."""
        if not request.path.startswith("/v3/company/"):
            yield None
            return
        realm_id, rest = _api_path(request)
        denied = self.oauth.check_bearer(request.header("Authorization"), realm_id)
        if denied is not None:
            yield self._gateway_denied(*denied)
            return
        with ExitStack() as stack:
            verdict = stack.enter_context(self.limits.slot(realm_id))
            if verdict.allowed and rest[:1] == ["batch"]:
                verdict = stack.enter_context(self.batch_limits.slot(realm_id))
            yield None if verdict.allowed else self._throttled(verdict)

    def _api(self, request: Request) -> Response:
        realm_id, rest = _api_path(request)
        company = self._companies.find(realm_id)
        if company is None:
            return self._gateway_denied(403, "The company no longer exists")
        return quickbooks_api.serve(
            company, request, rest, self.clock.now(), self.reject_old_minorversion
        )

    def _time(self) -> str:
        return self.clock.now().isoformat(timespec="milliseconds")

    def _gateway_denied(self, status: int, detail: str) -> Response:
        if status == 401:
            message, code, kind = "AuthenticationFailed", "3200", "AUTHENTICATION"
        else:
            message, code, kind = "ApplicationAuthorizationFailed", "3100", "AUTHORIZATION"
        return self._gateway_fault(status, message, code, kind, detail)

    def _throttled(self, verdict: Verdict | None) -> Response:
        why = f" ({verdict.problem} limit)" if verdict and verdict.problem else ""
        return self._gateway_fault(
            429, "ThrottleExceeded", "3001", "SERVICE", "The request limit was reached" + why
        )

    def _gateway_fault(
        self, status: int, message: str, code: str, kind: str, detail: str
    ) -> Response:
        """QuickBooks' gateway speaks a lower-case `fault` envelope, unlike the data service."""
        body = {
            "fault": {
                "error": [
                    {
                        "message": f"message={message}; errorCode=00{code}; statusCode={status}",
                        "detail": detail,
                        "code": code,
                    }
                ],
                "type": kind,
            },
            "time": self._time(),
        }
        return Response.json(status, body, {"intuit_tid": uuid.uuid4().hex})


def _api_path(request: Request) -> tuple[str, list[str]]:
    """/v3/company/<realm>/<resource>/<id>... as the realm and the rest."""
    parts = request.path.split("/")[3:]
    return parts[0], [p for p in parts[1:] if p]


def main(port: int = 8765, realm_id: str = DEFAULT_REALM) -> None:
    """Serve a sandbox holding one company until interrupted (`connector sandbox quickbooks`)."""
    sandbox = QuickBooksSandbox(port=port)
    # the example business bills one contract in EUR: QuickBooks needs multicurrency for it
    sandbox.seed_company(realm_id, currencies=["EUR"])
    sandbox.start()
    print(f"QuickBooks sandbox on {sandbox.url}")
    print(f"  discovery (AuthClient environment): {sandbox.discovery_url}")
    print(f"  api_url_v3:                         {sandbox.api_url}")
    # the sandbox's own fixed test credentials, not anybody's secret: `connector auth` needs them
    print(f"  client id / secret:                 {CLIENT_ID} / {CLIENT_SECRET}")
    print(f"  realm id:                           {realm_id}")
    print(
        "  admin:                              POST /admin/companies, GET /admin/companies/<realm>"
    )
    sandbox.serve_forever()
