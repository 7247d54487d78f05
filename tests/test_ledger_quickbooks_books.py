"""Real books through the QuickBooks adapter: tax per country, currencies, classes and
locations, the company's profile, Intuit's id lengths with a replay, CDC over its cap and
sending, all through python-quickbooks over real HTTP against the local sandbox.

Companies: a US one with Automated Sales Tax, a Canadian GST/HST one, a UK VAT one and an
Australian GST one (the sandbox's standard codes for each country), and a USD company with
EUR enabled. Amounts are chosen so every rate gives whole cents: the tax is what the rates
make of the lines, and the total is net + tax.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from connector.adapters.base import (
    AmountsAre,
    Booking,
    CustomerRef,
    InvoiceRequest,
    Profiled,
    SendsInvoices,
)
from connector.adapters.cache import forget_all
from connector.adapters.quickbooks import QuickBooksLedger, QuickBooksPlugin, classify_fault
from connector.adapters.quickbooks import ids as qbo_ids
from connector.errors import SkippableLedgerError
from connector.models import Kind, Line, Role, idempotency_key, reference_for
from connector.testing.ledger import LedgerConformance
from connector_sandbox.quickbooks import DEFAULT_REALM, QuickBooksSandbox
from tests import qbo_support

D = Decimal
HOME = {"US": "USD", "CA": "CAD", "GB": "GBP", "AU": "AUD"}


@pytest.fixture(autouse=True)
def _unthrottled(qbo_server: QuickBooksSandbox) -> Iterator[None]:
    """This module sends a few hundred requests a minute to one realm, over QuickBooks' 500:
    the sandbox's counts start afresh for each test and for whatever test runs next."""
    qbo_server.limits.reset()
    qbo_server.batch_limits.reset()
    yield
    qbo_server.limits.reset()
    qbo_server.batch_limits.reset()


def company(sandbox: QuickBooksSandbox, country: str = "US", **seed: Any) -> QuickBooksLedger:
    """A fresh company of `country` in the sandbox, connected, and an adapter for it (the
    company is new under an old realm id: what the process kept of the last one is dropped)."""
    forget_all()
    sandbox.faults.clear()
    sandbox.seed_company(DEFAULT_REALM, country=country, **seed)
    qbo_support.connect(sandbox)
    return qbo_support.ledger(sandbox)


def bill(
    customer: CustomerRef, n: int, booking: Booking = Booking(), *amounts: str
) -> InvoiceRequest:
    """Invoice `n` of one contract: lines of 1000.00 and -40.00 unless `amounts` says."""
    key = idempotency_key("Books Co", "C-7", Kind.MILESTONE, (f"M{n}",), 0)
    lines = tuple(
        Line(f"Line {i}", D(a), Role.FIXED, f"M{n}")
        for i, a in enumerate(amounts or ("1000.00", "-40.00"), 1)
    )
    return InvoiceRequest(
        key=key,
        reference=reference_for(key),
        customer=customer,
        currency=customer.currency,
        kind=Kind.MILESTONE,
        date=date(2026, 11, 2),
        due_date=date(2026, 11, 17),
        lines=lines,
        memo=f"C-7: M{n}",
        booking=booking,
    )


def stored(sandbox: QuickBooksSandbox, ledger_id: str) -> dict[str, Any]:
    return next(i for i in sandbox.invoices() if i["Id"] == ledger_id)


