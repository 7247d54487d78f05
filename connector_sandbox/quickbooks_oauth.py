"""Intuit's OAuth 2.0 endpoints, enough for intuit-oauth's AuthClient to work unchanged.

The discovery document points AuthClient at this sandbox. The authorize endpoint approves at
once and redirects with code, state and realmId, so a test can follow the redirect instead of
clicking. No id_token is ever returned, so AuthClient never tries to validate a JWT.

Token lifetimes, as Intuit documents them:

- An access token lasts 3,600 s. ("What are refresh token and access token durations?",
  developer.intuit.com/app/developer/qbo/docs/develop/authentication-and-authorization/faq)
- A refresh token lasts 100 days, a rolling expiry extended each time it is used. (Intuit
  developer blog, "OAuth token management done the right way", 2024-06-03,
  blogs.intuit.com/2024/06/03/oauth-token-management-done-the-right-way/)
- Its value changes "around a day later or the next time you make the Refresh Token API call,
  whichever is later": a refresh with a token issued less than 24 hours ago answers with that
  same refresh token. (Intuit help article "Validity of Refresh Token",
  help.developer.intuit.com/s/article/Validity-of-Refresh-Token)
- When a new one is returned, the previous one stays valid for 24 hours: "When you request a
  fresh access token, always use the refresh token returned in the most recent token_endpoint
  response. Your previous refresh tokens expire 24 hours after you receive a new one." (Intuit's
  OAuth 2.0 guide, developer.intuit.com/docs/00_quickbooks_online/2_build/
  10_authentication_and_authorization/10_oauth_2.0, and the README of Intuit's own OAuth client,
  github.com/intuit/oauth-jsclient, "Refresh access_token".) The help article above words it
  more strictly ("if a new Refresh Token is returned, the previous one expires");
  `previous_valid_for=timedelta(0)` gives that reading, for tests of what cannot be recovered.
- What a refresh with the previous token answers inside those 24 hours is not documented; this
  sandbox answers with the latest refresh token of the connection (and a new access token), so a
  client that lost the answer to a refresh gets the same token back when it asks again.

The connector must survive all of it: store the refresh token of every answer before it uses the
new access token, and retry a refresh whose answer was lost with the token it sent.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from connector_sandbox.oauth_common import (
    add_query,
    basic_credentials,
    bearer_token,
    form_fields,
    oauth_error,
)
from connector_sandbox.server import Clock, Request, Response, loads

ACCESS_TTL = timedelta(hours=1)
REFRESH_TTL = timedelta(days=100)  # rolling: extended on every use
ROTATE_AFTER = timedelta(hours=24)  # a refresh token's value is kept this long after issue
PREVIOUS_VALID_FOR = timedelta(hours=24)  # a replaced refresh token works this long more
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
    issued: datetime | None = None  # refresh tokens: when this value was first handed out
    replaced_at: datetime | None = None  # refresh tokens: when a newer one was handed out
    successor: str | None = None  # refresh tokens: the one that replaced it


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

    def __init__(
        self,
        clock: Clock,
        default_realm: Callable[[], str | None],
        previous_valid_for: timedelta = PREVIOUS_VALID_FOR,
    ):
        self._clock = clock
        self._default_realm = default_realm
        self.previous_valid_for = previous_valid_for
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
            # a wrong client id or secret: Intuit answers 401 {"error": "invalid_client"}, as
            # reported from oauth.platform.intuit.com in github.com/intuit/oauth-rubyclient#14
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
                answer = self._refreshed(form.get("refresh_token", ""), client.client_id, now)
                if answer is None:
                    return oauth_error(400, "invalid_grant", "Incorrect or invalid refresh token")
                return Response.json(200, answer)
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

    def _refreshed(self, presented: str, client_id: str, now: datetime) -> dict[str, object] | None:
        """The answer to a refresh with `presented`, by the rules in the module docstring; None
        when Intuit would refuse it (invalid_grant)."""
        token = self._refresh.get(presented)
        if token is None or token.revoked or token.client_id != client_id or token.expires <= now:
            return None
        if token.replaced_at is not None:
            if now >= token.replaced_at + self.previous_valid_for:
                return None
            while token.successor is not None:  # the latest of the connection
                presented, token = token.successor, self._refresh[token.successor]
            if token.revoked or token.expires <= now:
                return None
        elif token.issued is not None and now - token.issued >= ROTATE_AFTER:
            fresh = "RT1" + secrets.token_urlsafe(32)
            self._refresh[fresh] = _Token(client_id, token.realm_id, now + REFRESH_TTL, issued=now)
            token.replaced_at, token.successor = now, fresh
            presented, token = fresh, self._refresh[fresh]
        token.expires = now + REFRESH_TTL  # the rolling 100 days start again
        return self._answer(client_id, token.realm_id, presented)

    def _mint(self, client_id: str, realm_id: str) -> dict[str, object]:
        """A new connection's tokens (an authorization code, or the admin shortcut)."""
        now = self._clock.now()
        refresh = "RT1" + secrets.token_urlsafe(32)
        self._refresh[refresh] = _Token(client_id, realm_id, now + REFRESH_TTL, issued=now)
        return self._answer(client_id, realm_id, refresh)

    def _answer(self, client_id: str, realm_id: str, refresh: str) -> dict[str, object]:
        """A token response: a new access token beside the refresh token `refresh`."""
        now = self._clock.now()
        access = "eyJ" + secrets.token_urlsafe(32)
        self._access[access] = _Token(client_id, realm_id, now + ACCESS_TTL)
        left = self._refresh[refresh].expires - now
        return {
            "token_type": "bearer",
            "access_token": access,
            "expires_in": ACCESS_TTL // timedelta(seconds=1),
            "refresh_token": refresh,
            "x_refresh_token_expires_in": left // timedelta(seconds=1),
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
