"""Real books on Xero: a UK VAT and an Australian GST organisation, through xero-python over
real HTTP against the sandbox, every exchange checked against Xero's OpenAPI description.

Tax is the organisation's rate for the booking's code (a TaxType, or a rate's name) computed by
Xero per line; tracking goes on every line and is checked by the adapter before the push (Xero
would drop an unknown option without a word); an invoice is emailed once; and an answer with an
odd field costs that document, never the run."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from connector.adapters.base import (
    AmountsAre,
    Booking,
    CustomerRef,
    InvoiceRequest,
    Profiled,
    SendsInvoices,
)
from connector.errors import RetriableLedgerError, SkippableLedgerError
from connector.models import Kind, Line, Role, idempotency_key, reference_for
from tests.xero_support import XeroWorld, take_violations, xero_business

TRACKING = {"Region": ["North", "South"], "Project": ["Alpha", "Beta"]}
# The BatchPayment of the first payment in Xero's own example for GET /Payments
# (xero_accounting.yaml @e952d0b): IsReconciled is the string "false", TotalAmount a string.
SPEC_BATCH_PAYMENT = {
    "Account": {"AccountID": "5690f1e8-1d02-4893-90c2-ee1a69eff942"},
    "BatchPaymentID": "b54aa50c-794c-461b-89d1-846e1b84d9c0",
    "Date": "/Date(1552521600000+0000)/",
    "Type": "RECBATCH",
    "Status": "AUTHORISED",
    "TotalAmount": "50.00",
    "UpdatedDateUTC": "/Date(1541176592690+0000)/",
    "IsReconciled": "false",
}


def bill(
    customer: CustomerRef, n: int, *amounts: str, booking: Booking = Booking()
) -> InvoiceRequest:
    """Invoice `n` of one contract, one line per amount."""
    key = idempotency_key("Books Co", "C-1", Kind.MILESTONE, (f"M{n}",), 0)
    lines = tuple(
        Line(f"Milestone {n} part {i}", Decimal(a), Role.FIXED, f"M{n}")
        for i, a in enumerate(amounts, 1)
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
        booking=booking,
    )


def stored(world: XeroWorld, ledger_id: str) -> dict:
    return next(i for i in world.invoices() if i["InvoiceID"] == ledger_id)


def watch(world: XeroWorld, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every request line the sandbox sees from now on (still checked against the spec)."""
    seen: list[str] = []
    check = world.sandbox.observer

    def observe(request, response):
        seen.append(request.line)
        check(request, response)

    monkeypatch.setattr(world.sandbox, "observer", observe)
    return seen


@pytest.fixture
def uk(xero_books) -> XeroWorld:
    return xero_books("GB", "GBP", tracking=TRACKING)


@pytest.fixture
def au(xero_books) -> XeroWorld:
    return xero_books("AU", "AUD")


# --- tax ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["OUTPUT2", "20% (VAT on Income)", " output2 "])
def test_a_uk_invoice_is_taxed_at_the_organisation_s_vat_rate(uk, code):
    """A TaxType or the rate's name as the organisation shows it: both send OUTPUT2, and Xero
    adds 20% per line to the net amounts."""
    ledger = uk.ledger()
    customer = ledger.find_or_create_customer("Acme Ltd", "GBP")
    wanted = bill(customer, 1, "1000.00", "-50.00", booking=Booking(tax_code=code))
    (result,) = ledger.create_invoices([wanted])
    assert result.error is None, result.error
    doc = stored(uk, result.invoice.ledger_id)
    assert doc["LineAmountTypes"] == "Exclusive" and doc["CurrencyCode"] == "GBP"
    assert [ln["TaxType"] for ln in doc["LineItems"]] == ["OUTPUT2", "OUTPUT2"]
    assert [ln["TaxAmount"] for ln in doc["LineItems"]] == [Decimal("200.00"), Decimal("-10.00")]
    assert (doc["SubTotal"], doc["TotalTax"], doc["Total"]) == (
        Decimal("950.00"),
        Decimal("190.00"),
        Decimal("1140.00"),
    )
    assert (result.invoice.tax, result.invoice.total) == (Decimal("190.00"), Decimal("1140.00"))
    # a rerun finds the document by reference and takes it for this request (net 950.00)
    assert ledger.find_invoices([wanted.reference])[wanted.reference].tax == Decimal("190.00")


