"""A python-quickbooks client with its tokens kept in the keyring, and QuickBooks errors sorted
by what the engine should do next.

python-quickbooks raises by exception class in ways that mislead (throttling 3001 arrives as a
ValidationException, 5010 and 6140 as the base class, gateway 429/5xx as code 10000), so errors
are classified here by code and HTTP status text, never by class.

Tokens: the answer to every refresh is saved to the keyring before the new access token is
used. A refresh whose answer never arrives is sent again with the same refresh token: Intuit
keeps a replaced refresh token valid for 24 hours after it hands out the new one, and answers it
with the connection's tokens (see connector_sandbox/quickbooks_oauth.py for the sources), so
neither a lost answer nor a run killed anywhere in the refresh needs a new sign-in, as long as
the next attempt comes within those 24 hours. After that Intuit refuses the old token and only
`connector auth quickbooks` helps; the message says so.

Limits: each API call first draws from the company's rate budget (500 a minute, 10 a second,
10 at once; `connector.budgets`), shared by every business of the company in this process, or
by the whole fleet when the state is on PostgreSQL, so QuickBooks' 429 is the exception.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from typing import Any, Literal, TypeVar

import requests
from intuitlib.client import AuthClient
from intuitlib.exceptions import AuthClientError
from pydantic import BaseModel, ConfigDict, Field
from quickbooks import QuickBooks
from quickbooks.exceptions import QuickbooksException
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from connector import budgets
from connector.adapters.oauth_retry import refresh_once
from connector.adapters.plain_http import LoopbackOAuth2Session, loopback_origin
from connector.adapters.quickbooks.discovery import CachedAuthClient
from connector.credentials import TokenSet, TokenStore
from connector.errors import (
    FatalLedgerError,
    LedgerError,
    RetriableLedgerError,
    SkippableLedgerError,
)

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
    # The company's rate budget, drawn before each call (connector/budgets.py names the
    # sources): lower it for a company other apps call too.
    calls_per_minute: int = Field(default=500, ge=1, le=500)
    calls_per_second: int = Field(default=10, ge=1, le=10)
    calls_at_once: int = Field(default=10, ge=1, le=10)

    @property
    def discovery(self) -> str:
        return self.discovery_url or DISCOVERY[self.environment]

    def budget(self, realm: str) -> budgets.Budget:
        """The realm's budget: 500 a minute, 10 a second, 10 at once ([QBO-THR16],
        [QBO-CHG25] in ledger-apis.md)."""
        return budgets.Budget(
            f"quickbooks realm {realm}",
            (budgets.minute(self.calls_per_minute), budgets.second(self.calls_per_second)),
            self.calls_at_once,
        )


class StaleObject(SkippableLedgerError):
    """5010: someone changed the object since we read it; read it again and retry once."""


class DuplicateDocNumber(SkippableLedgerError):
    """6140: an invoice with this DocNumber exists; it is ours, look it up."""


class AuthExpired(FatalLedgerError):
    """401 from the API: refresh the access token once and try again."""


RECONNECT = "reconnect with `connector auth quickbooks --config FILE`"
KEYS_REFUSED = (
    "QuickBooks refused this app's client ID or secret (invalid_client): the ones stored for "
    "this business are wrong, or were changed in the Intuit developer portal (your app, Keys "
    "and credentials); run `connector auth quickbooks --config FILE`, which asks for them again"
)
GRANT_REFUSED = (
    "QuickBooks no longer accepts the stored refresh token (invalid_grant): the app was "
    "disconnected in QuickBooks, the token went unused for 100 days or reached Intuit's "
    "five-year limit, or the answer to a refresh more than 24 hours ago never reached the "
    "keyring (lost on the way, or the run was killed before saving it) and Intuit retires a "
    "replaced token 24 hours after issuing the new one; none of these can be undone without "
    "signing in again: " + RECONNECT
)
ANSWER_LOST = (
    "QuickBooks' answer to a token refresh did not arrive, and asked again, Intuit no longer "
    "accepts the refresh token that was sent (invalid_grant): the new token was only in the lost "
    "answer, and Intuit keeps a replaced refresh token for 24 hours at most; this cannot be "
    "undone without signing in again: " + RECONNECT
)


def oauth_error(exc: AuthClientError) -> str:
    """The OAuth error code of a token-endpoint refusal (invalid_grant, invalid_client...)."""
    try:
        body = json.loads(exc.content or b"{}")
    except ValueError:
        return ""
    return str(body.get("error") or "") if isinstance(body, dict) else ""


def classify(exc: BaseException) -> Exception:
    """Translate an SDK or transport error into the connector's error tree."""
    if isinstance(exc, requests.exceptions.RequestException):
        return RetriableLedgerError(f"QuickBooks did not answer: {type(exc).__name__}")
    if isinstance(exc, AuthClientError):
        return _sign_in_error(exc)
    if isinstance(exc, QuickbooksException):
        return _api_error(exc)
    return exc if isinstance(exc, Exception) else RuntimeError(str(exc))


