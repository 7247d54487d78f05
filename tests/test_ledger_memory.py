"""The reference ledger passes the conformance contract, in memory and file-backed."""

from __future__ import annotations

import stat
from datetime import date
from decimal import Decimal

import pytest

from connector.adapters.local import MemoryLedger
from connector.testing.ledger import LedgerConformance, request


class TestMemoryLedger(LedgerConformance):
    @pytest.fixture
    def ledger(self):
        return MemoryLedger()

    def pay(self, ledger, invoice, amount):
        ledger.record_payment(invoice.ledger_id, amount, date(2026, 11, 20))


class TestLocalLedgerFile(LedgerConformance):
    """The `local` kind: the same ledger, reloaded from its JSON file before every call."""

    @pytest.fixture
    def ledger(self, tmp_path):
        return _Reloading(tmp_path / "ledger.json")

    def pay(self, ledger, invoice, amount):
        ledger.fresh().record_payment(invoice.ledger_id, amount, date(2026, 11, 20))


class _Reloading:
    def __init__(self, path):
        self.path = path
        self.batch_size = MemoryLedger.batch_size

    def fresh(self) -> MemoryLedger:
        return MemoryLedger(self.path)

    def __getattr__(self, name):
        return getattr(self.fresh(), name)


def test_local_ledger_file_is_private_and_keeps_money_exact(tmp_path):
    path = tmp_path / "ledger.json"
    ledger = MemoryLedger(path)
    customer = ledger.find_or_create_customer("Acme Corporation", "USD")
    ledger.create_invoices([request(customer, 1, "1000.10")])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert '"950.10"' in path.read_text()
    assert MemoryLedger(path).documents()[0].total == Decimal("950.10")


def test_local_ledger_marks_a_sent_invoice_once_and_keeps_it_in_its_file(tmp_path):
    path = tmp_path / "ledger.json"
    ledger = MemoryLedger(path)
    customer = ledger.find_or_create_customer("Acme Corporation", "USD")
    [created] = ledger.create_invoices([request(customer, 1, "1000.10")])
    assert created.invoice is not None and not created.invoice.sent
    sent = ledger.send_invoice(created.invoice.ledger_id, "k1:send")
    again = MemoryLedger(path).send_invoice(created.invoice.ledger_id, "k1:send")
    assert sent.sent and again.sent
    assert [d.sent for d in MemoryLedger(path).documents()] == [True]


def test_the_local_ledger_finds_and_creates_many_customers_at_once(tmp_path):
    """`FindsCustomers` as the remote ledgers answer it: the ones it has, the missing ones
    created (through `find_or_create_customer`, the seam a test double wraps), and a customer
    in another currency a problem of its own."""
    from connector.adapters.base import FindsCustomers
    from connector.errors import SkippableLedgerError

    ledger = MemoryLedger(tmp_path / "ledger.json")
    acme = ledger.find_or_create_customer("Acme Corporation", "USD")
    assert isinstance(ledger, FindsCustomers)
    wanted = [("ACME Corporation", "USD"), ("Beta Bakery Ltd", "EUR"), ("Acme Corporation", "EUR")]
    assert ledger.find_customers(wanted[:1]) == {wanted[0]: acme}
    found = ledger.find_or_create_customers(wanted)
    assert found[wanted[0]] == acme and found[wanted[1]].currency == "EUR"
    assert isinstance(found[wanted[2]], SkippableLedgerError)
    assert MemoryLedger(tmp_path / "ledger.json").find_customers(wanted[1:2]) == {
        wanted[1]: found[wanted[1]]
    }