def test_australian_gst_inclusive_amounts_keep_the_total_and_take_the_tax_out(au):
    """Inclusive: the lines are what the client pays; Xero takes 1/11 out of each, rounded per
    line (-50.00 holds -4.55), and the total is the lines' sum to the cent."""
    ledger = au.ledger()
    customer = ledger.find_or_create_customer("Koala Pty Ltd", "AUD")
    booking = Booking(tax_code="GST on Income", amounts=AmountsAre.INCLUSIVE)
    (result,) = ledger.create_invoices([bill(customer, 1, "1100.00", "-50.00", booking=booking)])
    assert result.error is None, result.error
    doc = stored(au, result.invoice.ledger_id)
    assert doc["LineAmountTypes"] == "Inclusive"
    assert [ln["TaxType"] for ln in doc["LineItems"]] == ["OUTPUT", "OUTPUT"]
    assert [ln["TaxAmount"] for ln in doc["LineItems"]] == [Decimal("100.00"), Decimal("-4.55")]
    assert (doc["SubTotal"], doc["TotalTax"], doc["Total"]) == (
        Decimal("954.55"),
        Decimal("95.45"),
        Decimal("1050.00"),
    )
    assert (result.invoice.total, result.invoice.tax) == (Decimal("1050.00"), Decimal("95.45"))


def test_australian_gst_exclusive_and_no_tax(au):
    ledger = au.ledger()
    customer = ledger.find_or_create_customer("Koala Pty Ltd", "AUD")
    exclusive = bill(customer, 1, "1000.00", booking=Booking(tax_code="OUTPUT"))
    untaxed = bill(
        customer, 2, "1000.00", booking=Booking(tax_code="OUTPUT", amounts=AmountsAre.NO_TAX)
    )
    first, second = ledger.create_invoices([exclusive, untaxed])
    assert (first.invoice.tax, first.invoice.total) == (Decimal("100.00"), Decimal("1100.00"))
    assert (second.invoice.tax, second.invoice.total) == (Decimal("0.00"), Decimal("1000.00"))
    assert stored(au, second.invoice.ledger_id)["LineAmountTypes"] == "NoTax"


def test_an_unknown_tax_code_is_refused_before_anything_is_sent(uk, monkeypatch):
    """The message lists the sales rates the organisation has; no invoice is sent."""
    ledger = uk.ledger()
    customer = ledger.find_or_create_customer("Acme Ltd", "GBP")
    seen = watch(uk, monkeypatch)
    (result,) = ledger.create_invoices(
        [bill(customer, 1, "1000.00", booking=Booking(tax_code="VAT20"))]
    )
    assert result.invoice is None and not result.retriable
    assert 'tax code "VAT20" is not one of this Xero organisation\'s tax rates' in result.error
    assert "OUTPUT2 (20% (VAT on Income))" in result.error and "INPUT2" not in result.error
    assert "PUT /api.xro/2.0/Invoices" not in seen and uk.invoices() == []


def test_a_purchases_rate_is_refused_for_a_sales_invoice(uk):
    ledger = uk.ledger()
    customer = ledger.find_or_create_customer("Acme Ltd", "GBP")
    (result,) = ledger.create_invoices(
        [bill(customer, 1, "1000.00", booking=Booking(tax_code="20% (VAT on Expenses)"))]
    )
    assert "is for purchases" in result.error and uk.invoices() == []


