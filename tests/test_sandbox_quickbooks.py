"""The QuickBooks sandbox, driven through the real intuit-oauth and python-quickbooks SDKs over
real HTTP: what the adapter will meet, including the errors exactly as the SDK surfaces them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError
from quickbooks import QuickBooks
from quickbooks.batch import batch_create
from quickbooks.cdc import change_data_capture
from quickbooks.exceptions import (
    AuthorizationException,
    ObjectNotFoundException,
    QuickbooksException,
    SevereException,
    ValidationException,
)
from quickbooks.objects.base import Ref
from quickbooks.objects.creditmemo import CreditMemo
from quickbooks.objects.customer import Customer
from quickbooks.objects.detailline import (
    DiscountLine,
    DiscountLineDetail,
    SalesItemLine,
    SalesItemLineDetail,
)
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.item import Item
from quickbooks.objects.payment import Payment, PaymentLine

from connector_sandbox.quickbooks import CLIENT_ID, CLIENT_SECRET, QuickBooksSandbox
from connector_sandbox.quickbooks_faults import QboFault
from connector_sandbox.server import dumps, loads

D = Decimal
REALM = "9130350000000001"
REDIRECT = "http://localhost:8080/callback"


@pytest.fixture(scope="module")
def server() -> Iterator[QuickBooksSandbox]:
    with QuickBooksSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(server: QuickBooksSandbox, monkeypatch: pytest.MonkeyPatch) -> QuickBooksSandbox:
    """A clean sandbox holding one company; plain http needs oauthlib's permission."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    server.reset()
    server.seed_company(REALM, items=("Services", "Retainage"))
    return server


def connect(sandbox: QuickBooksSandbox, minorversion: int = 75, realm: str = REALM) -> QuickBooks:
    tokens = sandbox.issue_tokens(realm)
    auth = AuthClient(
        CLIENT_ID,
        CLIENT_SECRET,
        REDIRECT,
        sandbox.discovery_url,
        access_token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
    )
    client = QuickBooks(
        auth_client=auth,
        refresh_token=tokens["refresh_token"],
        company_id=realm,
        minorversion=minorversion,
        use_decimal=True,
    )
    client.api_url_v3 = sandbox.api_url
    return client


@pytest.fixture
def qb(sandbox: QuickBooksSandbox) -> QuickBooks:
    return connect(sandbox)


def customer(qb: QuickBooks, name: str = "Acme Corporation") -> Customer:
    c = Customer()
    c.DisplayName = name
    return c.save(qb=qb)


def lines(*amounts: str) -> list[SalesItemLine]:
    out = []
    for amount in amounts or ("100.00",):
        line = SalesItemLine()
        line.Amount = D(amount)
        line.Description = f"line {amount}"
        line.SalesItemLineDetail = SalesItemLineDetail()
        line.SalesItemLineDetail.ItemRef = Ref()
        line.SalesItemLineDetail.ItemRef.value = "1"
        out.append(line)
    return out


def invoice(cust: Customer, *amounts: str, doc: str | None = None) -> Invoice:
    inv = Invoice()
    inv.CustomerRef = cust.to_ref()
    inv.DocNumber = doc
    inv.Line = lines(*amounts)
    return inv


def raw(sandbox: QuickBooksSandbox, token: str, method: str, path: str, **kw: object):
    return requests.request(
        method,
        f"{sandbox.api_url}/company/{REALM}/{path}",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        **kw,  # type: ignore[arg-type]
    )


# --- OAuth ---