def sales_lines(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [ln for ln in doc["Line"] if ln.get("DetailType") == "SalesItemLineDetail"]


def created(ledger: QuickBooksLedger, request: InvoiceRequest):
    (result,) = ledger.create_invoices([request])
    assert result.error is None, result.error
    assert result.invoice is not None
    return result.invoice


# -- the package's face ----------------------------------------------------------------------


def test_the_package_exports_stay_and_the_ledger_has_its_abilities(qbo):
    ledger = qbo_support.ledger(qbo)
    assert isinstance(ledger, Profiled) and isinstance(ledger, SendsInvoices)
    assert QuickBooksPlugin().name == "quickbooks"
    error = classify_fault({"Error": [{"Message": "Stale", "code": "5010", "Detail": "x"}]})
    assert isinstance(error, SkippableLedgerError) and error.code == "5010"


# -- tax, per country ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "seed", "booking", "tax"),
    [
        # US, Automated Sales Tax at the sandbox's 8.25%: lines marked taxable, AST computes
        ("US", {"automated_sales_tax": True}, Booking(taxable=True), "79.20"),
        ("US", {"automated_sales_tax": True}, Booking(taxable=False), "0.00"),
        # a US company without AST: the rate comes from the tax group named
        (
            "US",
            {"tax_codes": [{"name": "Tucson", "rates": [{"name": "AZ", "rate": "5.6"}]}]},
            Booking(taxable=True, tax_code="Tucson"),
            "53.76",
        ),
        ("CA", {}, Booking(tax_code="HST ON"), "124.80"),
        ("CA", {}, Booking(tax_code="gst/qst qc - 9.975"), "143.76"),  # names match any case
        ("GB", {}, Booking(tax_code="20.0% S"), "192.00"),
        ("GB", {}, Booking(tax_code="Exempt"), "0.00"),
        ("AU", {}, Booking(tax_code="GST"), "96.00"),
    ],
)
def test_invoices_are_accepted_with_the_tax_the_company_computes(qbo, country, seed, booking, tax):
    ledger = company(qbo, country, **seed)
    customer = ledger.find_or_create_customer("Acme Corporation", HOME[country])
    invoice = created(ledger, bill(customer, 1, booking))
    doc = stored(qbo, invoice.ledger_id)
    assert doc["TxnTaxDetail"]["TotalTax"] == D(tax) == invoice.tax
    assert invoice.total == doc["TotalAmt"] == D("960.00") + D(tax)
    codes = [
        ln["SalesItemLineDetail"].get("TaxCodeRef", {}).get("value") for ln in sales_lines(doc)
    ]
    if country == "US":
        assert "GlobalTaxCalculation" not in doc  # "not applicable to US companies"
        assert codes == ["TAX" if booking.taxable else "NON"] * 2
    else:
        assert doc["GlobalTaxCalculation"] == "TaxExcluded"
        code_id = ledger.books.tax_codes().id_of(booking.tax_code or "")
        assert code_id and codes == [code_id] * 2


def test_australian_amounts_that_include_gst_keep_their_gross(qbo):
    ledger = company(qbo, "AU")
    customer = ledger.find_or_create_customer("Acme Corporation", "AUD")
    invoice = created(ledger, bill(customer, 1, Booking("GST", amounts=AmountsAre.INCLUSIVE)))
    doc = stored(qbo, invoice.ledger_id)
    assert doc["GlobalTaxCalculation"] == "TaxInclusive"
    # 1000.00 is 909.09 + 90.91 GST; -40.00 is -36.36 - 3.64: what was billed is the gross
    assert invoice.total == D("960.00") and invoice.tax == D("87.27")
    assert [ln["SalesItemLineDetail"]["TaxInclusiveAmt"] for ln in sales_lines(doc)] == [
        D("1000.00"),
        D("-40.00"),
    ]


def test_a_missing_or_unknown_tax_code_is_refused_before_anything_is_sent(qbo):
    ledger = company(qbo, "CA")
    customer = ledger.find_or_create_customer("Acme Corporation", "CAD")
    missing, unknown, fine = ledger.create_invoices(
        [bill(customer, 1), bill(customer, 2, Booking("HST QC")), bill(customer, 3, Booking("GST"))]
    )
    assert missing.invoice is None and "needs a tax code on every line" in (missing.error or "")
    assert unknown.invoice is None and 'no active tax code "HST QC"' in (unknown.error or "")
    for result in (missing, unknown):
        assert '"HST ON"' in (result.error or "") and '"GST"' in (result.error or "")
    assert fine.invoice is not None and fine.invoice.tax == D("48.00")
    assert [i["Id"] for i in qbo.invoices()] == [fine.invoice.ledger_id]


