"""Xero sandbox fixtures: one server per test session whose every API exchange is checked
against Xero's published OpenAPI description, a fresh organisation per test, and a business
connected to it through the keyring.

Loaded by tests/conftest.py (`pytest_plugins`). A request or response that violates
`xero_accounting.yaml` fails the test that caused it.
"""

from __future__ import annotations

import threading
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from connector.adapters.cache import forget_all
from connector.adapters.xero import XeroLedger
from connector.adapters.xero.session import XeroSession, XeroSettings
from connector.credentials import TokenSet, TokenStore
from connector.jsonwire import dumps, loads
from connector.sync import run_once
from connector.sync.report import SyncReport
from connector_sandbox.server import Request, Response
from connector_sandbox.xero import CLIENT_ID, CLIENT_SECRET, XeroSandbox
from tests.conftest import AS_OF, MILESTONES, Business, write_business

SPECS = Path(__file__).resolve().parent / "specs"  # Xero's published files; see SOURCES.md there
BUSINESS = "Northwind Studio"


class SpecCheck:
    """Validates each exchange the sandbox sees against Xero's OpenAPI files (openapi-core,
    loaded once: the accounting file takes about a second and does not pass strict spec
    validation, hence `spec_validator_cls=None`)."""

    def __init__(self) -> None:
        from openapi_core import Config, OpenAPI

        config = Config(spec_validator_cls=None)
        self.accounting = OpenAPI.from_file_path(str(SPECS / "xero_accounting.yaml"), config=config)
        self.identity = OpenAPI.from_file_path(str(SPECS / "xero-identity.yaml"), config=config)
        self.violations: list[str] = []
        self.checked = 0
        self._lock = threading.Lock()

    def __call__(self, request: Request, response: Response) -> None:
        from openapi_core.templating.responses.exceptions import ResponseNotFound

        spec = self.identity if request.path.lower() == "/connections" else self.accounting
        wrapped = _OARequest(request)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Unsupported scheme type" for OAuth2
            problems = []
            try:
                spec.validate_request(wrapped)
            except Exception as exc:  # every openapi-core validation error
                problems.append(f"request: {_why(exc)}")
            try:
                if spec is self.identity:
                    # Xero's own example (and its real answers) write createdDateUtc without
                    # an offset, which the file's `format: date-time` rejects: requests only
                    pass
                else:
                    spec.validate_response(wrapped, _OAResponse(response))
            except ResponseNotFound:
                if response.status < 401:  # 401/403/404/429/5xx are not in Xero's file
                    problems.append(f"response {response.status} is not declared")
            except Exception as exc:
                problems.append(f"response {response.status}: {_why(exc)}")
        with self._lock:
            self.checked += 1
            self.violations += [f"{request.method} {request.path}: {p}" for p in problems]

    def take(self) -> list[str]:
        with self._lock:
            found, self.violations = self.violations, []
            return found


def _why(exc: BaseException) -> str:
    parts = [f"{type(exc).__name__}: {exc}"]
    cause = exc.__cause__
    while cause is not None:
        parts.append(str(getattr(cause, "schema_errors", None) or cause)[:600])
        cause = cause.__cause__
    return " <- ".join(parts)


class _OARequest:
    def __init__(self, request: Request):
        from openapi_core.datatypes import RequestParameters
        from werkzeug.datastructures import Headers, ImmutableMultiDict

        self.host_url = "https://api.xero.com"
        # the sandbox answers /connections in any case; Xero's file spells it /Connections
        lowered = request.path.lower()
        self.path = "/Connections" if lowered == "/connections" else request.path
        self.method = request.method.lower()
        pairs = [(k, v) for k, values in request.query.items() for v in values]
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(pairs), header=Headers(dict(request.headers))
        )
        self.body = request.body or None
        self.content_type = request.header("content-type") or ""


class _OAResponse:
    def __init__(self, response: Response):
        from werkzeug.datastructures import Headers

        self.status_code = response.status
        self.data = response.body
        self.headers = Headers(response.headers)
        self.content_type = response.headers.get("Content-Type", "application/json")


