"""The OAuth authorization-code flow, run once per business by `connector auth quickbooks`.

It prints the consent URL, then takes the redirect either by listening on 127.0.0.1 (a desktop)
or from a pasted URL (a headless server), exchanges the code, and stores the token set and the
company id in the keyring. No token is ever printed or written to a file.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable
from dataclasses import replace
from urllib.parse import parse_qs, urlparse

import requests
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError

from connector.adapters.quickbooks_session import QuickBooksSettings, oauth_error
from connector.credentials import TokenSet, TokenStore
from connector.errors import UserError


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


def redirect_params(url: str, state: str) -> tuple[str, str]:
    """The code and realm id from a redirect URL, after checking its state (CSRF)."""
    query = redirect_query(url, state, "QuickBooks", "quickbooks")
    try:
        return query["code"][0], query["realmId"][0]
    except KeyError:
        raise UserError(
            "the redirect URL has no code and realmId; paste the whole address "
            "the browser was sent to"
        ) from None


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


def connect_quickbooks(
    settings: QuickBooksSettings,
    store: TokenStore,
    client_id: str,
    client_secret: str,
    show: Callable[[str], None],
    get_redirect: Callable[[str], str],
) -> TokenSet:
    """Run the whole flow; `get_redirect(consent_url)` returns the URL the browser landed on."""
    try:
        auth = AuthClient(client_id, client_secret, settings.redirect_uri, settings.discovery)
    except requests.exceptions.RequestException as exc:
        raise UserError(f"cannot reach the QuickBooks sign-in service: {exc}") from None
    url = auth.get_authorization_url([Scopes.ACCOUNTING])
    show(url)
    code, realm = redirect_params(get_redirect(url), auth.state_token)
    try:
        auth.get_bearer_token(code, realm_id=realm)
    except AuthClientError as exc:
        if oauth_error(exc) == "invalid_client":
            forget_refused_keys(store, client_id, client_secret)
            raise UserError(
                "QuickBooks refused the app's client ID or secret (invalid_client); copy both "
                "from the Intuit developer portal (your app, Keys and credentials: Development "
                "keys for sandbox companies, Production keys for real ones) and run "
                "`connector auth quickbooks` again, which asks for them"
            ) from None
        raise UserError(
            f"QuickBooks refused the sign-in code ({exc.status_code}); start again"
        ) from None
    tokens = TokenSet(client_id=client_id, client_secret=client_secret, company_id=realm)
    tokens = tokens.rotated(
        auth.access_token, auth.expires_in, auth.refresh_token, auth.x_refresh_token_expires_in
    )
    store.save(tokens)
    return tokens


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
