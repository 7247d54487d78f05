"""Known secrets go through a whole QuickBooks sync and appear in no output a person or a log
shipper could see: logs at DEBUG, the command's output, the status JSON, the state database.
A keyring entry the connector did not write is named in one sentence with the command that
replaces it, and that command works over it."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from connector import cli
from connector.credentials import TokenStore
from tests import qbo_support


def test_no_secret_leaves_the_keyring(tmp_path, qbo, monkeypatch, capsys, caplog):
    business = qbo_support.qbo_business(tmp_path / "b", qbo)
    tokens = TokenStore("Northwind Studio", "quickbooks").load()
    caplog.set_level(logging.DEBUG)
    outputs = []
    for args in (
        ["sync", "--as-of", "2026-11-26"],
        ["sync"],
        ["status", "--json"],
        ["config", "check"],
    ):
        monkeypatch.setattr(
            sys,
            "argv",
            ["connector", "--debug", *args[:1], "--config", str(business.config_path), *args[1:]],
        )
        with pytest.raises(SystemExit):
            cli.main()
        captured = capsys.readouterr()
        outputs += [captured.out, captured.err]
    rotated = TokenStore("Northwind Studio", "quickbooks").load()
    secrets = {*tokens.secrets(), *rotated.secrets()}
    assert json.loads(outputs[4])["invoices"]  # the syncs did real work
    state_bytes = (business.dir / "state.db").read_bytes()
    everything = "\n".join([*outputs, caplog.text]) + state_bytes.decode("latin-1")
    leaked = [s[:6] + "..." for s in secrets if s in everything]
    assert leaked == []
    assert "Bearer" not in caplog.text


@pytest.mark.parametrize(
    "raw",
    [
        "not json at all",
        "",
        '["a", "list"]',
        '{"client_id": "only half of it"}',
        '{"client_id": 7, "client_secret": "s", "refresh_token": "r"}',
        '{"client_id": "c", "client_secret": "s", "something": "else"}',
    ],
    ids=["text", "empty", "list", "missing-keys", "wrong-type", "unknown-key"],
)
def test_a_keyring_entry_that_is_not_ours_names_the_entry_and_the_command(
    tmp_path, qbo, monkeypatch, capsys, raw
):
    """One sentence, exit 2, nothing sent: not 'unexpected JSONDecodeError'."""
    import keyring

    from connector.credentials import SERVICE
    from tests.cli_support import sync

    business = qbo_support.qbo_business(tmp_path / "b", qbo)
    keyring.set_password(SERVICE, "Northwind Studio/quickbooks", raw)
    code, printed = sync(business.config_path, monkeypatch, capsys)
    assert code == 2
    assert "keyring entry 'Northwind Studio/quickbooks'" in printed
    assert f"connector auth quickbooks --config {business.config_path.resolve()}" in printed
    assert "error: unexpected" not in printed  # (other threads may log into stderr)
    assert "JSONDecodeError" not in printed and "TypeError" not in printed
    assert raw not in printed or not raw
    assert qbo.invoices() == [] and qbo.customers() == []


def test_connector_auth_replaces_an_unreadable_entry(tmp_path, qbo, monkeypatch, capsys):
    import keyring

    from connector.credentials import SERVICE
    from connector_sandbox.quickbooks import CLIENT_ID, CLIENT_SECRET
    from tests.cli_support import auth_quickbooks, sync

    business = qbo_support.qbo_business(tmp_path / "b", qbo)
    keyring.set_password(SERVICE, "Northwind Studio/quickbooks", "{half-written")
    answer = auth_quickbooks(business, monkeypatch, f"{CLIENT_ID}\n{CLIENT_SECRET}\n")
    assert answer.exit_code == 0, answer.output
    assert TokenStore("Northwind Studio", "quickbooks").load().refresh_token
    assert sync(business.config_path, monkeypatch, capsys)[0] == 0


def test_an_unreadable_tracker_token_names_its_command():
    import keyring

    from connector.credentials import SERVICE, CredentialsUnreadable
    from connector.sources.tokens import load_token

    keyring.set_password(SERVICE, "Northwind Studio/github", "ghp_pasted_by_hand")
    with pytest.raises(CredentialsUnreadable) as refused:
        load_token("Northwind Studio", "github")
    message = str(refused.value)
    assert "'Northwind Studio/github'" in message and "connector auth github" in message
    assert "ghp_pasted_by_hand" not in message