@dataclass
class XeroWorld:
    """One test's organisation in the shared sandbox, and how to reach it."""

    sandbox: XeroSandbox
    tenant: str
    business: str = BUSINESS
    slept: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        """Time passes for the sandbox instead of the test waiting for it."""
        self.slept.append(seconds)
        self.sandbox.clock.advance(timedelta(seconds=seconds))

    def settings(self, **overrides: Any) -> XeroSettings:
        return settings(self.sandbox, **{"tenant_id": self.tenant, **overrides})

    def ledger(self, business: str | None = None, **overrides: Any) -> XeroLedger:
        chosen = self.settings(**overrides)
        session = XeroSession(
            chosen,
            TokenStore(business or self.business, "xero"),
            retry_wait=(0.01, 0.05),
            sleep=self.sleep,
        )
        return XeroLedger(session, chosen, "Services")

    def consent(self, url: str) -> str:
        """The bookkeeper approves, choosing this test's organisation."""
        from connector_sandbox.xero_demo import follow_consent

        return follow_consent(f"{url}&tenants={self.tenant}")

    def pay(self, invoice_id: str, amount: Decimal | str, on: date = date(2026, 11, 20)) -> Any:
        return self.sandbox.record_payment(self.tenant, invoice_id, amount, on)

    def invoices(self) -> list[dict[str, Any]]:
        return self.sandbox.invoices(self.tenant)


def settings(sandbox: XeroSandbox, **overrides: Any) -> XeroSettings:
    values: dict[str, Any] = {
        "api_url": sandbox.api_url,
        "identity_url": sandbox.identity_url,
        "token_url": sandbox.token_url,
        "authorize_url": sandbox.authorize_url,
        "retry_first_wait": 0.01,
        "retry_max_wait": 0.05,
    }
    values.update(overrides)
    return XeroSettings(**values)


def connect(sandbox: XeroSandbox, tenant: str, business: str = BUSINESS) -> TokenSet:
    """Store a token set for `business` as `connector auth xero` does, short of its read of
    the organisation: the connection keeps no base currency, so the first night that bills
    reads the organisation (tests/test_calls.py signs in through the whole flow)."""
    issued = sandbox.issue_tokens([tenant])
    tokens = TokenSet(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, company_id=tenant)
    tokens = tokens.rotated(
        issued["access_token"], issued["expires_in"], issued["refresh_token"], 60 * 86400
    )
    TokenStore(business, "xero").save(tokens)
    return tokens


@pytest.fixture(autouse=True)
def fresh_ledger_caches() -> Iterator[None]:
    """Every test starts as a new process would, as far as the ledger adapters' caches go
    (`connector.adapters.cache`): tests stand companies up anew under the same realm or tenant
    id on one sandbox, which no real company does. Loaded for every test with this module
    (tests/conftest.py `pytest_plugins`)."""
    forget_all()
    yield


@pytest.fixture(scope="session")
def xero_spec() -> SpecCheck:
    return SpecCheck()


@pytest.fixture(scope="session")
def xero_server(xero_spec: SpecCheck) -> Iterator[XeroSandbox]:
    """One local Xero for the whole run, with Xero's own limits; `xero` gives each test a fresh
    organisation (so each test has its own 60-a-minute budget)."""
    with XeroSandbox() as server:
        server.observer = xero_spec
        yield server


def _assert_clean(spec: SpecCheck) -> None:
    violations = spec.take()
    assert not violations, "exchanges that break Xero's OpenAPI description:\n" + "\n".join(
        violations[:10]
    )


@pytest.fixture
def checked_sandbox(xero_spec: SpecCheck, memory_keyring: Any) -> Iterator[Any]:
    """`checked_sandbox(**limits)`: a started XeroSandbox of its own (other limits, a clock of
    its own) whose every exchange is checked against Xero's OpenAPI description like the shared
    one's; stopped, and any violation failing the test, at teardown."""
    started: list[XeroSandbox] = []
    xero_spec.take()

    def make(**limits: Any) -> XeroSandbox:
        sandbox = XeroSandbox(**limits)
        sandbox.observer = xero_spec
        started.append(sandbox.start())
        return sandbox

    yield make
    for sandbox in started:
        sandbox.stop()
    _assert_clean(xero_spec)


@pytest.fixture
def checked_demo(xero_spec: SpecCheck, monkeypatch: pytest.MonkeyPatch) -> Iterator[SpecCheck]:
    """`connector demo --ledger xero` with its sandbox's exchanges checked like every other."""
    from connector_sandbox.xero_demo import XeroDemoLedger

    xero_spec.take()
    monkeypatch.setattr(XeroDemoLedger, "observer", xero_spec)
    before = xero_spec.checked
    yield xero_spec
    assert xero_spec.checked > before, "the demo's exchanges were not seen"
    _assert_clean(xero_spec)