def test_an_unknown_tax_type_in_the_settings_is_refused_by_xero_in_its_own_words(uk):
    """The business-wide `tax_type` is sent as it is (the booking names none): Xero refuses a
    TaxType the organisation does not have, on the item."""
    ledger = uk.ledger(tax_type="OUTPUT")  # an Australian and US code, not a UK one
    customer = ledger.find_or_create_customer("Acme Ltd", "GBP")
    (result,) = ledger.create_invoices([bill(customer, 1, "1000.00")])
    assert result.invoice is None
    assert "The TaxType code OUTPUT does not exist or cannot be used" in result.error
    assert uk.invoices() == []


def test_a_booking_that_says_nothing_about_tax_keeps_the_business_settings(uk):
    """No tax code and default amounts: the [ledger] settings decide, as before bookings."""
    ledger = uk.ledger(line_amount_types="Exclusive", tax_type="RROUTPUT")
    customer = ledger.find_or_create_customer("Acme Ltd", "GBP")
    (result,) = ledger.create_invoices([bill(customer, 1, "1000.00")])
    doc = stored(uk, result.invoice.ledger_id)
    assert doc["LineAmountTypes"] == "Exclusive" and doc["LineItems"][0]["TaxType"] == "RROUTPUT"
    assert result.invoice.tax == Decimal("50.00")


def test_the_currency_is_always_sent_and_one_the_organisation_lacks_is_refused(uk, monkeypatch):
    ledger = uk.ledger()
    seen_bodies: list[bytes] = []
    check = uk.sandbox.observer

    def observe(request, response):
        if request.line == "PUT /api.xro/2.0/Invoices":
            seen_bodies.append(request.body)
        check(request, response)

    monkeypatch.setattr(uk.sandbox, "observer", observe)
    pounds = ledger.find_or_create_customer("Acme Ltd", "GBP")
    dollars = ledger.find_or_create_customer("Yankee Inc", "USD")
    ok, refused = ledger.create_invoices([bill(pounds, 1, "10.00"), bill(dollars, 2, "10.00")])
    assert ok.invoice.currency == "GBP"
    assert "not subscribed to currency USD" in refused.error
    assert all(b'"CurrencyCode":"GBP"' in b or b'"CurrencyCode":"USD"' in b for b in seen_bodies)


# --- tracking ----------------------------------------------------------------------------------


def test_tracking_goes_on_every_line_by_the_organisation_s_own_names(uk):
    ledger = uk.ledger()
    customer = ledger.find_or_create_customer("Acme Ltd", "GBP")
    booking = Booking(tax_code="OUTPUT2", tracking=(("region", " north"), ("PROJECT", "beta")))
    (result,) = ledger.create_invoices([bill(customer, 1, "1000.00", "-50.00", booking=booking)])
    assert result.error is None, result.error
    doc = stored(uk, result.invoice.ledger_id)
    assert [[(t["Name"], t["Option"]) for t in ln["Tracking"]] for ln in doc["LineItems"]] == [
        [("Region", "North"), ("Project", "Beta")]
    ] * 2


@pytest.mark.parametrize(
    ("tracking", "words"),
    [
        ((("Region", "East"),), '"East" is not an active option of tracking category "Region"'),
        ((("Department", "North"),), 'tracking category "Department" does not exist'),
        ((("Region", "South"),), '"South" is not an active option'),  # archived below
        (
            (("Region", "North"), ("Project", "Alpha"), ("Region", "South")),
            "at most 2 on a line",
        ),
        ((("Region", "North"), ("region", "South")), "named twice"),
    ],
)
def test_tracking_xero_would_drop_is_refused_before_the_push(uk, monkeypatch, tracking, words):
    """Xero keeps an invoice whose tracking it cannot match and drops the tracking without a
    word (the sandbox does too, see test_sandbox_xero): the adapter checks the live list
    first and refuses, naming what the organisation has. Nothing is sent."""
    uk.sandbox.archive_tracking_option(uk.tenant, "Region", "South")
    ledger = uk.ledger()
    customer = ledger.find_or_create_customer("Acme Ltd", "GBP")
    seen = watch(uk, monkeypatch)
    (result,) = ledger.create_invoices(
        [bill(customer, 1, "1000.00", booking=Booking(tracking=tracking))]
    )
    assert result.invoice is None and words in result.error, result.error
    assert "PUT /api.xro/2.0/Invoices" not in seen and uk.invoices() == []
    if "East" in words:
        assert '(it has "North")' in result.error and "without a word" in result.error


