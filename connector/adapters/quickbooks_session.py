"""A python-quickbooks client with its tokens kept in the keyring, and QuickBooks errors sorted
by what the engine should do next.

python-quickbooks raises by exception class in ways that mislead (throttling 3001 arrives as a
ValidationException, 5010 and 6140 as the base class, gateway 429/5xx as code 10000), so errors
are classified here by code and HTTP status text, never by class. Tokens: a refreshed token set
is saved to the keyring before the new access token is used.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, Literal, TypeVar
from urllib.parse import urlparse

import requests
from intuitlib.client import AuthClient
from intuitlib.exceptions import AuthClientError
from pydantic import BaseModel, ConfigDict, Field
from quickbooks import QuickBooks
from quickbooks.exceptions import QuickbooksException
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from connector.adapters.oauth_retry import refresh_once
from connector.credentials import TokenSet, TokenStore
from connector.errors import FatalLedgerError, RetriableLedgerError, SkippableLedgerError

T = TypeVar("T")

# requests-oauthlib logs every token and Authorization header it sends at DEBUG; those lines must
# never reach a log file, whatever level the rest of the program logs at.
logging.getLogger("requests_oauthlib").setLevel(logging.WARNING)
logging.getLogger("oauthlib").setLevel(logging.WARNING)

DISCOVERY = {
    "production": "production",  # intuit-oauth knows Intuit's discovery documents by these names
    "sandbox": "sandbox",
}
SCOPE = "com.intuit.quickbooks.accounting"


class QuickBooksSettings(BaseModel):
    """`[ledger] kind = "quickbooks"`. No secrets here: they live in the keyring."""

    model_config = ConfigDict(extra="forbid")

    environment: Literal["production", "sandbox"] = "production"
    realm_id: str | None = Field(default=None, description="company id; set by `connector auth`")
    minor_version: int = Field(default=75, ge=75)
    api_url: str | None = Field(default=None, description="override, e.g. a local test server")
    discovery_url: str | None = Field(default=None, description="override of the OAuth discovery")
    redirect_uri: str = "http://127.0.0.1:8725/callback"
    retry_first_wait: float = Field(default=1.0, gt=0, le=60, description="seconds")
    retry_max_wait: float = Field(default=30.0, gt=0, le=600, description="seconds")

    @property
    def discovery(self) -> str:
        return self.discovery_url or DISCOVERY[self.environment]


class StaleObject(SkippableLedgerError):
    """5010: someone changed the object since we read it; read it again and retry once."""


class DuplicateDocNumber(SkippableLedgerError):
    """6140: an invoice with this DocNumber exists; it is ours, look it up."""


class AuthExpired(FatalLedgerError):
    """401 from the API: refresh the access token once and try again."""


def classify(exc: BaseException) -> Exception:
    """Translate an SDK or transport error into the connector's error tree."""
    if isinstance(exc, requests.exceptions.RequestException):
        return RetriableLedgerError(f"QuickBooks did not answer: {type(exc).__name__}")
    if isinstance(exc, AuthClientError):
        if exc.status_code >= 500 or exc.status_code == 429:
            return RetriableLedgerError(f"QuickBooks sign-in service error {exc.status_code}")
        return FatalLedgerError(
            "QuickBooks refused the stored connection (the refresh token is expired or was "
            "revoked); reconnect with `connector auth quickbooks --config FILE`"
        )
    if not isinstance(exc, QuickbooksException):
        return exc if isinstance(exc, Exception) else RuntimeError(str(exc))
    code = int(exc.error_code or 0)
    text = f"{exc.message} {exc.detail or ''}".strip()
    if code == 401:
        return AuthExpired("QuickBooks rejected the access token")
    if code in (3100, 3200):
        return FatalLedgerError(
            f"QuickBooks refused this app's authorization ({code}): {text}; "
            "reconnect with `connector auth quickbooks --config FILE`"
        )
    if code == 3001 or "status code '429'" in exc.message:
        return RetriableLedgerError(f"QuickBooks is throttling requests: {text}")
    if code >= 10000 and "status code '4" not in exc.message:
        # 5xx: a JSON SystemFault (SevereException), an HTML gateway page ("Error reading json
        # response"), or a bare status. The request may or may not have been applied.
        return RetriableLedgerError(f"QuickBooks server error: {text[:300]}")
    if code == 5010:
        return StaleObject(
            f"QuickBooks says the object changed meanwhile (5010): {text}", code="5010"
        )
    if code == 6140:
        return DuplicateDocNumber(
            f"QuickBooks already has this invoice number (6140): {text}", code="6140"
        )
    if code == 6240:
        return SkippableLedgerError(
            f"the name is already used in QuickBooks by a vendor, employee or another customer "
            f"(6240): {text}; rename one of them",
            code="6240",
        )
    return SkippableLedgerError(f"QuickBooks rejected the request ({code}): {text}", code=str(code))


