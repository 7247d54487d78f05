"""Xero's real API, recorded: live tests against a real Xero organisation when credentials are
in the environment, and a replay of the example bodies Xero publishes in its OpenAPI file.

    XERO_CLIENT_ID, XERO_CLIENT_SECRET, XERO_REFRESH_TOKEN, XERO_TENANT_ID
    pytest -m live --vcr-record=once tests/test_live_xero.py

Live tests record into tests/cassettes/xero/ with every secret filtered out; without the
variables they are skipped. Xero's refresh tokens are single-use: the run spends the one in
XERO_REFRESH_TOKEN, and the rotated one lives only in the test's in-memory keyring. The test
says so when it ends (never printing a token): get a fresh one with `connector auth xero`
before the next live run (the spent one still works for Xero's 30-minute grace period).
The spec-example cassette is built from `xero_accounting.yaml` by
`spec_example_cassette()` and a test checks the committed file is exactly that, so it can only
hold Xero's own published bodies (see tests/cassettes/xero/README.md).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from connector.adapters.base import RemoteStatus
from connector.adapters.xero import XeroLedger
from connector.adapters.xero.session import XeroSession, XeroSettings
from connector.credentials import TokenSet, TokenStore
from connector.jsonwire import dumps
from connector.testing.ledger import request
from tests.xero_support import SPECS

CASSETTES = Path(__file__).parent / "cassettes" / "xero"
SPEC_CASSETTE = CASSETTES / "spec_examples.yaml"
NEEDED = ("XERO_CLIENT_ID", "XERO_CLIENT_SECRET", "XERO_REFRESH_TOKEN", "XERO_TENANT_ID")
SECRET_FIELDS = ["client_secret", "access_token", "refresh_token", "code", "id_token"]
EXAMPLES = ("/Organisation", "/Invoices", "/CreditNotes")  # GET bodies replayed


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    return str(CASSETTES)


@pytest.fixture(scope="module")
def vcr_config() -> dict[str, Any]:
    return {
        "filter_headers": [("authorization", "REDACTED"), ("cookie", "REDACTED")],
        "filter_post_data_parameters": [(name, "REDACTED") for name in SECRET_FIELDS],
        "before_record_response": _scrub_response,
        "decode_compressed_response": True,
    }


def _scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    body = response["body"].get("string", b"")
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    for name in ("XERO_CLIENT_SECRET", "XERO_REFRESH_TOKEN"):
        if os.environ.get(name):
            text = text.replace(os.environ[name], "REDACTED")
    for field in ("access_token", "refresh_token", "id_token"):
        text = _redact_json_field(text, field)
    response["body"]["string"] = text.encode()
    return response


def _redact_json_field(text: str, field: str) -> str:
    import re

    return re.sub(rf'("{field}"\s*:\s*")[^"]*(")', r"\1REDACTED\2", text)


# --- the spec's example bodies, replayed -------------------------------------------------------


class _DecimalLoader(yaml.SafeLoader):
    """YAML numbers as Decimal (never float) and dates as the strings Xero sends."""


_DecimalLoader.add_constructor(
    "tag:yaml.org,2002:float", lambda loader, node: Decimal(loader.construct_scalar(node))
)
_DecimalLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node)
)


def spec_example_cassette() -> str:
    """A vcrpy cassette answering GET /Organisation, /Invoices and /CreditNotes with the
    example bodies of Xero's OpenAPI file (the copy in tests/specs, see SOURCES.md there)."""
    with open(SPECS / "xero_accounting.yaml") as handle:
        spec = yaml.load(handle, Loader=_DecimalLoader)  # a SafeLoader subclass
    interactions = []
    for path in EXAMPLES:
        ok = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        interactions.append(
            {
                "request": {
                    "body": None,
                    "headers": {},
                    "method": "GET",
                    "uri": f"https://api.xero.com/api.xro/2.0{path}",
                },
                "response": {
                    "body": {"string": dumps(ok["example"])},
                    "headers": {"Content-Type": ["application/json; charset=utf-8"]},
                    "status": {"code": 200, "message": "OK"},
                },
            }
        )
    header = (
        "# Built by tests/test_live_xero.py:spec_example_cassette() from the example bodies of\n"
        "# Xero's xero_accounting.yaml (XeroAPI/Xero-OpenAPI @e952d0b, 16.1.0). Do not edit.\n"
    )
    return header + yaml.safe_dump({"interactions": interactions, "version": 1}, sort_keys=False)