# --- the organisation's profile ----------------------------------------------------------------


def test_the_profile_shows_what_the_organisation_is_set_up_with(xero_books):
    world = xero_books("GB", "GBP", tracking=TRACKING, currencies=("EUR",))
    world.sandbox.archive_tracking_option(world.tenant, "Project", "Alpha")
    ledger = world.ledger()
    assert isinstance(ledger, Profiled) and isinstance(ledger, SendsInvoices)
    profile = ledger.profile()
    assert (profile.country, profile.home_currency, profile.multicurrency) == ("GB", "GBP", True)
    assert profile.currencies == ("EUR", "GBP")
    assert {"OUTPUT2", "20% (VAT on Income)", "NONE", "No VAT"} <= set(profile.tax_codes)
    assert "INPUT2" not in profile.tax_codes  # a purchases rate is no code for an invoice
    assert dict(profile.tracking) == {"Region": ("North", "South"), "Project": ("Beta",)}
    other = dict(profile.other)
    assert other["default amounts on sales (LineAmountTypes)"] == "Tax Exclusive"
    assert other["sales tax basis"] == "ACCRUAL" and other["registered for tax"] == "yes"
    assert not profile.needs_tax_code and profile.classes is None


# --- sending -----------------------------------------------------------------------------------


def test_an_invoice_is_emailed_once_with_its_payment_link(uk):
    ledger = uk.ledger()
    customer = ledger.find_or_create_customer("Acme Ltd", "GBP")
    (result,) = ledger.create_invoices([bill(customer, 1, "1000.00")])
    assert result.invoice.sent is False
    uk.sandbox.set_contact_email(uk.tenant, "Acme Ltd", "accounts@acme.example")
    sent = ledger.send_invoice(result.invoice.ledger_id, result.key)
    assert sent.sent and sent.ledger_id == result.invoice.ledger_id
    assert sent.payment_link and sent.payment_link.startswith("https://in.xero.com/")
    assert uk.sandbox.emails(uk.tenant, sent.ledger_id) == ["accounts@acme.example"]
    assert stored(uk, sent.ledger_id)["SentToContact"] is True
    # again, in this run and in the next one: Xero shows it sent, nothing more is emailed
    assert ledger.send_invoice(sent.ledger_id, result.key).sent
    assert uk.ledger().send_invoice(sent.ledger_id, result.key).sent
    assert len(uk.sandbox.emails(uk.tenant, sent.ledger_id)) == 1
    assert uk.ledger().find_invoices([result.invoice.reference])[result.invoice.reference].sent
    assert uk.ledger().payment_link(sent.ledger_id) == sent.payment_link


def test_a_send_whose_answer_is_lost_is_not_sent_again(uk):
    """Xero emailed it, and every answer was lost (the run stops there). The next run sees
    SentToContact and sends nothing: one email."""
    ledger = uk.ledger()
    customer = ledger.find_or_create_customer("Acme Ltd", "GBP")
    (result,) = ledger.create_invoices([bill(customer, 1, "1000.00")])
    uk.sandbox.set_contact_email(uk.tenant, "Acme Ltd", "accounts@acme.example")
    uk.sandbox.faults.drop_after_commit(10, match=r"POST /api.xro/2.0/Invoices/.*/Email")
    with pytest.raises(RetriableLedgerError, match="did not answer"):
        ledger.send_invoice(result.invoice.ledger_id, result.key)
    uk.sandbox.faults.clear()
    uk.sandbox.forget_idempotency_keys()  # long after: Xero's 6 minutes are gone
    assert uk.ledger().send_invoice(result.invoice.ledger_id, result.key).sent
    assert len(uk.sandbox.emails(uk.tenant, result.invoice.ledger_id)) == 1