class QuickBooksSession:
    """Tokens from the keyring, a QuickBooks client, and calls with retries and one re-auth."""

    def __init__(
        self,
        settings: QuickBooksSettings,
        store: TokenStore,
        retry_wait: tuple[float, float] = (1.0, 30.0),
        attempts: int = 5,
    ):
        self.settings = settings
        self.store = store
        self.retry_wait = retry_wait
        self.attempts = attempts
        self._auth: AuthClient | None = None
        self._client: QuickBooks | None = None
        self.calls = 0  # API calls made, for the benchmark
        if settings.api_url and urlparse(settings.api_url).hostname in ("127.0.0.1", "localhost"):
            # requests-oauthlib refuses plain http; allow it for a server on this machine only.
            os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"

    # -- tokens --------------------------------------------------------------------------------

    def auth_client(self, tokens: TokenSet) -> AuthClient:
        if self._auth is None:
            try:
                self._auth = AuthClient(
                    tokens.client_id,
                    tokens.client_secret,
                    self.settings.redirect_uri,
                    self.settings.discovery,
                )
            except requests.exceptions.RequestException as exc:
                raise classify(exc) from None
            self.calls += 1  # the discovery document
        return self._auth

    def tokens(self) -> TokenSet:
        tokens = self.store.require()
        if not tokens.access_valid():
            tokens = self.refresh(tokens)
        return tokens

    def refresh(self, tokens: TokenSet) -> TokenSet:
        """Rotate the tokens; the new set is in the keyring before anything uses it."""
        auth = self.auth_client(tokens)
        self._retrying(lambda: auth.refresh(refresh_token=tokens.refresh_token))
        fresh = tokens.rotated(
            auth.access_token, auth.expires_in, auth.refresh_token, auth.x_refresh_token_expires_in
        )
        self.store.save(fresh)
        self._client = None
        return fresh

    def client(self) -> QuickBooks:
        if self._client is None:
            tokens = self.tokens()
            auth = self.auth_client(tokens)
            auth.access_token = tokens.access_token
            auth.refresh_token = tokens.refresh_token
            realm = self.settings.realm_id or tokens.company_id
            if not realm:
                raise FatalLedgerError(
                    "no QuickBooks company (realm id) is known for this "
                    "business; run `connector auth quickbooks --config FILE`"
                )
            client = QuickBooks(
                auth_client=auth,
                refresh_token=tokens.refresh_token,
                company_id=realm,
                minorversion=self.settings.minor_version,
            )
            client.use_decimal = True  # amounts arrive as Decimal, never float
            if self.settings.api_url:
                client.api_url_v3 = client.sandbox_api_url_v3 = self.settings.api_url.rstrip("/")
            self._client = client
        return self._client

    def url(self, path: str) -> str:
        client = self.client()
        return f"{client.api_url}/company/{client.company_id}/{path}"

    # -- calls ---------------------------------------------------------------------------------

    def call(self, fn: Callable[[QuickBooks], T]) -> T:
        """Run `fn(client)`: retriable errors back off and retry; a 401 refreshes once."""
        return refresh_once(
            lambda: self._with_retries(fn), AuthExpired, lambda: self.refresh(self.store.require())
        )

    def _with_retries(self, fn: Callable[[QuickBooks], T]) -> T:
        return self._retrying(lambda: fn(self.client()))

    def _retrying(self, fn: Callable[[], T]) -> T:
        """One API call, classified; retriable failures back off and try again."""
        retrying = Retrying(
            retry=retry_if_exception_type(RetriableLedgerError),
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential_jitter(
                multiplier=self.retry_wait[0], max=self.retry_wait[1], jitter=self.retry_wait[0]
            ),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                self.calls += 1
                try:
                    return fn()
                except (
                    QuickbooksException,
                    AuthClientError,
                    requests.exceptions.RequestException,
                ) as exc:
                    raise classify(exc) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.call(lambda c: c.get(self.url(path), params=dict(params or {})))

    def post(
        self,
        path: str,
        body: str,
        params: dict[str, Any] | None = None,
        request_id: str | None = None,
        content_type: str = "application/json",
    ) -> Any:
        return self.call(
            lambda c: c.post(
                self.url(path),
                body,
                params=dict(params or {}),
                request_id=request_id,
                content_type=content_type,
            )
        )

    def query(self, select: str) -> dict[str, Any]:
        result = self.post("query", select, content_type="application/text")
        return result.get("QueryResponse", {})


def escape(value: str) -> str:
    """A string literal for the QuickBooks query language: quotes escaped with a backslash."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