def test_code_exchange_then_refresh_rotates_and_the_old_refresh_token_lasts_a_day(sandbox):
    auth = AuthClient(CLIENT_ID, CLIENT_SECRET, REDIRECT, sandbox.discovery_url)
    url = auth.get_authorization_url([Scopes.ACCOUNTING], state_token="csrf-123")
    redirect = requests.get(url, allow_redirects=False, timeout=5)
    assert redirect.status_code == 302
    back = parse_qs(urlsplit(redirect.headers["Location"]).query)
    assert back["state"] == ["csrf-123"] and back["realmId"] == [REALM]

    auth.get_bearer_token(back["code"][0], realm_id=back["realmId"][0])
    assert auth.expires_in == 3600 and auth.id_token is None
    first_refresh = auth.refresh_token
    with pytest.raises(AuthClientError) as used:  # an authorization code works once
        auth.get_bearer_token(back["code"][0])
    assert used.value.status_code == 400 and b"invalid_grant" in used.value.content

    auth.refresh(refresh_token=first_refresh)  # the value is kept for about a day
    assert auth.refresh_token == first_refresh
    sandbox.clock.advance(timedelta(hours=25))
    auth.refresh(refresh_token=first_refresh)
    second_refresh = auth.refresh_token
    assert second_refresh != first_refresh
    auth.refresh(refresh_token=first_refresh)  # the previous one works for 24 hours more...
    assert auth.refresh_token == second_refresh  # ...answered with the latest
    sandbox.clock.advance(timedelta(hours=24))
    with pytest.raises(AuthClientError) as stale:
        auth.refresh(refresh_token=first_refresh)
    assert b"invalid_grant" in stale.value.content
    auth.refresh(refresh_token=second_refresh)

    client = QuickBooks(
        auth_client=auth, refresh_token=auth.refresh_token, company_id=REALM, minorversion=75
    )
    client.api_url_v3 = sandbox.api_url
    assert [i.Name for i in Item.all(qb=client)] == ["Services", "Retainage"]


def test_missing_bad_or_expired_bearer_token_is_a_401_in_the_gateway_envelope(sandbox, qb):
    response = raw(sandbox, "not-a-token", "GET", "invoice/1?minorversion=75")
    assert response.status_code == 401
    fault = loads(response.text)["fault"]["error"][0]
    assert fault["code"] == "3200" and "AuthenticationFailed" in fault["message"]

    customer(qb)
    sandbox.clock.advance(timedelta(hours=1, seconds=1))
    with pytest.raises(AuthorizationException) as expired:
        Customer.all(qb=qb)
    assert expired.value.error_code == 401


def test_revoked_tokens_stop_working(sandbox, qb):
    sandbox.revoke_token(qb.auth_client.refresh_token)
    with pytest.raises(AuthorizationException):
        Item.all(qb=qb)


# --- invoices ---


def test_invoice_create_with_requestid_replays_the_same_invoice(sandbox, qb):
    acme = customer(qb)
    draft = invoice(acme, "9600.00", "-960.00", "-480.00", doc="ACME-M1")
    first = draft.save(qb=qb, request_id="9b1deb4d3b7d4bad9bdd2b0d7b3dcb6d")
    again = invoice(acme, "9600.00", "-960.00", "-480.00", doc="ACME-M1")
    second = again.save(qb=qb, request_id="9b1deb4d3b7d4bad9bdd2b0d7b3dcb6d")

    assert second.Id == first.Id
    assert len(sandbox.invoices(REALM)) == 1
    read = Invoice.get(first.Id, qb=qb)
    assert read.TotalAmt == D("8160.00") and read.Balance == D("8160.00")
    assert read.DocNumber == "ACME-M1" and read.SyncToken == "0"
    assert [ln.Amount for ln in read.Line] == [
        D("9600.00"),
        D("-960.00"),
        D("-480.00"),
        D("8160.00"),
    ]
    assert read.Line[-1].DetailType == "SubTotalLineDetail"
    assert read.MetaData.CreateTime == read.MetaData.LastUpdatedTime


def test_discount_line_and_unit_price_rule(sandbox, qb):
    acme = customer(qb)
    inv = invoice(acme, "1000.00")
    discount = DiscountLine()
    discount.Amount = D("50.00")
    discount.DiscountLineDetail = DiscountLineDetail()
    inv.Line.append(discount)
    assert inv.save(qb=qb).TotalAmt == D("950.00")

    wrong = invoice(acme, "100.00")
    wrong.Line[0].SalesItemLineDetail.Qty = D("3")
    wrong.Line[0].SalesItemLineDetail.UnitPrice = D("30")
    with pytest.raises(QuickbooksException) as e:
        wrong.save(qb=qb)
    assert e.value.error_code == 6070


def test_an_invoice_total_below_zero_is_refused(sandbox, qb):
    with pytest.raises(QuickbooksException) as e:
        invoice(customer(qb), "100.00", "-100.01").save(qb=qb)
    assert e.value.error_code == 6000


def test_duplicate_doc_number_and_display_name(sandbox, qb):
    acme = customer(qb)
    invoice(acme, doc="INV-7").save(qb=qb)
    with pytest.raises(QuickbooksException) as doc:
        invoice(acme, doc="INV-7").save(qb=qb)
    assert doc.value.error_code == 6140 and "TxnType=Invoice" in doc.value.detail
    with pytest.raises(QuickbooksException) as name:
        customer(qb, "ACME Corporation")
    assert name.value.error_code == 6240


