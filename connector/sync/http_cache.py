"""The tracker response cache: ETag and body per request, per business, in the state database.

Losing it costs one full read of the tracker, never a wrong invoice. It stores no request
headers, and keys are hashed (a request's address may be long).
"""

from __future__ import annotations

import hashlib

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from connector.sync.schema import http_cache, now


class HttpCache:
    """ETag and body of tracker responses, per business. Sources use it for conditional
    requests; losing it costs one full read, never a wrong invoice."""

    def __init__(self, engine: Engine, business: str):
        self.engine = engine
        self.business = business

    @staticmethod
    def _hash(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    def get(self, key: str) -> tuple[str, str] | None:
        query = select(http_cache.c.etag, http_cache.c.body).where(
            http_cache.c.business == self.business, http_cache.c.key == self._hash(key)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return (row[0], row[1]) if row else None

    def put(self, key: str, etag: str, body: str) -> None:
        hashed = self._hash(key)
        with self.engine.begin() as conn:
            conn.execute(
                http_cache.delete().where(
                    http_cache.c.business == self.business, http_cache.c.key == hashed
                )
            )
            conn.execute(
                insert(http_cache).values(
                    business=self.business, key=hashed, etag=etag, body=body, stored_at=now()
                )
            )