def test_the_company_refuses_a_line_without_a_code_in_its_own_words(qbo):
    """What the adapter's refusal spares the bookkeeper: QuickBooks' own 6000."""
    ledger = company(qbo, "GB")
    customer = ledger.find_or_create_customer("Acme Corporation", "GBP")
    body = {
        "CustomerRef": {"value": customer.id},
        "GlobalTaxCalculation": "TaxExcluded",
        "Line": [
            {
                "Amount": 100,
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {"ItemRef": {"value": ledger.item_ref().value}, "Qty": 1},
            }
        ],
    }
    with pytest.raises(SkippableLedgerError, match="VAT rate") as refused:
        ledger.session.post("invoice", json.dumps(body))
    assert refused.value.code == "6000"


# -- currencies --------------------------------------------------------------------------------


def test_a_euro_invoice_in_a_dollar_company_is_booked_at_the_companys_rate(qbo):
    ledger = company(qbo, "US", currencies=["EUR"], exchange_rates={"EUR": "1.0850"})
    customer = ledger.find_or_create_customer("Acme GmbH", "EUR")
    invoice = created(ledger, bill(customer, 1))
    doc = stored(qbo, invoice.ledger_id)
    # the sandbox books a sent rate as sent, an explicit 1 included: 1.0850 is the company's
    assert doc["ExchangeRate"] == D("1.0850") and doc["HomeTotalAmt"] == D("1041.60")
    assert invoice.currency == "EUR" and invoice.total == D("960.00")
    body = ledger._document(bill(customer, 2))
    assert "ExchangeRate" not in body and "GlobalTaxCalculation" not in body
    # nothing said of taxability: no TaxCodeRef, the company's default applies
    assert all("TaxCodeRef" not in ln["SalesItemLineDetail"] for ln in body["Line"])


def test_a_foreign_currency_needs_multicurrency_and_the_customers_own_currency(qbo):
    ledger = company(qbo, "GB")
    with pytest.raises(SkippableLedgerError, match="GBP"):
        # the customer exists in GBP: an invoice in EUR is refused before anything is created
        ledger.find_or_create_customer("Acme Ltd", "GBP")
        ledger.find_or_create_customer("Acme Ltd", "EUR")
    euros = CustomerRef("1", "Acme Ltd", "EUR")
    (result,) = ledger.create_invoices([bill(euros, 1, Booking("20.0% S"))])
    assert result.invoice is None and "multicurrency is off" in (result.error or "")
    assert qbo.invoices() == []


# -- classes and locations ---------------------------------------------------------------------


def test_a_class_on_every_line_and_the_location_on_the_document(qbo):
    ledger = company(
        qbo,
        "US",
        classes=["Design", "Build"],
        departments=["Boston", "Austin"],
        class_tracking="line",
    )
    customer = ledger.find_or_create_customer("Acme Corporation", "USD")
    booking = Booking(class_name="build", location="Austin")
    invoice = created(ledger, bill(customer, 1, booking, "700.00", "300.00", "-50.00"))
    doc = stored(qbo, invoice.ledger_id)
    build, austin = ledger.books.classes().id_of("Build"), ledger.books.locations().id_of("Austin")
    assert [ln["SalesItemLineDetail"]["ClassRef"]["value"] for ln in sales_lines(doc)] == [
        build
    ] * 3
    assert doc["DepartmentRef"]["value"] == austin and "ClassRef" not in doc


