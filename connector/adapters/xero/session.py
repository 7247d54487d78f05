"""A xero-python client with its tokens kept in the keyring and Xero's rate limits obeyed; its
errors are sorted by what the engine should do next in `errors`.

Tokens: the SDK refreshes an access token 60 s before it expires and hands the rotated set to
our token saver, which writes it to the keyring before the SDK uses the new access token, so a
crash between the two never leaves only a spent refresh token behind. Xero's refusal of the
app's keys (invalid_client, a 400 that `errors` would file as a rejected request) stops
the run and marks the keys, so that `connector auth xero` asks for them again. The tenant is pinned:
the config's `tenant_id` and the tenant the connection was made for must agree.

Limits: Xero allows 60 calls a minute and 5,000 a day per organisation. A minute refusal (429,
`X-Rate-Limit-Problem: minute`) is waited out for `Retry-After` seconds; the day limit stops
this business's run with `DayLimitReached`, and the next run resumes where this one stopped.
Before that, each call draws from the organisation's and the app's rate budgets (60 a minute,
5,000 a day, 5 at once per organisation; 10,000 a minute per app: `connector.budgets`), shared
by this process's businesses or, with the state on PostgreSQL, the whole fleet: a call waits
there instead of being refused, and a day budget spent stops the run as Xero's 429 would.

Server errors: a read is retried. A write is not retried here: Xero caches a 500 under the
request's Idempotency-Key for 6 minutes, so the same request would only get the same 500 back.
The adapter looks up what landed and sends the rest under a new key (`after_server_errors`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

import urllib3
from pydantic import BaseModel, ConfigDict, Field
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)
from xero_python.accounting import AccountingApi
from xero_python.api_client import Configuration
from xero_python.api_client.oauth2 import OAuth2Token
from xero_python.exceptions import ApiException, HTTPStatusException, OAuth2Error
from xero_python.identity import IdentityApi

from connector import budgets
from connector.adapters.oauth_retry import refresh_once
from connector.adapters.xero.errors import (
    RECONNECT,
    AuthExpired,
    MinuteLimit,
    ServerError,
    classify,
    day_limit_reached,
)
from connector.adapters.xero.lenient import Unreadable
from connector.adapters.xero.wire import DecimalApiClient
from connector.credentials import CompanyFacts, TokenSet, TokenStore
from connector.errors import FatalLedgerError, RetriableLedgerError, SkippableLedgerError
from connector.jsonwire import loads

T = TypeVar("T")

logging.getLogger("xero_python").setLevel(logging.WARNING)  # its debug lines carry tokens
logging.getLogger("urllib3").setLevel(logging.WARNING)

REFRESH_TTL = timedelta(days=60)  # a Xero refresh token lapses after 60 days unused
SCOPES = [
    "offline_access",
    "accounting.invoices",
    "accounting.payments",
    "accounting.contacts",
    "accounting.settings.read",
]
XERO_API = "https://api.xero.com"
KEYS_REFUSED = (
    "Xero refused this app's client ID or secret (invalid_client): the ones stored for this "
    "business are wrong, or the secret was regenerated at developer.xero.com (My Apps, "
    "Configuration); run `connector auth xero --config FILE`, which asks for them again"
)


def oauth_error(exc: BaseException) -> str:
    """The OAuth error code (invalid_client, invalid_grant...) of a refusal by Xero's token
    endpoint; "" for anything else."""
    if not isinstance(exc, HTTPStatusException):
        return ""
    status = exc.status if isinstance(exc.status, int) else getattr(exc.http_resp, "status", 0)
    if status not in (400, 401):
        return ""
    try:
        body = loads(exc.body or b"{}")
    except ValueError:
        return ""
    return str(body.get("error") or "") if isinstance(body, dict) else ""


class XeroSettings(BaseModel):
    """`[ledger] kind = "xero"`. No secrets here: they live in the keyring."""

    model_config = ConfigDict(extra="forbid")

    tenant_id: str | None = Field(
        default=None, description="the organisation; set by `connector auth xero` when absent"
    )
    account_code: str | None = Field(
        default=None, description="sales account for invoice lines; default: the item's account"
    )
    tax_type: str | None = Field(default=None, description="line TaxType, e.g. OUTPUT or NONE")
    line_amount_types: Literal["Exclusive", "Inclusive", "NoTax"] = "NoTax"
    invoice_status: Literal["AUTHORISED", "DRAFT"] = "AUTHORISED"
    api_url: str = "https://api.xero.com/api.xro/2.0"
    identity_url: str = Field(default=XERO_API, description="where /connections is served")
    token_url: str | None = Field(
        default=None, description="default: Xero's, or identity_url's when that is overridden"
    )
    authorize_url: str | None = Field(
        default=None, description="default: Xero's, or identity_url's when that is overridden"
    )
    redirect_uri: str = "http://localhost:8725/callback"
    scopes: list[str] = Field(default_factory=lambda: list(SCOPES))
    retry_first_wait: float = Field(default=1.0, gt=0, le=60, description="seconds")
    retry_max_wait: float = Field(default=30.0, gt=0, le=600, description="seconds")
    max_rate_wait: float = Field(
        default=65.0, gt=0, le=600, description="longest wait for Xero's minute limit"
    )
    # The organisation's and the app's rate budgets, drawn before each call ([X-LIM] in
    # ledger-apis.md, connector/budgets.py): 1,000 a day on Xero's Starter plan.
    calls_per_minute: int = Field(default=60, ge=1, le=60)
    calls_per_day: int = Field(default=5000, ge=1, le=5000)
    calls_at_once: int = Field(default=5, ge=1, le=5)
    app_calls_per_minute: int = Field(default=10000, ge=1, le=10000)

    def budgets(self, tenant: str, client_id: str) -> list[budgets.Budget]:
        """The organisation's budget and the app's, across all its organisations."""
        return [
            budgets.Budget(
                f"xero tenant {tenant}",
                (budgets.minute(self.calls_per_minute), budgets.day(self.calls_per_day)),
                self.calls_at_once,
            ),
            budgets.Budget(
                budgets.app_key("xero", client_id), (budgets.minute(self.app_calls_per_minute),)
            ),
        ]

    @property
    def token_endpoint(self) -> str:
        """A server standing in for Xero (identity_url overridden) serves sign-in too."""
        if self.token_url:
            return self.token_url
        if self.identity_url.rstrip("/") != XERO_API:
            return self.identity_url.rstrip("/") + "/connect/token"
        return "https://identity.xero.com/connect/token"

    @property
    def authorize_endpoint(self) -> str:
        if self.authorize_url:
            return self.authorize_url
        if self.identity_url.rstrip("/") != XERO_API:
            return self.identity_url.rstrip("/") + "/identity/connect/authorize"
        return "https://login.xero.com/identity/connect/authorize"


class _Token(OAuth2Token):
    """The SDK's token, refreshed at our token URL (the SDK keeps it in a class attribute)."""

    def __init__(self, client_id: str, client_secret: str, token_url: str):
        super().__init__(client_id=client_id, client_secret=client_secret)
        self.token_url = token_url

    def call_refresh_token_api(self, token_api: Any) -> Any:
        token_api.refresh_token_url = self.token_url
        return super().call_refresh_token_api(token_api)


