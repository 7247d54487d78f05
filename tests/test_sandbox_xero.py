"""The Xero sandbox on its own, over real HTTP: Xero's documented behaviour, which the adapter
tests rely on. Every exchange is checked against Xero's OpenAPI description."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
import requests

from connector_sandbox.xero import CLIENT_ID, CLIENT_SECRET
from tests.xero_support import Api, XeroWorld, invoice, take_violations


@pytest.fixture
def api(xero):
    return Api(xero)


def test_dates_are_dotnet_json_and_amounts_exact(api):
    answer = api("PUT", "/Invoices", {"Invoices": [invoice(amount="1234.56")]})
    assert answer.status_code == 200
    (doc,) = answer.body["Invoices"]
    assert doc["Date"] == "/Date(1793577600000+0000)/"
    assert doc["DateString"] == "2026-11-02T00:00:00"
    assert doc["UpdatedDateUTC"].startswith("/Date(") and doc["InvoiceNumber"] == "INV-0001"
    assert doc["Total"] == doc["AmountDue"] == Decimal("1234.56")
    assert answer.body["DateTimeUTC"].startswith("/Date(")


def test_rate_limit_headers_on_every_answer(api):
    first = api("GET", "/Organisation")
    second = api("GET", "/Organisation")
    assert int(first.headers["X-MinLimit-Remaining"]) - 1 == int(
        second.headers["X-MinLimit-Remaining"]
    )
    assert int(second.headers["X-DayLimit-Remaining"]) == 4998
    assert "X-AppMinLimit-Remaining" in second.headers


def test_the_minute_and_day_limits_answer_429_with_the_problem(checked_sandbox):
    sandbox = checked_sandbox(requests_per_minute=2, requests_per_day=3)
    world = XeroWorld(sandbox, sandbox.seed_organisation())
    api = Api(world)
    assert [api("GET", "/Organisation").status_code for _ in range(2)] == [200, 200]
    refused = api("GET", "/Organisation")
    assert refused.status_code == 429
    assert refused.headers["X-Rate-Limit-Problem"] == "minute"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    sandbox.clock.advance(timedelta(minutes=1))
    assert api("GET", "/Organisation").status_code == 200
    sandbox.clock.advance(timedelta(minutes=1))
    day = api("GET", "/Organisation")
    assert (day.status_code, day.headers["X-Rate-Limit-Problem"]) == (429, "day")
    assert int(day.headers["Retry-After"]) > 80000


def test_five_requests_in_flight_at_most(api, xero):
    xero.sandbox.faults.pause()
    answers: list[int] = []
    threads = [
        threading.Thread(target=lambda: answers.append(api("GET", "/Organisation").status_code))
        for _ in range(5)
    ]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 5
        while xero.sandbox.limits.in_flight(xero.tenant) < 5:
            assert time.monotonic() < deadline, "five requests never got in flight"
            time.sleep(0.001)
        sixth = api("GET", "/Organisation")
    finally:
        xero.sandbox.faults.resume()
        for t in threads:
            t.join()
    assert (sixth.status_code, sixth.headers["X-Rate-Limit-Problem"]) == (429, "concurrent")
    assert answers == [200] * 5


def test_an_idempotency_key_replays_then_refuses_a_different_request(api, xero):
    key = {"Idempotency-Key": "k-1"}
    first = api("PUT", "/Invoices", {"Invoices": [invoice()]}, key, summarizeErrors="false")
    again = api("PUT", "/Invoices", {"Invoices": [invoice()]}, key, summarizeErrors="false")
    assert again.body["Invoices"][0]["InvoiceID"] == first.body["Invoices"][0]["InvoiceID"]
    assert len(xero.invoices()) == 1
    other = api(
        "PUT", "/Invoices", {"Invoices": [invoice(amount="5.00")]}, key, summarizeErrors="false"
    )
    assert other.status_code == 400
    assert other.body["Message"] == "Idempotency Key: k-1 is used with a different request."
    xero.sandbox.clock.advance(timedelta(minutes=6, seconds=1))  # the key has expired
    later = api("PUT", "/Invoices", {"Invoices": [invoice(amount="5.00")]}, key)
    assert later.status_code == 200 and len(xero.invoices()) == 2


def test_summarised_errors_answer_400_yet_create_the_valid_ones(api, xero):
    body = {"Invoices": [invoice("A"), invoice("B", currency="GBP"), invoice("C")]}
    answer = api("PUT", "/Invoices", body)
    assert answer.status_code == 400 and answer.body["Type"] == "ValidationException"
    (element,) = answer.body["Elements"]
    assert element["ValidationErrors"] == [
        {"Message": "Organisation is not subscribed to currency GBP"}
    ]
    assert sorted(i["Reference"] for i in xero.invoices()) == ["A", "C"]  # created anyway


def test_unsummarised_errors_report_every_element(api, xero):
    body = {"Invoices": [invoice("A"), invoice("B", currency="GBP")]}
    answer = api("PUT", "/Invoices", body, summarizeErrors="false")
    assert answer.status_code == 200
    ok, bad = answer.body["Invoices"]
    assert (ok["StatusAttributeString"], bad["StatusAttributeString"]) == ("OK", "ERROR")
    assert bad["HasErrors"] is True and bad["ValidationErrors"]
    assert [i["Reference"] for i in xero.invoices()] == ["A"]


def test_contact_names_are_unique(api):
    first = api("PUT", "/Contacts", {"Contacts": [{"Name": "Acme"}]})
    assert first.status_code == 200
    again = api("PUT", "/Contacts", {"Contacts": [{"Name": "ACME"}]}, summarizeErrors="false")
    assert (
        "already assigned to another contact"
        in again.body["Contacts"][0]["ValidationErrors"][0]["Message"]
    )


def test_payments_credits_and_voids_keep_the_amounts_right(api, xero):
    doc = api("PUT", "/Invoices", {"Invoices": [invoice(amount="100.00")]}).body["Invoices"][0]
    paid = xero.pay(doc["InvoiceID"], "30.00")
    credit = api(
        "PUT",
        "/CreditNotes",
        {"CreditNotes": [{**invoice("CN"), "Type": "ACCRECCREDIT"}]},
    ).body["CreditNotes"][0]
    assert credit["RemainingCredit"] == Decimal("100.00")
    allocated = api(
        "PUT",
        f"/CreditNotes/{credit['CreditNoteID']}/Allocations",
        {
            "Allocations": [
                {
                    "Invoice": {"InvoiceID": doc["InvoiceID"]},
                    "Amount": Decimal("20"),
                    "Date": "2026-11-20",
                }
            ]
        },
    )
    assert allocated.status_code == 200
    now = api("GET", f"/Invoices/{doc['InvoiceID']}").body["Invoices"][0]
    assert (now["AmountPaid"], now["AmountCredited"], now["AmountDue"]) == (
        Decimal("30.00"),
        Decimal("20.00"),
        Decimal("50.00"),
    )
    void = api("POST", f"/Invoices/{doc['InvoiceID']}", {"Invoices": [{"Status": "VOIDED"}]})
    assert void.status_code == 400
    assert (
        "payment or credit note allocated"
        in void.body["Elements"][0]["ValidationErrors"][0]["Message"]
    )
    xero.pay(doc["InvoiceID"], "50.00")
    done = api("GET", f"/Invoices/{doc['InvoiceID']}").body["Invoices"][0]
    assert done["Status"] == "PAID" and done["FullyPaidOnDate"] == "/Date(1795132800000+0000)/"
    deleted = api("POST", f"/Payments/{paid['PaymentID']}", {"Status": "DELETED"})
    assert deleted.status_code == 200
    back = api("GET", f"/Invoices/{doc['InvoiceID']}").body["Invoices"][0]
    assert (back["Status"], back["AmountDue"]) == ("AUTHORISED", Decimal("30.00"))
    assert "FullyPaidOnDate" not in back


def test_a_draft_is_deleted_and_an_unpaid_invoice_voided(api):
    draft = api("PUT", "/Invoices", {"Invoices": [invoice("D", Status="DRAFT")]}).body
    draft_id = draft["Invoices"][0]["InvoiceID"]
    refused = api("POST", f"/Invoices/{draft_id}", {"Invoices": [{"Status": "VOIDED"}]})
    assert refused.status_code == 400
    gone = api("POST", f"/Invoices/{draft_id}", {"Invoices": [{"Status": "DELETED"}]})
    assert gone.body["Invoices"][0]["Status"] == "DELETED"
    live = api("PUT", "/Invoices", {"Invoices": [invoice("V")]}).body["Invoices"][0]
    voided = api("POST", f"/Invoices/{live['InvoiceID']}", {"Invoices": [{"Status": "VOIDED"}]})
    assert voided.body["Invoices"][0]["Status"] == "VOIDED"


def test_lists_filter_by_where_statuses_and_if_modified_since_and_page(api, xero):
    api("PUT", "/Invoices", {"Invoices": [invoice(f"R{n}") for n in range(5)]})
    where = api("GET", "/Invoices", where='Reference=="R1" OR Reference=="r3"')
    assert sorted(i["Reference"] for i in where.body["Invoices"]) == ["R1", "R3"]
    page = api("GET", "/Invoices", page="2", pageSize="2")
    assert [i["Reference"] for i in page.body["Invoices"]] == ["R2", "R3"]
    assert page.body["pagination"] == {"page": 2, "pageSize": 2, "pageCount": 3, "itemCount": 5}
    xero.sandbox.clock.advance(timedelta(minutes=10))
    since = xero.sandbox.clock.now().isoformat()
    paid = xero.invoices()[0]
    xero.pay(paid["InvoiceID"], "10.00")
    changed = api("GET", "/Invoices", headers={"If-Modified-Since": since})
    assert [i["InvoiceID"] for i in changed.body["Invoices"]] == [paid["InvoiceID"]]
    assert api("GET", "/Invoices", Statuses="VOIDED").body["Invoices"] == []


def test_tokens_expire_after_30_minutes_and_rotate_with_a_grace_period(xero):
    issued = xero.sandbox.issue_tokens([xero.tenant])
    token = xero.sandbox.token_url

    def refresh(value: str) -> requests.Response:
        return requests.post(
            token,
            data={"grant_type": "refresh_token", "refresh_token": value},
            auth=(CLIENT_ID, CLIENT_SECRET),
            timeout=10,
        )

    first = refresh(issued["refresh_token"])
    assert first.status_code == 200 and first.json()["expires_in"] == 1800
    assert refresh(issued["refresh_token"]).status_code == 200  # lost response: grace period
    xero.sandbox.clock.advance(timedelta(minutes=31))
    assert refresh(issued["refresh_token"]).json() == {"error": "invalid_grant"}
    assert refresh(first.json()["refresh_token"]).status_code == 200  # never used: still good
    expired = requests.get(
        xero.sandbox.api_url + "/Organisation",
        headers={
            "Authorization": f"Bearer {issued['access_token']}",
            "xero-tenant-id": xero.tenant,
        },
        timeout=10,
    )
    assert expired.status_code == 401 and "TokenExpired" in expired.json()["Detail"]


def test_connections_list_the_granted_organisations(xero):
    other = xero.sandbox.seed_organisation("00000000-0000-4000-8000-0000000000aa", name="Other")
    issued = xero.sandbox.issue_tokens([xero.tenant])
    answer = requests.get(
        xero.sandbox.identity_url + "/connections",
        headers={"Authorization": f"Bearer {issued['access_token']}"},
        timeout=10,
    )
    assert [(c["tenantId"], c["tenantName"]) for c in answer.json()] == [
        (xero.tenant, "Northwind Books")
    ]
    forbidden = requests.get(
        xero.sandbox.api_url + "/Organisation",
        headers={"Authorization": f"Bearer {issued['access_token']}", "xero-tenant-id": other},
        timeout=10,
    )
    assert forbidden.status_code == 403


def test_a_500_is_cached_under_its_idempotency_key_for_six_minutes(api, xero):
    """As Xero documents: the internal error is replayed for the key even once it is resolved;
    the write it interrupted happened once (applied=True) and is not repeated by the replay."""
    key = {"Idempotency-Key": "k-500"}
    xero.sandbox.faults.server_error(match="PUT /api.xro/2.0/Invoices", applied=True)
    body = {"Invoices": [invoice("R500")]}
    first = api("PUT", "/Invoices", body, key, summarizeErrors="false")
    assert first.status_code == 500
    again = api("PUT", "/Invoices", body, key, summarizeErrors="false")
    assert again.status_code == 500  # the fault is spent: this is the cached answer
    assert [i["Reference"] for i in xero.invoices()] == ["R500"]
    fresh = api("PUT", "/Invoices", body, {"Idempotency-Key": "k-new"}, summarizeErrors="false")
    assert fresh.status_code == 200 and len(xero.invoices()) == 2
    xero.sandbox.clock.advance(timedelta(minutes=6, seconds=1))
    later = api("PUT", "/Invoices", body, key, summarizeErrors="false")
    assert later.status_code == 200


def test_batch_answers_can_leave_out_or_reorder_elements(api, xero):
    body = {"Invoices": [invoice("A"), invoice("B"), invoice("C")]}
    xero.sandbox.faults.omit_elements(match="PUT /api.xro/2.0/Invoices", index=1)
    short = api("PUT", "/Invoices", body, summarizeErrors="false")
    assert [i["Reference"] for i in short.body["Invoices"]] == ["A", "C"]
    assert sorted(i["Reference"] for i in xero.invoices()) == ["A", "B", "C"]  # all created
    xero.sandbox.faults.reorder_elements(match="PUT /api.xro/2.0/Invoices")
    body = {"Invoices": [invoice("D"), invoice("E")]}
    turned = api("PUT", "/Invoices", body, summarizeErrors="false")
    assert [i["Reference"] for i in turned.body["Invoices"]] == ["E", "D"]


def test_a_submitted_invoice_is_deleted_not_voided(api):
    """Xero voids only AUTHORISED invoices; DRAFT and SUBMITTED ones are deleted."""
    sent = api("PUT", "/Invoices", {"Invoices": [invoice("S", Status="SUBMITTED")]}).body
    doc_id = sent["Invoices"][0]["InvoiceID"]
    refused = api("POST", f"/Invoices/{doc_id}", {"Invoices": [{"Status": "VOIDED"}]})
    assert refused.status_code == 400
    gone = api("POST", f"/Invoices/{doc_id}", {"Invoices": [{"Status": "DELETED"}]})
    assert gone.body["Invoices"][0]["Status"] == "DELETED"


def test_admin_http_api(checked_sandbox):
    sandbox = checked_sandbox()
    admin = sandbox.url + "/admin"
    seeded = requests.post(
        f"{admin}/organisations", json={"tenant_id": "t-1", "name": "Admin Co"}, timeout=5
    )
    assert seeded.json() == {"tenant_id": "t-1"}
    token = requests.post(f"{admin}/tokens", json={"tenants": ["t-1"]}, timeout=5).json()
    assert token["access_token"] and token["refresh_token"]
    held = requests.get(f"{admin}/organisations/t-1", timeout=5).json()
    assert held == {"invoices": [], "credit_notes": [], "contacts": []}
    faults = requests.post(f"{admin}/faults", json={"fail": {"count": 2, "status": 502}})
    assert faults.json()["rules"][0]["remaining"] == 2
    assert requests.get(f"{admin}/faults", timeout=5).json()["rules"][0]["remaining"] == 2
    assert requests.delete(f"{admin}/faults", timeout=5).json()["rules"] == []
    before = sandbox.clock.now()
    moved = requests.post(f"{admin}/clock", json={"advance_seconds": 3600}, timeout=5).json()
    assert moved["now"] >= (before + timedelta(hours=1)).isoformat()
    assert requests.post(f"{admin}/forget-idempotency-keys", timeout=5).json() == {}
    missing = requests.post(f"{admin}/organisations", json={}, timeout=5)
    assert missing.status_code == 400 and "tenant_id" in missing.json()["error"]
    assert requests.get(f"{admin}/nowhere", timeout=5).status_code == 404
    assert requests.post(f"{admin}/reset", timeout=5).json() == {}
    assert requests.get(f"{admin}/organisations/t-1", timeout=5).status_code == 400


# --- tax, tracking, currencies and sending (issue 13) -------------------------------------------


@pytest.fixture
def gb(xero_books):
    world = xero_books("GB", "GBP", tracking={"Region": ["North", "South"]}, currencies=("EUR",))
    return world, Api(world)


def gb_invoice(reference: str = "R1", amounts=("100.00",), **extra):
    lines = [
        {
            "Description": "Work",
            "Quantity": Decimal(1),
            "UnitAmount": Decimal(a),
            "AccountCode": "200",
        }
        for a in amounts
    ]
    return {**invoice(reference, currency="GBP"), "LineItems": lines, **extra}


def test_each_region_has_its_own_tax_rates_and_settings(gb, xero_books):
    _, api = gb
    rates = {r["TaxType"]: r for r in api("GET", "/TaxRates").body["TaxRates"]}
    assert rates["OUTPUT2"]["Name"] == "20% (VAT on Income)"
    assert (
        rates["OUTPUT2"]["EffectiveRate"] == Decimal(20) and rates["OUTPUT2"]["CanApplyToRevenue"]
    )
    assert rates["INPUT2"]["CanApplyToRevenue"] is False
    (org,) = api("GET", "/Organisation").body["Organisations"]
    assert (org["CountryCode"], org["Version"], org["BaseCurrency"]) == ("GB", "UK", "GBP")
    assert org["DefaultSalesTax"] == "Tax Exclusive" and org["PaysTax"] is True
    codes = [c["Code"] for c in api("GET", "/Currencies").body["Currencies"]]
    assert codes == ["EUR", "GBP"]
    au = Api(xero_books("AU", "AUD", business="Koala Co"))
    au_rates = {r["TaxType"]: r for r in au("GET", "/TaxRates").body["TaxRates"]}
    assert au_rates["OUTPUT"]["Name"] == "GST on Income"
    assert au_rates["OUTPUT"]["EffectiveRate"] == Decimal(10)
    assert "OUTPUT2" not in au_rates


@pytest.mark.parametrize(
    ("amounts", "tax", "total"),
    [
        ("Exclusive", "190.00", "1140.00"),
        ("Inclusive", "158.34", "950.00"),
        ("NoTax", "0", "950.00"),
    ],
)
def test_tax_is_computed_per_line_by_line_amount_types(gb, amounts, tax, total):
    """1000.00 and -50.00 at 20%: Exclusive adds 200.00 and -10.00; Inclusive takes out 166.67
    and -8.33 (rounded per line); NoTax has none."""
    _, api = gb
    body = gb_invoice(amounts=("1000.00", "-50.00"), LineAmountTypes=amounts)
    for line in body["LineItems"]:
        line["TaxType"] = "OUTPUT2"
    (doc,) = api("PUT", "/Invoices", {"Invoices": [body]}).body["Invoices"]
    assert (doc["TotalTax"], doc["Total"]) == (Decimal(tax), Decimal(total))


def test_a_line_without_a_tax_type_takes_its_account_s(gb):
    """Account 200 (Sales) is at 20% VAT in a UK organisation: leaving TaxType out with
    Exclusive amounts adds VAT."""
    _, api = gb
    (doc,) = api("PUT", "/Invoices", {"Invoices": [gb_invoice(LineAmountTypes="Exclusive")]}).body[
        "Invoices"
    ]
    assert doc["LineItems"][0]["TaxType"] == "OUTPUT2" and doc["TotalTax"] == Decimal("20.00")


def test_an_unknown_tax_type_is_refused_in_xero_s_words(gb):
    world, api = gb
    body = gb_invoice()
    body["LineItems"][0]["TaxType"] = "20% (VAT on Income)"  # a name is not a TaxType
    answer = api("PUT", "/Invoices", {"Invoices": [body]})
    assert answer.status_code == 400
    (message,) = answer.body["Elements"][0]["ValidationErrors"]
    assert message["Message"] == (
        "The TaxType code 20% (VAT on Income) does not exist or cannot be used for this type "
        "of transaction."
    )
    body["LineItems"][0]["TaxType"] = "INPUT2"
    refused = api("PUT", "/Invoices", {"Invoices": [body]})
    assert "cannot be used with account code '200'" in str(refused.body)
    assert world.invoices() == []


def test_tracking_that_matches_nothing_is_dropped_without_a_word(gb):
    """As integrators report of Xero: the invoice is created, its unknown tracking is gone."""
    world, api = gb
    body = gb_invoice()
    body["LineItems"][0]["Tracking"] = [
        {"Name": "Region", "Option": "East"},
        {"Name": "region", "Option": "north"},
    ]
    answer = api("PUT", "/Invoices", {"Invoices": [body]})
    assert answer.status_code == 200
    (line,) = answer.body["Invoices"][0]["LineItems"]
    assert [(t["Name"], t["Option"]) for t in line["Tracking"]] == [("Region", "North")]
    world.sandbox.archive_tracking_option(world.tenant, "Region", "North")
    again = api("PUT", "/Invoices", {"Invoices": [gb_invoice("R2")]})
    assert again.status_code == 200
    body["LineItems"][0]["Tracking"] = [{"Name": "Region", "Option": "North"}]
    archived = api("PUT", "/Invoices", {"Invoices": [{**body, "Reference": "R3"}]}).body
    assert archived["Invoices"][0]["LineItems"][0]["Tracking"] == []
    categories = api("GET", "/TrackingCategories").body["TrackingCategories"]
    assert [o["Name"] for o in categories[0]["Options"]] == ["South"]
    everything = api("GET", "/TrackingCategories", includeArchived="true").body
    assert len(everything["TrackingCategories"][0]["Options"]) == 2
    body["LineItems"][0]["Tracking"] = [{"Name": "Region", "Option": "South"}] * 3
    assert api("PUT", "/Invoices", {"Invoices": [{**body, "Reference": "R4"}]}).status_code == 400


def test_an_invoice_is_emailed_by_xero_s_rules(gb):
    world, api = gb
    (draft,) = api("PUT", "/Invoices", {"Invoices": [gb_invoice("D", Status="DRAFT")]}).body[
        "Invoices"
    ]
    (live,) = api("PUT", "/Invoices", {"Invoices": [gb_invoice("A")]}).body["Invoices"]
    assert live["SentToContact"] is False
    refused = api("POST", f"/Invoices/{draft['InvoiceID']}/Email", {})
    assert refused.status_code == 400 and "DRAFT" in refused.body["Message"]
    no_address = api("POST", f"/Invoices/{live['InvoiceID']}/Email", {})
    assert no_address.status_code == 400 and "no email address" in no_address.body["Message"]
    world.sandbox.set_contact_email(world.tenant, "Acme Corporation", "ap@acme.example")
    key = {"Idempotency-Key": "send-1"}
    sent = api("POST", f"/Invoices/{live['InvoiceID']}/Email", {}, key)
    assert (sent.status_code, sent.content) == (204, b"")
    replayed = api("POST", f"/Invoices/{live['InvoiceID']}/Email", {}, key)
    assert replayed.status_code == 204  # the key's first answer, not a second email
    assert world.sandbox.emails(world.tenant, live["InvoiceID"]) == ["ap@acme.example"]
    now = api("GET", f"/Invoices/{live['InvoiceID']}").body["Invoices"][0]
    assert now["SentToContact"] is True
    link = api("GET", f"/Invoices/{live['InvoiceID']}/OnlineInvoice").body["OnlineInvoices"]
    assert link[0]["OnlineInvoiceUrl"].startswith("https://in.xero.com/")
    assert api("GET", f"/Invoices/{draft['InvoiceID']}/OnlineInvoice").status_code == 404


def test_an_odd_field_fault_serves_xero_s_own_odd_example(api, xero, xero_spec):
    (doc,) = api("PUT", "/Invoices", {"Invoices": [invoice()]}).body["Invoices"]
    xero.pay(doc["InvoiceID"], "10.00")
    xero.sandbox.faults.odd_field(
        "BatchPayment.IsReconciled", "false", match="GET /api.xro/2.0/Payments"
    )
    (payment,) = api("GET", "/Payments").body["Payments"]
    assert payment["BatchPayment"] == {"IsReconciled": "false"}
    assert api("GET", "/Payments").body["Payments"][0].get("BatchPayment") is None  # spent
    take_violations(xero_spec, "IsReconciled")  # Xero's example breaks Xero's own schema


def test_admin_http_api_sets_a_region_tracking_and_contact_emails(checked_sandbox):
    sandbox = checked_sandbox()
    admin = sandbox.url + "/admin"
    seed = {"tenant_id": "t-gb", "country": "GB", "base_currency": "GBP"}
    seed["tracking"] = {"Region": ["North"]}
    seed["contacts"] = ["Acme Ltd"]
    assert requests.post(f"{admin}/organisations", json=seed, timeout=5).status_code == 200
    org = sandbox.organisation("t-gb")
    assert "OUTPUT2" in org.tax_rates and [c["Name"] for c in org.tracking.values()] == ["Region"]
    body = {"name": "Acme Ltd", "email": "ap@acme.example"}
    assert requests.post(f"{admin}/organisations/t-gb/contact-email", json=body, timeout=5).ok
    assert sandbox.contacts("t-gb")[0]["EmailAddress"] == "ap@acme.example"
    odd = {"odd_field": {"field": "Total", "value": "n/a", "match": "GET .*/Invoices"}}
    rules = requests.post(f"{admin}/faults", json=odd, timeout=5).json()["rules"]
    assert rules[0]["kind"] == "odd_field"