def test_a_class_tracked_per_transaction_goes_on_the_document(qbo):
    ledger = company(qbo, "US", classes=["Design", "Build"], class_tracking="txn")
    customer = ledger.find_or_create_customer("Acme Corporation", "USD")
    invoice = created(ledger, bill(customer, 1, Booking(class_name="Design")))
    doc = stored(qbo, invoice.ledger_id)
    assert doc["ClassRef"]["value"] == ledger.books.classes().id_of("Design")
    assert all("ClassRef" not in ln["SalesItemLineDetail"] for ln in sales_lines(doc))


def test_unknown_classes_and_locations_are_refused_naming_the_lists(qbo):
    ledger = company(qbo, "US", classes=["Design"], departments=["Boston"], class_tracking="line")
    customer = ledger.find_or_create_customer("Acme Corporation", "USD")
    wrong_class, wrong_place = ledger.create_invoices(
        [
            bill(customer, 1, Booking(class_name="Paint")),
            bill(customer, 2, Booking(location="Oslo")),
        ]
    )
    assert 'no class "Paint"; the company has "Design"' in (wrong_class.error or "")
    assert 'no location "Oslo"; the company has "Boston"' in (wrong_place.error or "")
    off = company(qbo, "US")
    customer = off.find_or_create_customer("Acme Corporation", "USD")
    (result,) = off.create_invoices([bill(customer, 1, Booking(class_name="Design"))])
    assert "class tracking is off" in (result.error or "")
    assert qbo.invoices() == []


# -- the profile -------------------------------------------------------------------------------


def test_the_profile_of_each_kind_of_company(qbo):
    us = company(qbo, "US", automated_sales_tax=True, classes=["Design"], class_tracking="line")
    profile = us.profile()
    assert (profile.country, profile.home_currency, profile.multicurrency) == ("US", "USD", False)
    assert profile.automated_sales_tax and not profile.needs_tax_code
    assert profile.classes == ("Design",) and profile.locations is None
    assert profile.custom_numbers is True and ("class tracking", "per line") in profile.other
    assert "TAX" not in profile.tax_codes and "NON" not in profile.tax_codes

    ca = company(qbo, "CA", departments=["Toronto"]).profile()
    assert (ca.country, ca.home_currency, ca.needs_tax_code) == ("CA", "CAD", True)
    assert {"GST", "HST ON"} <= set(ca.tax_codes) and not ca.automated_sales_tax
    assert ca.classes is None and ca.locations == ("Toronto",)

    inactive = [{"name": "20.0% S", "rate": "20"}, {"name": "Old", "rate": "17.5", "active": False}]
    gb = company(qbo, "GB", tax_codes=inactive, custom_txn_numbers=False).profile()
    assert gb.tax_codes == ("20.0% S",) and gb.custom_numbers is False

    many = company(qbo, "US", currencies=["EUR", "CAD"]).profile()
    assert many.multicurrency and many.home_currency == "USD"


# -- Intuit's id lengths, and a replay ---------------------------------------------------------


def test_ids_are_within_intuits_lengths_and_the_same_for_the_same_keys():
    keys = [idempotency_key("Books Co", f"C-{n}", Kind.MILESTONE, (f"M{n}",), 0) for n in range(30)]
    assert all(len(k) > qbo_ids.ITEM_ID_MAX for k in keys)  # why they are derived at all
    batch = qbo_ids.batch_id(keys)
    assert len(batch) == qbo_ids.BATCH_ID_MAX and batch == qbo_ids.batch_id(list(keys))
    assert batch != qbo_ids.batch_id(keys[:-1])
    items = qbo_ids.item_ids(keys)
    assert len(items) == 30 and all(len(b) <= qbo_ids.ITEM_ID_MAX for b in items)
    assert [qbo_ids.item_id(k) for k in keys] == list(items)
    single = qbo_ids.request_id(keys[0], "void", "1")
    assert len(single) <= qbo_ids.REQUEST_ID_MAX and single == qbo_ids.request_id(
        keys[0], "void", "1"
    )


