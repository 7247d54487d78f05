"""intuit-oauth's `AuthClient`, with Intuit's OAuth discovery document read once per process.

`AuthClient.__init__` GETs the discovery document every time a client is made (ledger-apis.md,
SDK notes), so a daemon paid one request per business per night for a document that names the
same four endpoints. Intuit publishes it so that apps find "the latest endpoint URLs" (Intuit,
Authorization discovery documents: developer.intuit.com/app/developer/qbo/docs/develop/
authentication-and-authorization/oauth-openid-discovery-doc); its PHP, Node.js and Ruby SDKs keep
the URLs as constants and never ask. Keeping it for a day per process asks often enough.
Only a complete answer (200) is kept; a failed fetch is the SDK's error, as before.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import requests
from intuitlib.client import AuthClient

from connector.adapters.cache import TimedCache

DISCOVERY_LIFETIME = timedelta(hours=24)
_DOCUMENTS: TimedCache[str, dict[str, Any]] = TimedCache(DISCOVERY_LIFETIME, most=16)


def _nothing() -> None:
    """No one is told of the fetch."""


class CachedAuthClient(AuthClient):
    """An `AuthClient` whose discovery document comes from this process's copy when it has one;
    `on_fetch` is told when the document is really fetched (the session's request hook)."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        environment: str,
        on_fetch: Callable[[], None] = _nothing,
    ):
        self._on_fetch = on_fetch
        self._discovering = True  # the one GET the SDK's constructor makes is the discovery
        try:
            super().__init__(client_id, client_secret, redirect_uri, environment)
        finally:
            self._discovering = False

    def get(self, url: str | bytes, **kwargs: Any) -> requests.Response:
        if not self._discovering:
            return super().get(url, **kwargs)
        key = url.decode() if isinstance(url, bytes) else str(url)
        known = _DOCUMENTS.get(key)
        if known is not None:
            return _answer(key, known)
        self._on_fetch()
        response = super().get(url, **kwargs)
        if response.status_code == 200:
            document = response.json()
            if isinstance(document, dict):
                _DOCUMENTS.put(key, document)
        return response


def _answer(url: str, document: dict[str, Any]) -> requests.Response:
    """The kept document as the answer the SDK reads it from (status and JSON body)."""
    response = requests.Response()
    response.status_code = 200
    response.url = url
    response.encoding = "utf-8"
    response.headers["Content-Type"] = "application/json"
    response._content = json.dumps(document).encode()
    return response
