"""The ids QuickBooks replays a request by, derived from our idempotency keys and within the
lengths Intuit documents.

`requestid` makes QuickBooks answer a repeated request with its first answer instead of doing it
again, per company. Its limits (ledger-apis.md, Idempotency; Intuit developer blog 2015-04-06,
"Use requestid to ensure idempotency" [QBO-RID15]): at most 50 characters for a single request,
36 for a /batch, and each batch item's `bId` at most 10 when the batch has a requestid; Intuit
suggests a UUID. Our keys are longer than that, so each id here is a hash of the keys: the same
keys give the same ids on every run, so a replay after a crash sends the very request QuickBooks
saw and gets its first answer back. Nothing random, nothing from the clock.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterable

REQUEST_ID_MAX = 50
BATCH_ID_MAX = 36
ITEM_ID_MAX = 10

# Fixed forever: changing it would change every id, and a replay would be a new request.
_NAMESPACE = uuid.UUID("5d1b7a3e-2f0c-4b8e-9a61-3c0de51f0a2b")


def request_id(*parts: str) -> str:
    """A single request's requestid: the UUID (version 5) of its parts, 36 characters."""
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(parts)))


def batch_id(keys: Iterable[str]) -> str:
    """A /batch's requestid, from the keys of its items in order: a UUID, 36 characters."""
    return request_id("batch", *keys)


def item_id(key: str) -> str:
    """A batch item's bId: the first 10 characters of the key's SHA-256 in lower-case base32
    (50 bits; two keys of one batch of 30 share one with odds of about 1 in 2.5e12, and
    `item_ids` refuses such a batch rather than mix their answers)."""
    digest = hashlib.sha256(key.encode()).digest()
    return base64.b32encode(digest).decode()[:ITEM_ID_MAX].lower()


def item_ids(keys: Iterable[str]) -> dict[str, str]:
    """bId -> key for one batch; a batch where two keys share a bId is refused."""
    out: dict[str, str] = {}
    for key in keys:
        bid = item_id(key)
        if out.setdefault(bid, key) != key:
            raise ValueError(f"two documents of one batch share the batch item id {bid}")
    return out
