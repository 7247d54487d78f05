"""OAuth over plain HTTP to one server on this machine, allowed for one session only.

requests-oauthlib refuses to send a token over http://: `OAuth2Session.request` and oauthlib's
`Client.add_token` both ask `oauthlib.oauth2.rfc6749.utils.is_secure_transport`, whose only way
out is the environment variable OAUTHLIB_INSECURE_TRANSPORT. That variable is read by every OAuth
client in the process: set for one business's local sandbox, it would let every business in the
daemon send its tokens in clear text. So this module must never set it. A session talking to a
local sandbox gets a `LoopbackOAuth2Session` instead, which sends the bearer token over plain
HTTP to its own origin on 127.0.0.1 or localhost, and to nothing else.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from requests_oauthlib import OAuth2Session

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def loopback_origin(url: str | None) -> str | None:
    """`http://host:port` of `url` when it is plain HTTP to this machine; None otherwise."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK:
        return None
    return f"http://{parts.netloc.lower()}"


class LoopbackOAuth2Session(OAuth2Session):
    """An OAuth2Session that may send its bearer token over plain HTTP to `origin` (from
    `loopback_origin`); any other URL gets requests-oauthlib's own checks."""

    def __init__(self, origin: str, client_id: str, token: dict[str, Any]):
        if loopback_origin(origin) != origin:
            raise ValueError(f"{origin!r} is not plain HTTP to this machine")
        super().__init__(client_id, token=token)
        self.origin = origin

    def request(
        self,
        method: str,
        url: str,
        data: Any = None,
        headers: dict[str, str] | None = None,
        withhold_token: bool = False,
        client_id: str | None = None,
        client_secret: str | None = None,
        files: Any = None,
        **kwargs: Any,
    ) -> requests.Response:
        if loopback_origin(url) != self.origin:
            return super().request(
                method,
                url,
                data=data,
                headers=headers,
                withhold_token=withhold_token,
                client_id=client_id,
                client_secret=client_secret,
                files=files,
                **kwargs,
            )
        headers = dict(headers or {})
        if self.token and not withhold_token:
            headers["Authorization"] = f"Bearer {self.access_token}"
        return requests.Session.request(
            self, method, url, data=data, headers=headers, files=files, **kwargs
        )