def _sign_in_error(exc: AuthClientError) -> LedgerError:
    """A refusal from Intuit's token endpoint: its OAuth error code says which."""
    if exc.status_code >= 500 or exc.status_code == 429:
        return RetriableLedgerError(f"QuickBooks sign-in service error {exc.status_code}")
    error = oauth_error(exc)
    if error == "invalid_client":
        return FatalLedgerError(KEYS_REFUSED, code=error)
    if error == "invalid_grant":
        return FatalLedgerError(GRANT_REFUSED, code=error)
    return FatalLedgerError(
        f"QuickBooks' sign-in service refused the token refresh ({exc.status_code} "
        f"{error or 'without a reason'}); {RECONNECT}",
        code=error or str(exc.status_code),
    )


# Data-service codes that need more than "rejected": the class and what the message says.
_DATA_FAULTS: dict[int, tuple[type[SkippableLedgerError], str]] = {
    5010: (StaleObject, "QuickBooks says the object changed meanwhile (5010): {text}"),
    6140: (DuplicateDocNumber, "QuickBooks already has this invoice number (6140): {text}"),
    6240: (
        SkippableLedgerError,
        "the name is already used in QuickBooks by a vendor, employee or another customer "
        "(6240): {text}; rename one of them",
    ),
}


def _api_error(exc: QuickbooksException) -> LedgerError:
    """An API answer, sorted by its code and the HTTP status text python-quickbooks leaves in
    the message (module docstring)."""
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
    kind, message = _DATA_FAULTS.get(
        code, (SkippableLedgerError, "QuickBooks rejected the request ({code}): {text}")
    )
    return kind(message.format(code=code, text=text), code=str(code))


