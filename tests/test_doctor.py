"""`connector doctor`: one line per check, exit 2 when any fails."""

from __future__ import annotations

import sys

import pytest

from connector import cli
from tests import qbo_support
from tests.xero_support import xero_business


def doctor(monkeypatch, capsys, path) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["connector", "doctor", "--config", str(path)])
    with pytest.raises(SystemExit) as stop:
        cli.main()
    return stop.value.code or 0, capsys.readouterr().out


def test_a_healthy_local_business(business, monkeypatch, capsys):
    code, out = doctor(monkeypatch, capsys, business.config_path)
    assert code == 0, out
    for name in ("config", "state", "credentials", "ledger", "tracker"):
        assert f"ok   {name}" in out


def test_quickbooks_connected_and_not(tmp_path, qbo_server, monkeypatch, capsys, memory_keyring):
    qbo_server.seed_company(currencies=["EUR"])  # BETA-APP bills in EUR
    business = qbo_support.qbo_business(tmp_path / "b", qbo_server)
    code, out = doctor(monkeypatch, capsys, business.config_path)
    assert code == 2 and "FAIL credentials" in out and "connector auth quickbooks" in out
    qbo_support.connect(qbo_server)
    code, out = doctor(monkeypatch, capsys, business.config_path)
    assert code == 0, out
    assert "reachable" in out and "ok   keyring" in out
    flat = " ".join(out.split())
    assert "ok credentials connected to QuickBooks" in flat and "lapses in 100 days" in flat


def test_a_broken_config_and_a_missing_tracker_fail(business, monkeypatch, capsys):
    (business.dir / "milestones.toml").unlink()
    code, out = doctor(monkeypatch, capsys, business.config_path)
    assert code == 2 and "FAIL tracker" in out and "not found" in out
    business.config_path.write_text("[business\n")
    code, out = doctor(monkeypatch, capsys, business.config_path)
    assert code == 2 and "FAIL config" in out
    business.config_path.write_text('[business]\nname = "N"\n[ledger]\nkind = "local"\n')
    code, out = doctor(monkeypatch, capsys, business.config_path)
    assert "tracker: required section [tracker] is missing" in out  # brackets kept


def test_a_github_tracker_is_checked_with_its_token(tmp_path, monkeypatch, capsys):
    from connector.demo import EXAMPLE
    from connector_sandbox.trackers_demo import TrackerDemo
    from tests.tracker_support import business_config

    with TrackerDemo("github") as demo:
        path = business_config(tmp_path, demo.tracker_section(EXAMPLE / "milestones.toml"))
        code, out = doctor(monkeypatch, capsys, path)
        assert code == 2
        assert "FAIL tracker" in out and "connector auth github --config" in out
        demo.connect("Northwind Studio")
        code, out = doctor(monkeypatch, capsys, path)
    assert code == 0, out
    assert "ok   tracker      GitHub as" in " ".join(out.split("\n"))


def test_a_folder_without_business_configs_is_an_error(tmp_path, monkeypatch, capsys):
    (tmp_path / "notes.toml").write_text('[[milestones]]\nid = "x"\n')  # not a business
    for command in ("doctor", "status", "run"):
        monkeypatch.setattr(sys, "argv", ["connector", command, "--config-dir", str(tmp_path)])
        with pytest.raises(SystemExit) as stop:
            cli.main()
        err = capsys.readouterr().err
        assert stop.value.code == 2, command
        assert "no business configs in it" in err, command


# -- the ledger's profile, and what the config asks of it ---------------------------------------

CA_CODES = '"Exempt", "GST", "GST/QST QC - 9.975", "HST ON", "Out of Scope", "Zero-rated"'


def set_billing(business, lines: str) -> None:
    """Put `lines` in the business's [billing] table."""
    text = business.config_path.read_text()
    business.config_path.write_text(text.replace("[billing]\n", f"[billing]\n{lines}\n", 1))


def test_a_canadian_company_shows_its_profile_and_the_missing_tax_code(
    tmp_path, qbo_server, monkeypatch, capsys
):
    """A Canadian company answers 6000 for a line without a tax code: doctor says so before
    the first push, listing the company's codes, and is content once one is set."""
    qbo_server.faults.clear()
    qbo_server.seed_company(country="CA", currencies=["USD", "EUR"], classes=["Renovation"])
    qbo_support.connect(qbo_server)
    business = qbo_support.qbo_business(tmp_path / "b", qbo_server)
    code, out = doctor(monkeypatch, capsys, business.config_path)
    flat = " ".join(out.split())
    assert code == 2, out
    assert "ok profile CA, home currency CAD, multicurrency on" in flat
    assert "currencies: not readable" in flat  # the sandbox, like some companies, refuses it
    assert f"tax codes: {CA_CODES}; every line needs one" in flat
    assert "automated sales tax: off" in flat and "custom transaction numbers: on" in flat
    assert "company: Sandbox Company" in flat  # the ledger's other settings, as it says them
    for contract in ("ACME-WEB", "BETA-APP"):
        assert (
            f"FAIL bookings contract {contract} has no tax_code, and every line in this company "
            f"(CA) needs one: set tax_code in [billing] or on the contract to one of {CA_CODES}"
        ) in flat
    assert "Traceback" not in out

    set_billing(business, 'tax_code = "HST"')  # not the code's name as the company shows it
    code, out = doctor(monkeypatch, capsys, business.config_path)
    flat = " ".join(out.split())
    assert code == 2
    assert (
        'FAIL bookings contract ACME-WEB: tax_code "HST" is not one of the company\'s active '
        f"tax codes: {CA_CODES}; fix: write one of those codes as tax_code (in [billing] or on "
        "the contract) exactly as the company shows it, or add the code in the ledger"
    ) in flat

    business.config_path.write_text(
        business.config_path.read_text().replace('tax_code = "HST"', 'tax_code = "HST ON"')
    )
    code, out = doctor(monkeypatch, capsys, business.config_path)
    flat = " ".join(out.split())
    assert code == 0, out
    assert "ok bookings the company has what the config's 2 contract(s) ask of it" in flat
    assert 'ACME-WEB: USD, tax_code "HST ON"' in flat and 'BETA-APP: EUR, tax_code "HST ON"' in flat


