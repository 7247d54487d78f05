"""The OAuth authorization-code flow, run once per business by `connector auth quickbooks`.

It prints the consent URL, then takes the redirect either by listening on 127.0.0.1 (a desktop)
or from a pasted URL (a headless server), exchanges the code, and stores the token set and the
company id in the keyring; then reads the company's name once, for the bookkeeper to see which
company was connected. No token is ever printed or written to a file. The steps Xero shares
are in `connector.adapters.oauth_signin`.
"""

from __future__ import annotations

from collections.abc import Callable

import requests
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError

from connector.adapters.oauth_signin import forget_refused_keys, redirect_query
from connector.adapters.quickbooks.discovery import CachedAuthClient
from connector.adapters.quickbooks.session import QuickBooksSession, QuickBooksSettings, oauth_error
from connector.credentials import CompanyFacts, TokenSet, TokenStore
from connector.errors import LedgerError, UserError


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
        auth = CachedAuthClient(client_id, client_secret, settings.redirect_uri, settings.discovery)
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
    with_company_name(settings, store, tokens)
    return store.require()  # as the read left them (it refreshes nothing this soon, but may)


def with_company_name(settings: QuickBooksSettings, store: TokenStore, tokens: TokenSet) -> None:
    """The connected company's name and country (CompanyInfo: `CompanyName`, `Country`), read
    once and kept beside the connection (`store.company`), so that the bookkeeper sees which
    company the consent screen connected. Sign-in stands without them (QuickBooks did not
    answer). Its home currency is left to the setup each sync reads anyway."""
    session = QuickBooksSession(
        settings, store, retry_wait=(settings.retry_first_wait, settings.retry_max_wait)
    )
    try:
        answer = session.get(f"companyinfo/{tokens.company_id}")
    except LedgerError:
        return
    info = answer.get("CompanyInfo") if isinstance(answer, dict) else None
    if not isinstance(info, dict) or not isinstance(info.get("CompanyName"), str):
        return
    country = info.get("Country")
    store.keep_company(
        CompanyFacts(
            tokens.company_id,
            name=info["CompanyName"],
            country=country if isinstance(country, str) else "",
        )
    )
