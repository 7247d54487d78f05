"""OAuth 2.0 plumbing the sandboxes' identity services share (RFC 6749 is the same at Intuit
and at Xero): error bodies, the redirect's query, form bodies, and reading client credentials
and bearer tokens from the Authorization header. What each vendor does with them stays in its
own module."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from connector_sandbox.server import Request, Response


def oauth_error(status: int, error: str, description: str = "") -> Response:
    """RFC 6749's error body: `error`, and `error_description` when there is one."""
    body = {"error": error}
    if description:
        body["error_description"] = description
    return Response.json(status, body)


def add_query(url: str, params: dict[str, str]) -> str:
    """`url` with `params` added to any query it already has (a redirect URI may carry one)."""
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def form_fields(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body, the first value of each field."""
    return {k: v[0] for k, v in parse_qs(request.body.decode()).items()}


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """The client id and secret of an HTTP Basic header; None when there is none or it does
    not decode (the caller refuses the client)."""
    if not header or not header.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(header[len("Basic ") :], validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, _, secret = decoded.partition(":")
    return client_id, secret


def bearer_token(authorization: str | None) -> str | None:
    """The token of a `Bearer` Authorization header; None when the header is not one."""
    if not authorization or not authorization.startswith("Bearer "):
        return None
    return authorization[len("Bearer ") :].strip()
