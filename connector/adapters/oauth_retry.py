"""The one retry rule every OAuth ledger session shares: an access token the API refuses is
refreshed once and the call made again; a second refusal is the caller's to report.

Backoff and rate limits differ per vendor and stay in each session (tenacity there); this
module holds only the part that is the same everywhere, so no session writes it twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def refresh_once(
    call: Callable[[], T], expired: type[Exception], refresh: Callable[[], object]
) -> T:
    """`call()`; if it raises `expired` (a 401), `refresh()` and `call()` once more."""
    try:
        return call()
    except expired:
        refresh()
        return call()