def test_a_us_company_with_automated_sales_tax(tmp_path, qbo_server, monkeypatch, capsys):
    qbo_server.faults.clear()
    qbo_server.seed_company(currencies=["EUR"], automated_sales_tax=True)
    qbo_support.connect(qbo_server)
    business = qbo_support.qbo_business(tmp_path / "b", qbo_server)
    set_billing(business, 'taxable = true\nsend = "on-create"')
    code, out = doctor(monkeypatch, capsys, business.config_path)
    flat = " ".join(out.split())
    assert code == 0, out
    assert "ok profile US, home currency USD, multicurrency on" in flat
    assert "automated sales tax: on" in flat and "classes: off" in flat
    assert "ACME-WEB: USD, taxable = true, emailed to the client on create" in flat


def test_a_profile_that_cannot_be_read_is_one_line(tmp_path, qbo_server, monkeypatch, capsys):
    qbo_server.faults.clear()
    qbo_server.seed_company(country="CA")
    qbo_support.connect(qbo_server)
    business = qbo_support.qbo_business(tmp_path / "b", qbo_server)
    # the company's own record answers an error page every time it is asked, retries included
    qbo_server.faults.fail(50, status=400, match="batch")  # the setup is one batch of queries
    code, out = doctor(monkeypatch, capsys, business.config_path)
    qbo_server.faults.clear()
    assert code == 2, out
    checks = {ln.split()[1]: ln for ln in out.splitlines() if ln.startswith("  ")}
    assert checks["profile"].split()[0] == "FAIL", out
    assert "the company's setup could not be read: QuickBooks server error" in checks["profile"]
    assert "Traceback" not in out and "bookings" not in checks
    assert "ok   tracker" in out  # the other checks still run


def test_a_uk_xero_organisation_and_an_unknown_tracking_option(
    tmp_path, xero_books, monkeypatch, capsys
):
    world = xero_books(
        "GB", "GBP", tracking={"Region": ["North", "South"]}, currencies=("USD", "EUR")
    )
    business = xero_business(tmp_path / "b", world)
    text = business.config_path.read_text()
    business.config_path.write_text(
        text.replace("terms_days = 15\n", 'terms_days = 15\ntracking = { Region = "West" }\n')
    )
    code, out = doctor(monkeypatch, capsys, business.config_path)
    flat = " ".join(out.split())
    assert code == 2, out
    assert "ok profile GB, home currency GBP, multicurrency on" in flat
    assert '"OUTPUT2"' in flat and '"20% (VAT on Income)"' in flat  # Xero's TaxTypes and names
    assert 'tracking categories: Region ("North", "South")' in flat
    assert "organisation: Northwind Books GB" in flat
    assert (
        'FAIL bookings contract ACME-WEB: "West" is not an active option of tracking category '
        '"Region" (it has "North", "South"); fix: set tracking to a category and an active '
        "option the ledger has, as listed, or add them in the ledger"
    ) in flat

    business.config_path.write_text(
        business.config_path.read_text().replace('Region = "West"', 'Region = "North"')
    )
    set_billing(business, 'tax_code = "OUTPUT2"')
    code, out = doctor(monkeypatch, capsys, business.config_path)
    flat = " ".join(out.split())
    assert code == 0, out
    assert 'ACME-WEB: USD, tax_code "OUTPUT2", tracking Region = "North"' in flat


def test_a_ledger_without_a_profile_shows_none(business, monkeypatch, capsys):
    """The practice ledger describes no company: doctor shows no profile and checks none."""
    code, out = doctor(monkeypatch, capsys, business.config_path)
    assert code == 0 and "profile" not in out and "bookings" not in out


def test_the_keyring_advice_is_said_once(tmp_path, qbo_server, monkeypatch, capsys):
    """No usable keyring: the keyring check says what to do; the credentials check, which
    fails for the same reason, points to it instead of repeating the paragraph."""
    import keyring
    from keyring.backends import fail

    business = qbo_support.qbo_business(tmp_path / "b", qbo_server)
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        code, out = doctor(monkeypatch, capsys, business.config_path)
    finally:
        keyring.set_keyring(previous)
    flat = " ".join(out.split())
    assert code == 2 and "FAIL keyring no usable OS keyring was found" in flat
    assert flat.count("no usable OS keyring") == 1 and flat.count("on running as a service") == 1
    assert "FAIL credentials as the keyring check says above" in flat
