"""The QuickBooks adapter through python-quickbooks over real HTTP against the local sandbox."""

from __future__ import annotations

from datetime import date

import pytest

from connector.sandbox.quickbooks import DEFAULT_REALM, QuickBooksSandbox
from tests import qbo_support
from tests.conformance.ledger import LedgerConformance, request


@pytest.fixture
def fresh(qbo):
    return qbo


class TestQuickBooksLedger(LedgerConformance):
    @pytest.fixture
    def ledger(self, fresh):
        return qbo_support.ledger(fresh)

    def pay(self, ledger, invoice, amount):
        # the customer pays in QuickBooks itself, not through the adapter
        _SANDBOX[0].record_payment(DEFAULT_REALM, invoice.ledger_id, amount, date(2026, 11, 20))

    @pytest.fixture(autouse=True)
    def _remember(self, fresh):
        _SANDBOX[:] = [fresh]


_SANDBOX: list[QuickBooksSandbox] = []


def test_invoice_lines_arrive_as_sent(fresh):
    ledger = qbo_support.ledger(fresh)
    customer = ledger.find_or_create_customer("O'Brien & Sons", "USD")
    (result,) = ledger.create_invoices([request(customer, 1, "1234.56")])
    stored = next(i for i in fresh.invoices() if i["Id"] == result.invoice.ledger_id)
    assert stored["DocNumber"] == result.invoice.reference
    assert [
        (ln.get("Description"), str(ln["Amount"]))
        for ln in stored["Line"]
        if ln.get("DetailType") == "SalesItemLineDetail"
    ] == [("Milestone 1", "1234.56"), ("Retainage withheld (5%)", "-50.00")]
    assert str(stored["TotalAmt"]) == "1184.56"
    # the quote in the name survived the query language
    assert ledger.find_or_create_customer("O'Brien & Sons", "USD").id == customer.id


def test_a_rotated_refresh_token_is_saved_before_use(fresh, memory_keyring):
    from datetime import timedelta

    from connector.credentials import TokenStore

    store = TokenStore("Northwind Studio", "quickbooks")
    before = store.load()
    ledger = qbo_support.ledger(fresh)
    ledger.session.refresh(before)
    same_day = store.load()  # Intuit changes the value about a day after issuing it
    assert same_day.refresh_token == before.refresh_token
    assert same_day.access_token != before.access_token
    fresh.clock.advance(timedelta(hours=25))
    ledger.session.refresh(same_day)
    after = store.load()
    assert after.refresh_token != before.refresh_token
    assert after.access_token != same_day.access_token
    # the old refresh token is on its last day: a crash now must not leave us holding only it
    assert store.load().refresh_token == after.refresh_token
    customer = ledger.find_or_create_customer("Acme Corporation", "USD")
    assert customer.id


def test_an_old_cursor_falls_back_from_cdc_to_a_query(fresh):
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    ledger = qbo_support.ledger(fresh)
    customer = ledger.find_or_create_customer("Acme Corporation", "USD")
    (made,) = ledger.create_invoices([request(customer, 1)])
    fresh.record_payment(DEFAULT_REALM, made.invoice.ledger_id, "100.00", date(2026, 11, 20))
    stale = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    changes = ledger.payment_changes(stale)  # CDC would refuse a 40-day-old changedSince
    (seen,) = [i for i in changes.invoices if i.ledger_id == made.invoice.ledger_id]
    assert seen.balance == Decimal("850.00") and [p.amount for p in seen.payments] == [
        Decimal("100.00")
    ]
