"""`connector demo` and `connector auth quickbooks`, through the real OAuth flow and SDK."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from connector import cli
from connector import config as config_mod
from connector.adapters.oauth_signin import listen_in_background
from connector.adapters.quickbooks.auth import connect_quickbooks
from connector.adapters.quickbooks.session import QuickBooksSettings
from connector.credentials import CompanyFacts, TokenStore
from connector.errors import UserError
from connector_sandbox.quickbooks import CLIENT_ID, CLIENT_SECRET, DEFAULT_REALM, QuickBooksSandbox
from connector_sandbox.quickbooks_demo import follow_consent
from tests import qbo_support
from tests.conftest import demo_tells_the_documented_story
from tests.test_conventions import EXE, REPO, connector, run

CENT = Decimal("0.01")


def test_demo_bills_pays_and_reports(memory_keyring):
    demo_tells_the_documented_story("quickbooks", memory_keyring)


def demo(monkeypatch, capsys, *args: str) -> str:
    """`connector demo ARGS...` as a person runs it: what it printed (exit 0 asserted)."""
    monkeypatch.setattr(sys, "argv", ["connector", "demo", *args])
    with pytest.raises(SystemExit) as stop:
        cli.main()
    captured = capsys.readouterr()
    assert (stop.value.code or 0) == 0, captured.out + captured.err
    return captured.out


def test_demo_command_prints_the_story(monkeypatch, capsys):
    out = demo(monkeypatch, capsys)
    assert "4 invoice(s) created" in out and "2 payment(s) seen" in out
    assert "awaiting_approval" in out and "cancelled" in out
    assert "partially_paid" in out and "9,800.00" in out
    assert "Tax" not in out  # the documented company charges no sales tax


# The deposit (4,800.00 of the home currency, net) as each country's company taxes it: the
# code the demo's [billing] names (US: Automated Sales Tax at the sandbox's 8.25%).
COUNTRIES = [
    ("US", "USD", "396.00", "a US company with Automated Sales Tax"),
    ("CA", "CAD", "624.00", "a Canadian company, GST/HST"),  # HST ON, 13%
    ("GB", "GBP", "960.00", "a UK company, VAT"),  # 20.0% S
    ("AU", "AUD", "480.00", "an Australian company, GST"),  # GST, 10%
]


@pytest.mark.parametrize(("country", "currency", "tax", "company"), COUNTRIES)
def test_demo_of_a_country_shows_the_tax_its_ledger_computed(
    country, currency, tax, company, monkeypatch, capsys
):
    out = demo(monkeypatch, capsys, "--country", country)
    flat = " ".join(out.split())
    assert f"Local QuickBooks sandbox ({company})" in flat
    assert "4 invoice(s) created" in out and "2 payment(s) seen" in out
    assert "Tax, as the ledger computed it" in out
    gross = Decimal("4800.00") + Decimal(tax)
    assert f"{currency} 4,800.00 {Decimal(tax):,} {gross:,}" in flat  # net, tax, gross
    assert f"{gross:,} {currency}" in flat  # the invoices table's total is the gross
    assert "EUR 4,000.00 0.00 4,000.00" in flat  # the client abroad: zero-rated


def test_demo_of_a_country_gives_net_tax_and_gross_in_json(memory_keyring):
    from connector.demo import run_demo

    data: dict[str, Any] = run_demo(lambda line: None, ledger="quickbooks", country="ca")
    acme = [i for i in data["invoices"] if i["contract"] == "ACME-WEB"]
    assert len(acme) == 3 and {i["currency"] for i in acme} == {"CAD"}
    for i in acme:
        net, tax, gross = (Decimal(i[k]) for k in ("net", "tax", "gross"))
        assert net == Decimal(i["total"]) and tax == (net * Decimal("0.13")).quantize(CENT)
        assert gross == net + tax
    [beta] = [i for i in data["invoices"] if i["contract"] == "BETA-APP"]
    assert (beta["net"], beta["tax"], beta["gross"]) == ("4000.00", "0.00", "4000.00")
    assert memory_keyring.entries == {}


def test_demo_with_xero_of_a_country(memory_keyring, checked_demo):
    """The Xero demo of an Australian organisation: GST on Income on the contracts' lines."""
    from connector.demo import run_demo

    data: dict[str, Any] = run_demo(lambda line: None, ledger="xero", country="AU")
    deposit = next(i for i in data["invoices"] if i["kind"] == "deposit")
    assert (deposit["currency"], deposit["net"], deposit["tax"], deposit["gross"]) == (
        "AUD",
        "4800.00",
        "480.00",
        "5280.00",
    )


