"""Status never hides: each thing that keeps a milestone from being billed or an invoice from
being confirmed is listed under its business with the money it holds up, in the table, in the
JSON and in the exit code, for one business and for a folder, after real syncs against the
sandboxes."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from connector.credentials import TokenSet, TokenStore
from connector_sandbox.quickbooks import DEFAULT_REALM
from tests import qbo_support
from tests.conftest import MILESTONES, add_change_order
from tests.test_cli import connector

AS_OF = "2026-11-26"


def seen(monkeypatch, capsys, config: Path, as_of: str = AS_OF) -> list[dict]:
    """What `status` says of the business, every way it can be asked; checked to agree: exit
    1 everywhere, each typed item's words (and the money it holds up) in the table, and the
    folder's Attention count the number of items. Returns the typed items of `--json`."""
    monkeypatch.setenv("COLUMNS", "80")
    one = ("status", "--config", str(config), "--as-of", as_of)
    code, out, err = connector(monkeypatch, capsys, *one, "--json")
    assert code == 1, err
    data = json.loads(out)
    items = data["attention_items"]
    assert items and [i["message"] for i in items] == data["attention"]
    code, table, _ = connector(monkeypatch, capsys, *one)
    assert code == 1
    flat = " ".join(table.split())
    for item in items:
        assert item["message"].split(":")[0] in flat
        if item["amount"] is not None:
            held = f"{Decimal(item['amount']):,} {item['currency']}"
            assert f"(holds up {held})" in flat, (held, flat)
    assert flat.count("needs attention:") == len(items)

    folder = ("status", "--config-dir", str(config.parent), "--as-of", as_of)
    code, out, _ = connector(monkeypatch, capsys, *folder)
    assert code == 1
    name = data["business"]
    # the first table's row (a narrow terminal repeats the name in the columns moved below)
    row = next(line for line in out.splitlines() if line.strip().startswith(name))
    assert row.split()[-1] == str(len(items))  # the Attention column
    assert " ".join(out.split()).count("needs attention:") == len(items)
    code, out, _ = connector(monkeypatch, capsys, *folder, "--json")
    assert code == 1 and json.loads(out)[0]["attention_items"] == items
    return items


def one_of(items: list[dict], kind: str) -> dict:
    [item] = [i for i in items if i["kind"] == kind]
    return item


def test_a_customer_quickbooks_refuses_holds_up_its_milestone(tmp_path, qbo, monkeypatch, capsys):
    """The issue's case: Beta Bakery is set up in USD in the company, the contract bills EUR,
    so QuickBooks cannot take its invoice and BETA-1 (4,000.00 EUR) is never invoiced."""
    qbo_support.ledger(qbo).find_or_create_customers([("Beta Bakery Ltd", "USD")])
    business = qbo_support.qbo_business(tmp_path / "b", qbo)
    code, _, err = connector(monkeypatch, capsys, "sync", "--config", str(business.config_path))
    assert code == 1 and err.count("needs attention:") == 1  # said once, not twice
    items = seen(monkeypatch, capsys, business.config_path)
    refused = one_of(items, "not_billed")
    assert refused["contract"] == "BETA-APP" and refused["milestones"] == ["BETA-1"]
    assert (refused["amount"], refused["currency"]) == ("4000.00", "EUR")
    assert "is set up in USD in QuickBooks" in refused["message"]
    assert len(items) == 1  # the run's own words about it are not listed a second time


def test_a_contract_the_company_cannot_take_is_one_item_with_its_amount(
    tmp_path, qbo_server, monkeypatch, capsys
):
    """Multicurrency off: the EUR contract is held whole, one item for the contract (not one
    per milestone), holding up both of its done milestones."""
    qbo_server.faults.clear()
    qbo_server.seed_company(DEFAULT_REALM)  # USD only
    qbo_support.connect(qbo_server)
    done_twice = MILESTONES.replace(
        'amount = "8000.00"\nstatus = "open"',
        'amount = "8000.00"\nstatus = "done"\ncompleted = 2026-11-01\naccepted = 2026-11-02',
    )
    business = qbo_support.qbo_business(tmp_path / "b", qbo_server, milestones=done_twice)
    code, _, err = connector(monkeypatch, capsys, "sync", "--config", str(business.config_path))
    assert code == 1 and err.count("multicurrency is off") == 1
    items = seen(monkeypatch, capsys, business.config_path)
    held = one_of(items, "milestone")
    assert held["milestones"] == ["BETA-1", "BETA-2"] and held["contract"] == "BETA-APP"
    assert (held["amount"], held["currency"]) == ("12000.00", "EUR")
    assert len(items) == 1


def test_an_invalid_milestone_is_listed_without_an_amount(tmp_path, business, monkeypatch, capsys):
    business.milestones(MILESTONES + '\n[[milestones]]\nid = "ACME-X"\ncontract = "ACME-WEB"\n')
    business.sync()
    items = seen(monkeypatch, capsys, business.config_path)
    bad = one_of(items, "milestone")
    assert bad["milestones"][0].startswith("ACME-X") and bad["amount"] is None


def test_an_invoice_quickbooks_refuses_holds_up_its_total(tmp_path, qbo, monkeypatch, capsys):
    """The item the connector bills with was made inactive in QuickBooks after the first
    night: the next document, a change order's, is refused by the ledger."""
    business = qbo_support.qbo_business(tmp_path / "b", qbo)
    assert business.sync().outcome == "ok"
    for item in qbo.company(DEFAULT_REALM).objects["Item"].values():
        item["Active"] = False  # as a person would in QuickBooks' product list
    add_change_order(business, "CO-2", "2000.00", "2026-11-27")
    night = business.sync(as_of=date(2026, 11, 28))
    assert night.outcome == "problems"
    items = seen(monkeypatch, capsys, business.config_path, "2026-11-28")
    refused = one_of(items, "push_refused")
    assert refused["contract"] == "ACME-WEB" and refused["invoice"].startswith("MC-")
    assert refused["currency"] == "USD" and Decimal(refused["amount"]) > 0
    assert "ItemRef" in refused["message"]
    assert len(items) == 1  # the run's "rejected by the ledger" is this item, said once


