"""`connector doctor`: one line per check, exit 2 when any fails."""

from __future__ import annotations

import sys

import pytest

from connector import cli
from tests import qbo_support


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
    qbo_server.seed_company()
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