def test_demo_of_a_country_a_ledger_lacks_is_refused(monkeypatch, capsys):
    for args, words in (
        (("--ledger", "xero", "--country", "CA"), "the Xero sandbox has organisations of GB"),
        (("--country", "FR"), "--country: expected one of US, CA, GB, AU, got 'FR'"),
    ):
        monkeypatch.setattr(sys, "argv", ["connector", "demo", *args])
        with pytest.raises(SystemExit) as stop:
            cli.main()
        captured = capsys.readouterr()
        assert stop.value.code == 2 and words in " ".join(captured.err.split())
        assert "Traceback" not in captured.err


@pytest.fixture
def sandbox():
    with QuickBooksSandbox() as server:
        server.seed_company(DEFAULT_REALM)
        yield server


def test_auth_by_pasted_redirect_stores_tokens_in_the_keyring(sandbox, memory_keyring):
    store = TokenStore("Northwind Studio", "quickbooks")
    shown: list[str] = []
    tokens = connect_quickbooks(
        qbo_support.settings(sandbox), store, CLIENT_ID, CLIENT_SECRET, shown.append, follow_consent
    )
    assert shown and shown[0].startswith(sandbox.authorize_url)
    assert tokens.company_id == DEFAULT_REALM
    assert store.load().refresh_token == tokens.refresh_token
    assert tokens.refresh_token not in repr(tokens) and tokens.access_token not in str(tokens)
    ledger = qbo_support.ledger(sandbox)
    assert ledger.find_or_create_customer("Acme Corporation", "USD").id


def test_auth_by_listening_on_loopback(sandbox, memory_keyring):
    settings = QuickBooksSettings(
        api_url=sandbox.api_url,
        discovery_url=sandbox.discovery_url,
        redirect_uri="http://127.0.0.1:18725/callback",
    )
    thread, box = listen_in_background(settings.redirect_uri)

    def browser(url: str) -> str:  # the bookkeeper's browser follows the consent redirect
        threading.Thread(target=requests.get, args=(url,), kwargs={"timeout": 10}).start()
        thread.join(10)
        return box["url"]

    tokens = connect_quickbooks(
        settings, TokenStore("B", "quickbooks"), CLIENT_ID, CLIENT_SECRET, lambda url: None, browser
    )
    assert tokens.company_id == DEFAULT_REALM


def test_a_forged_redirect_is_refused(sandbox):
    with pytest.raises(UserError, match="state differs"):
        connect_quickbooks(
            qbo_support.settings(sandbox),
            TokenStore("B", "quickbooks"),
            CLIENT_ID,
            CLIENT_SECRET,
            lambda url: None,
            lambda url: follow_consent(url).replace("state=", "state=x"),
        )


def test_auth_command_through_the_cli(tmp_path, sandbox, monkeypatch, memory_keyring):
    from intuitlib import client as intuit_client
    from intuitlib.client import AuthClient
    from intuitlib.enums import Scopes
    from typer.testing import CliRunner

    business = qbo_support.qbo_business(tmp_path / "b", sandbox)
    monkeypatch.setattr(intuit_client, "generate_token", lambda *args, **kwargs: "fixed-state")
    chosen = business.config().ledger_settings
    auth = AuthClient(CLIENT_ID, CLIENT_SECRET, chosen.redirect_uri, chosen.discovery)
    landed = follow_consent(auth.get_authorization_url([Scopes.ACCOUNTING]))
    answer = CliRunner().invoke(
        cli.app,
        ["auth", "quickbooks", "--config", str(business.config_path), "--paste"],
        input=f"{CLIENT_ID}\n{CLIENT_SECRET}\n{landed}\n",
    )
    assert answer.exit_code == 0, answer.output
    assert "choose the company" in answer.output
    name = sandbox.company(DEFAULT_REALM).settings.company_name
    flat = " ".join(answer.output.split())
    assert f'QuickBooks company "{name}" ({DEFAULT_REALM})' in flat
    store = TokenStore("Northwind Studio", "quickbooks")
    assert store.load().company_id == DEFAULT_REALM
    assert store.company(DEFAULT_REALM) == CompanyFacts(
        DEFAULT_REALM, name, "", "US"
    )  # no home currency:
    # its setup is read at sync time


