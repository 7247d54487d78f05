"""Intuit's OAuth 2.0 endpoints, enough for intuit-oauth's AuthClient to work unchanged.

The discovery document points AuthClient at this sandbox. The authorize endpoint approves at
once and redirects with code, state and realmId, so a test can follow the redirect instead of
clicking. Access tokens expire after an hour; refresh tokens rotate on every refresh and the old
one is then refused with invalid_grant, which is the behaviour the connector must survive (store
the new refresh token before using the new access token). No id_token is ever returned, so
AuthClient never tries to validate a JWT.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from connector.sandbox.oauth_common import (
    add_query,
    basic_credentials,
    bearer_token,
    form_fields,
    oauth_error,
)
from connector.sandbox.server import Clock, Request, Response, loads

ACCESS_TTL = timedelta(hours=1)
REFRESH_TTL = timedelta(days=100)
CODE_TTL = timedelta(minutes=5)

DISCOVERY_PATHS = (
    "/.well-known/openid_configuration",
    "/.well-known/openid_configuration/",
    "/.well-known/openid_sandbox_configuration",
    "/.well-known/openid_sandbox_configuration/",
)
AUTHORIZE_PATH = "/connect/oauth2"
TOKEN_PATH = "/oauth2/v1/tokens/bearer"
REVOKE_PATH = "/oauth2/v1/tokens/revoke"
USERINFO_PATH = "/v1/openid_connect/userinfo"
JWKS_PATH = "/oauth2/v1/keys"


@dataclass(frozen=True)
class OAuthClient:
    """An app's keys. `redirect_uris` None accepts any redirect URI (handy for tests)."""

    client_id: str
    client_secret: str
    redirect_uris: frozenset[str] | None = None


@dataclass
class _Code:
    client_id: str
    realm_id: str
    redirect_uri: str
    expires: datetime


@dataclass
class _Token:
    client_id: str
    realm_id: str
    expires: datetime
    revoked: bool = False


def discovery(base_url: str) -> dict[str, object]:
    return {
        "issuer": base_url,
        "authorization_endpoint": base_url + AUTHORIZE_PATH,
        "token_endpoint": base_url + TOKEN_PATH,
        "userinfo_endpoint": base_url + USERINFO_PATH,
        "revocation_endpoint": base_url + REVOKE_PATH,
        "jwks_uri": base_url + JWKS_PATH,
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "scopes_supported": ["openid", "email", "profile", "com.intuit.quickbooks.accounting"],
    }


