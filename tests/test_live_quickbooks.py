"""Against a real Intuit sandbox company, only when credentials are in the environment:

    QBO_CLIENT_ID, QBO_CLIENT_SECRET, QBO_REFRESH_TOKEN, QBO_REALM_ID

    pytest -m live --record-mode=once tests/test_live_quickbooks.py

Each test records its exchanges into tests/cassettes/ with every secret filtered out. Without the
variables the tests are skipped; nothing here runs in CI.
"""

from __future__ import annotations

import os
from datetime import date

import pytest

from connector.adapters.quickbooks import QuickBooksLedger
from connector.adapters.quickbooks.session import QuickBooksSession, QuickBooksSettings
from connector.credentials import TokenSet, TokenStore
from connector.testing.ledger import request

NEEDED = ("QBO_CLIENT_ID", "QBO_CLIENT_SECRET", "QBO_REFRESH_TOKEN", "QBO_REALM_ID")
SECRET_FIELDS = ["client_secret", "access_token", "refresh_token", "code", "id_token"]

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not all(os.environ.get(n) for n in NEEDED),
        reason="live QuickBooks credentials are not in the environment",
    ),
]


@pytest.fixture(scope="module")
def vcr_config():
    return {
        "filter_headers": [("authorization", "REDACTED"), ("cookie", "REDACTED")],
        "filter_post_data_parameters": [(name, "REDACTED") for name in SECRET_FIELDS],
        "before_record_response": _scrub_response,
        "decode_compressed_response": True,
    }


def _scrub_response(response):
    body = response["body"].get("string", b"")
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    for name in ("QBO_CLIENT_SECRET", "QBO_REFRESH_TOKEN"):
        if os.environ.get(name):
            text = text.replace(os.environ[name], "REDACTED")
    response["body"]["string"] = text.encode()
    return response


@pytest.fixture
def live_ledger():
    store = TokenStore("Live Test", "quickbooks")
    store.save(
        TokenSet(
            os.environ["QBO_CLIENT_ID"],
            os.environ["QBO_CLIENT_SECRET"],
            refresh_token=os.environ["QBO_REFRESH_TOKEN"],
            company_id=os.environ["QBO_REALM_ID"],
        )
    )
    return QuickBooksLedger(
        QuickBooksSession(QuickBooksSettings(environment="sandbox"), store), "Services"
    )


@pytest.mark.vcr
def test_create_and_find_an_invoice(live_ledger):
    customer = live_ledger.find_or_create_customer("milestone-connector live test", "USD")
    (result,) = live_ledger.create_invoices([request(customer, int(date.today().strftime("%j")))])
    assert result.invoice is not None, result.error
    found = live_ledger.find_invoices([result.invoice.reference])
    assert result.invoice.reference in found
