"""The sign-in steps the OAuth ledgers share (`connector auth quickbooks`, `connector auth xero`),
so that both ask for the same things in the same order and take the redirect the same way: by
listening on 127.0.0.1 (a desktop) or from a pasted URL (a headless server). No token is ever
printed or written to a file.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Protocol, TypeVar
from urllib.parse import parse_qs, urlparse

import typer
from rich.console import Console

from connector import config as config_mod
from connector.credentials import TokenSet, TokenStore
from connector.errors import UserError, about


class _LedgerSettings(Protocol):
    redirect_uri: str


S = TypeVar("S", bound=_LedgerSettings)
Connect = Callable[[S, TokenStore, str, str, Callable[[str], None], Callable[[str], str]], TokenSet]


def redirect_query(url: str, state: str, vendor: str, command: str) -> dict[str, list[str]]:
    """The redirect URL's query, once it is known that `vendor` granted access and that it
    belongs to this sign-in (its state, against CSRF); `command` is what to run again."""
    query = parse_qs(urlparse(url.strip()).query)
    if "error" in query:
        raise UserError(f"{vendor} did not grant access: {query['error'][0]}")
    if query.get("state", [""])[0] != state:
        raise UserError(
            "the redirect URL does not belong to this sign-in (state differs); "
            f"start `connector auth {command}` again"
        )
    return query


def wait_for_redirect(redirect_uri: str, timeout: float = 300.0) -> str:
    """Serve one request on the redirect URI's port (127.0.0.1 only) and return its URL."""
    target = urlparse(redirect_uri)
    if target.hostname not in ("127.0.0.1", "localhost"):
        raise UserError(f"redirect_uri {redirect_uri} is not on this machine; use --paste")
    received: dict[str, str] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            received["url"] = f"{redirect_uri.split('?')[0]}?{urlparse(self.path).query}"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.end_headers()
            self.wfile.write(b"milestone-connector is connected. You can close this window.\n")

        def log_message(self, *args: object) -> None:  # the query holds the code: never log it
            pass

    server = http.server.HTTPServer(("127.0.0.1", target.port or 80), Handler)
    server.timeout = timeout
    try:
        server.handle_request()
    finally:
        server.server_close()
    if "url" not in received:
        raise UserError(f"no redirect arrived within {int(timeout)} s")
    return received["url"]


def forget_refused_keys(store: TokenStore, client_id: str, client_secret: str) -> None:
    """The vendor refused these keys: if they are the stored ones, mark them so that the next
    `connector auth` asks for new ones instead of reusing them."""
    known = store.reusable_keys()
    if known == (client_id, client_secret):
        tokens = store.load()
        if tokens is not None:
            store.save(replace(tokens, keys_refused=True))


def listen_in_background(redirect_uri: str) -> tuple[threading.Thread, dict[str, str]]:
    """Start listening before the consent URL is shown, so a fast browser is not missed."""
    box: dict[str, str] = {}

    def run() -> None:
        try:
            box["url"] = wait_for_redirect(redirect_uri)
        except UserError as exc:
            box["error"] = str(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def redirect_source(redirect_uri: str, paste: bool) -> Callable[[str], str]:
    """Where the browser's redirect comes from: a pasted address, or a listener on 127.0.0.1
    started now, before the consent URL is shown, so a fast browser is not missed."""
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
    with about(config):
        cfg = config_mod.load(config)
        settings: object = cfg.ledger_settings  # any plugin's: checked to be `kind`'s below
        if not isinstance(settings, settings_type):
            raise UserError(f'{cfg.path}: [ledger] kind is {cfg.ledger_kind!r}, not "{kind}"')
        store = TokenStore(cfg.business.name, kind)
        known = store.reusable_keys()
        client_id = known[0] if known else typer.prompt(f"{app_name} app client ID")
        secret = known[1] if known else typer.prompt("Client secret", hide_input=True)
        redirect = redirect_source(settings.redirect_uri, paste)
        intro = f"Open this address, sign in and choose the {choose}:"
        tokens = connect(
            settings, store, client_id, secret, lambda url: show_address(out, intro, url), redirect
        )
        return cfg, settings, tokens


def show_address(out: Console, intro: str, url: str) -> None:
    """The consent address whole on one line, never wrapped at the terminal's width nor read
    as markup: a pasted address that lost a character is refused ("state differs")."""
    out.print(intro, markup=False, highlight=False)
    out.print(url, markup=False, highlight=False, soft_wrap=True, crop=False)