def test_sign_in_stands_when_the_company_name_cannot_be_read(sandbox, memory_keyring):
    """QuickBooks failing the CompanyInfo read right after the tokens came: the connection is
    kept, without a name, and it syncs."""
    sandbox.faults.fail(count=10, status=503, match="GET .*/companyinfo/")
    store = TokenStore("Fresh Co", "quickbooks")
    quick = qbo_support.settings(sandbox).model_copy(
        update={"retry_first_wait": 0.01, "retry_max_wait": 0.05}
    )
    tokens = connect_quickbooks(
        quick, store, CLIENT_ID, CLIENT_SECRET, lambda url: None, follow_consent
    )
    sandbox.faults.clear()
    assert (
        store.company(tokens.company_id) is None
        and store.load().refresh_token == tokens.refresh_token
    )
    assert qbo_support.ledger(sandbox, "Fresh Co").find_or_create_customer("Acme Corp", "USD")


def test_auth_command_refuses_a_config_for_another_ledger(tmp_path):
    from typer.testing import CliRunner

    from tests.conftest import make_business

    business = make_business(tmp_path / "b")
    answer = CliRunner().invoke(
        cli.app, ["auth", "quickbooks", "--config", str(business.config_path)]
    )
    assert answer.exit_code != 0 and 'not "quickbooks"' in str(answer.exception)


def test_a_crash_right_after_rotation_keeps_access(sandbox, memory_keyring):
    """The rotated refresh token is in the keyring before anything uses it: a process that dies
    at that moment leaves the next run with a working token."""
    qbo_support.connect(sandbox)
    store = TokenStore("Northwind Studio", "quickbooks")
    old = store.load()
    sandbox.clock.advance(timedelta(hours=25))  # Intuit hands out a new value after a day
    qbo_support.ledger(sandbox).session.refresh(old)  # ...and the process dies here
    reborn = qbo_support.ledger(sandbox)  # a new run, from the keyring only
    reborn.session.refresh(store.load())  # the saved token still works: it was never used
    assert reborn.find_or_create_customer("Acme Corporation", "USD").id
    # while the old one lapses a day later, so keeping only that would lock the business out
    sandbox.clock.advance(timedelta(hours=24))
    with pytest.raises(Exception, match="reconnect"):
        qbo_support.ledger(sandbox).session.refresh(old)


def test_missing_credentials_say_which_command_to_run(tmp_path, sandbox):
    business = qbo_support.qbo_business(tmp_path / "b", sandbox)
    with pytest.raises(UserError, match="connector auth quickbooks"):
        business.sync()


def test_config_check_warns_before_the_connection_lapses(tmp_path, sandbox, monkeypatch, capsys):
    from dataclasses import replace
    from datetime import UTC, datetime, timedelta

    business = qbo_support.qbo_business(tmp_path / "b", sandbox)

    def check() -> tuple[int, str]:
        monkeypatch.setattr(
            sys, "argv", ["connector", "config", "check", "--config", str(business.config_path)]
        )
        with pytest.raises(SystemExit) as stop:
            cli.main()
        return stop.value.code or 0, capsys.readouterr().err

    code, err = check()
    assert code == 1 and "not connected to QuickBooks yet" in err
    store = TokenStore("Northwind Studio", "quickbooks")
    tokens = qbo_support.connect(sandbox)
    assert check()[0] == 0
    soon = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    store.save(replace(tokens, refresh_expires_at=soon))
    code, err = check()
    assert code == 1 and "expires in 3 day(s)" in err and "connector auth quickbooks" in err


