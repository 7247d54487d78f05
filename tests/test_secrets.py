"""Known secrets go through a whole QuickBooks sync and appear in no output a person or a log
shipper could see: logs at DEBUG, the command's output, the status JSON, the state database."""

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