def test_sparse_update_needs_the_current_sync_token(sandbox, qb):
    inv = invoice(customer(qb)).save(qb=qb)
    update = {"Id": inv.Id, "SyncToken": inv.SyncToken, "sparse": True, "DueDate": "2027-01-31"}
    result = qb.update_object("Invoice", dumps(update))["Invoice"]
    assert result["SyncToken"] == "1" and result["DueDate"] == "2027-01-31"
    assert result["TotalAmt"] == D("100.00")
    with pytest.raises(QuickbooksException) as stale:
        qb.update_object("Invoice", dumps(update))
    assert type(stale.value) is QuickbooksException and stale.value.error_code == 5010


def test_full_update_through_the_sdk_recomputes_the_totals(sandbox, qb):
    inv = invoice(customer(qb), "100.00", "50.00").save(qb=qb)
    read = Invoice.get(inv.Id, qb=qb)
    read.Line[1].Amount = D("75.25")
    saved = read.save(qb=qb)
    assert (saved.TotalAmt, saved.Balance, saved.SyncToken) == (D("175.25"), D("175.25"), "1")
    assert len(saved.Line) == 3  # the SubTotal line sent back is recomputed, not added


def test_void_keeps_the_invoice_with_zero_amounts_and_delete_removes_it(sandbox, qb):
    acme = customer(qb)
    inv = invoice(acme, "250.00").save(qb=qb)
    inv.void(qb=qb)
    voided = Invoice.get(inv.Id, qb=qb)
    assert (voided.TotalAmt, voided.Balance, voided.PrivateNote) == (D(0), D(0), "Voided")
    assert voided.SyncToken == "1"

    gone = invoice(acme).save(qb=qb)
    assert gone.delete(qb=qb)["Invoice"] == {"status": "Deleted", "domain": "QBO", "Id": gone.Id}
    with pytest.raises(ObjectNotFoundException):
        Invoice.get(gone.Id, qb=qb)


def test_multicurrency_and_automatic_numbers(sandbox):
    sandbox.seed_company(
        "77", currencies=("EUR",), exchange_rates={"EUR": "1.08"}, custom_txn_numbers=False
    )
    qb = connect(sandbox, realm="77")
    beta = Customer()
    beta.DisplayName = "Beta Bakery Ltd"
    beta.CurrencyRef = Ref()
    beta.CurrencyRef.value = "EUR"
    beta = beta.save(qb=qb)
    first = invoice(beta, "4000.00")
    first.ExchangeRate = None  # python-quickbooks sends 1 unless told not to; 1 would be booked
    first = first.save(qb=qb)
    second = invoice(beta, "10.00").save(qb=qb)
    assert (first.CurrencyRef.value, first.ExchangeRate, first.HomeTotalAmt) == (
        "EUR",
        D("1.08"),
        D("4320.00"),
    )
    assert (first.DocNumber, second.DocNumber) == ("1001", "1002")
    assert (second.ExchangeRate, second.HomeTotalAmt) == (D(1), D("10.00"))  # as sent
    in_dollars = invoice(beta)
    in_dollars.CurrencyRef = Ref()
    in_dollars.CurrencyRef.value = "USD"
    with pytest.raises(QuickbooksException) as e:
        in_dollars.save(qb=qb)
    assert e.value.error_code == 6000


# --- payments and credit memos ---


def test_payments_lower_the_balance_and_cannot_overpay(sandbox, qb):
    acme = customer(qb)
    inv = invoice(acme, "1000.00").save(qb=qb)
    payment = Payment()
    payment.CustomerRef = acme.to_ref()
    payment.TotalAmt = D("400.00")
    line = PaymentLine()
    line.Amount = D("400.00")
    line.LinkedTxn = [inv.to_linked_txn()]
    payment.Line = [line]
    payment.save(qb=qb)
    sandbox.record_payment(REALM, inv.Id, "100.50")

    paid = Invoice.get(inv.Id, qb=qb)
    assert paid.Balance == D("499.50") and paid.SyncToken == "2"
    assert [t.TxnType for t in paid.LinkedTxn] == ["Payment", "Payment"]
    assert Customer.get(acme.Id, qb=qb).Balance == D("499.50")
    with pytest.raises(QboFault, match="open balance"):
        sandbox.record_payment(REALM, inv.Id, "499.51")


