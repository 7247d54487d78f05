"""The emulators live in `connector_sandbox`, beside the product: no production module imports
them when it is loaded, and the shipped `local` ledger carries no test controls."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from connector.adapters.local import LocalLedgerPlugin, LocalLedgerSettings, MemoryLedger
from connector.errors import RetriableLedgerError
from connector.plugins import PluginContext
from connector.testing.ledger import LedgerConformance, request
from connector_sandbox.local import FaultyLocalLedger

LOAD_EVERY_MODULE = """
import importlib, json, pkgutil, sys
import connector
names = [m.name for m in pkgutil.walk_packages(connector.__path__, "connector.")]
for name in names:
    importlib.import_module(name)
print(json.dumps({
    "loaded": len(names),
    "sandbox": sorted(m for m in sys.modules if m.split(".")[0] == "connector_sandbox"),
}))
"""


def test_no_production_module_loads_the_emulators():
    answer = subprocess.run(
        [sys.executable, "-c", LOAD_EVERY_MODULE], capture_output=True, text=True, check=True
    )
    found = json.loads(answer.stdout)
    assert found["loaded"] > 40 and found["sandbox"] == []


def test_the_emulators_are_not_inside_the_product():
    import connector

    assert not (Path(connector.__file__).parent / "sandbox").exists()
    with pytest.raises(ModuleNotFoundError):
        __import__("connector.sandbox")


def test_the_shipped_local_ledger_has_no_test_controls(tmp_path):
    context = PluginContext(business="Northwind Studio", base_dir=tmp_path)
    ledger = LocalLedgerPlugin().create(LocalLedgerSettings(path="ledger.json"), context)
    assert type(ledger) is MemoryLedger and ledger.name == "local"
    for control in ("fail_next", "faults", "calls", "remember_keys", "total_calls"):
        assert not hasattr(ledger, control), control


class TestFaultyLocalLedger(LedgerConformance):
    """With no fault armed, the test double is the shipped ledger."""

    @pytest.fixture
    def ledger(self):
        return FaultyLocalLedger()

    def pay(self, ledger, invoice, amount):
        ledger.record_payment(invoice.ledger_id, amount, date(2026, 11, 20))


def test_an_injected_error_writes_nothing_and_a_dropped_answer_keeps_the_write(tmp_path):
    ledger = FaultyLocalLedger(tmp_path / "ledger.json")
    customer = ledger.find_or_create_customer("Acme Corporation", "USD")
    ledger.fail_next("create_invoices", "error")
    with pytest.raises(RetriableLedgerError, match="injected failure"):
        ledger.create_invoices([request(customer, 1, "1000.00")])
    assert MemoryLedger(tmp_path / "ledger.json").documents() == []
    ledger.fail_next("create_invoices", "drop")
    with pytest.raises(RetriableLedgerError, match="after the write committed"):
        ledger.create_invoices([request(customer, 1, "1000.00")])
    assert len(MemoryLedger(tmp_path / "ledger.json").documents()) == 1
    assert ledger.calls == {"find_or_create_customer": 1, "create_invoices": 2}


def test_a_ledger_past_its_key_window_creates_the_document_again():
    ledger = FaultyLocalLedger(remember_keys=False)
    customer = ledger.find_or_create_customer("Acme Corporation", "USD")
    ledger.create_invoices([request(customer, 1, "1000.00")])
    ledger.create_invoices([request(customer, 1, "1000.00")])
    assert len(ledger.documents()) == 2 and ledger.keys == {}
