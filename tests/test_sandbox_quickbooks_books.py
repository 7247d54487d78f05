"""The QuickBooks sandbox's real-books behaviours, through python-quickbooks over real HTTP:
country and tax, currencies, classes and departments, Intuit's id limits, the CDC cap and
sending. Each behaviour's vendor source (or "assumption") is listed in
tests/specs/quickbooks_sandbox_sources.md."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

import pytest
from quickbooks import QuickBooks
from quickbooks.cdc import change_data_capture
from quickbooks.exceptions import (
    QuickbooksException,
    UnsupportedException,
    ValidationException,
)
from quickbooks.objects.base import Ref
from quickbooks.objects.company_info import CompanyInfo
from quickbooks.objects.customer import Customer
from quickbooks.objects.department import Department
from quickbooks.objects.exchangerate import ExchangeRate
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.preferences import Preferences
from quickbooks.objects.tax import TxnTaxDetail
from quickbooks.objects.taxcode import TaxCode
from quickbooks.objects.taxrate import TaxRate
from quickbooks.objects.trackingclass import Class

from connector_sandbox.quickbooks import QuickBooksSandbox
from connector_sandbox.server import dumps
from tests.test_sandbox_quickbooks import connect, customer, invoice

D = Decimal
REALM = "9130350000000777"


@pytest.fixture(scope="module")
def server() -> Iterator[QuickBooksSandbox]:
    with QuickBooksSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(server: QuickBooksSandbox, monkeypatch: pytest.MonkeyPatch) -> QuickBooksSandbox:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    server.reset()
    return server


def company(sandbox: QuickBooksSandbox, **settings: object) -> QuickBooks:
    sandbox.seed_company(REALM, **settings)  # type: ignore[arg-type]
    return connect(sandbox, realm=REALM)


def ref(value: str) -> Ref:
    out = Ref()
    out.value = value
    return out


def codes(qb: QuickBooks) -> dict[str, str]:
    return {c.Name: c.Id for c in TaxCode.all(qb=qb)}


def coded(cust: Customer, code_id: str | None, *amounts: str) -> Invoice:
    inv = invoice(cust, *amounts)
    for line in inv.Line:
        line.SalesItemLineDetail.TaxCodeRef = ref(code_id) if code_id else None
    return inv


def fault_of(error: pytest.ExceptionInfo[QuickbooksException]) -> tuple[int, str]:
    return error.value.error_code, error.value.detail


# --- 1. country and tax -----------------------------------------------------------------------


def test_country_home_currency_and_tax_preferences(sandbox):
    qb = company(sandbox, country="CA", currencies=("USD",))
    assert CompanyInfo.get(REALM, qb=qb).Country == "CA"
    prefs = Preferences.get(qb=qb)
    assert prefs.CurrencyPrefs.HomeCurrency.value == "CAD"
    assert prefs.CurrencyPrefs.MultiCurrencyEnabled is True
    raw = qb.get(f"{qb.api_url}/company/{REALM}/preferences")["Preferences"]
    assert raw["TaxPrefs"] == {"UsingSalesTax": True}  # PartnerTaxEnabled absent: not AST

    us = company(sandbox, automated_sales_tax=True, class_tracking="line")
    prefs = Preferences.get(qb=us)
    assert prefs.TaxPrefs.PartnerTaxEnabled is True
    assert prefs.AccountingInfoPrefs.ClassTrackingPerTxnLine is True
    assert prefs.AccountingInfoPrefs.ClassTrackingPerTxn is False
    assert us.query("select * from CompanyInfo")["QueryResponse"]["CompanyInfo"][0]["Country"] == (
        "US"
    )


@pytest.mark.parametrize(
    ("country", "expected"),
    [
        ("CA", {"HST ON": D(13), "GST": D(5), "Exempt": D(0)}),
        ("GB", {"20.0% S": D(20), "5.0% R": D(5), "0.0% Z": D(0), "Exempt": D(0)}),
        ("AU", {"GST": D(10), "GST free": D(0)}),
    ],
)
def test_each_country_has_its_usual_tax_codes_and_rates(sandbox, country, expected):
    qb = company(sandbox, country=country)
    rates = {r.Id: D(str(r.RateValue)) for r in TaxRate.all(qb=qb)}
    found = {}
    for code in TaxCode.all(qb=qb):
        found[code.Name] = sum(
            (rates[d.TaxRateRef.value] for d in code.SalesTaxRateList.TaxRateDetail), D(0)
        )
    assert expected.items() <= found.items()
    hst = TaxCode.filter(Name=next(iter(expected)), qb=qb)
    assert len(hst) == 1 and TaxCode.get(hst[0].Id, qb=qb).Name == next(iter(expected))


def test_us_companies_answer_the_tax_and_non_pseudo_codes(sandbox):
    qb = company(sandbox)
    assert {c.Id: c.Taxable for c in TaxCode.all(qb=qb)} == {"TAX": True, "NON": False}
    with pytest.raises(UnsupportedException):  # TaxService makes codes, not a create
        qb.create_object("TaxCode", dumps({"Name": "Mine"}))


@pytest.mark.parametrize(
    ("country", "rate_word"), [("CA", "a GST/HST rate"), ("GB", "a VAT rate"), ("AU", "a GST rate")]
)
def test_outside_the_us_a_line_without_a_tax_code_is_refused(sandbox, country, rate_word):
    qb = company(sandbox, country=country)
    with pytest.raises(QuickbooksException) as refused:
        coded(customer(qb), None, "100.00").save(qb=qb)
    code, detail = fault_of(refused)
    assert code == 6000
    assert detail == (
        f"Business Validation Error: Make sure all your transactions have {rate_word} "
        "before you save."
    )
    assert sandbox.invoices(REALM) == []


def test_an_unknown_tax_code_is_an_invalid_reference(sandbox):
    qb = company(sandbox, country="GB")
    with pytest.raises(ValidationException) as refused:
        coded(customer(qb), "999", "100.00").save(qb=qb)
    assert refused.value.error_code == 2500
    us = company(sandbox)
    with pytest.raises(ValidationException) as not_pseudo:
        coded(customer(us), "7", "100.00").save(qb=us)
    assert not_pseudo.value.error_code == 2500


def test_tax_exclusive_totals_round_each_line_to_cents(sandbox):
    qb = company(sandbox, country="CA")
    hst = codes(qb)["HST ON"]
    saved = coded(customer(qb), hst, "100.00", "33.33", "0.05").save(qb=qb)
    # 13.00 + 4.3329 -> 4.33 + 0.0065 -> 0.01: 17.34 (one rounding for the sum would give 17.33)
    assert saved.TxnTaxDetail.TotalTax == D("17.34")
    assert saved.TotalAmt == D("150.72") and saved.Balance == saved.TotalAmt
    assert saved.GlobalTaxCalculation == "TaxExcluded"
    (line,) = saved.TxnTaxDetail.TaxLine
    assert line.TaxLineDetail.NetAmountTaxable == D("133.38")
    assert line.TaxLineDetail.TaxPercent == D(13) and line.Amount == D("17.34")
    assert [ln.SalesItemLineDetail.TaxCodeRef.value for ln in saved.Line[:-1]] == [hst] * 3


def test_a_two_rate_code_gives_one_tax_line_per_rate(sandbox):
    qb = company(sandbox, country="CA")
    saved = coded(customer(qb), codes(qb)["GST/QST QC - 9.975"], "200.00").save(qb=qb)
    amounts = sorted(t.Amount for t in saved.TxnTaxDetail.TaxLine)
    assert amounts == [D("10.00"), D("19.95")] and saved.TotalAmt == D("229.95")


def test_tax_inclusive_lines_back_the_tax_out(sandbox):
    qb = company(sandbox, country="AU")
    gst = codes(qb)["GST"]
    inv = coded(customer(qb), gst, "110.00", "9.99")
    inv.GlobalTaxCalculation = "TaxInclusive"
    saved = inv.save(qb=qb)
    # 110.00 = 100.00 + 10.00; 9.99 -> net 9.08, tax 0.91: the total is what was sent
    assert saved.TotalAmt == D("119.99") and saved.TxnTaxDetail.TotalTax == D("10.91")
    assert [ln.Amount for ln in saved.Line[:2]] == [D("100.00"), D("9.08")]
    assert [ln.SalesItemLineDetail.TaxInclusiveAmt for ln in saved.Line[:2]] == [
        D("110.00"),
        D("9.99"),
    ]
    again = Invoice.get(saved.Id, qb=qb)  # a full update sends both back: nothing moves
    assert again.save(qb=qb).TotalAmt == D("119.99")


def test_not_applicable_means_no_tax_and_no_code_needed(sandbox):
    qb = company(sandbox, country="GB")
    inv = coded(customer(qb), None, "80.00")
    inv.GlobalTaxCalculation = "NotApplicable"
    saved = inv.save(qb=qb)
    assert (saved.TotalAmt, saved.TxnTaxDetail.TotalTax) == (D("80.00"), D(0))


def test_us_automated_sales_tax_taxes_the_tax_lines_at_its_rate(sandbox):
    qb = company(sandbox, automated_sales_tax=True, ast_rate="8.25")
    acme = customer(qb)
    inv = invoice(acme, "1000.00", "250.00")
    inv.Line[0].SalesItemLineDetail.TaxCodeRef = ref("TAX")
    inv.Line[1].SalesItemLineDetail.TaxCodeRef = ref("NON")
    saved = inv.save(qb=qb)
    assert saved.TxnTaxDetail.TotalTax == D("82.50") and saved.TotalAmt == D("1332.50")
    assert saved.TxnTaxDetail.TaxLine[0].TaxLineDetail.NetAmountTaxable == D("1000.00")

    fixed = invoice(acme, "1000.00")
    fixed.Line[0].SalesItemLineDetail.TaxCodeRef = ref("TAX")
    fixed.TxnTaxDetail = TxnTaxDetail()
    fixed.TxnTaxDetail.TotalTax = D("70.00")  # an explicit amount is honoured
    assert fixed.save(qb=qb).TotalAmt == D("1070.00")


def test_us_without_ast_tax_needs_a_transaction_tax_code(sandbox):
    qb = company(sandbox, tax_codes=[{"name": "California", "rate": "7.25"}])
    acme = customer(qb)
    untaxed = invoice(acme, "100.00")
    untaxed.Line[0].SalesItemLineDetail.TaxCodeRef = ref("TAX")
    assert untaxed.save(qb=qb).TxnTaxDetail.TotalTax == D(0)
    taxed = invoice(acme, "100.00")
    taxed.Line[0].SalesItemLineDetail.TaxCodeRef = ref("TAX")
    taxed.TxnTaxDetail = TxnTaxDetail()
    taxed.TxnTaxDetail.TxnTaxCodeRef = ref(codes(qb)["California"])
    saved = taxed.save(qb=qb)
    assert (saved.TxnTaxDetail.TotalTax, saved.TotalAmt) == (D("7.25"), D("107.25"))


def test_a_voided_invoice_keeps_no_tax(sandbox):
    qb = company(sandbox, country="GB")
    saved = coded(customer(qb), codes(qb)["20.0% S"], "50.00").save(qb=qb)
    saved.void(qb=qb)
    voided = Invoice.get(saved.Id, qb=qb)
    assert (voided.TotalAmt, voided.TxnTaxDetail.TotalTax) == (D(0), D(0))


# --- 2. currencies ----------------------------------------------------------------------------


def eur_company(sandbox: QuickBooksSandbox) -> tuple[QuickBooks, Customer]:
    qb = company(sandbox, currencies=("EUR",), exchange_rates={"EUR": "1.08"})
    beta = Customer()
    beta.DisplayName = "Beta Bakery GmbH"
    beta.CurrencyRef = ref("EUR")
    return qb, beta.save(qb=qb)


def test_a_sent_exchange_rate_is_booked_as_sent_even_1(sandbox):
    qb, beta = eur_company(sandbox)
    at_one = invoice(beta, "100.00").save(qb=qb)  # python-quickbooks' default ExchangeRate 1
    assert (at_one.ExchangeRate, at_one.HomeTotalAmt) == (D(1), D("100.00"))
    given = invoice(beta, "100.00")
    given.ExchangeRate = D("1.1234")
    saved = given.save(qb=qb)
    assert (saved.ExchangeRate, saved.HomeTotalAmt) == (D("1.1234"), D("112.34"))


def test_without_a_rate_the_company_rate_of_the_day_applies(sandbox):
    qb, beta = eur_company(sandbox)
    inv = invoice(beta, "250.00")
    inv.ExchangeRate = None
    saved = inv.save(qb=qb)
    assert (saved.ExchangeRate, saved.HomeTotalAmt) == (D("1.08"), D("270.00"))
    assert Preferences.get(qb=qb).CurrencyPrefs.MultiCurrencyEnabled is True


def test_exchange_rates_are_queried_read_by_date_and_set(sandbox):
    qb, beta = eur_company(sandbox)
    today = sandbox.company(REALM).today()
    (rate,) = ExchangeRate.where("SourceCurrencyCode = 'EUR'", qb=qb)
    assert (rate.Rate, rate.TargetCurrencyCode, rate.AsOfDate) == (
        D("1.08"),
        "USD",
        today.isoformat(),
    )
    later = (today + timedelta(days=3)).isoformat()
    new = ExchangeRate()
    new.SourceCurrencyCode, new.AsOfDate, new.Rate = "EUR", later, D("1.10")
    assert new.save(qb=qb).Rate == D("1.10")
    url = f"{qb.api_url}/company/{REALM}/exchangerate"
    read = qb.get(url, params={"sourcecurrencycode": "EUR", "asofdate": later})
    assert read["ExchangeRate"]["Rate"] == D("1.10")
    before = qb.get(url, params={"sourcecurrencycode": "EUR"})  # today: the older rate
    assert before["ExchangeRate"]["Rate"] == D("1.08")
    dated = invoice(beta, "100.00")
    dated.ExchangeRate, dated.TxnDate = None, later
    assert dated.save(qb=qb).ExchangeRate == D("1.10")
    home = ExchangeRate()
    home.SourceCurrencyCode, home.AsOfDate, home.Rate = "USD", later, D(2)
    with pytest.raises(QuickbooksException) as refused:
        home.save(qb=qb)
    assert refused.value.error_code == 6000


def test_a_customer_has_one_fixed_currency(sandbox):
    qb, beta = eur_company(sandbox)
    in_dollars = invoice(beta, "10.00")
    in_dollars.CurrencyRef = ref("USD")
    with pytest.raises(QuickbooksException) as refused:
        in_dollars.save(qb=qb)
    assert refused.value.error_code == 6000 and "currency" in refused.value.detail
    invoice(beta, "10.00").save(qb=qb)
    held = Customer.get(beta.Id, qb=qb)
    held.CurrencyRef = ref("USD")
    with pytest.raises(QuickbooksException) as fixed:
        held.save(qb=qb)
    assert fixed.value.error_code == 6000


# --- 3. classes and departments ---------------------------------------------------------------


def test_classes_and_departments_are_lists(sandbox):
    qb = company(sandbox, classes=("Design", "Build"), departments=("Lisbon",))
    assert [c.Name for c in Class.all(qb=qb)] == ["Design", "Build"]
    assert [d.Name for d in Department.all(qb=qb)] == ["Lisbon"]
    extra = Class()
    extra.Name = "Maintenance"
    assert extra.save(qb=qb).FullyQualifiedName == "Maintenance"
    assert Preferences.get(qb=qb).AccountingInfoPrefs.TrackDepartments is True


def test_a_line_class_needs_class_tracking_per_line(sandbox):
    qb = company(sandbox, classes=("Design",), class_tracking="line")
    design = Class.filter(Name="Design", qb=qb)[0].Id
    inv = invoice(customer(qb), "100.00")
    inv.Line[0].SalesItemLineDetail.ClassRef = ref(design)
    saved = inv.save(qb=qb)
    assert saved.Line[0].SalesItemLineDetail.ClassRef.value == design
    on_doc = invoice(customer(qb, "Other"), "100.00")
    on_doc.ClassRef = ref(design)
    with pytest.raises(QuickbooksException) as refused:
        on_doc.save(qb=qb)
    assert refused.value.error_code == 6000 and "ClassTrackingPerTxnLine" in refused.value.detail
    unknown = invoice(customer(qb, "Third"), "100.00")
    unknown.Line[0].SalesItemLineDetail.ClassRef = ref("999")
    with pytest.raises(ValidationException) as invalid:
        unknown.save(qb=qb)
    assert invalid.value.error_code == 2500


@pytest.mark.parametrize("tracking", ["txn", "none"])
def test_a_document_class_needs_class_tracking_per_transaction(sandbox, tracking):
    qb = company(sandbox, classes=("Design",), class_tracking=tracking, departments=("Lisbon",))
    design = Class.filter(Name="Design", qb=qb)[0].Id
    inv = invoice(customer(qb), "100.00")
    inv.ClassRef = ref(design)
    inv.DepartmentRef = ref(Department.all(qb=qb)[0].Id)
    if tracking == "txn":
        saved = inv.save(qb=qb)
        assert (saved.ClassRef.value, saved.DepartmentRef.name) == (design, "Lisbon")
        lined = invoice(customer(qb, "Other"), "100.00")
        lined.Line[0].SalesItemLineDetail.ClassRef = ref(design)
        with pytest.raises(QuickbooksException) as refused:
            lined.save(qb=qb)
    else:
        with pytest.raises(QuickbooksException) as refused:
            inv.save(qb=qb)
    assert refused.value.error_code == 6000


def test_an_unknown_department_is_an_invalid_reference(sandbox):
    qb = company(sandbox, departments=("Lisbon",))
    inv = invoice(customer(qb), "100.00")
    inv.DepartmentRef = ref("999")
    with pytest.raises(ValidationException) as refused:
        inv.save(qb=qb)
    assert refused.value.error_code == 2500


# --- 4. id limits -----------------------------------------------------------------------------


def test_a_request_id_over_50_characters_is_refused(sandbox):
    qb = company(sandbox)
    acme = customer(qb)
    with pytest.raises(ValidationException) as refused:
        invoice(acme).save(qb=qb, request_id="r" * 51)
    assert refused.value.error_code == 2010 and "requestid" in refused.value.detail
    assert sandbox.invoices(REALM) == []
    assert invoice(acme).save(qb=qb, request_id="r" * 50).Id


def batch(qb: QuickBooks, request_id: str, *bids: str) -> dict:
    items = [{"bId": b, "Query": "select * from Item"} for b in bids]
    url = f"{qb.api_url}/company/{REALM}/batch"
    return qb.post(url, dumps({"BatchItemRequest": items}), request_id=request_id)


def test_batch_ids_within_intuits_lengths_when_a_request_id_is_set(sandbox):
    qb = company(sandbox)
    with pytest.raises(ValidationException) as long_request:
        batch(qb, "b" * 37, "1")
    assert long_request.value.error_code == 2010
    with pytest.raises(ValidationException) as long_bid:
        batch(qb, "b" * 36, "x" * 11)
    assert long_bid.value.error_code == 2010 and "bId" in long_bid.value.detail
    assert len(batch(qb, "b" * 36, "x" * 10)["BatchItemResponse"]) == 1
    url = f"{qb.api_url}/company/{REALM}/batch"  # without a requestid a bId may be longer
    body = dumps({"BatchItemRequest": [{"bId": "y" * 40, "Query": "select * from Item"}]})
    assert qb.post(url, body)["BatchItemResponse"][0]["bId"] == "y" * 40


def test_a_batch_replays_only_with_the_same_request_id_and_batch_ids(sandbox):
    qb = company(sandbox)
    acme = customer(qb)
    url = f"{qb.api_url}/company/{REALM}/batch"

    def create(bid: str) -> dict:
        body = {
            "BatchItemRequest": [
                {
                    "bId": bid,
                    "operation": "create",
                    "Invoice": {
                        "CustomerRef": {"value": acme.Id},
                        "Line": [{"Amount": "10.00", "DetailType": "SalesItemLineDetail"}],
                    },
                }
            ]
        }
        return qb.post(url, dumps(body), request_id="batch-1")

    first, again = create("1"), create("1")
    assert again == first and len(sandbox.invoices(REALM)) == 1
    create("2")  # same requestid, another bId: another request
    assert len(sandbox.invoices(REALM)) == 2


# --- 5. CDC cap -------------------------------------------------------------------------------


def test_cdc_answers_at_most_1000_objects_oldest_first(sandbox):
    qb = company(sandbox)
    books = sandbox.company(REALM)
    since = (sandbox.clock.now() - timedelta(minutes=1)).isoformat()
    with books.lock:
        for n in range(1001):
            books.create("Customer", {"DisplayName": f"Customer {n:04d}"})
            sandbox.clock.advance(timedelta(seconds=1))
    found = change_data_capture([Customer], since, qb=qb)
    assert len(found.Customer) == 1000
    assert (found.Customer[0].DisplayName, found.Customer[-1].DisplayName) == (
        "Customer 0000",
        "Customer 0999",
    )
    later = found.Customer[-1].MetaData["LastUpdatedTime"]  # a shorter window gets the rest
    rest = change_data_capture([Customer], later, qb=qb)
    assert [c.DisplayName for c in rest.Customer] == ["Customer 0999", "Customer 1000"]
    with pytest.raises(ValidationException):
        change_data_capture([TaxCode], since, qb=qb)


# --- 6. sending -------------------------------------------------------------------------------


def test_send_marks_the_invoice_sent_and_is_recorded(sandbox):
    qb = company(sandbox)
    saved = invoice(customer(qb), "100.00").save(qb=qb)
    answer = saved.send(qb=qb, send_to="ap@acme.example")["Invoice"]
    assert answer["EmailStatus"] == "EmailSent"
    assert answer["BillEmail"] == {"Address": "ap@acme.example"}
    assert answer["DeliveryInfo"]["DeliveryType"] == "Email"
    read = Invoice.get(saved.Id, qb=qb)
    assert read.EmailStatus == "EmailSent" and read.SyncToken == "1"
    read.PrivateNote = "kept"
    assert read.save(qb=qb).DeliveryInfo.DeliveryType == "Email"  # read only: it stays
    assert [(s["invoice_id"], s["to"]) for s in sandbox.sent_emails(REALM)] == [
        (saved.Id, "ap@acme.example")
    ]


def test_send_without_an_address_is_refused_and_uses_the_customer_email(sandbox):
    qb = company(sandbox)
    saved = invoice(customer(qb), "100.00").save(qb=qb)
    with pytest.raises(QuickbooksException) as refused:
        saved.send(qb=qb)
    assert refused.value.error_code == 6000 and "email" in refused.value.detail
    assert sandbox.sent_emails(REALM) == []
    with pytest.raises(ValidationException) as not_an_address:
        saved.send(qb=qb, send_to="accounts-payable")
    assert not_an_address.value.error_code == 2010
    sandbox.set_customer_email(REALM, "Acme Corporation", "billing@acme.example")
    saved.send(qb=qb)
    assert [s["to"] for s in sandbox.sent_emails(REALM)] == ["billing@acme.example"]
    queued = invoice(customer(qb, "Other"), "5.00")
    queued.EmailStatus = "NeedToSend"  # "BillEmail is a required input"
    with pytest.raises(ValidationException) as needs_address:
        queued.save(qb=qb)
    assert needs_address.value.error_code == 2020


def test_invoice_link_needs_online_payment_and_an_email(sandbox):
    qb = company(sandbox)
    acme = customer(qb)
    plain = invoice(acme, "100.00").save(qb=qb)
    online = invoice(acme, "100.00")
    online.AllowOnlineCreditCardPayment = True
    online = online.save(qb=qb)
    include = {"include": "invoiceLink"}
    assert not Invoice.get(online.Id, qb=qb, params=include).InvoiceLink  # no email yet
    sandbox.set_customer_email(REALM, "Acme Corporation", "billing@acme.example")
    link = Invoice.get(online.Id, qb=qb, params=include).InvoiceLink
    assert (
        link.startswith("https://")
        and link == Invoice.get(online.Id, qb=qb, params=include).InvoiceLink
    )
    assert not Invoice.get(plain.Id, qb=qb, params=include).InvoiceLink
    assert not Invoice.get(online.Id, qb=qb).InvoiceLink  # only when asked
    url = f"{qb.api_url}/company/{REALM}/query"
    listed = qb.get(url, params={"query": "select * from Invoice", "include": "invoiceLink"})
    assert [i.get("InvoiceLink") for i in listed["QueryResponse"]["Invoice"]] == [None, link]


def test_the_admin_api_seeds_a_country_and_its_codes(sandbox):
    import requests

    body = {
        "realm_id": "55",
        "country": "GB",
        "tax_codes": [{"name": "20.0% S", "rate": "20"}],
        "classes": ["Design"],
        "class_tracking": "line",
    }
    assert requests.post(f"{sandbox.url}/admin/companies", json=body, timeout=5).ok
    qb = connect(sandbox, realm="55")
    assert (
        list(codes(qb)) == ["20.0% S"]
        and Preferences.get(qb=qb).CurrencyPrefs.HomeCurrency.value == "GBP"
    )
    held = requests.get(f"{sandbox.url}/admin/companies/55/sent-emails", timeout=5).json()
    assert held == {"sent_emails": []}
    assert date.fromisoformat(sandbox.company("55").today().isoformat())
