"""The sign-in steps that `connector auth quickbooks` and `connector auth xero` share, so the
two ledgers ask for the same things in the same order and take the redirect the same way."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

import typer
from rich.console import Console

from connector import config as config_mod
from connector.credentials import TokenSet, TokenStore
from connector.errors import UserError


class _LedgerSettings(Protocol):
    redirect_uri: str


S = TypeVar("S", bound=_LedgerSettings)
Connect = Callable[[S, TokenStore, str, str, Callable[[str], None], Callable[[str], str]], TokenSet]


def redirect_source(redirect_uri: str, paste: bool) -> Callable[[str], str]:
    """Where the browser's redirect comes from: a pasted address, or a listener on 127.0.0.1
    started now, before the consent URL is shown, so a fast browser is not missed."""
    from connector.auth_flow import listen_in_background

    waiting = None if paste else listen_in_background(redirect_uri)

    def redirect(_: str) -> str:
        if waiting is None:
            return typer.prompt("Paste the address the browser was sent to")
        thread, box = waiting
        thread.join()
        if "error" in box:
            raise UserError(box["error"])
        return box["url"]

    return redirect


def sign_in(
    config: Path,
    paste: bool,
    *,
    kind: str,
    settings_type: type[S],
    app_name: str,
    choose: str,
    connect: Connect[S],
    out: Console,
) -> tuple[config_mod.Config, S, TokenSet]:
    """Load the config, check its ledger is `kind`, reuse or ask for the app's client id and
    secret, and run `connect` with the consent URL shown on `out` (`choose`: what the
    bookkeeper picks there). Returns what the caller needs for its closing line."""
    cfg = config_mod.load(config)
    settings: object = cfg.ledger_settings  # any plugin's: checked to be `kind`'s below
    if not isinstance(settings, settings_type):
        raise UserError(f'{cfg.path}: [ledger] kind is {cfg.ledger_kind!r}, not "{kind}"')
    store = TokenStore(cfg.business.name, kind)
    known = store.reusable_keys()
    client_id = known[0] if known else typer.prompt(f"{app_name} app client ID")
    secret = known[1] if known else typer.prompt("Client secret", hide_input=True)
    redirect = redirect_source(settings.redirect_uri, paste)
    tokens = connect(
        settings,
        store,
        client_id,
        secret,
        lambda url: out.print(f"Open this address, sign in and choose the {choose}:\n{url}"),
        redirect,
    )
    return cfg, settings, tokens
