"""Xero's `Idempotency-Key`, as documented: the first answer to a key is replayed for 6 minutes
from the first use, whatever it was (a 500 included: "returned when the request is re-run even
if the internal error is resolved"); the same key with another method, URL or body is refused
with 400; keys are scoped per app, are not case-sensitive, and are at most 128 characters.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from connector_sandbox.server import Clock, Request, Response
from connector_sandbox.xero_answers import validation

KEY_TTL = timedelta(minutes=6)  # Xero keeps an Idempotency-Key for 6 minutes from first use
KEY_MAX = 128


@dataclass
class _Remembered:
    fingerprint: str
    response: Response
    expires: datetime


class IdempotencyKeys:
    """The keys an organisation's apps have used in the last 6 minutes, and their answers."""

    def __init__(self, clock: Clock):
        self.clock = clock
        self._keys: dict[tuple[str, str], _Remembered] = {}
        self._lock = threading.Lock()

    def answer(self, request: Request, key: str, app: str, run: Callable[[], Response]) -> Response:
        """The replayed first answer to `key`, or a refusal, or `run()` remembered."""
        if len(key) > KEY_MAX:
            return validation([], f"Idempotency-Key must be {KEY_MAX} characters or fewer")
        query = sorted((k, v) for k, vs in request.query.items() for v in vs)
        fingerprint = hashlib.sha256(
            repr((request.method, request.path.lower(), query)).encode() + request.body
        ).hexdigest()
        now = self.clock.now()
        with self._lock:
            seen = self._keys.get((app, key.lower()))
            if seen is not None and seen.expires > now:
                if seen.fingerprint != fingerprint:
                    return validation(
                        [], f"Idempotency Key: {key} is used with a different request."
                    )
                return seen.response
            response = run()
            self._keys[(app, key.lower())] = _Remembered(fingerprint, response, now + KEY_TTL)
            return response

    def clear(self) -> None:
        """As if Xero's 6-minute window had passed for every key."""
        with self._lock:
            self._keys.clear()