def test_credit_memo_create_and_read(sandbox, qb):
    memo = CreditMemo()
    memo.CustomerRef = customer(qb).to_ref()
    memo.Line = lines("75.00")
    saved = memo.save(qb=qb)
    read = CreditMemo.get(saved.Id, qb=qb)
    assert read.TotalAmt == D("75.00") and read.RemainingCredit == D("75.00")


# --- query, batch, CDC ---


def test_query_escapes_quotes_filters_and_pages(sandbox, qb):
    customer(qb, "O'Brien's Bakery")
    customer(qb, "Plain Co")
    assert [c.DisplayName for c in Customer.filter(DisplayName="O'Brien's Bakery", qb=qb)] == [
        "O'Brien's Bakery"
    ]
    doubled = qb.query("select * from Customer where DisplayName = 'O''Brien''s Bakery'")
    assert len(doubled["QueryResponse"]["Customer"]) == 1

    acme = customer(qb)
    for doc in ("A-1", "A-2", "A-3"):
        invoice(acme, doc=doc).save(qb=qb)
    chosen = Invoice.choose(["A-1", "A-3"], field="DocNumber", qb=qb)
    assert sorted(i.DocNumber for i in chosen) == ["A-1", "A-3"]
    page = Invoice.where(f"CustomerRef = '{acme.Id}'", start_position=2, max_results=1, qb=qb)
    assert [i.DocNumber for i in page] == ["A-2"]
    assert Invoice.count(qb=qb) == 3
    since = (sandbox.clock.now() - timedelta(minutes=1)).isoformat(timespec="seconds")
    assert len(Invoice.where(f"MetaData.LastUpdatedTime >= '{since}'", qb=qb)) == 3
    with pytest.raises(ValidationException) as bad:
        Invoice.where("PrivateNote = 'x'", qb=qb)
    assert bad.value.error_code == 4001


def test_batch_of_thirty_with_one_bad_item(sandbox, qb):
    acme = customer(qb)
    invoices = [invoice(acme, "10.00", doc=f"B-{n}") for n in range(30)]
    invoices[7].CustomerRef.value = "999"
    result = batch_create(invoices, qb=qb)
    assert len(result.successes) == 29 and len(result.faults) == 1
    fault = result.faults[0]
    assert fault.Error[0].code == "2500" and fault.original_object is invoices[7]
    assert len(sandbox.invoices(REALM)) == 29

    items = [{"bId": str(n), "Query": "select * from Item"} for n in range(31)]
    with pytest.raises(QuickbooksException) as too_many:
        qb.batch_operation(dumps({"BatchItemRequest": items}))
    assert too_many.value.error_code == 1040


def test_cdc_returns_changed_invoices_and_payments(sandbox, qb):
    since = (sandbox.clock.now() - timedelta(minutes=5)).isoformat()
    inv = invoice(customer(qb), "300.00").save(qb=qb)
    sandbox.record_payment(REALM, inv.Id, "300.00")
    changes = change_data_capture([Invoice, Payment], since, qb=qb)
    assert [(i.Id, i.Balance) for i in changes.Invoice] == [(inv.Id, D("0.00"))]
    assert [p.TotalAmt for p in changes.Payment] == [D("300.00")]

    too_old = (sandbox.clock.now() - timedelta(days=31)).isoformat()
    with pytest.raises(ValidationException):
        change_data_capture([Invoice], too_old, qb=qb)


# --- gateway rules and faults ---


def test_minorversion_below_75_is_refused(sandbox):
    with pytest.warns(DeprecationWarning):
        old = connect(sandbox, minorversion=65)
    with pytest.raises(ValidationException) as e:
        Item.all(qb=old)
    assert "minorversion" in e.value.detail


def test_a_429_storm_as_the_sdk_sees_it(sandbox, qb):
    acme = customer(qb)
    sandbox.faults.throttle(2, match=r"POST .*/invoice$")
    for _ in range(2):
        with pytest.raises(QuickbooksException) as e:
            invoice(acme).save(qb=qb)
        assert e.value.error_code == 10000 and "429" in e.value.message
    assert invoice(acme).save(qb=qb).Id
    assert len(sandbox.invoices(REALM)) == 1


def test_commit_then_drop_the_response(sandbox, qb):
    acme = customer(qb)
    sandbox.faults.drop_after_commit(1, match=r"POST .*/invoice$")
    with pytest.raises(requests.exceptions.ConnectionError):
        invoice(acme, doc="LOST-1").save(qb=qb, request_id="lost-1")
    assert [i["DocNumber"] for i in sandbox.invoices(REALM)] == ["LOST-1"]
    retried = invoice(acme, doc="LOST-1").save(qb=qb, request_id="lost-1")
    assert retried.Id == sandbox.invoices(REALM)[0]["Id"]


