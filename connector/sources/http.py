"""The HTTP layer the tracker sources share: one `requests` session per source, retries that obey
the tracker, paginators that cannot loop, conditional GETs, and errors that say what happens
next: a tracker still down or throttling after the retries is a `RetriableTrackerError` (the
next run reads it again), any other refusal a `FatalTrackerError` (a person must act).

Plain `requests` rather than the vendor SDKs: each tracker needs one to three read endpoints, and
the SDKs hide the headers this module lives on (`Retry-After`, `x-ratelimit-reset`, `ETag`). It
must never log or cache a credential: cache keys are URLs (tokens travel in headers only) and
cached values are response bodies.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import requests
from pydantic import BaseModel, ConfigDict, Field
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from connector.errors import (
    FatalTrackerError,
    PageTokenExpired,
    RetriableTrackerError,
    TrackerError,
)


def loads(text: str | bytes) -> Any:
    """JSON with every non-integer number as Decimal: a tracker's 33.33 never becomes a float."""
    return json.loads(text, parse_float=Decimal)


class TrackerSettings(BaseModel):
    """The settings every tracker section shares: how long one request may take, and the
    longest wait the tracker may ask for before the run gives up instead of sleeping."""

    model_config = ConfigDict(extra="forbid")

    timeout: float = Field(default=30.0, gt=0, le=300, description="seconds per request")
    max_wait: float = Field(default=60.0, ge=0, le=3600, description="longest back-off, seconds")


class HttpCache(Protocol):
    """ETag store; the state database provides the real one (`State.http_cache`)."""

    def get(self, key: str) -> tuple[str, str] | None: ...

    def put(self, key: str, etag: str, body: str) -> None: ...


class MemoryHttpCache:
    """An ETag store for one process: what a source uses until the engine hands it the state
    database's (a nightly run in a new process then pays for full reads)."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[str, str]] = {}

    def get(self, key: str) -> tuple[str, str] | None:
        return self.entries.get(key)

    def put(self, key: str, etag: str, body: str) -> None:
        self.entries[key] = (etag, body)


@dataclass(frozen=True)
class Page:
    data: Any
    next_url: str | None = None  # the Link header's rel="next"
    status: int = 200  # 304 when the body came from the ETag cache


def vendor_message(body: Any) -> tuple[str | None, str | None]:
    """(message, code) from GitHub's `message`/`errors[]`, Jira's `errorMessages`/`errors{}`
    or Asana's `errors[{message}]` bodies."""
    if not isinstance(body, dict):
        return None, None
    parts: list[str] = []
    if isinstance(body.get("message"), str):
        parts.append(body["message"])
    parts += [m for m in body.get("errorMessages") or [] if isinstance(m, str)]
    errors = body.get("errors")
    code = None
    if isinstance(errors, dict):
        parts += [f"{k}: {v}" for k, v in errors.items()]
    elif isinstance(errors, list):
        for e in errors:
            if isinstance(e, dict):
                text = e.get("message") or e.get("code")
                if text:
                    parts.append(str(text))
                code = code or e.get("phrase") or e.get("code")
    return ("; ".join(parts) or None), code


def wait_seconds(response: requests.Response, now: datetime | None = None) -> float | None:
    """How long the tracker asked us to wait: `Retry-After` (seconds or an HTTP date), else
    Jira's `X-RateLimit-Reset` (an ISO time: the request's time plus the wait), else GitHub's
    `x-ratelimit-reset` (epoch seconds), but only when `x-ratelimit-remaining` is 0: GitHub
    sends the hourly window's end on every answer, and a 429 with quota left (a secondary
    limit without retry-after) must back off briefly, not wait for the window to end."""
    now = now or datetime.now(UTC)
    told = response.headers.get("Retry-After")
    if told:
        if told.strip().isdigit():
            return float(told.strip())
        try:
            return max(0.0, (parsedate_to_datetime(told) - now).total_seconds())
        except (TypeError, ValueError):
            pass
    reset = (response.headers.get("X-RateLimit-Reset") or "").strip()
    if not reset:
        return None
    if reset.isdigit():
        if response.headers.get("X-RateLimit-Remaining", "").strip() != "0":
            return None
        when = datetime.fromtimestamp(int(reset), UTC)
    else:
        try:
            when = datetime.fromisoformat(reset.replace("Z", "+00:00"))
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _throttled(response: requests.Response) -> bool:
    """429 anywhere. GitHub also answers 403 when the hourly quota is spent (remaining 0) and
    for a secondary rate limit (with `Retry-After`); any other 403 is a refusal."""
    if response.status_code == 429:
        return True
    return response.status_code == 403 and (
        response.headers.get("x-ratelimit-remaining") == "0"
        or bool(response.headers.get("Retry-After"))
    )


