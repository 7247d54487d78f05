"""Contracts that end or move, billed night after night through `connector sync`, checked in the
ledger's own documents and in `connector status`: never a negative invoice, every approved change
order billed or credited, caps that release, close-outs only after every invoice is confirmed."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from connector import cli
from connector import config as config_mod
from connector.adapters.local import MemoryLedger
from connector.notify import render_body
from connector.sync import run_once
from connector_sandbox.local import FaultyLocalLedger

CONFIG = """
[business]
name = "Harbour Builders"
timezone = "UTC"
currency = "USD"

[state]
path = "state.db"

[tracker]
kind = "file"
path = "milestones.toml"

[ledger]
kind = "local"
path = "ledger.json"

[billing]
approval = "none"
invoice_date = "{invoice_date}"

[[contracts]]
id = "DOCK"
customer = "Pier Holdings"
value = "10000.00"
start = 2026-09-01
terms_days = 30
{contract}
"""


def milestone(mid: str, terms: str, done: str | None = None, status: str = "done") -> str:
    key = "percent" if terms.endswith("%") else "amount"
    value = terms.removesuffix("%")
    text = f'[[milestones]]\nid = "{mid}"\ncontract = "DOCK"\n{key} = "{value}"\n'
    if status == "done" and done:
        return text + f'status = "done"\ncompleted = {done}\n'
    return text + f'status = "{"open" if status == "done" else status}"\n'


def change_order(cid: str, amount: str, approved: str) -> str:
    return (
        f'[[contracts.change_orders]]\nid = "{cid}"\namount = "{amount}"\napproved = {approved}\n'
    )


@dataclass
class Books:
    """One business on disk, synced with the real CLI, its ledger read back from its file."""

    dir: Path
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]

    def write(self, contract: str = "", milestones: tuple[str, ...] = (), **kw: str) -> None:
        text = CONFIG.replace("{contract}", contract).replace(
            "{invoice_date}", kw.get("invoice_date", "completed")
        )
        (self.dir / "config.toml").write_text(text)
        (self.dir / "milestones.toml").write_text("\n".join(milestones))

    def connector(self, *args: str) -> tuple[int, str, str]:
        self.monkeypatch.setattr(sys, "argv", ["connector", *args])
        with pytest.raises(SystemExit) as stop:
            cli.main()
        out = self.capsys.readouterr()
        return stop.value.code or 0, out.out, out.err

    def sync(self, night: str) -> tuple[int, str]:
        code, out, err = self.connector(
            "sync", "--config", str(self.dir / "config.toml"), "--as-of", night
        )
        return code, " ".join((out + err).split())  # as one line, whatever the terminal width

    def status(self, night: str) -> dict:
        _, out, _ = self.connector(
            "status", "--config", str(self.dir / "config.toml"), "--as-of", night, "--json"
        )
        return json.loads(out)

    def ledger(self) -> MemoryLedger:
        return MemoryLedger(self.dir / "ledger.json")

    def docs(self) -> list:
        """The ledger's live documents, in the order they were created."""
        return [d for d in self.ledger().docs.values() if not d.voided]

    def documents(self) -> list[tuple[str, str, str]]:
        """(invoice or credit note, total, first line) of each live document, in order."""
        return [
            ("credit_note" if d.is_credit else "invoice", str(d.total), d.lines[0][0])
            for d in self.docs()
        ]

    def net(self) -> Decimal:
        """What the customer is billed in all: invoices less credit notes."""
        return sum(((-d.total if d.is_credit else d.total) for d in self.docs()), Decimal(0))


