"""Plain-HTTP OAuth is allowed per session, for that session's own server on this machine, and
never process-wide: OAUTHLIB_INSECURE_TRANSPORT stays unset, so in a daemon holding many
businesses one pointed at a local sandbox lets no other send its tokens in clear text."""

from __future__ import annotations

import os

import pytest
import requests
from oauthlib.oauth2 import InsecureTransportError
from requests_oauthlib import OAuth2Session

from connector.adapters.plain_http import LoopbackOAuth2Session, loopback_origin
from connector.adapters.quickbooks.session import QuickBooksSession, QuickBooksSettings
from connector.credentials import TokenStore
from tests import qbo_support

FLAG = "OAUTHLIB_INSECURE_TRANSPORT"


@pytest.fixture(autouse=True)
def no_process_wide_allowance(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(FLAG, raising=False)
    yield
    assert FLAG not in os.environ


def test_two_quickbooks_sessions_in_one_process_do_not_share_the_allowance(qbo):
    local = qbo_support.ledger(qbo).session
    remote = QuickBooksSession(
        QuickBooksSettings(
            environment="sandbox",
            api_url="https://quickbooks.api.intuit.com/v3",
            discovery_url=qbo.discovery_url,
        ),
        TokenStore("Northwind Studio", "quickbooks"),
    )
    assert local.plain_http_to == qbo.url and remote.plain_http_to is None
    assert local.get("preferences")["Preferences"]  # plain HTTP to its own sandbox: allowed
    assert FLAG not in os.environ
    # The https business's client, in the same process, still refuses to send its token there.
    assert type(remote.client().session) is OAuth2Session
    with pytest.raises(InsecureTransportError):
        remote.client().session.request("GET", local.url("preferences"))
    # So does any other OAuth client, and the local session itself for any other server.
    with pytest.raises(InsecureTransportError):
        OAuth2Session("someone", token={"access_token": "t"}).get(local.url("preferences"))
    for elsewhere in ("http://127.0.0.1:1/v3/company", "http://example.com/v3/company"):
        with pytest.raises(InsecureTransportError):
            local.client().session.request("GET", elsewhere)
    assert local.query("select * from Item")["Item"]  # and the local session goes on working


def test_a_token_refresh_over_plain_http_sets_nothing_process_wide(qbo):
    session = qbo_support.ledger(qbo).session
    session.refresh(session.store.require())
    assert session.get("preferences")["Preferences"]
    assert FLAG not in os.environ


def test_xero_needs_no_allowance_for_a_local_sandbox(xero):
    """xero-python speaks to the token endpoint and the API through urllib3, and the sign-in
    (connector/adapters/xero/auth.py) through plain requests: neither asks oauthlib, so nothing is
    allowed for Xero, and nothing is needed, not even for a refresh."""
    session = xero.ledger().session
    session.expire_access_token()
    assert session.connections()
    assert xero.ledger().find_or_create_customer("Acme Corporation", "USD").id
    assert FLAG not in os.environ


def test_only_plain_http_to_this_machine_is_a_loopback_origin():
    assert loopback_origin("http://127.0.0.1:8765/v3") == "http://127.0.0.1:8765"
    assert loopback_origin("http://LocalHost:80/x") == "http://localhost:80"
    for url in (None, "", "https://127.0.0.1:8765/v3", "http://example.com/v3", "ftp://localhost"):
        assert loopback_origin(url) is None
    with pytest.raises(ValueError):
        LoopbackOAuth2Session("http://example.com", "client", {"access_token": "t"})


def test_the_loopback_session_sends_the_bearer_token_to_its_origin(httpserver):
    httpserver.expect_request(
        "/v3/ping", headers={"Authorization": "Bearer t0k"}
    ).respond_with_data("pong")
    origin = loopback_origin(httpserver.url_for("/"))
    assert origin is not None
    session = LoopbackOAuth2Session(origin, "client", {"access_token": "t0k"})
    answer = session.request("GET", httpserver.url_for("/v3/ping"))
    assert isinstance(answer, requests.Response) and answer.text == "pong"
