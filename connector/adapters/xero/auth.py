"""The OAuth authorization-code flow for `connector auth xero`, run once per business.

It prints Xero's consent URL, takes the redirect by listening on 127.0.0.1 or from a pasted URL
(the helpers of `oauth_signin`), exchanges the code, asks `/connections` which organisations the
bookkeeper granted, pins one, and stores the token set with that tenant id in the keyring; then
reads that organisation once, to show it and keep its name and base currency beside the tokens. A
configured `tenant_id` that the grant does not include is refused. No token is ever printed or
written to a file.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import requests

from connector.adapters.oauth_signin import forget_refused_keys, redirect_query
from connector.adapters.xero.session import REFRESH_TTL, XeroSession, XeroSettings
from connector.credentials import TokenSet, TokenStore
from connector.errors import LedgerError, UserError


def consent_url(settings: XeroSettings, client_id: str, state: str) -> str:
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": settings.redirect_uri,
        "scope": " ".join(settings.scopes),
        "state": state,
    }
    return f"{settings.authorize_endpoint}?{urlencode(query)}"


def code_from_redirect(url: str, state: str) -> str:
    """The code from the redirect URL, after checking its state (CSRF)."""
    query = redirect_query(url, state, "Xero", "xero")
    try:
        return query["code"][0]
    except KeyError:
        raise UserError(
            "the redirect URL has no code; paste the whole address the browser was sent to"
        ) from None


def choose_tenant(settings: XeroSettings, connections: list[dict[str, Any]]) -> str:
    """The configured organisation if the grant includes it; the only one when there is one."""
    tenants = {c["tenantId"]: c.get("tenantName", "") for c in connections}
    if settings.tenant_id:
        if settings.tenant_id not in tenants:
            granted = ", ".join(f"{n} ({t})" for t, n in tenants.items()) or "none"
            raise UserError(
                f"[ledger] tenant_id {settings.tenant_id} was not among the organisations "
                f"granted ({granted}); sign in again and choose that organisation, or change "
                "tenant_id"
            )
        return settings.tenant_id
    if len(tenants) == 1:
        return next(iter(tenants))
    if not tenants:
        raise UserError("Xero granted access to no organisation; sign in again and pick one")
    listed = "; ".join(f'tenant_id = "{t}"  # {n}' for t, n in tenants.items())
    raise UserError(
        "Xero granted access to several organisations; put the one this business bills from "
        f"into [ledger] of the config and run `connector auth xero` again: {listed}"
    )


def _error(answer: requests.Response) -> str:
    """The OAuth error code of a token-endpoint refusal; "" when it gives none."""
    try:
        body = answer.json()
    except ValueError:
        return ""
    return str(body.get("error") or "") if isinstance(body, dict) else ""


def connect_xero(
    settings: XeroSettings,
    store: TokenStore,
    client_id: str,
    client_secret: str,
    show: Callable[[str], None],
    get_redirect: Callable[[str], str],
) -> TokenSet:
    """Run the whole flow; `get_redirect(consent_url)` returns the URL the browser landed on."""
    state = secrets.token_urlsafe(16)
    url = consent_url(settings, client_id, state)
    show(url)
    code = code_from_redirect(get_redirect(url), state)
    try:
        answer = requests.post(
            settings.token_endpoint,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": settings.redirect_uri,
            },
            auth=(client_id, client_secret),
            timeout=30,
        )
    except requests.RequestException as exc:
        raise UserError(f"cannot reach Xero's sign-in service: {type(exc).__name__}") from None
    if answer.status_code != 200:
        if _error(answer) == "invalid_client":
            forget_refused_keys(store, client_id, client_secret)
            raise UserError(
                "Xero refused the app's client ID or secret (invalid_client); copy both from "
                "developer.xero.com (My Apps, your app, Configuration; generate a new secret if "
                "it is lost) and run `connector auth xero` again, which asks for them"
            )
        raise UserError(f"Xero refused the sign-in code ({answer.status_code}); start again")
    issued = answer.json()
    try:
        found = requests.get(
            settings.identity_url.rstrip("/") + "/connections",
            headers={"Authorization": f"Bearer {issued['access_token']}"},
            timeout=30,
        )
    except requests.RequestException as exc:
        raise UserError(f"cannot reach Xero's connections list: {type(exc).__name__}") from None
    if found.status_code != 200:
        raise UserError(f"Xero did not list the connected organisations ({found.status_code})")
    tenant = choose_tenant(settings, found.json())
    tokens = TokenSet(client_id=client_id, client_secret=client_secret, company_id=tenant)
    tokens = tokens.rotated(
        issued["access_token"],
        int(issued.get("expires_in") or 1800),
        issued["refresh_token"],
        int(REFRESH_TTL.total_seconds()),
    )
    store.save(tokens)
    return with_organisation(settings, store)


def with_organisation(settings: XeroSettings, store: TokenStore) -> TokenSet:
    """The connected organisation read once, at sign-in: the bookkeeper sees which one it is
    and its base currency, and they are kept beside the connection (`store.company`, by
    `XeroSession.remember_company`), so a sync need not ask. Sign-in stands without them (Xero
    did not answer): the first night that bills reads them."""
    from connector.adapters.xero.books import OrgBooks

    session = XeroSession(
        settings, store, retry_wait=(settings.retry_first_wait, settings.retry_max_wait)
    )
    with contextlib.suppress(LedgerError):
        OrgBooks(session).organisation()
    return session.tokens()
