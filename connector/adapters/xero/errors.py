"""Xero's answers sorted by what the engine does next: a 401 refreshes once, a minute limit
is waited out, the day limit stops the business's run, a 5xx is retried (for a write, under a
new key, see `session`), a reused key with another body is looked up, anything else Xero
refuses is recorded on the item with Xero's own words.
"""

from __future__ import annotations

import urllib3
from xero_python.exceptions import ApiException, HTTPStatusException, OAuth2Error

from connector.errors import FatalLedgerError, RetriableLedgerError, SkippableLedgerError
from connector.jsonwire import loads

RECONNECT = "reconnect with `connector auth xero --config FILE`"


class AuthExpired(FatalLedgerError):
    """401: the access token was refused; refresh it once and try again."""


class MinuteLimit(RetriableLedgerError):
    """429 for the minute (or concurrency) limit: wait `retry_after` seconds, then go on."""

    def __init__(self, message: str, retry_after: float):
        super().__init__(message, code="429")
        self.retry_after = retry_after


class DayLimitReached(FatalLedgerError):
    """Xero's 5,000 calls a day are spent: stop this business's run; the next one resumes."""


class ServerError(RetriableLedgerError):
    """5xx: retried for a read; for a write Xero has cached it under the Idempotency-Key."""


class IdempotencyConflict(SkippableLedgerError):
    """400: the Idempotency-Key came back with a different request within Xero's 6 minutes."""


class NotFound(SkippableLedgerError):
    pass


def classify(exc: BaseException, where: str = "Xero") -> Exception:
    """Translate an SDK or transport error into the connector's error tree."""
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
        return RetriableLedgerError(f"{where} did not answer: {type(exc).__name__}")
    if isinstance(exc, HTTPStatusException):
        status = int(exc.status if isinstance(exc.status, int) else exc.http_resp.status)
        headers = exc.headers or {}
        text = _error_text(exc)
        if status == 429:
            problem = headers.get("X-Rate-Limit-Problem", "minute")
            if problem == "day":
                return day_limit_reached()
            wait = float(headers.get("Retry-After") or 1)
            return MinuteLimit(f"Xero's {problem} limit is reached; waiting {wait:.0f} s", wait)
        if status == 401:
            return AuthExpired(f"Xero refused the access token: {text}")
        if status == 403:
            return FatalLedgerError(
                f"the stored Xero connection has no access to this organisation ({text}); "
                + RECONNECT
            )
        if status == 404:
            return NotFound("Xero has no such document", code="404")
        if status >= 500:
            return ServerError(f"Xero server error {status}: {text[:300]}", code=str(status))
        if status == 400 and "used with a different request" in text:
            return IdempotencyConflict(text, code="400")
        if status == 400 and "invalid_grant" in text:
            return FatalLedgerError(
                f"Xero refused the stored connection (the refresh token is spent, expired or "
                f"revoked); {RECONNECT}"
            )
        return SkippableLedgerError(
            f"Xero rejected the request ({status}): {text}", code=str(status)
        )
    if isinstance(exc, OAuth2Error | ApiException):
        return FatalLedgerError(f"Xero sign-in failed ({type(exc).__name__}); {RECONNECT}")
    return exc if isinstance(exc, Exception) else RuntimeError(str(exc))


def _error_text(exc: HTTPStatusException) -> str:
    """Xero's own words: validation messages, the error Message, or the problem Detail."""
    try:
        data = loads(exc.body or b"{}")
    except ValueError:
        return (exc.body or b"").decode(errors="replace")[:300]
    if not isinstance(data, dict):
        return str(data)[:300]
    messages = [
        e.get("Message", "")
        for element in data.get("Elements") or []
        for e in element.get("ValidationErrors") or []
    ]
    return "; ".join(m for m in messages if m) or str(
        data.get("Message") or data.get("Detail") or data.get("error") or data
    )


def day_limit_reached() -> DayLimitReached:
    return DayLimitReached(
        "Xero's daily API limit for this organisation is reached; the run stopped here and the "
        "next run resumes where it left off",
        code="429",
    )