class XeroSession:
    """Tokens from the keyring, xero-python clients, and calls with retries and limits."""

    def __init__(
        self,
        settings: XeroSettings,
        store: TokenStore,
        retry_wait: tuple[float, float] = (1.0, 30.0),
        attempts: int = 5,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 60.0,
        on_request: Callable[[str], None] | None = None,
    ):
        """`on_request` is told of each HTTP request this session sends: "token" (a refresh,
        told once it is answered: the SDK sends it inside an API call) or "api" (a benchmark
        or a test counts them; the session keeps no count)."""
        self.settings = settings
        self.store = store
        self.retry_wait = retry_wait
        self.attempts = attempts
        self.sleep = sleep
        self.timeout = timeout
        self.on_request = on_request or _unheard
        self.day_remaining: int | None = None  # from X-DayLimit-Remaining: 0 stops the run
        self.budgets: budgets.Budgets | None = None  # None: the process's (budgets.current)
        self._tokens: TokenSet | None = None
        self._company: CompanyFacts | None = None
        self._company_read = False
        self._client: DecimalApiClient | None = None

    # -- tokens --------------------------------------------------------------------------------

    def tokens(self) -> TokenSet:
        if self._tokens is None:
            self._tokens = self.store.require()
            self.known_company()  # from the same parse of a file keyring, before a rotation
        return self._tokens

    def tenant(self) -> str:
        """The pinned organisation: config and keyring must agree."""
        stored = self.tokens().company_id
        configured = self.settings.tenant_id
        if configured and stored and configured != stored:
            raise FatalLedgerError(
                f"the Xero connection in the keyring is for organisation {stored}, but the "
                f"config names {configured}; {RECONNECT}"
            )
        tenant = configured or stored
        if not tenant:
            raise FatalLedgerError(f"no Xero organisation (tenant id) is known; {RECONNECT}")
        return tenant

    def _get_token(self) -> dict[str, Any]:
        tokens = self.tokens()
        expires = (
            datetime.fromisoformat(tokens.access_expires_at).timestamp()
            if tokens.access_token and tokens.access_expires_at
            else 0
        )
        return {
            "access_token": tokens.access_token or "expired",
            "refresh_token": tokens.refresh_token,
            "expires_in": max(0, int(expires - time.time())),
            "expires_at": expires,
            "token_type": "Bearer",
            "scope": list(self.settings.scopes),
        }

    def _save_token(self, token: dict[str, Any]) -> None:
        """The SDK's saver: the rotated set is in the keyring before the SDK uses it."""
        fresh = self.tokens().rotated(
            token["access_token"],
            int(token.get("expires_in") or 1800),
            token.get("refresh_token"),
            int(REFRESH_TTL.total_seconds()),
        )
        self.store.save(fresh)
        self._tokens = fresh
        self.on_request("token")

    def known_company(self) -> CompanyFacts | None:
        """What the organisation is, as the connection keeps it (read once per session); None
        if nothing is kept for this organisation. Its base currency is fixed when the
        organisation is first set up and cannot be changed later (a Xero partner's help:
        xero-help.caltrix.asia, "How to manage foreign currency in Xero"; the Organisation
        endpoint is read-only: shared/specs/xero_accounting.yaml), so it is read once per
        connection, not once a night."""
        if not self._company_read:
            self._company_read = True
            self._company = self.store.company(self.tenant())
        return self._company

    def remember_company(self, name: str, home_currency: str, country: str) -> None:
        """Keep what the organisation is beside the connection, if that changed (a rename, or
        a connection made before the connector kept it): one keyring write, never of the
        token set."""
        facts = CompanyFacts(self.tenant(), name, home_currency, country)
        if self.known_company() == facts:
            return
        connected = self.store.load()
        if connected is None or connected.company_id != facts.company_id:
            return  # signed in to another organisation since this run began: its own
        self.store.keep_company(facts)
        self._company = facts

    def _keys_refused(self) -> None:
        """Xero refused the app's keys: remember it, so that `connector auth xero` asks for
        new ones instead of reusing these (the refresh token is kept; it was not refused)."""
        tokens = self.tokens()
        if not tokens.keys_refused:
            self._tokens = replace(tokens, keys_refused=True)
            self.store.save(self._tokens)

    def expire_access_token(self) -> None:
        """After a 401: make the next call refresh first."""
        tokens = self.tokens()
        past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        self._tokens = replace(tokens, access_expires_at=past)

    def client(self) -> DecimalApiClient:
        if self._client is None:
            tokens = self.tokens()
            config = Configuration()
            # Configuration() hands back a copy of the first one ever made in the process, with
            # that one's token object: every business would refresh with the first app's keys
            # at the first token URL. Each session sets its own.
            config.oauth2_token = _Token(
                tokens.client_id, tokens.client_secret, self.settings.token_endpoint
            )
            self._client = DecimalApiClient(
                config,
                oauth2_token_getter=self._get_token,
                oauth2_token_saver=self._save_token,
                timeout=urllib3.Timeout(connect=10, read=self.timeout),
            )
        return self._client

    def accounting(self) -> AccountingApi:
        return AccountingApi(self.client(), base_url=self.settings.api_url.rstrip("/"))

    def identity(self) -> IdentityApi:
        return IdentityApi(self.client(), base_url=self.settings.identity_url.rstrip("/"))

    # -- calls ---------------------------------------------------------------------------------

    def call(self, fn: Callable[[AccountingApi, str], T], write: bool = False) -> T:
        """Run `fn(api, tenant)`: limits waited out, retriable errors retried, a 401 refreshes
        the access token once. A `write` is not retried after a 5xx (see the module docstring):
        the `ServerError` goes to the caller. Documents its answer leaves out as unreadable
        wait in `take_unreadable` until the next call."""
        tenant = self.tenant()
        if self._client is not None:
            self._client.unreadable = []
        drawn = self.settings.budgets(tenant, self.tokens().client_id)
        return refresh_once(
            lambda: self._retrying(lambda: fn(self.accounting(), tenant), write, drawn),
            AuthExpired,
            self.expire_access_token,
        )

    def after_server_errors(self) -> Retrying:
        """Attempts at a write that Xero answered with a 5xx, backing off between them; the
        caller makes each attempt a new request (a lookup, then what is missing, new key)."""
        first, most = self.retry_wait
        return Retrying(
            retry=retry_if_exception_type(ServerError),
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=first, max=most),
            sleep=self.sleep,
            reraise=True,
        )

    def take_unreadable(self) -> list[Unreadable]:
        """The documents the last call's answer held that could not be read."""
        if self._client is None:
            return []
        taken, self._client.unreadable = self._client.unreadable, []
        return taken

    def only(self, rows: list[Any] | None, what: str) -> Any:
        """The one document an answer for `what` holds; one that could not be read is a
        problem on that item, named, never an IndexError."""
        if rows:
            return rows[0]
        unread = self.take_unreadable()
        why = f": {unread[0]}" if unread else ""
        raise SkippableLedgerError(f"Xero's answer for {what} could not be read{why}")

    def connections(self) -> list[Any]:
        return self._retrying(lambda: self.identity().get_connections())

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, MinuteLimit):
            return min(exc.retry_after, self.settings.max_rate_wait)
        first, most = self.retry_wait
        return float(min(most, first * 2 ** (state.attempt_number - 1)))

    def _stop(self, state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, MinuteLimit):  # waiting for the limit is not a failed attempt
            return state.attempt_number >= self.attempts + 20
        return state.attempt_number >= self.attempts

    def _retrying(
        self, fn: Callable[[], T], write: bool = False, drawn: Sequence[budgets.Budget] = ()
    ) -> T:
        """One call, classified and retried; first drawn from the `drawn` budgets (a budget
        still full after the wait allowed is not retried here: the run is told)."""

        def again(exc: BaseException) -> bool:
            if isinstance(exc, budgets.BudgetFull):
                return False
            return isinstance(exc, RetriableLedgerError) and not (
                write and isinstance(exc, ServerError)
            )

        store = self.budgets or budgets.current()

        retrying = Retrying(
            retry=retry_if_exception(again),
            stop=self._stop,
            wait=self._wait,
            sleep=self.sleep,
            reraise=True,
        )
        for attempt in retrying:
            with attempt, self._drawn(store, drawn):
                if self.day_remaining == 0:
                    raise day_limit_reached()
                self.on_request("api")
                try:
                    result = fn()
                except (ApiException, OAuth2Error, urllib3.exceptions.HTTPError, OSError) as exc:
                    self._note_limits(getattr(exc, "headers", None))
                    if oauth_error(exc) == "invalid_client":
                        self._keys_refused()
                        raise FatalLedgerError(KEYS_REFUSED, code="invalid_client") from None
                    raise classify(exc) from None
                last = getattr(self.client(), "last_response", None)
                self._note_limits(last.getheaders() if last is not None else None)
                return result
        raise AssertionError("unreachable")  # pragma: no cover

    @contextmanager
    def _drawn(self, store: budgets.Budgets, drawn: Sequence[budgets.Budget]) -> Iterator[None]:
        try:
            with store.draw(drawn):
                yield
        except budgets.BudgetFull as exc:
            if exc.window is not None and exc.window.span >= 86400:
                raise day_limit_reached() from None
            raise

    def _note_limits(self, headers: Any) -> None:
        """Remember what Xero says is left of this day's calls. (The minute's allowance is not
        paced ahead: Xero does not say when its window resets, and its 429 does.)"""
        if not headers:
            return
        pairs = headers.items() if hasattr(headers, "items") else headers
        found = {str(k).lower(): str(v) for k, v in pairs}
        value = found.get("x-daylimit-remaining")
        if value is not None and value.isdigit():
            self.day_remaining = int(value)


def _unheard(what: str) -> None:
    """No one is told of the session's requests."""