def test_a_customer_without_an_email_address_is_named(uk):
    ledger = uk.ledger()
    customer = ledger.find_or_create_customer("Acme Ltd", "GBP")
    (result,) = ledger.create_invoices([bill(customer, 1, "1000.00")])
    with pytest.raises(SkippableLedgerError, match="customer 'Acme Ltd' has no email address"):
        ledger.send_invoice(result.invoice.ledger_id, result.key)
    assert uk.sandbox.emails(uk.tenant, result.invoice.ledger_id) == []


def test_a_draft_and_a_credit_note_are_not_emailed(uk):
    ledger = uk.ledger(invoice_status="DRAFT")
    customer = ledger.find_or_create_customer("Acme Ltd", "GBP")
    (draft,) = ledger.create_invoices([bill(customer, 1, "1000.00")])
    uk.sandbox.set_contact_email(uk.tenant, "Acme Ltd", "accounts@acme.example")
    with pytest.raises(SkippableLedgerError, match="is DRAFT: Xero emails only approved"):
        ledger.send_invoice(draft.invoice.ledger_id, draft.key)
    assert ledger.payment_link(draft.invoice.ledger_id) is None
    credit = replace(bill(customer, 2, "-100.00"), kind=Kind.CREDIT)
    (note,) = uk.ledger().create_invoices([credit])
    assert note.invoice.is_credit
    with pytest.raises(SkippableLedgerError, match="credit note CN-0001 is not emailed"):
        ledger.send_invoice(note.invoice.ledger_id, note.key)


# --- answers read robustly ---------------------------------------------------------------------


def test_xero_s_own_example_payment_would_stop_the_sdk():
    """The premise: xero-python reading the spec example's payment raises ValueError."""
    from xero_python.accounting import AccountingApi
    from xero_python.api_client import ApiClient, Configuration
    from xero_python.api_client.deserializer import deserialize
    from xero_python.api_client.oauth2 import OAuth2Token

    finder = AccountingApi(ApiClient(Configuration(oauth2_token=OAuth2Token()))).get_model_finder()
    with pytest.raises(ValueError, match="Json parsed bool value expected"):
        deserialize("Payments", {"Payments": [{"BatchPayment": SPEC_BATCH_PAYMENT}]}, finder)


def test_the_spec_s_odd_payment_is_read_and_the_run_goes_on(tmp_path, xero, xero_spec):
    business = xero_business(tmp_path / "b", xero)
    assert business.sync().outcome == "ok"
    paid = xero.invoices()[0]
    xero.pay(paid["InvoiceID"], paid["Total"])
    xero.sandbox.faults.odd_field(
        "BatchPayment", SPEC_BATCH_PAYMENT, match="GET /api.xro/2.0/Payments", index=None
    )
    report = business.sync()
    take_violations(xero_spec, "IsReconciled")
    assert report.outcome == "ok", report.problems()
    states = {r.ledger_id: r.state for r in business.state().invoice_rows()}
    assert states[paid["InvoiceID"]] == "paid"


def test_a_value_newer_than_the_sdk_is_kept_as_xero_sent_it(uk, xero_spec):
    """xero-python refuses a ReportTaxType it does not know (XeroAPI/xero-ruby#245 is the same
    generator's failure for Singapore's): the rates are read anyway and OUTPUT2 still books."""
    uk.sandbox.faults.odd_field(
        "ReportTaxType", "NEWREPORTTYPE", match="GET /api.xro/2.0/TaxRates", index=None
    )
    ledger = uk.ledger()
    customer = ledger.find_or_create_customer("Acme Ltd", "GBP")
    (result,) = ledger.create_invoices(
        [bill(customer, 1, "100.00", booking=Booking(tax_code="OUTPUT2"))]
    )
    assert result.error is None and result.invoice.tax == Decimal("20.00")
    assert {r.report_tax_type for r in ledger.books.tax_rates()} == {"NEWREPORTTYPE"}
    take_violations(xero_spec, "ReportTaxType")
