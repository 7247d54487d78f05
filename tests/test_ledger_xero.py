"""The Xero adapter through xero-python over real HTTP against the local sandbox, every
exchange checked against Xero's OpenAPI description."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest

from connector.adapters.base import RemoteStatus
from connector.errors import SkippableLedgerError
from connector.testing.ledger import LedgerConformance, request
from tests import qbo_support
from tests.xero_support import XeroWorld, take_violations


class TestXeroLedger(LedgerConformance):
    @pytest.fixture
    def ledger(self, xero: XeroWorld):
        _WORLD[:] = [xero]
        return xero.ledger()

    def pay(self, ledger, invoice, amount):
        # the customer pays in Xero itself, not through the adapter
        _WORLD[0].pay(invoice.ledger_id, amount)


_WORLD: list[XeroWorld] = []


def test_invoice_lines_arrive_as_sent(xero):
    ledger = xero.ledger()
    customer = ledger.find_or_create_customer('O"Brien & Sons', "USD")
    (result,) = ledger.create_invoices([request(customer, 1, "1234.56")])
    stored = next(i for i in xero.invoices() if i["InvoiceID"] == result.invoice.ledger_id)
    assert stored["Reference"] == result.invoice.reference
    assert [(ln["Description"], ln["LineAmount"]) for ln in stored["LineItems"]] == [
        ("Milestone 1", Decimal("1234.56")),
        ("Retainage withheld (5%)", Decimal("-50.00")),
    ]
    assert stored["Total"] == Decimal("1184.56") and stored["Status"] == "AUTHORISED"
    assert stored["LineAmountTypes"] == "NoTax"
    # a new run reads the contacts afresh and finds the one this run created, quote and all
    again = xero.ledger().find_or_create_customer('O"Brien & Sons', "USD")
    assert again.id == stored["Contact"]["ContactID"]


def test_amounts_travel_as_decimals_never_floats(xero):
    """xero-python would send every amount through float(), which turns 1234567890123456.78
    into 1234567890123456.8; here it arrives exactly."""
    ledger = xero.ledger()
    customer = ledger.find_or_create_customer("Acme Corporation", "USD")
    (result,) = ledger.create_invoices([request(customer, 1, "1234567890123456.78")])
    assert result.invoice.total == Decimal("1234567890123406.78")  # less 50.00 retainage
    stored = next(i for i in xero.invoices() if i["InvoiceID"] == result.invoice.ledger_id)
    assert stored["LineItems"][0]["UnitAmount"] == Decimal("1234567890123456.78")


def test_a_key_reused_with_a_different_body_reports_the_earlier_version(xero):
    """Within Xero's 6 minutes the same document comes back with another amount: Xero answers
    400, the adapter finds what the first request created, sees it bills 950.00 where 1,150.00
    is asked, and says so on the item instead of taking it for this one. Nothing is created
    twice."""
    ledger = xero.ledger()
    customer = ledger.find_or_create_customer("Acme Corporation", "USD")
    (first,) = ledger.create_invoices([request(customer, 1, "1000.00")])
    edited = request(customer, 1, "1200.00")  # same key, same reference, another amount
    (again,) = ledger.create_invoices([edited])
    assert again.invoice is None and not again.retriable
    assert f"earlier version of this invoice under reference {edited.reference}" in again.error
    assert first.invoice.number in again.error and "950.00 USD, not 1150.00 USD" in again.error
    assert len(xero.invoices()) == 1 and xero.invoices()[0]["Total"] == Decimal("950.00")


def test_a_key_reused_with_the_same_amount_returns_the_first_document(xero):
    """Another body with the same amount (here, another due date) is the same invoice."""
    from dataclasses import replace

    ledger = xero.ledger()
    customer = ledger.find_or_create_customer("Acme Corporation", "USD")
    (first,) = ledger.create_invoices([request(customer, 1)])
    moved = replace(request(customer, 1), due_date=request(customer, 1).due_date.replace(day=30))
    (again,) = ledger.create_invoices([moved])
    assert again.invoice is not None and again.invoice.ledger_id == first.invoice.ledger_id
    assert len(xero.invoices()) == 1


def test_a_key_conflict_for_a_document_never_created_sends_it_under_a_new_key(xero):
    """The first request with this key failed validation (nothing was created); the corrected
    request is refused for reusing the key, then sent under a key of its own."""
    xero.sandbox.seed_organisation(xero.tenant, name="USD only")
    ledger = xero.ledger()
    customer = ledger.find_or_create_customer("Acme Corporation", "USD")
    bad = request(customer, 1)
    from dataclasses import replace

    (refused,) = ledger.create_invoices([replace(bad, currency="EUR")])
    assert "not subscribed to currency EUR" in (refused.error or "")
    (created,) = ledger.create_invoices([bad])
    assert created.invoice is not None and len(xero.invoices()) == 1


def _batch(customer, amounts):
    return [request(customer, n, amount) for n, amount in enumerate(amounts, 1)]


def test_a_batch_answer_in_another_order_goes_to_the_right_requests(xero):
    """Results are matched by Reference: reversed elements never swap two invoices."""
    ledger = xero.ledger()
    customer = ledger.find_or_create_customer("Acme Corporation", "USD")
    xero.sandbox.faults.reorder_elements(match="PUT /api.xro/2.0/Invoices")
    wanted = _batch(customer, ["1000.00", "2000.00", "3000.00"])
    results = ledger.create_invoices(wanted)
    assert [r.key for r in results] == [w.key for w in wanted]
    assert [(r.invoice.reference, r.invoice.total) for r in results] == [
        (w.reference, w.total) for w in wanted
    ]


def test_an_element_left_out_of_the_answer_is_in_doubt_not_given_another_s(xero):
    """Xero's answer skips the second element (which it created): that request comes back in
    doubt, to be looked up, and the third keeps its own invoice."""
    ledger = xero.ledger()
    customer = ledger.find_or_create_customer("Acme Corporation", "USD")
    xero.sandbox.faults.omit_elements(match="PUT /api.xro/2.0/Invoices", index=1)
    wanted = _batch(customer, ["1000.00", "2000.00", "3000.00"])
    first, second, third = ledger.create_invoices(wanted)
    assert first.invoice.reference == wanted[0].reference
    assert second.invoice is None and second.retriable and "no result" in second.error
    assert (third.invoice.reference, third.invoice.total) == (wanted[2].reference, wanted[2].total)
    found = ledger.find_invoices([wanted[1].reference])  # what the engine does next run
    assert found[wanted[1].reference].total == wanted[1].total
    assert len(xero.invoices()) == 3


def test_new_contacts_answered_in_another_order_keep_their_own_ids(xero):
    ledger = xero.ledger()
    acme = ledger.find_or_create_customer("Acme Corporation", "USD")
    beta = ledger.find_or_create_customer("Beta Bakery Ltd", "USD")
    xero.sandbox.faults.reorder_elements(match="PUT /api.xro/2.0/Contacts")
    ledger.create_invoices([request(acme, 1, "1000.00"), request(beta, 2, "2000.00")])
    names = {i["Total"]: i["Contact"]["Name"] for i in xero.invoices()}
    assert names == {Decimal("950.00"): "Acme Corporation", Decimal("1950.00"): "Beta Bakery Ltd"}


def test_a_customer_name_with_a_stray_space_is_invoiced(xero):
    """'Acme Corp ' creates the contact 'Acme Corp' and its invoice goes through; another run
    spelling it 'acme corp' finds the same contact."""
    ledger = xero.ledger()
    customer = ledger.find_or_create_customer("Acme Corp ", "USD")
    (result,) = ledger.create_invoices([request(customer, 1)])
    assert result.error is None and result.invoice is not None
    (contact,) = xero.sandbox.contacts(xero.tenant)
    assert contact["Name"] == "Acme Corp"
    assert xero.ledger().find_or_create_customer("  acme corp", "USD").id == contact["ContactID"]


def test_a_credit_note_is_set_against_the_invoice_it_replaces_once(xero):
    """950.00 invoiced, 300.00 paid: the 950.00 credit note settles the 650.00 still due and
    keeps 300.00 for the customer. Sending the same request again (a rerun within Xero's 6
    minutes: the create answer is replayed) allocates nothing more."""
    from dataclasses import replace

    from connector.models import Kind

    ledger = xero.ledger()
    customer = ledger.find_or_create_customer("Acme Corporation", "USD")
    (invoice,) = ledger.create_invoices([request(customer, 1)])
    xero.pay(invoice.invoice.ledger_id, "300.00")
    credit_request = replace(
        request(customer, 1, kind=Kind.CREDIT), credits_ledger_id=invoice.invoice.ledger_id
    )
    (credit,) = ledger.create_invoices([credit_request])
    assert credit.error is None and credit.invoice.is_credit
    assert (credit.invoice.total, credit.invoice.balance) == (Decimal("950.00"), Decimal("300.00"))
    (again,) = xero.ledger().create_invoices([credit_request])
    assert again.invoice.ledger_id == credit.invoice.ledger_id
    assert again.invoice.balance == Decimal("300.00")
    ledger.settle_credit(credit.invoice.ledger_id, invoice.invoice.ledger_id, date(2026, 11, 26))
    (old,) = xero.invoices()
    assert (old["AmountPaid"], old["AmountCredited"], old["AmountDue"]) == (
        Decimal("300.00"),
        Decimal("650.00"),
        Decimal("0.00"),
    )
    assert old["Status"] == "PAID" and len(old["CreditNotes"]) == 1
    (note,) = xero.sandbox.credit_notes(xero.tenant)
    assert note["RemainingCredit"] == Decimal("300.00") and len(note["Allocations"]) == 1


def test_a_credit_note_for_a_paid_invoice_is_kept_for_the_customer(xero):
    """Nothing is due on the old invoice: no allocation is attempted (Xero would refuse it)."""
    from dataclasses import replace

    from connector.models import Kind

    ledger = xero.ledger()
    customer = ledger.find_or_create_customer("Acme Corporation", "USD")
    (invoice,) = ledger.create_invoices([request(customer, 1)])
    xero.pay(invoice.invoice.ledger_id, "950.00")
    credit_request = replace(
        request(customer, 1, kind=Kind.CREDIT), credits_ledger_id=invoice.invoice.ledger_id
    )
    (credit,) = ledger.create_invoices([credit_request])
    assert credit.error is None and credit.invoice.balance == Decimal("950.00")
    assert xero.sandbox.credit_notes(xero.tenant)[0]["Allocations"] == []


@pytest.mark.parametrize("applied", [True, False])
def test_a_500_cached_under_the_key_is_not_retried_under_it(xero, applied, monkeypatch):
    """Xero answers 500 and replays that 500 for the key's 6 minutes. The adapter looks up what
    landed and sends only what is missing, under a new key: each invoice exists once."""
    ledger = xero.ledger()
    customer = ledger.find_or_create_customer("Acme Corporation", "USD")
    ledger.create_invoices([])  # the contact is created first, out of the count
    xero.sandbox.faults.server_error(match="PUT /api.xro/2.0/Invoices", applied=applied)
    wanted = _batch(customer, ["1000.00", "2000.00"])
    keys: list[str] = []
    spec_check = xero.sandbox.observer

    def observe(request, response):
        if request.line == "PUT /api.xro/2.0/Invoices":
            keys.append(request.header("Idempotency-Key"))
        spec_check(request, response)

    monkeypatch.setattr(xero.sandbox, "observer", observe)
    results = ledger.create_invoices(wanted)
    # once with its key, answered 500; then (only if nothing landed) once under a new key
    assert len(keys) == (1 if applied else 2) and len(set(keys)) == len(keys)
    assert [r.invoice.reference for r in results] == [w.reference for w in wanted]
    assert sorted(i["Reference"] for i in xero.invoices()) == sorted(w.reference for w in wanted)


def test_void_keys_are_scoped_to_the_organisation(xero):
    """Xero keeps keys per app, not per organisation: the engine's void key, used in two
    organisations within 6 minutes, must not collide."""
    from tests.xero_support import connect

    other = xero.sandbox.seed_organisation(str(uuid.uuid4()), name="Other Books")
    connect(xero.sandbox, other, business="Other Co")
    voided = []
    for ledger in (xero.ledger(), xero.ledger(business="Other Co", tenant_id=other)):
        customer = ledger.find_or_create_customer("Acme Corporation", "USD")
        (created,) = ledger.create_invoices([request(customer, 1)])
        voided.append(ledger.void_invoice(created.invoice.ledger_id, "engine-void-key").status)
    assert voided == [RemoteStatus.VOIDED, RemoteStatus.VOIDED]


def test_the_first_payment_pull_reads_every_page(xero, monkeypatch):
    """With nothing stored yet, every paid invoice this app created comes back, however many
    pages that takes (pages of 2 here, instead of Xero's 1,000)."""
    monkeypatch.setattr("connector.adapters.xero.reads.PAGE", 2)
    ledger = xero.ledger()
    customer = ledger.find_or_create_customer("Acme Corporation", "USD")
    created = ledger.create_invoices(_batch(customer, ["1000.00", "2000.00", "3000.00"]))
    for result in created:
        xero.pay(result.invoice.ledger_id, "10.00")
    changes = ledger.payment_changes(None)
    assert sorted(i.ledger_id for i in changes.invoices) == sorted(
        r.invoice.ledger_id for r in created
    )


def test_payments_on_bills_are_not_pulled(xero):
    """`/Payments` since the cursor asks for customer payments only: a bill paid in the same
    organisation brings nothing back."""
    ledger = xero.ledger()
    customer = ledger.find_or_create_customer("Acme Corporation", "USD")
    (ours,) = ledger.create_invoices([request(customer, 1)])
    cursor = ledger.payment_changes(None).cursor
    org = xero.sandbox.organisation(xero.tenant)
    with org.lock:
        bill = org.create_document(
            {
                "Type": "ACCPAY",
                "Contact": {"Name": "Paper Supplies"},
                "LineItems": [
                    {"Description": "Paper", "UnitAmount": Decimal("80.00"), "AccountCode": "200"}
                ],
                "Status": "AUTHORISED",
            },
            False,
            "someone else",
        )
    xero.pay(bill.id, "80.00")
    xero.pay(ours.invoice.ledger_id, "100.00")
    changes = ledger.payment_changes(cursor)
    assert [i.ledger_id for i in changes.invoices] == [ours.invoice.ledger_id]


def test_a_lookup_never_calls_an_unreadable_document_absent(xero, xero_spec):
    """An in-doubt invoice that Xero holds but cannot be read must not be sent again: the
    lookup says so instead of answering "not there"."""
    ledger = xero.ledger()
    customer = ledger.find_or_create_customer("Acme Corporation", "USD")
    (result,) = ledger.create_invoices([request(customer, 1, "1000.00")])
    xero.sandbox.faults.odd_field("Total", "n/a", match="GET /api.xro/2.0/Invoices$")
    with pytest.raises(SkippableLedgerError, match="could not be read"):
        ledger.find_invoices([result.invoice.reference])
    take_violations(xero_spec, "Total")
    assert result.invoice.reference in ledger.find_invoices([result.invoice.reference])


def test_a_created_invoice_whose_answer_cannot_be_read_is_in_doubt_not_lost(xero, xero_spec):
    """The create answer's element for the first request cannot be read: that request is left
    in doubt, named (the engine looks it up before sending anything again); the second keeps
    its own invoice."""
    ledger = xero.ledger()
    customer = ledger.find_or_create_customer("Acme Corporation", "USD")
    ledger.create_invoices([])  # the contact first
    xero.sandbox.faults.odd_field("AmountDue", "n/a", match="PUT /api.xro/2.0/Invoices$")
    first, second = ledger.create_invoices(
        [request(customer, 1, "1000.00"), request(customer, 2, "2000.00")]
    )
    take_violations(xero_spec, "AmountDue")
    assert first.invoice is None and first.retriable and "could not be read" in first.error
    assert second.invoice is not None and second.invoice.total == Decimal("1950.00")
    found = ledger.find_invoices([request(customer, 1, "1000.00").reference])
    assert len(found) == 1 and len(xero.invoices()) == 2


# -- the night's contacts in two calls, the settings kept per organisation (issue 14) ----------

API = "/api.xro/2.0"
TOKEN = ("/connect/token",)


def test_the_nights_contacts_are_one_read_and_one_creation(xero):
    earlier = xero.ledger()
    made = earlier.find_or_create_customers([("Known Ltd", "USD"), ("Euro GmbH", "EUR")])
    ledger = xero.ledger()
    wanted = [("Known Ltd", "USD"), ("New One", "USD"), ("Neue Zwei", "EUR"), ("Euro GmbH", "USD")]
    with qbo_support.served(xero.sandbox, TOKEN) as seen:
        found = ledger.find_or_create_customers(wanted)
    assert seen.calls == [f"GET {API}/Contacts", f"PUT {API}/Contacts"]
    assert found[("Known Ltd", "USD")] == made[("Known Ltd", "USD")]
    assert isinstance(found[("Euro GmbH", "USD")], SkippableLedgerError)
    assert found[("Neue Zwei", "EUR")].currency == "EUR"
    assert sorted(c["Name"] for c in xero.sandbox.contacts(xero.tenant)) == sorted(
        ["Known Ltd", "Euro GmbH", "New One", "Neue Zwei"]
    )
    with qbo_support.served(xero.sandbox, TOKEN) as seen:  # the contacts exist already
        ledger.create_invoices([request(found[("New One", "USD")], 1)])
    assert seen.calls == [f"PUT {API}/Invoices"]


def test_the_profile_for_a_nights_bookings_reads_only_what_they_need(xero):
    """One read for bookings in the home currency without tax codes or tracking; the other
    settings only when a booking asks about them, each kept for the organisation, so another
    business of it reads none of them again."""
    from connector.adapters.base import Booking, ProfileNeeds

    ledger = xero.ledger()
    with qbo_support.served(xero.sandbox, TOKEN) as seen:
        plain = ledger.profile_for(ProfileNeeds.of([("USD", Booking())]))
    assert seen.calls == [f"GET {API}/Organisation"]
    assert plain.home_currency == "USD" and plain.tax_codes == () and plain.tracking == ()
    needs = ProfileNeeds.of([("EUR", Booking(tax_code="OUTPUT"))])
    with qbo_support.served(xero.sandbox, TOKEN) as seen:
        taxed = ledger.profile_for(needs)
    assert seen.calls == [f"GET {API}/Currencies", f"GET {API}/TaxRates"]
    assert "EUR" in taxed.currencies and taxed.multicurrency and taxed.tax_codes
    with qbo_support.served(xero.sandbox, TOKEN) as seen:
        whole = xero.ledger().profile()  # doctor: everything, the rest kept already
    assert seen.calls == [f"GET {API}/TrackingCategories"]
    assert whole.currencies == taxed.currencies and whole.tax_codes == taxed.tax_codes


def test_what_the_organisation_is_is_kept_with_the_connection_and_follows_a_rename(xero):
    """The first read of the organisation keeps its name, base currency and country with the
    connection; a later night's bookings in that currency then ask nothing of Xero, and a read
    after the organisation was renamed (`connector doctor`'s) keeps the new name."""
    from connector.adapters.base import Booking, ProfileNeeds
    from connector.adapters.cache import forget_all
    from connector.credentials import CompanyFacts, TokenStore
    from tests.xero_support import BUSINESS

    xero.ledger().profile_for(ProfileNeeds.of([("USD", Booking())]))
    assert TokenStore(BUSINESS, "xero").company(xero.tenant) == CompanyFacts(
        xero.tenant, "Northwind Books", "USD", "US"
    )
    forget_all()  # a later night, a new process
    with qbo_support.served(xero.sandbox, TOKEN) as seen:
        plain = xero.ledger().profile_for(ProfileNeeds.of([("USD", Booking())]))
    assert seen.calls == [] and plain.home_currency == "USD" and not plain.multicurrency
    with qbo_support.served(xero.sandbox, TOKEN) as seen:  # another currency: its list is read
        euro = xero.ledger().profile_for(ProfileNeeds.of([("EUR", Booking())]))
    assert seen.calls == [f"GET {API}/Currencies"] and "EUR" in euro.currencies
    xero.sandbox.organisation(xero.tenant).settings.name = "Northwind Books & Co"
    forget_all()
    assert xero.ledger().profile().other[0] == ("organisation", "Northwind Books & Co")
    assert TokenStore(BUSINESS, "xero").company(xero.tenant).name == "Northwind Books & Co"