def test_server_errors_as_the_sdk_sees_them(sandbox, qb):
    sandbox.faults.fail(1, status=503)
    with pytest.raises(QuickbooksException) as unavailable:
        Item.all(qb=qb)
    assert unavailable.value.error_code == 10000
    sandbox.faults.fail(1, status=500)
    with pytest.raises(SevereException):
        Item.all(qb=qb)
    assert Item.all(qb=qb)


def test_rate_limits_per_minute_and_concurrent(monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    with QuickBooksSandbox(requests_per_minute=3, max_concurrent=2) as small:
        small.seed_company(REALM)
        token = small.issue_tokens(REALM)["access_token"]
        statuses = [raw(small, token, "GET", "item/1").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        assert loads(raw(small, token, "GET", "item/1").text)["fault"]["error"][0]["code"] == "3001"
        small.clock.advance(timedelta(minutes=1))

        small.faults.pause()  # admitted requests wait, holding their slot
        results: list[int] = []

        def call() -> None:
            results.append(raw(small, token, "GET", "item/1").status_code)

        threads = [threading.Thread(target=call) for _ in range(2)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 5
        while small.limits.in_flight(REALM) < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        call()  # a third concurrent request is refused at the gateway
        small.faults.resume()
        for t in threads:
            t.join()
        assert sorted(results) == [200, 200, 429]


def test_admin_http_api(sandbox):
    admin = sandbox.url + "/admin"
    assert requests.post(f"{admin}/companies", json={"realm_id": "42"}, timeout=5).ok
    token = requests.post(f"{admin}/tokens", json={"realm_id": "42"}, timeout=5).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    base = f"{sandbox.api_url}/company/42"
    cust = requests.post(f"{base}/customer", json={"DisplayName": "Beta"}, headers=headers)
    body = {
        "CustomerRef": {"value": cust.json()["Customer"]["Id"]},
        "Line": [{"Amount": "20.00", "DetailType": "SalesItemLineDetail"}],
    }
    inv = loads(requests.post(f"{base}/invoice", data=dumps(body), headers=headers).text)
    paid = requests.post(
        f"{admin}/companies/42/payments",
        json={"invoice_id": inv["Invoice"]["Id"], "amount": "12.50", "date": "2026-11-20"},
        timeout=5,
    )
    assert loads(paid.text)["TxnDate"] == "2026-11-20"
    held = loads(requests.get(f"{admin}/companies/42", timeout=5).text)
    assert held["invoices"][0]["Balance"] == D("7.50")
    faults = requests.post(f"{admin}/faults", json={"fail": {"count": 2, "status": 502}})
    assert faults.json()["rules"][0]["remaining"] == 2
    assert requests.delete(f"{admin}/faults", timeout=5).json()["rules"] == []


def test_json_keeps_decimals_and_refuses_floats():
    assert dumps({"a": D("10.50"), "b": [D("-0.01"), 3]}) == '{"a":10.50,"b":[-0.01,3]}'
    assert loads('{"a": 10.50}') == {"a": D("10.50")}
    with pytest.raises(TypeError):
        dumps({"a": 0.1})


def test_admin_http_api_shared_routes_and_refusals():
    with QuickBooksSandbox() as sandbox:
        admin = sandbox.url + "/admin"
        assert requests.post(f"{admin}/companies", json={"realm_id": "42"}, timeout=5).ok
        unknown = requests.post(
            f"{admin}/companies/42/payments", json={"invoice_id": "999", "amount": "1"}, timeout=5
        )
        assert unknown.status_code == 400 and "Fault" in unknown.json()
        missing = requests.post(f"{admin}/tokens", json={}, timeout=5)
        assert missing.status_code == 400 and "realm_id" in missing.json()["error"]
        assert requests.get(f"{admin}/nowhere", timeout=5).status_code == 404
        before = sandbox.clock.now()
        moved = requests.post(f"{admin}/clock", json={"advance_seconds": 60}, timeout=5).json()
        assert moved["now"] >= (before + timedelta(minutes=1)).isoformat()
        assert requests.post(f"{admin}/reset", timeout=5).json() == {}
        assert requests.get(f"{admin}/companies/42", timeout=5).status_code == 400
