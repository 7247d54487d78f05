"""A QuickBooks sandbox for tests, and a business connected to it through the keyring."""

from __future__ import annotations

from pathlib import Path

from connector.adapters.quickbooks import QuickBooksLedger
from connector.adapters.quickbooks.session import QuickBooksSession, QuickBooksSettings
from connector.credentials import TokenSet, TokenStore
from connector_sandbox.quickbooks import CLIENT_ID, CLIENT_SECRET, DEFAULT_REALM, QuickBooksSandbox
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