def test_no_keyring_backend_says_what_to_install():
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        with pytest.raises(UserError, match=r"keyrings\.alt") as info:
            TokenStore("B", "quickbooks").load()
        assert "PYTHON_KEYRING_BACKEND" in str(info.value)
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """config.example.toml with the milestones it names, in a folder of its own."""
    shutil.copy(REPO / "config.example.toml", tmp_path / "config.example.toml")
    shutil.copytree(REPO / "connector" / "examples", tmp_path / "connector" / "examples")
    return tmp_path / "config.example.toml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- `connector sandbox` --------------------------------------------------------------------------


def test_each_sandbox_has_its_own_default_port():
    import typer.main

    group = typer.main.get_command(cli.app).commands["sandbox"]  # type: ignore[attr-defined]
    defaults = {
        name: next(p.default for p in command.params if p.name == "port")
        for name, command in group.commands.items()
        if name in ("quickbooks", "xero", "tracker")
    }
    assert len(set(defaults.values())) == 3, defaults
    assert 8725 not in defaults.values()  # the sign-in's callback
    for name, port in defaults.items():
        assert f"Default {port}" in run("sandbox", name, "--help").stdout


@pytest.mark.parametrize(
    "command", [["quickbooks"], ["xero"], ["tracker", "--kind", "jira"]], ids=lambda c: c[0]
)
def test_a_busy_port_is_one_message_naming_it_and_the_option(command):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run("sandbox", *command, "--port", str(port))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "unexpected" not in done.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in done.stderr
    assert "--port" in done.stderr


def served_section(proc: subprocess.Popen[str]) -> str:
    """The [ledger] section a `connector sandbox` prints, as a person would copy it."""
    assert proc.stdout is not None
    section: list[str] = []
    for line in proc.stdout:
        if line.startswith("[ledger]") or section:
            if not line.strip():
                return "".join(section)
            section.append(line)
    raise AssertionError("the sandbox printed no [ledger] section")


@pytest.mark.parametrize("ledger", ["quickbooks", "xero"])
def test_a_ledger_sandbox_prints_a_section_that_bills_the_example(
    ledger, example, monkeypatch, capsys, memory_keyring
):
    """Start the sandbox as the README says, paste its [ledger] section over the example's,
    sign in, sync: both contracts are billed, the EUR one too."""
    from connector_sandbox.demo_stage import follow_consent

    proc = subprocess.Popen(
        [str(EXE), "sandbox", ledger, "--port", str(free_port())],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        section = served_section(proc)
        text = example.read_text()
        start, end = text.index("[ledger]\n"), text.index("\n[billing]")
        text = text[:start] + section + text[end:]
        example.write_text(text.replace('path = "northwind.db"', f'path = "{ledger}.db"'))
        cfg = config_mod.load(example)
        connect_to(ledger, cfg, follow_consent)
        code, out, err = connector(monkeypatch, capsys, "sync", "--config", str(example))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert code == 0, out + err
    assert "BETA-1" in out and "EUR" in out and "ACME-M1" in out


def connect_to(ledger: str, cfg: config_mod.Config, browser) -> None:
    """What `connector auth LEDGER --config FILE` does, the sandbox's client id and secret
    typed in and its consent page approved."""
    store = TokenStore(cfg.business.name, ledger)
    if ledger == "quickbooks":
        connect_quickbooks(
            cfg.ledger_settings, store, CLIENT_ID, CLIENT_SECRET, lambda url: None, browser
        )
        return
    from connector.adapters.xero.auth import connect_xero
    from connector_sandbox.xero import CLIENT_ID as XERO_ID
    from connector_sandbox.xero import CLIENT_SECRET as XERO_SECRET

    connect_xero(cfg.ledger_settings, store, XERO_ID, XERO_SECRET, lambda url: None, browser)