def test_the_committed_spec_cassette_holds_only_xero_s_examples():
    assert SPEC_CASSETTE.read_text() == spec_example_cassette()


@pytest.fixture
def replay_ledger(memory_keyring) -> XeroLedger:
    store = TokenStore("Replay", "xero")
    future = "2999-01-01T00:00:00+00:00"
    store.save(
        TokenSet(
            "client",
            "secret",
            refresh_token="r",
            access_token="a",
            access_expires_at=future,
            company_id="tenant",
        )
    )
    settings = XeroSettings()
    return XeroLedger(XeroSession(settings, store, attempts=1), settings, "Services")


def test_xero_s_example_bodies_map_to_what_the_engine_expects(replay_ledger):
    import vcr

    replay = vcr.VCR(record_mode="none", match_on=["method", "host", "path"])
    with replay.use_cassette(str(SPEC_CASSETTE)) as cassette:
        assert "Dev Evangelist" in replay_ledger.check()
        found = replay_ledger.find_invoices(["Red Fish, Blue Fish", "US Tour"])
    assert cassette.play_count == 3
    invoice, credit = found["Red Fish, Blue Fish"], found["US Tour"]
    # the example holds a voided and a paid invoice with this reference: the live one wins
    assert (invoice.number, invoice.status, invoice.total) == (
        "INV-0002",
        RemoteStatus.PAID,
        Decimal("46.00"),
    )
    assert invoice.balance == 0 and invoice.currency == "NZD"
    assert (credit.number, credit.is_credit, credit.balance) == ("CN-0005", True, Decimal("32.50"))


# --- live, against a real organisation ---------------------------------------------------------


@pytest.fixture
def live_ledger(memory_keyring) -> Iterator[XeroLedger]:
    store = TokenStore("Live Test", "xero")
    store.save(
        TokenSet(
            os.environ["XERO_CLIENT_ID"],
            os.environ["XERO_CLIENT_SECRET"],
            refresh_token=os.environ["XERO_REFRESH_TOKEN"],
            company_id=os.environ["XERO_TENANT_ID"],
        )
    )
    settings = XeroSettings()
    yield XeroLedger(XeroSession(settings, store), settings, "")
    rotated = store.load()
    if rotated is not None and rotated.refresh_token != os.environ["XERO_REFRESH_TOKEN"]:
        warnings.warn(SPENT, stacklevel=1)


SPENT = (
    "Xero rotated the refresh token during this live run: the one in XERO_REFRESH_TOKEN is "
    "spent (Xero still accepts it for 30 minutes), and the new one was kept only in the test's "
    "in-memory keyring. Run `connector auth xero --config FILE` and export the new refresh "
    "token before the next live run."
)


@pytest.mark.vcr
@pytest.mark.live
@pytest.mark.skipif(
    not all(os.environ.get(n) for n in NEEDED),
    reason="live Xero credentials are not in the environment",
)
def test_live_create_find_and_void_an_invoice(live_ledger):
    customer = live_ledger.find_or_create_customer("milestone-connector live test", "USD")
    (result,) = live_ledger.create_invoices([request(customer, int(date.today().strftime("%j")))])
    assert result.invoice is not None, result.error
    assert result.invoice.reference in live_ledger.find_invoices([result.invoice.reference])
    voided = live_ledger.void_invoice(result.invoice.ledger_id, result.key + "-void")
    assert voided.status is RemoteStatus.VOIDED