class TokenAuthority:
    """Clients, authorization codes, access and refresh tokens, all in memory."""

    def __init__(self, clock: Clock, default_realm: Callable[[], str | None]):
        self._clock = clock
        self._default_realm = default_realm
        self._lock = threading.Lock()
        self._clients: dict[str, OAuthClient] = {}
        self._codes: dict[str, _Code] = {}
        self._access: dict[str, _Token] = {}
        self._refresh: dict[str, _Token] = {}

    def register(self, client: OAuthClient) -> None:
        with self._lock:
            self._clients[client.client_id] = client

    def clear_tokens(self) -> None:
        with self._lock:
            self._codes.clear()
            self._access.clear()
            self._refresh.clear()

    # --- admin ---

    def issue(self, client_id: str, realm_id: str) -> dict[str, object]:
        """Tokens as the token endpoint would return them, without the browser dance."""
        with self._lock:
            return self._mint(client_id, realm_id)

    def revoke_token(self, token: str) -> bool:
        with self._lock:
            return self._revoke(token)

    # --- HTTP ---

    def authorize(self, request: Request) -> Response:
        client_id = request.param("client_id") or ""
        redirect_uri = request.param("redirect_uri") or ""
        with self._lock:
            client = self._clients.get(client_id)
        if client is None:
            return oauth_error(400, "invalid_client", "unknown client_id")
        if not redirect_uri or (
            client.redirect_uris is not None and redirect_uri not in client.redirect_uris
        ):
            return oauth_error(400, "invalid_request", "redirect_uri is not registered")
        if request.param("response_type") != "code":
            return oauth_error(400, "unsupported_response_type")
        realm_id = request.param("realmId") or self._default_realm()
        if realm_id is None:
            return oauth_error(400, "invalid_request", "the sandbox holds no company")
        code = "AB" + secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Code(
                client_id, realm_id, redirect_uri, self._clock.now() + CODE_TTL
            )
        params = {"code": code, "state": request.param("state") or "", "realmId": realm_id}
        return Response.redirect(add_query(redirect_uri, params))

    def token(self, request: Request) -> Response:
        client = self._client_from_basic(request.header("Authorization"))
        if client is None:
            return oauth_error(401, "invalid_client")
        form = form_fields(request)
        grant = form.get("grant_type")
        now = self._clock.now()
        with self._lock:
            if grant == "authorization_code":
                code = self._codes.pop(form.get("code", ""), None)
                if (
                    code is None
                    or code.expires <= now
                    or code.client_id != client.client_id
                    or code.redirect_uri != form.get("redirect_uri")
                ):
                    return oauth_error(400, "invalid_grant")
                return Response.json(200, self._mint(client.client_id, code.realm_id))
            if grant == "refresh_token":
                old = self._refresh.get(form.get("refresh_token", ""))
                if (
                    old is None
                    or old.revoked
                    or old.expires <= now
                    or old.client_id != client.client_id
                ):
                    return oauth_error(400, "invalid_grant", "Incorrect or invalid refresh token")
                old.revoked = True  # rotation: the old refresh token is spent
                return Response.json(200, self._mint(client.client_id, old.realm_id))
        return oauth_error(400, "unsupported_grant_type")

    def revoke(self, request: Request) -> Response:
        if self._client_from_basic(request.header("Authorization")) is None:
            return oauth_error(401, "invalid_client")
        try:
            token = str(loads(request.body).get("token", ""))
        except (ValueError, AttributeError):
            return oauth_error(400, "invalid_request")
        with self._lock:
            self._revoke(token)
        return Response(200)

    def check_bearer(self, authorization: str | None, realm_id: str) -> tuple[int, str] | None:
        """None when the bearer token may act on `realm_id`; else the HTTP status and why."""
        presented = bearer_token(authorization)
        if presented is None:
            return 401, "Authorization header missing"
        with self._lock:
            token = self._access.get(presented)
        if token is None or token.revoked:
            return 401, "Token invalid"
        if token.expires <= self._clock.now():
            return 401, "Token expired"
        if token.realm_id != realm_id:
            return 403, "The token does not grant access to this company"
        return None

    # --- internals (lock held) ---

    def _client_from_basic(self, header: str | None) -> OAuthClient | None:
        given = basic_credentials(header)
        if given is None:
            return None
        client_id, secret = given
        with self._lock:
            client = self._clients.get(client_id)
        if client is None or not secrets.compare_digest(client.client_secret, secret):
            return None
        return client

    def _mint(self, client_id: str, realm_id: str) -> dict[str, object]:
        now = self._clock.now()
        access, refresh = "eyJ" + secrets.token_urlsafe(32), "RT1" + secrets.token_urlsafe(32)
        self._access[access] = _Token(client_id, realm_id, now + ACCESS_TTL)
        self._refresh[refresh] = _Token(client_id, realm_id, now + REFRESH_TTL)
        return {
            "token_type": "bearer",
            "access_token": access,
            "expires_in": ACCESS_TTL // timedelta(seconds=1),
            "refresh_token": refresh,
            "x_refresh_token_expires_in": REFRESH_TTL // timedelta(seconds=1),
        }

    def _revoke(self, token: str) -> bool:
        """Revoking either token disconnects the app from that company: all its tokens die."""
        found = self._access.get(token) or self._refresh.get(token)
        if found is None:
            return False
        for table in (self._access, self._refresh):
            for t in table.values():
                if t.client_id == found.client_id and t.realm_id == found.realm_id:
                    t.revoked = True
        return True
