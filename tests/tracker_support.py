"""Shared pieces of the tracker source tests: one sandbox per tracker for the session, and a
`tracker` object (the Source conformance fixture) that acts on it the way a person would."""

from __future__ import annotations

from typing import Any

from connector.sources.http import MemoryHttpCache
from connector.sources.tokens import save_token

BUSINESS = "Northwind Studio"


class Tracker:
    """`source`, `seed`, `edit`, `break_one`: what SourceConformance needs."""

    def __init__(self, sandbox: Any, person: Any, source: Any):
        self.sandbox = sandbox
        self.person = person
        self.source = source

    def seed(self, records: list[dict[str, Any]]) -> None:
        self.person.seed(records)

    def edit(self, mid: str, **fields: Any) -> None:
        self.person.edit(mid, **fields)

    def break_one(self, mid: str) -> None:
        self.person.break_one(mid)


class DictCache(MemoryHttpCache):
    """Stands in for `State.http_cache`; counts what was stored."""

    def __init__(self) -> None:
        super().__init__()
        self.puts = 0

    def put(self, key: str, etag: str, body: str) -> None:
        self.puts += 1
        super().put(key, etag, body)


def connect(kind: str, token: str, user: str = "", business: str = BUSINESS) -> None:
    save_token(business, kind, token, user)