@pytest.fixture
def books(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> Books:
    return Books(tmp_path, monkeypatch, capsys)


def contract_row(status: dict) -> dict:
    return next(c for c in status["contracts"] if c["contract"] == "DOCK")


def test_a_change_order_below_what_is_billed_is_credited_not_a_negative_invoice(books):
    orders = change_order("CO-1", "-5000.00", "2026-10-01")
    books.write(orders, (milestone("M1", "60%", "2026-09-15"), milestone("M2", "40%")))
    assert books.sync("2026-09-20")[0] == 0
    books.write(
        orders, (milestone("M1", "60%", "2026-09-15"), milestone("M2", "40%", "2026-10-10"))
    )
    code, said = books.sync("2026-10-12")
    assert code == 0, said
    assert books.documents() == [
        ("invoice", "6000.00", "M1 (60% of 10000.00 USD)"),
        ("credit_note", "1000.00", "M2 (40% of 5000.00 USD)"),
    ]
    (credit,) = [d for d in books.docs() if d.is_credit]
    assert [line[0] for line in credit.lines] == [
        "M2 (40% of 5000.00 USD)",
        "Change order adjustment (CO-1)",
    ]
    assert books.net() == Decimal("5000.00")
    dock = contract_row(books.status("2026-10-12"))
    assert (dock["value"], dock["billed"]) == ("5000.00", "5000.00")
    # a further night sends nothing and finds nothing wrong
    code, said = books.sync("2026-10-13")
    assert code == 0 and "0 invoice(s) created" in said
    assert len(books.documents()) == 2


def test_a_close_out_that_nets_below_zero_is_a_credit_note(books):
    terms = 'deposit = "10%"\nretainage = "5%"\n'
    books.write(terms, (milestone("M1", "50%", "2026-09-15"), milestone("M2", "50%")))
    assert books.sync("2026-09-20")[0] == 0
    books.write(
        terms, (milestone("M1", "50%", "2026-09-15"), milestone("M2", "50%", status="cancelled"))
    )
    code, said = books.sync("2026-10-01")
    assert books.documents() == [
        ("invoice", "1000.00", "Deposit (10% of 10000.00 USD)"),
        ("invoice", "4250.00", "M1 (50% of 10000.00 USD)"),
        ("credit_note", "250.00", "Retainage release"),
    ]
    assert books.net() == Decimal("5000.00")
    assert "created credit note CN-1003: DOCK retainage, 250.00 USD" in said
    data = books.status("2026-10-01")
    assert contract_row(data)["retainage_held"] == "0.00"
    # half the contract is now on no milestone: a person decides, and is told so
    assert code == 1 and "5000.00 USD" in said and "on no milestone" in said
    assert any("on no milestone" in item and "5000.00 USD" in item for item in data["attention"])


@pytest.mark.parametrize(
    ("amount", "kind", "total"),
    [("2000.00", "invoice", "2000.00"), ("-1000.00", "credit_note", "1000.00")],
)
def test_a_change_order_approved_after_the_last_invoice_is_billed_on_its_own(
    books, amount, kind, total
):
    ms = (milestone("M1", "50%", "2026-09-15"), milestone("M2", "50%", "2026-10-15"))
    books.write("", ms)
    assert books.sync("2026-10-20")[0] == 0
    books.write(change_order("CO-7", amount, "2026-11-02"), ms)
    code, said = books.sync("2026-11-03")
    assert code == 0, said
    *_, late = books.docs()
    assert (("credit_note" if late.is_credit else "invoice"), str(late.total)) == (kind, total)
    assert [line[0] for line in late.lines] == ["Change order adjustment (CO-7)"]
    assert late.date == date(2026, 11, 2)  # dated on the change order's approval
    dock = contract_row(books.status("2026-11-03"))
    assert dock["billed"] == dock["value"] == str(Decimal("10000.00") + Decimal(amount))
    assert books.sync("2026-11-04")[0] == 0 and len(books.ledger().documents()) == 3


def test_a_change_order_between_the_last_invoice_date_and_its_night_is_billed_that_night(books):
    orders = change_order("CO-2", "2000.00", "2026-10-18")
    books.write(
        orders, (milestone("M1", "50%", "2026-09-15"), milestone("M2", "50%", "2026-10-15"))
    )
    code, said = books.sync("2026-10-20")  # M2 dated 15 Oct, before CO-2; both billed tonight
    assert code == 0, said
    assert [(d[0], d[1]) for d in books.documents()] == [
        ("invoice", "5000.00"),
        ("invoice", "5000.00"),
        ("invoice", "2000.00"),
    ]
    assert books.documents()[2][2] == "Change order adjustment (CO-2)"
    assert contract_row(books.status("2026-10-20"))["billed"] == "12000.00"


def test_a_milestone_held_at_the_cap_is_billed_once_a_change_order_makes_room(books):
    ms = (milestone("M1", "6000.00", "2026-09-15"), milestone("M2", "5000.00", "2026-10-15"))
    books.write("", ms)
    code, said = books.sync("2026-10-20")
    assert code == 1 and "above its cap of 10000.00 USD" in said
    assert [d[1] for d in books.documents()] == ["6000.00"]
    assert books.sync("2026-10-30")[0] == 1  # still no room: still held, still said
    books.write(change_order("CO-3", "2000.00", "2026-11-01"), ms)  # approved after M2's date
    code, said = books.sync("2026-11-02")
    assert [d[1] for d in books.documents()] == ["6000.00", "5000.00"]
    assert contract_row(books.status("2026-11-02"))["billed"] == "11000.00"
    # the milestones now bill 1,000.00 less than the contract is worth: a person is told
    assert code == 1 and "1000.00 USD of its value of 12000.00 USD is on no" in said


def test_a_milestone_accepted_before_it_was_completed_is_dated_on_its_completion(books):
    text = milestone("M1", "100%", "2026-10-10") + "accepted = 2026-10-01\n"
    books.write("", (text,), invoice_date="accepted")
    assert books.sync("2026-10-12")[0] == 0
    (doc,) = books.docs()
    assert doc.date == date(2026, 10, 10)


def test_the_retainage_release_waits_until_every_milestone_invoice_is_confirmed(books):
    books.write(
        'retainage = "10%"\n',
        (milestone("M1", "50%", "2026-09-15"), milestone("M2", "50%", "2026-09-20")),
    )
    ledger = FaultyLocalLedger(books.dir / "ledger.json")
    ledger.fail_next("create_invoices", "error")  # the night's milestone batch never arrives
    cfg = config_mod.load(books.dir / "config.toml")
    night = run_once(cfg, as_of=date(2026, 9, 25), ledger=ledger)
    assert night.outcome == "problems"
    assert books.documents() == []  # no release beside invoices the ledger has not confirmed
    assert any("Retainage" in ln.description for p in night.planned for ln in p.lines)
    assert any("waits until the ledger has confirmed" in p for p in night.problems())
    morning = run_once(cfg, as_of=date(2026, 9, 26), ledger=ledger)
    assert morning.outcome == "ok", morning.problems()
    assert [(d[1], d[2]) for d in books.documents()] == [
        ("4500.00", "M1 (50% of 10000.00 USD)"),
        ("4500.00", "M2 (50% of 10000.00 USD)"),
        ("1000.00", "Retainage release"),
    ]


def test_lines_that_net_to_zero_send_no_document_and_are_not_billed_again(books):
    # a deposit as large as the only milestone: the milestone invoice nets to 0.00
    books.write('deposit = "100%"\n', (milestone("M1", "100%", "2026-09-15"),))
    code, said = books.sync("2026-09-20")
    assert code == 0, said
    assert books.documents() == [("invoice", "10000.00", "Deposit (100% of 10000.00 USD)")]
    data = books.status("2026-09-20")
    (m1,) = [i for i in data["invoices"] if i["milestones"] == ["M1"]]
    assert (m1["total"], m1["status"]) == ("0.00", "nothing_to_send")
    assert books.sync("2026-09-21")[0] == 0 and len(books.documents()) == 1


def test_a_customer_left_holding_a_credit_is_shown_a_credit_not_a_negative_balance(books):
    orders = change_order("CO-1", "-5000.00", "2026-10-01")
    books.write(orders, (milestone("M1", "60%", "2026-09-15"), milestone("M2", "40%")))
    books.sync("2026-09-20")
    ledger = books.ledger()
    (m1,) = books.docs()
    ledger.record_payment(m1.id, Decimal("6000.00"), date(2026, 9, 30))  # paid in full
    books.write(
        orders, (milestone("M1", "60%", "2026-09-15"), milestone("M2", "40%", "2026-10-10"))
    )
    _, said = books.sync("2026-10-12")
    assert "created credit note" in said and "1,000.00 USD" in said
    data = books.status("2026-10-12")
    dock = contract_row(data)
    assert (dock["billed"], dock["paid"], dock["outstanding"], dock["credit"]) == (
        "5000.00",
        "6000.00",
        "0.00",
        "1000.00",
    )
    assert any("Pier Holdings holds a credit of 1000.00 USD" in a for a in data["attention"])
    _, table, _ = books.connector(
        "status", "--config", str(books.dir / "config.toml"), "--as-of", "2026-10-12"
    )
    assert "credit 1,000.00" in table and "-1,000.00" not in table


def test_the_morning_email_names_the_credit_note_and_the_unbilled_value(books):
    terms = 'deposit = "10%"\nretainage = "5%"\n'
    books.write(terms, (milestone("M1", "50%", "2026-09-15"), milestone("M2", "50%")))
    books.sync("2026-09-20")
    books.write(
        terms, (milestone("M1", "50%", "2026-09-15"), milestone("M2", "50%", status="cancelled"))
    )
    report = run_once(config_mod.load(books.dir / "config.toml"), as_of=date(2026, 10, 1))
    text = render_body(report)
    assert "retainage  credit note for 250.00 USD" in text
    assert "Needs attention:" in text and "5000.00 USD of its value" in text


def test_plan_says_which_document_each_one_is(books):
    orders = change_order("CO-1", "-5000.00", "2026-10-01")
    books.write(orders, (milestone("M1", "60%", "2026-09-15"), milestone("M2", "40%")))
    books.sync("2026-09-20")
    books.write(
        orders, (milestone("M1", "60%", "2026-09-15"), milestone("M2", "40%", "2026-10-10"))
    )
    config = str(books.dir / "config.toml")
    _, out, _ = books.connector("plan", "--config", config, "--as-of", "2026-10-12", "--json")
    (m2,) = json.loads(out)["invoices"]
    assert (m2["document"], m2["total"]) == ("credit_note", "-1000.00")
    _, out, _ = books.connector("plan", "--config", config, "--as-of", "2026-10-12")
    assert "as a credit note for 1,000.00 USD" in " ".join(out.split())
