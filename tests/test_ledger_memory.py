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


# -- the file: JSON Lines, appended (connector/adapters/local/ledger_file.py) ---------------------


def _filled(path, invoices: int = 3) -> tuple[MemoryLedger, list]:
    ledger = MemoryLedger(path)
    customer = ledger.find_or_create_customer("Acme Corporation", "USD")
    made = ledger.create_invoices([request(customer, n) for n in range(1, invoices + 1)])
    return ledger, [r.invoice for r in made]


def test_a_write_appends_what_changed_and_the_file_reads_line_by_line(tmp_path):
    """A payment adds one line for its invoice and a mark, instead of the whole ledger again;
    each line is a JSON object a person (or `jq`) can read."""
    import json

    path = tmp_path / "ledger.json"
    ledger, invoices = _filled(path)
    before = path.read_bytes()
    ledger.record_payment(invoices[1].ledger_id, Decimal("100.00"), date(2026, 11, 20))
    after = path.read_bytes()
    assert after.startswith(before)
    added = [json.loads(line) for line in after[len(before) :].splitlines()]
    assert [next(iter(r)) for r in added] == ["document", "seq"]
    assert added[0]["document"]["payments"] == [["P4", "100.00", "2026-11-20", False]]
    lines = [json.loads(line) for line in after.splitlines()]
    assert lines[0] == {"ledger": "connector local ledger", "format": 2}
    again = MemoryLedger(path)
    assert {d.number: d.balance for d in again.documents()} == {
        "INV-1001": Decimal("950.00"),
        "INV-1002": Decimal("850.00"),
        "INV-1003": Decimal("950.00"),
    }


def test_a_night_with_nothing_changed_reads_only_the_files_tail(tmp_path, monkeypatch):
    from connector.adapters.local import ledger_file

    path = tmp_path / "ledger.json"
    ledger, invoices = _filled(path)
    cursor = ledger.payment_changes(None).cursor
    loads: list[object] = []
    real = ledger_file.load
    monkeypatch.setattr(ledger_file, "load", lambda p: loads.append(p) or real(p))
    quiet = MemoryLedger(path)
    assert quiet.payment_changes(cursor).invoices == [] and loads == []
    MemoryLedger(path).record_payment(invoices[0].ledger_id, Decimal("1.00"), date(2026, 11, 21))
    loads.clear()
    changed = MemoryLedger(path).payment_changes(cursor)
    assert [i.number for i in changed.invoices] == ["INV-1001"] and len(loads) == 1
    assert MemoryLedger(path).payment_changes(changed.cursor).invoices == []


def test_a_write_cut_short_is_not_part_of_the_ledger_and_the_next_write_replaces_it(tmp_path):
    """A crash in the middle of a write leaves lines without their mark: they are not read
    (the engine then finds the invoice absent and sends it again with the same key), and the
    next write cuts them off, so no half-written document ever becomes part of the ledger."""
    path = tmp_path / "ledger.json"
    _filled(path, 2)
    committed = path.read_bytes()
    with path.open("ab") as handle:
        handle.write(b'{"document": {"id": "3", "number": "INV-1003", "refer')
    assert [d.number for d in MemoryLedger(path).documents()] == ["INV-1001", "INV-1002"]
    reopened = MemoryLedger(path)
    customer = reopened.find_or_create_customer("Acme Corporation", "USD")
    [made] = reopened.create_invoices([request(customer, 3)])
    assert path.read_bytes().startswith(committed) and b"refer\n" not in path.read_bytes()
    assert [d.number for d in MemoryLedger(path).documents()] == [
        "INV-1001",
        "INV-1002",
        "INV-1003",
    ]
    assert made.invoice is not None and made.invoice.number == "INV-1003"


def test_a_write_by_another_program_meanwhile_is_never_overwritten(tmp_path):
    from connector.errors import UserError

    path = tmp_path / "ledger.json"
    _, invoices = _filled(path)
    mine = MemoryLedger(path)
    mine.documents()  # read now
    MemoryLedger(path).record_payment(invoices[0].ledger_id, Decimal("5.00"), date(2026, 11, 20))
    with pytest.raises(UserError, match="written by another program"):
        mine.record_payment(invoices[1].ledger_id, Decimal("7.00"), date(2026, 11, 20))
    paid = {d.number: d.balance for d in MemoryLedger(path).documents()}
    assert paid["INV-1001"] == Decimal("945.00") and paid["INV-1002"] == Decimal("950.00")


def test_a_format_1_file_is_read_and_rewritten_as_format_2_by_its_first_write(tmp_path):
    import json

    path = tmp_path / "ledger.json"
    old = {
        "seq": 2,
        "customers": [["C1", "Acme Corporation", "USD"]],
        "keys": {"k1": ["fp", "1"]},
        "documents": [
            {
                "id": "1",
                "number": "INV-1001",
                "reference": "MC-1",
                "key": "k1",
                "customer": "C1",
                "currency": "USD",
                "is_credit": False,
                "date": "2026-11-02",
                "due_date": "2026-11-17",
                "total": "950.00",
                "voided": False,
                "changed": 1,
                "lines": [["Milestone 1", "950.00"]],
                "payments": [["P2", "50.00", "2026-11-10", False]],
            }
        ],
    }
    path.write_text(json.dumps(old, indent=1))
    ledger = MemoryLedger(path)
    assert ledger.find_invoices(["MC-1"])["MC-1"].balance == Decimal("900.00")
    assert path.read_text() == json.dumps(old, indent=1)  # read, not rewritten
    ledger.record_payment("1", Decimal("100.00"), date(2026, 11, 20))
    assert path.read_text().startswith('{"ledger": "connector local ledger", "format": 2}\n')
    again = MemoryLedger(path)
    [doc] = again.documents()
    assert doc.balance == Decimal("800.00") and again.keys == {"k1": ("fp", "1")}
    assert again.customers["acme corporation"].id == "C1" and again.seq == 3


def test_many_writes_leave_a_file_rewritten_no_larger_than_twice_the_ledger(tmp_path):
    path = tmp_path / "ledger.json"
    ledger, invoices = _filled(path, 2)
    for _ in range(200):
        ledger.record_payment(invoices[0].ledger_id, Decimal("0.01"), date(2026, 11, 20))
    lines = path.read_text().splitlines()
    assert len(lines) <= 1 + 2 * (1 + 2 + 2) + 64  # the header, then at most twice the ledger
    assert MemoryLedger(path).documents()[0].balance == Decimal("948.00")
