"""A QuickBooks sandbox for tests, a business connected to it through the keyring, and what
the sandbox serves, request by request."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from connector.adapters.quickbooks import QuickBooksLedger
from connector.adapters.quickbooks.session import QuickBooksSession, QuickBooksSettings
from connector.credentials import TokenSet, TokenStore
from connector_sandbox import quickbooks_oauth
from connector_sandbox.quickbooks import CLIENT_ID, CLIENT_SECRET, DEFAULT_REALM, QuickBooksSandbox
from connector_sandbox.server import Request, Response
from tests.conftest import MILESTONES, Business, write_business


def connect(
    sandbox: QuickBooksSandbox, business: str = "Northwind Studio", realm: str = DEFAULT_REALM
) -> TokenSet:
    """Store a token set for `business` as `connector auth quickbooks` would."""
    issued = sandbox.issue_tokens(realm)
    tokens = TokenSet(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, company_id=realm)
    tokens = tokens.rotated(
        issued["access_token"],
        issued["expires_in"],
        issued["refresh_token"],
        issued.get("x_refresh_token_expires_in"),
    )
    TokenStore(business, "quickbooks").save(tokens)
    return tokens


def settings(sandbox: QuickBooksSandbox) -> QuickBooksSettings:
    return QuickBooksSettings(
        environment="sandbox", api_url=sandbox.api_url, discovery_url=sandbox.discovery_url
    )


def ledger(sandbox: QuickBooksSandbox, business: str = "Northwind Studio") -> QuickBooksLedger:
    session = QuickBooksSession(
        settings(sandbox), TokenStore(business, "quickbooks"), retry_wait=(0.01, 0.05)
    )
    return QuickBooksLedger(session, "Services")


def qbo_business(
    root: Path, sandbox: QuickBooksSandbox, milestones: str = MILESTONES, on_change: str = "flag"
) -> Business:
    """The test business of conftest, with its ledger in the QuickBooks sandbox."""
    ledger_section = (
        '[ledger]\nkind = "quickbooks"\nenvironment = "sandbox"\n'
        f'api_url = "{sandbox.api_url}"\ndiscovery_url = "{sandbox.discovery_url}"\n'
        "retry_first_wait = 0.01\nretry_max_wait = 0.05\n"
    )
    write_business(root, on_change=on_change, milestones=milestones, ledger_section=ledger_section)
    return Business(root, None)  # type: ignore[arg-type]


OAUTH = quickbooks_oauth
SIGN_IN = (*OAUTH.DISCOVERY_PATHS, OAUTH.TOKEN_PATH, OAUTH.JWKS_PATH)


class Served:
    """The requests a sandbox served while watched: `calls` to the accounting API ("POST
    batch", "POST query", "GET cdc"...) and `sign_in` (OAuth discovery and tokens)."""

    def __init__(self, sign_in_paths: tuple[str, ...]):
        self.sign_in_paths = sign_in_paths
        self.calls: list[str] = []
        self.sign_in: list[str] = []
        self.bodies: list[bytes] = []

    def note(self, request: Request) -> None:
        if request.path.startswith("/admin/"):
            return
        if request.path in self.sign_in_paths:
            self.sign_in.append(request.path)
            return
        resource = request.path.split("/")[4:] or [request.path]
        self.calls.append(f"{request.method} {'/'.join(resource)}")
        self.bodies.append(request.body)

    def clear(self) -> None:
        self.calls, self.sign_in, self.bodies = [], [], []


@contextmanager
def served(sandbox: Any, sign_in_paths: tuple[str, ...] = SIGN_IN) -> Iterator[Served]:
    """Watch what `sandbox` (QuickBooks or Xero) serves inside the block."""
    seen = Served(sign_in_paths)
    handle = sandbox.handle

    def watched(request: Request) -> Response:
        seen.note(request)
        response: Response = handle(request)
        return response

    sandbox.handle = watched
    try:
        yield seen
    finally:
        del sandbox.handle  # the class's own again


CONFTEST_CUSTOMERS = (("Acme Corporation", "USD"), ("Beta Bakery Ltd", "EUR"))


def invoices_next(
    sandbox: QuickBooksSandbox, customers: tuple[tuple[str, str], ...] = CONFTEST_CUSTOMERS
) -> None:
    """Read the company's setup (this process keeps it) and make `customers` (those of the
    conftest business by default), as an earlier run would have: the next /batch the sandbox
    sees is then one of invoices. For tests that fault "batch" to lose the invoices' answers,
    now that the setup and the customers go through /batch too."""
    ready = ledger(sandbox)
    ready.profile()
    ready.find_or_create_customers(list(customers))
