"""Xero's identity service, enough for xero-python's token refresh and IdentityApi to work
unchanged: the authorize redirect, the token endpoint and `/connections`.

Access tokens last 30 minutes. Refresh tokens are single use and expire after 60 days unused;
a refresh token that was already used is accepted again for 30 minutes (Xero's grace period
for a lost refresh response) and refused with invalid_grant after that. The authorize endpoint
approves at once and redirects with code and state, so tests follow the redirect instead of
clicking; `tenants` in its query (a sandbox extension) picks which organisations are connected.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from connector_sandbox.oauth_common import (
    add_query,
    basic_credentials,
    bearer_token,
    form_fields,
    oauth_error,
)
from connector_sandbox.server import Clock, Request, Response

ACCESS_TTL = timedelta(minutes=30)
REFRESH_TTL = timedelta(days=60)
GRACE = timedelta(minutes=30)
CODE_TTL = timedelta(minutes=5)

AUTHORIZE_PATH = "/identity/connect/authorize"
TOKEN_PATH = "/connect/token"
REVOKE_PATH = "/connect/revocation"
CONNECTIONS_PATH = "/connections"


@dataclass
class _Grant:
    """What a code, access token or refresh token stands for."""

    client_id: str
    tenants: tuple[str, ...]
    expires: datetime
    auth_event: str
    scope: str = ""
    redirect_uri: str = ""
    used_at: datetime | None = None
    revoked: bool = False


def problem(status: int, title: str, detail: str) -> Response:
    """The problem-details body Xero's gateway answers 401 and 403 with."""
    body: dict[str, Any] = {
        "Type": None,
        "Title": title,
        "Status": status,
        "Detail": detail,
        "Extensions": {},
    }
    headers = {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{detail}"'}
    return Response.json(status, body, headers if status == 401 else None)


class Identity:
    """Apps, codes and tokens, all in memory. `tenant_names` lists the organisations."""

    def __init__(self, clock: Clock, tenant_names: Callable[[], dict[str, str]]):
        self._clock = clock
        self._tenant_names = tenant_names
        self._lock = threading.Lock()
        self._apps: dict[str, str] = {}  # client id -> secret
        self._codes: dict[str, _Grant] = {}
        self._access: dict[str, _Grant] = {}
        self._refresh: dict[str, _Grant] = {}

    def register(self, client_id: str, client_secret: str) -> None:
        with self._lock:
            self._apps[client_id] = client_secret

    def clear(self) -> None:
        with self._lock:
            self._codes.clear()
            self._access.clear()
            self._refresh.clear()

    # --- admin ---

    def issue(self, client_id: str, tenants: tuple[str, ...], scope: str) -> dict[str, Any]:
        with self._lock:
            return self._mint(client_id, tenants, scope, uuid.uuid4().hex)

    def revoke(self, token: str) -> None:
        with self._lock:
            grant = self._access.get(token) or self._refresh.get(token)
            if grant is not None:
                for table in (self._access, self._refresh):
                    for g in table.values():
                        if g.auth_event == grant.auth_event:
                            g.revoked = True

    # --- HTTP ---

    def authorize(self, request: Request) -> Response:
        client_id = request.param("client_id") or ""
        redirect_uri = request.param("redirect_uri") or ""
        with self._lock:
            known = client_id in self._apps
        if not known:
            return oauth_error(400, "unauthorized_client", "unknown client_id")
        if request.param("response_type") != "code" or not redirect_uri:
            return oauth_error(400, "invalid_request")
        names = self._tenant_names()
        chosen = tuple(t for t in (request.param("tenants") or "").split(",") if t) or tuple(names)
        if not chosen or any(t not in names for t in chosen):
            return oauth_error(400, "invalid_request", "no such organisation in the sandbox")
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Grant(
                client_id,
                chosen,
                self._clock.now() + CODE_TTL,
                uuid.uuid4().hex,
                scope=request.param("scope") or "",
                redirect_uri=redirect_uri,
            )
        params = {"code": code, "scope": request.param("scope") or ""}
        params["state"] = request.param("state") or ""
        return Response.redirect(add_query(redirect_uri, params))

    def token(self, request: Request) -> Response:
        form = form_fields(request)
        client_id = self._client(request.header("Authorization"), form)
        if client_id is None:
            # a wrong client id or secret: Xero's identity server answers 400
            # {"error": "invalid_client"} (IdentityServer's token endpoint; Xero's own SDK
            # threads show it: github.com/XeroAPI/xero-python#69, xero-ruby-oauth2-app#3)
            return oauth_error(400, "invalid_client")
        now = self._clock.now()
        grant_type = form.get("grant_type")
        with self._lock:
            if grant_type == "authorization_code":
                code = self._codes.pop(form.get("code", ""), None)
                if (
                    code is None
                    or code.expires <= now
                    or code.client_id != client_id
                    or code.redirect_uri != form.get("redirect_uri")
                ):
                    return oauth_error(400, "invalid_grant")
                return Response.json(
                    200, self._mint(client_id, code.tenants, code.scope, code.auth_event)
                )
            if grant_type == "refresh_token":
                old = self._refresh.get(form.get("refresh_token", ""))
                if old is None or old.revoked or old.client_id != client_id:
                    return oauth_error(400, "invalid_grant")
                if old.used_at is None and old.expires <= now:
                    return oauth_error(400, "invalid_grant")
                if old.used_at is not None and now - old.used_at > GRACE:
                    return oauth_error(400, "invalid_grant")
                if old.used_at is None:
                    old.used_at = now
                scope = form.get("scope") or old.scope
                return Response.json(200, self._mint(client_id, old.tenants, scope, old.auth_event))
        return oauth_error(400, "unsupported_grant_type")

    def revocation(self, request: Request) -> Response:
        form = form_fields(request)
        if self._client(request.header("Authorization"), form) is None:
            return oauth_error(400, "invalid_client")
        self.revoke(form.get("token", ""))
        return Response(200)

    def connections(self, request: Request) -> Response:
        grant, refusal = self.bearer(request.header("Authorization"))
        if refusal is not None:
            return refusal
        assert grant is not None
        names = self._tenant_names()
        # as Xero writes it (its spec's example): UTC, seven fraction digits, no offset
        stamp = self._clock.now().replace(tzinfo=None).isoformat(timespec="microseconds") + "0"
        return Response.json(
            200,
            [
                {
                    "id": str(uuid.uuid5(uuid.NAMESPACE_OID, grant.auth_event + tenant)),
                    "authEventId": str(uuid.UUID(grant.auth_event)),
                    "tenantId": tenant,
                    "tenantType": "ORGANISATION",
                    "tenantName": names.get(tenant, ""),
                    "createdDateUtc": stamp,
                    "updatedDateUtc": stamp,
                }
                for tenant in grant.tenants
                if tenant in names
            ],
        )

    def bearer(self, authorization: str | None) -> tuple[_Grant | None, Response | None]:
        """The grant behind a bearer token, or the 401 Xero answers."""
        presented = bearer_token(authorization)
        if presented is None:
            return None, problem(401, "Unauthorized", "AuthenticationUnsuccessful")
        with self._lock:
            grant = self._access.get(presented)
        if grant is None or grant.revoked:
            return None, problem(401, "Unauthorized", "AuthenticationUnsuccessful")
        if grant.expires <= self._clock.now():
            stamp = grant.expires.strftime("%m/%d/%Y %H:%M:%S")
            return None, problem(401, "Unauthorized", f"TokenExpired: token expired at {stamp}")
        return grant, None

    # --- internals ---

    def _client(self, header: str | None, form: dict[str, str]) -> str | None:
        """Client authentication: HTTP Basic, or client_id and client_secret in the form (what
        xero-python's refresh sends)."""
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if header and header.startswith("Basic "):
            given = basic_credentials(header)
            if given is None:
                return None
            client_id, secret = given
        with self._lock:
            expected = self._apps.get(client_id)
        if expected is None or not secrets.compare_digest(expected, secret):
            return None
        return client_id

    def _mint(
        self, client_id: str, tenants: tuple[str, ...], scope: str, auth_event: str
    ) -> dict[str, Any]:
        now = self._clock.now()
        access, refresh = secrets.token_urlsafe(40), secrets.token_urlsafe(32)
        self._access[access] = _Grant(client_id, tenants, now + ACCESS_TTL, auth_event, scope)
        self._refresh[refresh] = _Grant(client_id, tenants, now + REFRESH_TTL, auth_event, scope)
        return {
            "access_token": access,
            "expires_in": ACCESS_TTL // timedelta(seconds=1),
            "token_type": "Bearer",
            "refresh_token": refresh,
            "scope": scope,
        }
