"""`connector status` over a folder of businesses: the morning view of a bookkeeper who keeps
several sets of books. Each business's last sync and everything that needs a person, including
a ledger connection about to lapse and a config that no longer loads."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from connector import config as config_mod
from connector.credentials import TokenSet, TokenStore
from connector.sync import run_once
from tests.conftest import MILESTONES
from tests.test_cli import connector
from tests.test_daemon import write_business

BROKEN_MILESTONE = '\n[[milestones]]\nid = "ALPHA-X"\ncontract = "ACME-WEB"\ntitle = "Extra"\n'


def folder_of_businesses(tmp_path):
    alpha = write_business(tmp_path, "alpha")
    (tmp_path / "alpha-milestones.toml").write_text(MILESTONES + BROKEN_MILESTONE)
    run_once(config_mod.load(alpha), as_of=datetime(2026, 11, 26).date())
    beta = write_business(tmp_path, "beta")
    beta.write_text(
        beta.read_text().replace(
            '[ledger]\nkind = "local"\npath = "beta-ledger.json"',
            '[ledger]\nkind = "quickbooks"\nenvironment = "sandbox"\nrealm_id = "1"',
        )
    )
    soon = (datetime.now(UTC) + timedelta(days=3, hours=1)).isoformat()
    TokenStore("beta", "quickbooks").save(
        TokenSet("id", "secret", refresh_token="r", refresh_expires_at=soon, company_id="1")
    )
    (tmp_path / "gamma.toml").write_text('[business]\nname = "gamma"\ncolour = "red"\n')


def test_one_screen_for_every_business_with_what_needs_a_person(tmp_path, monkeypatch, capsys):
    folder_of_businesses(tmp_path)
    code, out, err = connector(
        monkeypatch, capsys, "status", "--config-dir", str(tmp_path), "--as-of", "2026-11-26"
    )
    assert code == 1, err  # something needs a person, and gamma cannot load
    flat = " ".join(out.split())
    assert "Businesses" in out and "alpha" in out and "beta" in out and "never" in out
    assert "needs attention: alpha: ALPHA-X" in flat
    assert "needs attention: beta: the QuickBooks connection expires in 3 day(s)" in flat
    assert "connector auth quickbooks --config" in flat
    assert "gamma.toml" in flat and "colour" in flat


def test_status_json_lists_every_business(tmp_path, monkeypatch, capsys):
    folder_of_businesses(tmp_path)
    code, out, _ = connector(monkeypatch, capsys, "status", "--config-dir", str(tmp_path), "--json")
    entries = json.loads(out)
    assert code == 1
    assert [e.get("business") for e in entries] == ["alpha", "beta", None]
    alpha, beta, gamma = entries
    assert alpha["last_run"]["outcome"] == "problems"
    assert alpha["last_run"]["finished_at"].endswith("-06:00")  # Chicago time, like "as of"
    assert len(alpha["invoices"]) == 5  # no retainage release while ALPHA-X is invalid
    assert beta["last_run"] is None
    assert any("expires in 3 day(s)" in a for a in beta["attention"])
    assert "colour" in gamma["error"]


def test_a_failed_last_sync_is_shown_with_its_reason(tmp_path, monkeypatch, capsys):
    alpha = write_business(tmp_path, "alpha")
    (tmp_path / "alpha-milestones.toml").unlink()  # the tracker file was moved away
    code, _, _ = connector(monkeypatch, capsys, "sync", "--config", str(alpha))
    assert code == 2
    code, out, _ = connector(monkeypatch, capsys, "status", "--config", str(alpha))
    flat = " ".join(out.split())
    assert "(failed)" in flat
    assert "needs attention: the last sync failed: FatalTrackerError:" in flat
    assert "alpha-milestones.toml" in flat


def test_status_needs_exactly_one_of_config_or_folder(tmp_path, monkeypatch, capsys):
    code, _, err = connector(monkeypatch, capsys, "status")
    assert code == 2 and "exactly one of --config FILE or --config-dir DIR" in err


def test_status_of_one_business_exits_1_when_something_needs_a_person(
    tmp_path, monkeypatch, capsys
):
    alpha = write_business(tmp_path, "alpha")
    run_once(config_mod.load(alpha), as_of=datetime(2026, 11, 26).date())
    args = ("status", "--config", str(alpha), "--as-of", "2026-11-26")
    code, out, err = connector(monkeypatch, capsys, *args)
    assert code == 0, out + err
    assert "needs attention" not in out
    (tmp_path / "alpha-milestones.toml").write_text(MILESTONES + BROKEN_MILESTONE)
    run_once(config_mod.load(alpha), as_of=datetime(2026, 11, 26).date())
    code, out, _ = connector(monkeypatch, capsys, *args)
    assert code == 1
    assert "needs attention: ALPHA-X: alpha-milestones.toml, line" in " ".join(out.split())
    code, out, _ = connector(monkeypatch, capsys, *args, "--json")
    assert code == 1 and json.loads(out)["attention"]


def test_status_of_a_folder_exits_1_for_a_business_that_cannot_load(tmp_path, monkeypatch, capsys):
    alpha = write_business(tmp_path, "alpha")
    run_once(config_mod.load(alpha), as_of=datetime(2026, 11, 26).date())
    args = ("status", "--config-dir", str(tmp_path), "--as-of", "2026-11-26")
    assert connector(monkeypatch, capsys, *args)[0] == 0
    (tmp_path / "gamma.toml").write_text('[business]\nname = "gamma"\ncolour = "red"\n')
    code, out, _ = connector(monkeypatch, capsys, *args)
    assert code == 1 and "cannot load" in out


def test_a_config_with_a_byte_order_mark_is_found_in_a_folder(tmp_path, monkeypatch, capsys):
    """Notepad saves UTF-8 with a BOM; `--config-dir` must not take such a file for a stray."""
    folder_of_businesses(tmp_path)
    (tmp_path / "gamma.toml").unlink()
    alpha = tmp_path / "alpha.toml"
    alpha.write_bytes(b"\xef\xbb\xbf" + alpha.read_bytes().lstrip())  # BOM, then [business]
    _, out, _ = connector(monkeypatch, capsys, "status", "--config-dir", str(tmp_path), "--json")
    assert [e.get("business") for e in json.loads(out)] == ["alpha", "beta"]