def test_a_batch_whose_answer_was_lost_is_replayed_into_its_first_answer(qbo):
    """QuickBooks numbers the invoices itself here, so no DocNumber can catch a second send:
    only the requestid does. The answer to the first batch is lost after QuickBooks saved the
    invoices; the session sends the same batch again, and so does a later run."""
    ledger = company(qbo, "GB", custom_txn_numbers=False)
    customer = ledger.find_or_create_customer("Acme Corporation", "GBP")
    requests = [bill(customer, n, Booking("20.0% S")) for n in range(1, 31)]
    qbo.faults.drop_after_commit(1, match="batch")
    first = ledger.create_invoices(requests)
    assert all(r.invoice is not None for r in first), [r.error for r in first]
    assert len(qbo.invoices()) == 30  # the sandbox refuses ids over Intuit's lengths
    later = company_again(qbo).create_invoices(requests)  # a run after a crash
    assert [r.invoice.ledger_id for r in later if r.invoice] == [
        r.invoice.ledger_id for r in first if r.invoice
    ]
    assert len(qbo.invoices()) == 30


def company_again(sandbox: QuickBooksSandbox) -> QuickBooksLedger:
    """A new adapter (a new process) on the same company."""
    return qbo_support.ledger(sandbox)


# -- CDC over its cap ------------------------------------------------------------------------


def test_a_cdc_window_over_the_cap_loses_no_payment(qbo, caplog):
    ledger = company(qbo, "US")
    customer = ledger.find_or_create_customer("Acme Corporation", "USD")
    big, small = ledger.create_invoices(
        [bill(customer, 1, Booking(), "2000.00"), bill(customer, 2, Booking(), "500.00")]
    )
    assert big.invoice and small.invoice
    # the payments land over the three hours before now (other tests may have moved the
    # sandbox's clock: it is set from the real one, and put back after)
    ahead = qbo.clock.now() - datetime.now(UTC)
    qbo.clock.advance(-ahead - timedelta(hours=4))
    try:
        cursor = (qbo.clock.now() + ledger_overlap()).isoformat()
        paid = []
        for n in range(1, 1201):
            qbo.clock.advance(timedelta(seconds=9))
            target = big.invoice if n % 5 else small.invoice
            paid.append(qbo.record_payment(DEFAULT_REALM, target.ledger_id, "1.00")["Id"])
        qbo.clock.advance(timedelta(hours=4) - timedelta(seconds=9 * 1200))
        assert len(paid) == 1200 > 1000
        with caplog.at_level("WARNING", logger="connector.ledger.quickbooks"):
            changes = ledger.payment_changes(cursor)
    finally:
        qbo.clock.advance(ahead)
    seen = {p.id for i in changes.invoices for p in i.payments}
    assert seen == set(paid)
    # CDC's own answer stopped at 1,000: the window was halved, its first part read by query
    assert "more than 1000 Payment changes" in caplog.text and "read by query" in caplog.text
    balances = {i.ledger_id: i.balance for i in changes.invoices}
    assert balances == {big.invoice.ledger_id: D("1040.00"), small.invoice.ledger_id: D("260.00")}


def ledger_overlap() -> timedelta:
    from connector.adapters.quickbooks.payments import CDC_OVERLAP

    return CDC_OVERLAP


# -- sending -------------------------------------------------------------------------------------


def test_an_invoice_is_sent_once_to_the_customers_address(qbo):
    ledger = company(qbo, "CA")
    customer = ledger.find_or_create_customer("Acme Corporation", "CAD")
    invoice = created(ledger, bill(customer, 1, Booking("GST")))
    with pytest.raises(SkippableLedgerError, match="'Acme Corporation' has no email address"):
        ledger.send_invoice(invoice.ledger_id, "send-1")
    assert qbo.sent_emails() == []
    qbo.set_customer_email(DEFAULT_REALM, "Acme Corporation", "ap@acme.example")
    sent = ledger.send_invoice(invoice.ledger_id, "send-1")
    assert sent.sent and sent.ledger_id == invoice.ledger_id
    again = company_again(qbo).send_invoice(invoice.ledger_id, "send-1")
    assert again.sent
    assert [(e["invoice_id"], e["to"]) for e in qbo.sent_emails()] == [
        (invoice.ledger_id, "ap@acme.example")
    ]
    found = ledger.find_invoices([invoice.reference])[invoice.reference]
    assert found.sent