@pytest.fixture
def xero(xero_server: XeroSandbox, xero_spec: SpecCheck) -> Iterator[XeroWorld]:
    """A fresh organisation (USD, with EUR subscribed), the business connected to it. Any spec
    violation the test caused fails it."""
    xero_server.faults.clear()
    xero_spec.take()
    tenant = xero_server.seed_organisation(
        str(uuid.uuid4()), name="Northwind Books", currencies=["EUR"]
    )
    connect(xero_server, tenant)
    yield XeroWorld(xero_server, tenant)
    xero_server.faults.clear()
    _assert_clean(xero_spec)


@pytest.fixture
def xero_books(xero_server: XeroSandbox, xero_spec: SpecCheck) -> Iterator[Any]:
    """`xero_books(country, base_currency, tracking=..., currencies=..., business=...)`: a fresh
    organisation of that region (its tax rates, `xero_setup.REGIONS`) with the business
    connected to it. Any spec violation the test caused and did not take fails it."""
    xero_server.faults.clear()
    xero_spec.take()

    def make(
        country: str,
        base_currency: str,
        *,
        tracking: dict[str, list[str]] | None = None,
        currencies: tuple[str, ...] = (),
        business: str = BUSINESS,
    ) -> XeroWorld:
        tenant = xero_server.seed_organisation(
            str(uuid.uuid4()),
            name=f"Northwind Books {country}",
            base_currency=base_currency,
            currencies=currencies,
            country=country,
            tracking=tracking,
        )
        connect(xero_server, tenant, business)
        return XeroWorld(xero_server, tenant, business)

    yield make
    xero_server.faults.clear()
    _assert_clean(xero_spec)


class XeroBusiness(Business):
    """The test business of conftest, its ledger in a Xero sandbox organisation. Each sync
    builds a fresh adapter, as every real run does; time the adapter waits passes for the
    sandbox instead of the test."""

    world: XeroWorld
    batch_size: int | None = None

    def sync(self, as_of: date = AS_OF, **kw: object) -> SyncReport:
        ledger = self.world.ledger()
        if self.batch_size:
            ledger.batch_size = self.batch_size
        return run_once(self.config(), as_of=as_of, ledger=ledger, **kw)  # type: ignore[arg-type]


def xero_business(
    root: Path, world: XeroWorld, milestones: str = MILESTONES, on_change: str = "flag"
) -> XeroBusiness:
    """Config, milestones and state on disk; the [ledger] points at the sandbox."""
    sandbox = world.sandbox
    ledger_section = (
        '[ledger]\nkind = "xero"\n'
        f'tenant_id = "{world.tenant}"\n'
        f'api_url = "{sandbox.api_url}"\nidentity_url = "{sandbox.identity_url}"\n'
        "retry_first_wait = 0.01\nretry_max_wait = 0.05\n"
    )
    write_business(root, on_change=on_change, milestones=milestones, ledger_section=ledger_section)
    business = XeroBusiness(root, None)  # type: ignore[arg-type]
    business.world = world
    return business


def take_violations(spec: SpecCheck, field: str) -> None:
    """For a test that served an answer breaking Xero's schema on purpose (`odd_field`): the
    violations seen are all about `field`, and are taken so the fixture does not fail."""
    found = spec.take()
    assert found and all(field in v for v in found), found


class Api:
    """Raw HTTP to the sandbox with a bearer token for one organisation (the sandbox tests)."""

    def __init__(self, world: XeroWorld):
        self.world = world
        self.token = world.sandbox.issue_tokens([world.tenant])["access_token"]

    def __call__(self, method: str, path: str, body=None, headers=None, **params):
        sent = {
            "Authorization": f"Bearer {self.token}",
            "xero-tenant-id": self.world.tenant,
            "Accept": "application/json",
            **(headers or {}),
        }
        data = None
        if body is not None:
            data = dumps(body)
            sent["Content-Type"] = "application/json"
        answer = requests.request(
            method,
            self.world.sandbox.api_url + path,
            data=data,
            headers=sent,
            params=params,
            timeout=10,
        )
        answer.body = loads(answer.content) if answer.content else None
        return answer


def invoice(reference: str = "R1", amount: str = "100.00", currency: str = "USD", **extra):
    return {
        "Type": "ACCREC",
        "Contact": {"Name": "Acme Corporation"},
        "LineItems": [
            {
                "Description": "Work",
                "Quantity": Decimal(1),
                "UnitAmount": Decimal(amount),
                "AccountCode": "200",
            }
        ],
        "Date": "2026-11-02",
        "DueDate": "2026-11-17",
        "Reference": reference,
        "CurrencyCode": currency,
        "Status": "AUTHORISED",
        "LineAmountTypes": "NoTax",
        **extra,
    }
