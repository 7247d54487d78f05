"""`connector ledger pay` (issue 15): a payment recorded in the practice ledger from the command
line, pulled into the state by the next `connector sync`, shown by `connector status`; bad input
is one message and exit 2, with the ledger file left as it was."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from connector.adapters.local import MemoryLedger
from tests.cli_support import AS_OF, run_cli, sync
from tests.conftest import write_business


@pytest.fixture
def billed(tmp_path: Path, monkeypatch, capsys) -> Path:
    """The test business on its local ledger file, synced once: its invoices are in the file."""
    root = tmp_path / "northwind"
    write_business(root)
    config = root / "config.toml"
    code, said = sync(config, monkeypatch, capsys)
    assert code == 0, said
    return config


def ledger_of(config: Path) -> MemoryLedger:
    return MemoryLedger(config.parent / "ledger.json")


def first_usd_invoice(config: Path):
    return next(
        d
        for d in ledger_of(config).docs.values()
        if d.currency == "USD" and not d.is_credit and d.total > Decimal("1000")
    )


def pay(monkeypatch, capsys, config: Path, *args: str) -> tuple[int, str]:
    return run_cli(monkeypatch, capsys, "ledger", "pay", "--config", str(config), *args)


def test_a_payment_is_recorded_pulled_by_sync_and_shown_by_status(billed, monkeypatch, capsys):
    doc = first_usd_invoice(billed)
    code, said = pay(monkeypatch, capsys, billed, doc.number, "400.00", "--date", AS_OF)
    assert code == 0, said
    left = doc.total - Decimal("400.00")
    assert f"of 400.00 USD recorded on {doc.number} ({AS_OF})" in said
    assert f"balance {left} USD" in said
    paid = ledger_of(billed).docs[doc.id].payments
    assert [(p.amount, p.date.isoformat()) for p in paid] == [(Decimal("400.00"), AS_OF)]

    code, said = sync(billed, monkeypatch, capsys)
    assert code == 0, said
    code, said = run_cli(
        monkeypatch, capsys, "status", "--config", str(billed), "--as-of", AS_OF, "--json"
    )
    data = json.loads(said)
    invoice = next(i for i in data["invoices"] if i["number"] == doc.number)
    assert invoice["status"] == "partially_paid"
    assert Decimal(invoice["balance"]) == left


def test_the_reference_names_the_invoice_too_and_the_whole_balance_pays_it(
    billed, monkeypatch, capsys
):
    doc = first_usd_invoice(billed)
    code, said = pay(monkeypatch, capsys, billed, doc.reference.lower(), str(doc.total))
    assert code == 0, said
    assert ledger_of(billed).docs[doc.id].remote().status == "paid"
    assert sync(billed, monkeypatch, capsys)[0] == 0
    code, said = run_cli(
        monkeypatch, capsys, "status", "--config", str(billed), "--as-of", AS_OF, "--json"
    )
    invoice = next(i for i in json.loads(said)["invoices"] if i["number"] == doc.number)
    assert invoice["status"] == "paid"


@pytest.mark.parametrize(
    ("invoice", "amount", "extra", "words"),
    [
        ("INV-9999", "10.00", (), "no invoice 'INV-9999' in the practice ledger"),
        (None, "-5", (), "AMOUNT: expected an amount"),
        (None, "0", (), "AMOUNT: expected an amount more than zero"),
        (None, "ten", (), "AMOUNT: expected an amount like"),
        (None, "10.001", (), "more decimal places than USD allows (2)"),
        (None, "99999999.00", (), "is more than the balance of"),
        (None, "10.00", ("--date", "26/11/2026"), "--date: expected a date like 2026-11-26"),
    ],
)
def test_bad_input_is_one_message_and_exit_2_and_the_ledger_is_untouched(
    billed, monkeypatch, capsys, invoice, amount, extra, words
):
    doc = first_usd_invoice(billed)
    before = (billed.parent / "ledger.json").read_bytes()
    code, said = pay(monkeypatch, capsys, billed, invoice or doc.number, amount, *extra)
    assert code == 2
    assert words in said and said.startswith("error:") and said.count("error:") == 1, said
    assert "Traceback" not in said
    assert (billed.parent / "ledger.json").read_bytes() == before


def test_a_real_ledger_is_refused_with_where_to_record_it(tmp_path, monkeypatch, capsys):
    root = tmp_path / "b"
    write_business(
        root,
        ledger_section='[ledger]\nkind = "quickbooks"\nenvironment = "sandbox"\n',
    )
    code, said = pay(monkeypatch, capsys, root / "config.toml", "INV-1001", "10.00")
    assert code == 2
    assert "kind is 'quickbooks'" in said and "record this one in the ledger itself" in said
