"""Running `connector` in this process, as a person at a terminal would, for tests that check
the exit code and the words printed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector import cli

AS_OF = "2026-11-26"


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """`connector ARGS...`: (exit code, stdout and stderr with line breaks folded to spaces,
    as rich wraps long lines)."""
    monkeypatch.setattr(sys, "argv", ["connector", *args])
    with pytest.raises(SystemExit) as done:
        cli.main()
    out = capsys.readouterr()
    return int(done.value.code or 0), " ".join((out.out + out.err).split())


def sync(config: Path, monkeypatch, capsys) -> tuple[int, str]:
    return run_cli(monkeypatch, capsys, "sync", "--config", str(config), "--as-of", AS_OF)


def auth_quickbooks(business, monkeypatch, keys: str = ""):
    """`connector auth quickbooks --paste`, the bookkeeper typing `keys` (client id and secret
    lines, when asked) and pasting the consent redirect."""
    from intuitlib import client as intuit_client
    from intuitlib.client import AuthClient
    from intuitlib.enums import Scopes

    from connector_sandbox.quickbooks import CLIENT_ID, CLIENT_SECRET
    from connector_sandbox.quickbooks_demo import follow_consent

    monkeypatch.setattr(intuit_client, "generate_token", lambda *args, **kwargs: "fixed-state")
    chosen = business.config().ledger_settings
    auth = AuthClient(CLIENT_ID, CLIENT_SECRET, chosen.redirect_uri, chosen.discovery)
    landed = follow_consent(auth.get_authorization_url([Scopes.ACCOUNTING]))
    return CliRunner().invoke(
        cli.app,
        ["auth", "quickbooks", "--config", str(business.config_path), "--paste"],
        input=f"{keys}{landed}\n",
    )