def test_invoices_quickbooks_never_confirmed_hold_up_their_totals(
    tmp_path, qbo, monkeypatch, capsys
):
    business = qbo_support.qbo_business(tmp_path / "b", qbo)
    qbo_support.invoices_next(qbo)
    qbo.faults.fail(100, status=503, match="batch")  # every try of the invoices' batch fails
    night = business.sync()
    assert night.in_doubt > 0
    items = seen(monkeypatch, capsys, business.config_path)
    waiting = [i for i in items if i["kind"] == "unconfirmed"]
    assert len(waiting) == night.in_doubt
    total = sum(Decimal(i["amount"]) for i in waiting if i["currency"] == "USD")
    assert total == Decimal("51300.00")  # the deposit and ACME-M1..M3, sent, unconfirmed
    [later] = [i for i in items if i["kind"] != "unconfirmed"]  # not "5 invoice(s)..." again
    assert later["kind"] == "last_sync" and "retainage invoice: waits" in later["message"]


def test_an_invoice_voided_in_quickbooks_is_listed_with_its_total(
    tmp_path, qbo, monkeypatch, capsys
):
    business = qbo_support.qbo_business(tmp_path / "b", qbo)
    business.sync()
    beta = next(i for i in qbo.invoices() if f"{Decimal(str(i['TotalAmt'])):.2f}" == "4000.00")
    qbo_support.ledger(qbo).void_invoice(beta["Id"], "voided-by-a-person")
    business.sync()
    items = seen(monkeypatch, capsys, business.config_path)
    voided = one_of(items, "voided_in_ledger")
    assert (voided["invoice"], voided["amount"], voided["currency"]) == (
        beta["DocNumber"],
        "4000.00",
        "EUR",
    )


def test_a_failed_last_sync_is_an_item_said_once(tmp_path, business, monkeypatch, capsys):
    (business.dir / "milestones.toml").unlink()  # the tracker file was moved away
    code, _, _ = connector(monkeypatch, capsys, "sync", "--config", str(business.config_path))
    assert code == 2
    items = seen(monkeypatch, capsys, business.config_path)
    failed = one_of(items, "last_sync_failed")
    assert "milestones.toml" in failed["message"] and failed["amount"] is None
    assert len(items) == 1  # its reason is not listed again as a problem of the last sync


def test_a_connection_about_to_lapse_is_an_item_naming_the_real_config(
    tmp_path, qbo, monkeypatch, capsys
):
    business = qbo_support.qbo_business(tmp_path / "b", qbo)
    business.sync()
    store = TokenStore("Northwind Studio", "quickbooks")
    tokens = store.load()
    assert tokens is not None
    soon = (datetime.now(UTC) + timedelta(days=3, hours=1)).isoformat()
    store.save(TokenSet(**{**tokens.__dict__, "refresh_expires_at": soon}))
    items = seen(monkeypatch, capsys, business.config_path)
    lapsing = one_of(items, "connection")
    assert "expires in 3 day(s)" in lapsing["message"]
    assert f"connector auth quickbooks --config {business.config_path}`" in lapsing["message"]


def test_a_failure_naming_a_placeholder_names_the_config_file(tmp_path, monkeypatch, capsys):
    """A message written where the config's path is not known says `--config FILE`; the
    command that shows it knows the path and puts it in, so the command can be copied."""
    from connector.errors import UserError, naming_config

    said = "the token was refused; run `connector auth jira --config FILE` with a working token"
    where = tmp_path / "my books.toml"
    assert naming_config(said, where) == said.replace("FILE", f"'{where}'")
    assert naming_config("give one of --config FILE or --config-dir DIR", where).endswith(
        "--config FILE or --config-dir DIR"
    )  # not a command to copy: left alone
    error = UserError(said)
    error.config_path = where
    assert re.search(r"--config '.*my books\.toml'`", error.for_person())


def test_sync_prints_each_problem_once_on_stderr(business):
    """Run as a person runs it (no logging set up): the engine's warning and the report's line
    were both printed, so each problem came twice."""
    import subprocess
    import sys

    business.milestones(MILESTONES + '\n[[milestones]]\nid = "ACME-X"\ncontract = "ACME-WEB"\n')
    done = subprocess.run(
        [sys.executable, "-m", "connector", "sync", "--config", str(business.config_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"},
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("ACME-X") == 1, done.stderr


def test_a_night_of_many_refusals_is_sorted_out_in_moments():
    """A ledger that refused every one of 50,000 invoices leaves as many problems as items:
    matching each problem to its item is a lookup, not a scan of every item."""
    import time

    from connector.sync.status_attention import _untold
    from connector.sync.status_records import Attention, Trouble

    told = [
        Attention(
            Trouble.PUSH_REFUSED, f"INV-{n} (C{n}): push failed: x", f"C{n}", invoice=f"INV-{n}"
        )
        for n in range(50_000)
    ]
    problems = [f"INV-{n} was refused by the ledger: x" for n in range(50_000)]
    started = time.process_time()
    left = _untold([*problems, "payment status not pulled: HTTP 503"], told, [])
    assert time.process_time() - started < 2
    assert [a.message for a in left] == ["the last sync: payment status not pulled: HTTP 503"]