class TrackerHttp:
    """One tracker's session. `auth_hint` is what a person must do when the token is refused."""

    def __init__(
        self,
        tracker: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        auth_hint: str = "",
        timeout: float = 30.0,
        attempts: int = 5,
        first_wait: float = 1.0,
        max_wait: float = 60.0,
    ):
        self.tracker = tracker
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers.update(headers or {})
        if auth is not None:
            self.session.auth = auth
        self.auth_hint = auth_hint
        self.timeout = timeout
        self.attempts = attempts
        self.first_wait = first_wait
        self.max_wait = max_wait
        self.cache: HttpCache | None = None
        self.calls = 0  # requests sent, retries included

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.base_url + path

    # -- one request, retried ------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send, backing off on 429/5xx/dropped connections as long as the tracker's requested
        wait fits under `max_wait`; any other failure is raised at once."""
        retrying = Retrying(
            retry=retry_if_exception(self._worth_waiting),
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            sleep=time.sleep,
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                return self._send(method, self.url(path), **kwargs)
        raise AssertionError("unreachable")  # pragma: no cover

    def _worth_waiting(self, exc: BaseException) -> bool:
        return isinstance(exc, RetriableTrackerError) and (
            exc.retry_after is None or exc.retry_after <= self.max_wait
        )

    def _wait(self, state: Any) -> float:
        exc = state.outcome.exception() if state.outcome else None
        told = getattr(exc, "retry_after", None)
        if told is not None:
            return min(float(told), self.max_wait)
        backoff = wait_exponential_jitter(
            multiplier=self.first_wait, max=self.max_wait, jitter=self.first_wait
        )
        return backoff(state)

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        self.calls += 1
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise RetriableTrackerError(
                f"could not reach {url.split('?')[0]}: {exc}", tracker=self.tracker
            ) from None
        if response.status_code < 400 or response.status_code == 304:
            return response
        raise self.error(response)

    def error(self, response: requests.Response) -> TrackerError:
        status = response.status_code
        try:
            message, code = vendor_message(loads(response.text))
        except ValueError:
            message, code = None, None
        message = message or response.reason or "no message"
        if _throttled(response):
            wait = wait_seconds(response)
            when = f"; it asked for {wait:.0f}s" if wait is not None else ""
            return RetriableTrackerError(
                f"rate limited: {message}{when}",
                tracker=self.tracker,
                status=status,
                vendor_code=code,
                retry_after=wait,
            )
        if status >= 500:
            return RetriableTrackerError(
                message, tracker=self.tracker, status=status, vendor_code=code
            )
        if status == 401 and self.auth_hint:
            message = f"the token was refused ({message}); {self.auth_hint}"
        return FatalTrackerError(message, tracker=self.tracker, status=status, vendor_code=code)

    # -- JSON calls ----------------------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Page:
        response = self.request("GET", path, params=params)
        return self._page(response)

    def post(self, path: str, body: Any) -> Page:
        response = self.request("POST", path, json=body)
        return self._page(response)

    def get_conditional(self, path: str, params: Mapping[str, Any] | None = None) -> Page:
        """A GET that sends the stored ETag: an unchanged resource costs a 304 and its body
        comes from the cache (with the Link it was served with)."""
        if self.cache is None:
            return self.get(path, params)
        key = requests.Request("GET", self.url(path), params=params).prepare().url or path
        cached = self.cache.get(key)
        headers = {"If-None-Match": cached[0]} if cached else {}
        response = self.request("GET", path, params=params, headers=headers)
        if response.status_code == 304 and cached:
            stored = json.loads(cached[1])
            return Page(loads(stored["body"]), stored.get("next"), 304)
        page = self._page(response)
        etag = response.headers.get("ETag")
        if etag:
            self.cache.put(key, etag, json.dumps({"body": response.text, "next": page.next_url}))
        return page

    def _page(self, response: requests.Response) -> Page:
        try:
            data = loads(response.text) if response.text else None
        except ValueError:
            raise FatalTrackerError(
                f"answered {response.url.split('?')[0]} with something that is not JSON",
                tracker=self.tracker,
                status=response.status_code,
            ) from None
        nxt = response.links.get("next", {}).get("url")
        return Page(data, nxt, response.status_code)

    # -- paginators ----------------------------------------------------------------------------

    def link_pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[Page]:
        """Follow `Link: rel="next"` (GitHub), conditionally; a link seen twice is an error."""
        seen: set[str] = set()
        page = self.get_conditional(path, params)
        while True:
            yield page
            if page.next_url is None:
                return
            if page.next_url in seen:
                raise FatalTrackerError(
                    f"the next-page link repeats: {page.next_url}", tracker=self.tracker
                )
            seen.add(page.next_url)
            page = self.get_conditional(page.next_url)

    def token_pages(
        self, fetch: Callable[[str | None], Page], token_of: Callable[[Any], str | None]
    ) -> Iterator[Page]:
        """Pages whose body names the next one (Jira `nextPageToken`, Asana
        `next_page.offset`); the same token twice raises instead of looping forever."""
        seen: set[str] = set()
        token: str | None = None
        while True:
            page = fetch(token)
            yield page
            token = token_of(page.data)
            if not token:
                return
            if token in seen:
                raise FatalTrackerError(
                    "returned the same page token twice; stopped instead of looping",
                    tracker=self.tracker,
                )
            seen.add(token)

    def all_token_pages(
        self,
        fetch: Callable[[str | None], Page],
        token_of: Callable[[Any], str | None],
        items_of: Callable[[Any], list[Any]],
    ) -> list[Any]:
        """Every item of a token-paged listing. When `fetch` raises `PageTokenExpired` the
        listing starts again once (a restart only re-reads what it had); a second expiry in a
        row is an error rather than a loop."""
        for attempt in (1, 2):
            items: list[Any] = []
            try:
                for page in self.token_pages(fetch, token_of):
                    items += items_of(page.data)
            except PageTokenExpired as exc:
                if attempt == 2:
                    raise RetriableTrackerError(
                        f"the listing's page token expired twice in a row ({exc.detail})",
                        tracker=self.tracker,
                    ) from None
                continue
            return items
        raise AssertionError("unreachable")  # pragma: no cover
