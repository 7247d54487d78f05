"""The ledger sessions count nothing themselves: whoever wants their requests counted (the
benchmark, a test) passes an `on_request` hook, told of every request the sandbox then serves."""

from __future__ import annotations

from connector.adapters.quickbooks import QuickBooksLedger
from connector.adapters.quickbooks.session import QuickBooksSession
from connector.adapters.xero import XeroLedger
from connector.adapters.xero.session import XeroSession
from connector.credentials import TokenStore
from connector.testing.ledger import request
from tests import qbo_support


def test_quickbooks_tells_the_hook_of_every_request_the_sandbox_serves(qbo):
    seen: list[str] = []
    session = QuickBooksSession(
        qbo_support.settings(qbo),
        TokenStore("Northwind Studio", "quickbooks"),
        retry_wait=(0.01, 0.05),
        on_request=seen.append,
    )
    ledger = QuickBooksLedger(session, "Services")
    before = qbo.api_requests
    customer = ledger.find_or_create_customer("Acme Corporation", "USD")
    ledger.create_invoices([request(customer, 1)])
    session.refresh(session.store.require())
    qbo.faults.throttle(1)  # a refused attempt is a request too
    ledger.payment_changes(None)
    assert len(seen) == qbo.api_requests - before
    assert seen.count("discovery") == 1 and {"token", "api"} <= set(seen)
    assert not hasattr(session, "calls")


def test_xero_tells_the_hook_of_every_request_the_sandbox_serves(xero):
    seen: list[str] = []
    settings = xero.settings()
    session = XeroSession(
        settings,
        TokenStore(xero.business, "xero"),
        retry_wait=(0.01, 0.05),
        sleep=xero.sleep,
        on_request=seen.append,
    )
    ledger = XeroLedger(session, settings, "Services")
    before = xero.sandbox.api_requests
    customer = ledger.find_or_create_customer("Acme Corporation", "USD")
    session.expire_access_token()  # the next call refreshes first
    ledger.create_invoices([request(customer, 1)])
    xero.sandbox.faults.throttle(1)
    ledger.payment_changes(None)
    assert len(seen) == xero.sandbox.api_requests - before
    assert {"token", "api"} <= set(seen)
    assert not hasattr(session, "calls")
