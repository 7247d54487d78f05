"""The Xero adapter through xero-python over real HTTP against the local sandbox, every
exchange checked against Xero's OpenAPI description."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.conformance.ledger import LedgerConformance, request
from tests.xero_support import XeroWorld


class TestXeroLedger(LedgerConformance):
    @pytest.fixture
    def ledger(self, xero: XeroWorld):
        _WORLD[:] = [xero]
        return xero.ledger()

    def pay(self, ledger, invoice, amount):
        # the customer pays in Xero itself, not through the adapter
        _WORLD[0].pay(invoice.ledger_id, amount)


_WORLD: list[XeroWorld] = []


def test_invoice_lines_arrive_as_sent(xero):
    ledger = xero.ledger()
    customer = ledger.find_or_create_customer('O"Brien & Sons', "USD")
    (result,) = ledger.create_invoices([request(customer, 1, "1234.56")])
    stored = next(i for i in xero.invoices() if i["InvoiceID"] == result.invoice.ledger_id)
    assert stored["Reference"] == result.invoice.reference
    assert [(ln["Description"], ln["LineAmount"]) for ln in stored["LineItems"]] == [
        ("Milestone 1", Decimal("1234.56")),
        ("Retainage withheld (5%)", Decimal("-50.00")),
    ]
    assert stored["Total"] == Decimal("1184.56") and stored["Status"] == "AUTHORISED"
    assert stored["LineAmountTypes"] == "NoTax"
    # a new run reads the contacts afresh and finds the one this run created, quote and all
    again = xero.ledger().find_or_create_customer('O"Brien & Sons', "USD")
    assert again.id == stored["Contact"]["ContactID"]


def test_amounts_travel_as_decimals_never_floats(xero):
    """xero-python would send every amount through float(), which turns 1234567890123456.78
    into 1234567890123456.8; here it arrives exactly."""
    ledger = xero.ledger()
    customer = ledger.find_or_create_customer("Acme Corporation", "USD")
    (result,) = ledger.create_invoices([request(customer, 1, "1234567890123456.78")])
    assert result.invoice.total == Decimal("1234567890123406.78")  # less 50.00 retainage
    stored = next(i for i in xero.invoices() if i["InvoiceID"] == result.invoice.ledger_id)
    assert stored["LineItems"][0]["UnitAmount"] == Decimal("1234567890123456.78")


def test_a_key_reused_with_a_different_body_reports_the_earlier_version(xero):
    """Within Xero's 6 minutes the same document comes back with another amount: Xero answers
    400, the adapter finds what the first request created, sees it bills 950.00 where 1,150.00
    is asked, and says so on the item instead of taking it for this one. Nothing is created
    twice."""
    ledger = xero.ledger()
    customer = ledger.find_or_create_customer("Acme Corporation", "USD")
    (first,) = ledger.create_invoices([request(customer, 1, "1000.00")])
    edited = request(customer, 1, "1200.00")  # same key, same reference, another amount
    (again,) = ledger.create_invoices([edited])
    assert again.invoice is None and not again.retriable
    assert f"earlier version of this invoice under reference {edited.reference}" in again.error
    assert first.invoice.number in again.error and "950.00 USD, not 1150.00 USD" in again.error
    assert len(xero.invoices()) == 1 and xero.invoices()[0]["Total"] == Decimal("950.00")


def test_a_key_reused_with_the_same_amount_returns_the_first_document(xero):
    """Another body with the same amount (here, another due date) is the same invoice."""
    from dataclasses import replace

    ledger = xero.ledger()
    customer = ledger.find_or_create_customer("Acme Corporation", "USD")
    (first,) = ledger.create_invoices([request(customer, 1)])
    moved = replace(request(customer, 1), due_date=request(customer, 1).due_date.replace(day=30))
    (again,) = ledger.create_invoices([moved])
    assert again.invoice is not None and again.invoice.ledger_id == first.invoice.ledger_id
    assert len(xero.invoices()) == 1


def test_a_key_conflict_for_a_document_never_created_sends_it_under_a_new_key(xero):
    """The first request with this key failed validation (nothing was created); the corrected
    request is refused for reusing the key, then sent under a key of its own."""
    xero.sandbox.seed_organisation(xero.tenant, name="USD only")
    ledger = xero.ledger()
    customer = ledger.find_or_create_customer("Acme Corporation", "USD")
    bad = request(customer, 1)
    from dataclasses import replace

    (refused,) = ledger.create_invoices([replace(bad, currency="EUR")])
    assert "not subscribed to currency EUR" in (refused.error or "")
    (created,) = ledger.create_invoices([bad])
    assert created.invoice is not None and len(xero.invoices()) == 1