def test_a_send_whose_answer_is_lost_is_not_sent_again(qbo):
    ledger = company(qbo, "US")
    customer = ledger.find_or_create_customer("Acme Corporation", "USD")
    invoice = created(ledger, bill(customer, 1))
    qbo.set_customer_email(DEFAULT_REALM, "Acme Corporation", "ap@acme.example")
    qbo.faults.drop_after_commit(1, match="send")
    assert ledger.send_invoice(invoice.ledger_id, "send-1").sent
    assert ledger.send_invoice(invoice.ledger_id, "send-1").sent
    assert len(qbo.sent_emails()) == 1


def test_the_payment_link_comes_back_where_the_invoice_takes_online_payment(qbo):
    """QuickBooks makes an InvoiceLink only for an invoice with online payment on and a
    customer email; the adapter leaves online payment to the company's own setting (it no
    longer sends python-quickbooks' False), here switched on for this invoice by a person."""
    ledger = company(qbo, "US")
    customer = ledger.find_or_create_customer("Acme Corporation", "USD")
    invoice = created(ledger, bill(customer, 1))
    assert invoice.payment_link is None
    qbo.set_customer_email(DEFAULT_REALM, "Acme Corporation", "ap@acme.example")
    current = ledger.session.get(f"invoice/{invoice.ledger_id}")["Invoice"]
    online = {"Id": current["Id"], "SyncToken": current["SyncToken"], "sparse": True}
    ledger.session.post("invoice", json.dumps({**online, "AllowOnlineCreditCardPayment": True}))
    sent = ledger.send_invoice(invoice.ledger_id, "send-1")
    assert sent.payment_link and sent.payment_link.startswith("https://")


# -- the conformance suite against companies outside the US ----------------------------------


class Booked:
    """The adapter with a contract's booking on every request, as the engine gives it."""

    def __init__(self, ledger: QuickBooksLedger, booking: Booking):
        self.ledger, self.booking = ledger, booking

    def create_invoices(self, requests):
        return self.ledger.create_invoices([replace(r, booking=self.booking) for r in requests])

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ledger, name)


# The suite checks totals as billed: codes that add nothing on top (zero-rated, or GST that
# the amounts already include), with every code, calculation and line mark still sent.
COMPANIES = {
    "US-AST": ("US", {"automated_sales_tax": True}, Booking(taxable=False)),
    "CA": ("CA", {}, Booking("Zero-rated")),
    "GB": ("GB", {}, Booking("0.0% Z")),
    "AU": ("AU", {}, Booking("GST", amounts=AmountsAre.INCLUSIVE)),
}


@pytest.fixture(params=sorted(COMPANIES))
def booked_company(request, qbo):
    country, seed, booking = COMPANIES[request.param]
    # the conformance customers bill in USD: each company keeps its country, with USD enabled
    home = {"CA": "CAD", "GB": "GBP", "AU": "AUD"}.get(country)
    if home:
        seed = {**seed, "currencies": ["USD"]}
    return Booked(company(qbo, country, **seed), booking)


class TestQuickBooksConformanceAbroad(LedgerConformance):
    @pytest.fixture
    def ledger(self, booked_company):
        return booked_company

    def pay(self, ledger, invoice, amount):
        _SANDBOX[0].record_payment(DEFAULT_REALM, invoice.ledger_id, amount, date(2026, 11, 20))

    @pytest.fixture(autouse=True)
    def _remember(self, qbo):
        _SANDBOX[:] = [qbo]


_SANDBOX: list[QuickBooksSandbox] = []