class QuickBooksSession:
    """Tokens from the keyring, a QuickBooks client, and calls with retries and one re-auth."""

    def __init__(
        self,
        settings: QuickBooksSettings,
        store: TokenStore,
        retry_wait: tuple[float, float] = (1.0, 30.0),
        attempts: int = 5,
        on_request: Callable[[str], None] | None = None,
    ):
        """`on_request` is told of each HTTP request this session sends: "discovery" (once a
        process, `discovery`), "token" or "api" (a benchmark or a test counts them; the
        session keeps no count)."""
        self.settings = settings
        self.store = store
        self.retry_wait = retry_wait
        self.attempts = attempts
        self.on_request = on_request or _unheard
        self.budgets: budgets.Budgets | None = None  # None: the process's (budgets.current)
        self._auth: AuthClient | None = None
        self._client: QuickBooks | None = None
        # Plain HTTP only to this session's own server on this machine (`plain_http`), never
        # through OAUTHLIB_INSECURE_TRANSPORT, which would allow it for every business.
        self.plain_http_to = loopback_origin(settings.api_url)

    # -- tokens --------------------------------------------------------------------------------

    def auth_client(self, tokens: TokenSet) -> AuthClient:
        if self._auth is None:
            try:
                self._auth = CachedAuthClient(
                    tokens.client_id,
                    tokens.client_secret,
                    self.settings.redirect_uri,
                    self.settings.discovery,
                    on_fetch=lambda: self.on_request("discovery"),
                )
            except requests.exceptions.RequestException as exc:
                raise classify(exc) from None
        return self._auth

    def tokens(self) -> TokenSet:
        tokens = self.store.require()
        if not tokens.access_valid():
            tokens = self.refresh(tokens)
        return tokens

    def refresh(self, tokens: TokenSet) -> TokenSet:
        """New tokens for `tokens`; the answer is in the keyring before anything uses it.

        An attempt whose answer is lost is made again with the same refresh token, which Intuit
        accepts for 24 hours after it replaced it (module docstring); so is the next run's, if
        this one is killed before the answer is saved."""
        auth = self.auth_client(tokens)
        unanswered = 0

        def attempt() -> None:
            nonlocal unanswered
            self.checkpoint("before:token-refresh")
            try:
                auth.refresh(refresh_token=tokens.refresh_token)
            except requests.exceptions.RequestException:
                unanswered += 1
                raise

        try:
            self._retrying(attempt, "token")
        except FatalLedgerError as exc:
            if exc.code == "invalid_client":
                self._keys_refused(tokens)
            if exc.code == "invalid_grant" and unanswered:
                raise FatalLedgerError(ANSWER_LOST, code=exc.code) from None
            raise
        self.checkpoint("after:token-refresh")
        fresh = tokens.rotated(
            auth.access_token, auth.expires_in, auth.refresh_token, auth.x_refresh_token_expires_in
        )
        self.store.save(fresh)
        self.checkpoint("after:token-save")
        self._client = None
        return fresh

    def checkpoint(self, step: str) -> None:
        """Between the steps of a token refresh. Tests replace it to kill the process there
        and prove that the next run needs no new sign-in."""

    def _keys_refused(self, tokens: TokenSet) -> None:
        """Remember that Intuit refused these keys, so `connector auth` asks for new ones
        instead of reusing them; the refresh token is kept (it is not what was refused)."""
        if not tokens.keys_refused:
            self.store.save(replace(tokens, keys_refused=True))

    def realm(self) -> str:
        """The company's realm id, as `client` will use it; asks QuickBooks nothing."""
        return self.settings.realm_id or self.store.require().company_id

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
            if self.plain_http_to:
                client.session = LoopbackOAuth2Session(
                    self.plain_http_to, auth.client_id, dict(client.session.token)
                )
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

    def call_once(self, fn: Callable[[QuickBooks], T]) -> T:
        """`call`, tried once: for a request QuickBooks cannot replay by requestid (a send),
        whose caller checks what happened before trying again. A 401 still refreshes once."""
        return refresh_once(
            lambda: self._retrying(lambda: fn(self.client()), attempts=1),
            AuthExpired,
            lambda: self.refresh(self.store.require()),
        )

    def _with_retries(self, fn: Callable[[QuickBooks], T]) -> T:
        return self._retrying(lambda: fn(self.client()))

    def _retrying(self, fn: Callable[[], T], what: str = "api", attempts: int = 0) -> T:
        """One API call, classified; retriable failures back off and try again (up to
        `attempts`, or the session's own number). An API call first draws from the company's
        rate budget (waiting there rather than being refused by QuickBooks); a budget still
        full after the wait allowed is not retried here."""
        retrying = Retrying(
            retry=retry_if_exception(_again),
            stop=stop_after_attempt(attempts or self.attempts),
            wait=wait_exponential_jitter(
                multiplier=self.retry_wait[0], max=self.retry_wait[1], jitter=self.retry_wait[0]
            ),
            reraise=True,
        )
        for attempt in retrying:
            with attempt, self._budget(what):
                self.on_request(what)
                try:
                    return fn()
                except (
                    QuickbooksException,
                    AuthClientError,
                    requests.exceptions.RequestException,
                ) as exc:
                    raise classify(exc) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _budget(self, what: str) -> AbstractContextManager[float]:
        if what != "api":  # sign-in is Intuit's OAuth service, outside the company's limits
            return nullcontext(0.0)
        store = self.budgets or budgets.current()
        realm = self._client.company_id if self._client is not None else self.realm()
        return store.draw([self.settings.budget(realm)])

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

    def query(self, select: str, include: str | None = None) -> dict[str, Any]:
        """`include=invoiceLink` brings Invoice.InvoiceLink back, which QuickBooks leaves out
        of query answers otherwise (minorversion 36 or later; Invoice reference, InvoiceLink,
        and Intuit's answer quoted in python-quickbooks#241)."""
        params = {"include": include} if include else None
        result = self.post("query", select, params=params, content_type="application/text")
        return result.get("QueryResponse", {})


def _again(exc: BaseException) -> bool:
    return isinstance(exc, RetriableLedgerError) and not isinstance(exc, budgets.BudgetFull)


def _unheard(what: str) -> None:
    """No one is told of the session's requests."""


def escape(value: str) -> str:
    """A string literal for the QuickBooks query language: quotes escaped with a backslash."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
