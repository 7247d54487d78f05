"""Whole syncs into the Xero sandbox: the real adapter, SDK and HTTP, end to end, every
exchange checked against Xero's OpenAPI description."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import pytest

from connector.sync.status import status_data
from tests.conftest import AS_OF, MILESTONES, add_change_order, cancel_beta_after_invoicing
from tests.xero_support import XeroWorld, connect, take_violations, xero_business

EXPECTED = sorted(["4800.00", "8160.00", "13770.00", "24570.00", "2700.00", "4000.00"])


def totals(world: XeroWorld) -> list[str]:
    live = [i for i in world.invoices() if i["Status"] not in ("VOIDED", "DELETED")]
    return sorted(f"{i['Total']:.2f}" for i in live)


def by_total(world: XeroWorld) -> dict[str, dict]:
    return {f"{i['Total']:.2f}": i for i in world.invoices()}


def test_first_sync_then_a_quiet_night(tmp_path, xero):
    business = xero_business(tmp_path / "b", xero)
    report = business.sync()
    assert report.outcome == "ok", report.problems()
    assert totals(xero) == EXPECTED
    assert max(Counter(i["Reference"] for i in xero.invoices()).values()) == 1
    assert {c["Name"] for c in xero.sandbox.contacts(xero.tenant)} == {
        "Acme Corporation",
        "Beta Bakery Ltd",
    }
    again = business.sync()
    assert again.created == [] and again.outcome == "ok"
    assert totals(xero) == EXPECTED


def test_payments_and_a_deleted_payment_come_back(tmp_path, xero):
    business = xero_business(tmp_path / "b", xero)
    business.sync()
    docs = by_total(xero)
    xero.pay(docs["4800.00"]["InvoiceID"], "4800.00")
    partial = xero.pay(docs["8160.00"]["InvoiceID"], "1000.00", date(2026, 11, 21))
    report = business.sync()
    assert report.outcome == "ok", report.problems()
    states = {r.number: r.state for r in business.state().invoice_rows()}
    assert states[docs["4800.00"]["InvoiceNumber"]] == "paid"
    assert states[docs["8160.00"]["InvoiceNumber"]] == "partially_paid"
    assert sorted(p["amount_minor"] for p in business.state().payment_rows()) == [100000, 480000]
    # the bookkeeper deletes the partial payment in Xero: the next sync notices
    xero.sandbox.delete_payment(xero.tenant, partial["PaymentID"])
    night = business.sync()
    assert (night.payments_pulled, night.payments_withdrawn) == (0, 1)  # news, said as such
    states = {r.number: r.state for r in business.state().invoice_rows()}
    assert states[docs["8160.00"]["InvoiceNumber"]] == "pushed"
    deleted = {p["payment_id"]: p["deleted"] for p in business.state().payment_rows()}
    assert deleted[partial["PaymentID"]]


def test_a_lost_batch_response_is_found_not_resent(tmp_path, xero):
    business = xero_business(tmp_path / "b", xero)
    # every attempt of the batch is applied (or replayed by its key) and then lost
    xero.sandbox.faults.drop_after_commit(5, match="PUT /api.xro/2.0/Invoices")
    first = business.sync()
    assert first.in_doubt > 0 and first.outcome == "problems"
    xero.sandbox.forget_idempotency_keys()  # Xero's 6 minutes are long gone by the next night
    xero.sandbox.faults.clear()
    second = business.sync()
    assert second.resolved == first.in_doubt
    assert totals(xero) == EXPECTED
    assert {r.state for r in business.state().invoice_rows()} == {"pushed"}


def test_a_throttling_storm_is_waited_out(tmp_path, xero):
    business = xero_business(tmp_path / "b", xero)
    xero.sandbox.faults.throttle(3)
    report = business.sync()
    assert report.outcome == "ok", report.problems()
    assert totals(xero) == EXPECTED
    assert xero.slept[:3] == [1.0, 1.0, 1.0]  # Retry-After, not a guess


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retried_not_counted_as_rejections(tmp_path, xero, status):
    business = xero_business(tmp_path / "b", xero)
    xero.sandbox.faults.fail(2, status=status, match="PUT /api.xro/2.0/Invoices")
    report = business.sync()
    assert report.outcome == "ok", report.problems()
    assert totals(xero) == EXPECTED


def test_a_contract_in_a_currency_the_organisation_lacks_is_held(tmp_path, xero):
    """The organisation has no EUR: the EUR contract is held before any push, with the fix,
    and the other contract's invoices are created exactly once. (Xero's own refusal of such an
    invoice inside a batch is tested on the adapter, tests/test_ledger_xero_books.py.)"""
    xero.sandbox.seed_organisation(xero.tenant, name="USD only")
    connect(xero.sandbox, xero.tenant)
    business = xero_business(tmp_path / "b", xero)
    report = business.sync()
    assert report.outcome == "problems"
    (problem,) = {p for p in report.problems() if "BETA-APP" in p}
    assert "bills in EUR, but the company's home currency is USD and multicurrency is off" in (
        problem
    )
    assert totals(xero) == sorted(t for t in EXPECTED if t != "4000.00")
    assert max(Counter(i["Reference"] for i in xero.invoices()).values()) == 1
    again = business.sync()
    assert again.created == [] and totals(xero) == sorted(t for t in EXPECTED if t != "4000.00")


def test_the_day_limit_mid_run_is_resumed_the_next_night(tmp_path, checked_sandbox):
    """Xero's daily allowance runs out after the second of three batches: the run stops
    cleanly, says so, and the next night finishes the job without a duplicate."""
    # 4 calls before the first batch (the contacts looked up, the organisation and its
    # currencies, the missing contacts created: a business with nothing in Xero pulls no
    # payments), then 2 batches are allowed
    sandbox = checked_sandbox(requests_per_day=6)
    world = XeroWorld(sandbox, sandbox.seed_organisation(currencies=["EUR"]))
    connect(sandbox, world.tenant)
    business = xero_business(tmp_path / "b", world)
    business.batch_size = 2  # three batches for six invoices
    night = business.sync()
    assert "daily API limit" in (night.fatal or "") and "next run" in night.fatal
    assert len(world.invoices()) == 4
    states = Counter(r.state for r in business.state().invoice_rows())
    # the retainage release waits for every milestone invoice: it was never recorded
    assert states == {"pushed": 4, "pushing": 1}
    sandbox.clock.advance(timedelta(days=1, minutes=1))
    morning = business.sync()
    assert morning.outcome == "ok", morning.problems()
    assert morning.resolved == 0 and len(morning.created) == 2
    assert totals(world) == EXPECTED
    assert max(Counter(i["Reference"] for i in world.invoices()).values()) == 1


def test_the_minute_limit_is_waited_out(tmp_path, checked_sandbox):
    sandbox = checked_sandbox(requests_per_minute=3)
    world = XeroWorld(sandbox, sandbox.seed_organisation(currencies=["EUR"]))
    connect(sandbox, world.tenant)
    business = xero_business(tmp_path / "b", world)
    business.batch_size = 2
    report = business.sync()
    assert report.outcome == "ok", report.problems()
    assert totals(world) == EXPECTED
    assert world.slept and all(0 < s <= 60 for s in world.slept)


def test_a_cancelled_invoiced_milestone_is_voided_with_credit_and_reissue(tmp_path, xero):
    business = xero_business(tmp_path / "b", xero, on_change="credit-and-reissue")
    report = cancel_beta_after_invoicing(business)
    assert len(report.voided) == 1, report.problems()
    (voided,) = [i for i in xero.invoices() if i["Status"] == "VOIDED"]
    assert voided["Total"] == Decimal("4000.00") and voided["AmountDue"] == 0


def test_an_invoice_voided_by_a_person_is_reported_not_rebilled(tmp_path, xero):
    business = xero_business(tmp_path / "b", xero)
    business.sync()
    beta = by_total(xero)["4000.00"]
    xero.sandbox.void(xero.tenant, beta["InvoiceID"])  # in Xero's own screens
    report = business.sync()
    assert report.outcome == "problems"
    assert any("voided or deleted in the ledger" in p for p in report.problems())
    assert report.created == []
    states = {r.number: r.state for r in business.state().invoice_rows()}
    assert states[beta["InvoiceNumber"]] == "voided_in_ledger"


def test_a_contact_in_another_currency_is_a_clear_problem_for_that_contract_only(tmp_path, xero):
    ledger = xero.ledger()
    ledger.find_or_create_customer("BETA BAKERY LTD", "USD")  # same name, other capitals
    ledger.create_invoices([])  # creates the pending contact
    business = xero_business(tmp_path / "b", xero)
    report = business.sync()
    problems = " ".join(report.problems())
    assert "Beta Bakery Ltd" in problems and "USD" in problems
    assert totals(xero) == sorted(t for t in EXPECTED if t != "4000.00")


def test_a_changed_partly_paid_milestone_is_credited_settled_and_reissued(tmp_path, xero):
    """credit-and-reissue: BETA-1 (4,000.00, 1,000.00 paid) changes to 4,500.00. The credit note
    settles the 3,000.00 still due on the old invoice, which ends with nothing due; 1,000.00 of
    credit stays with the customer; the milestone is billed afresh; nothing is left to chase."""
    business = xero_business(tmp_path / "b", xero, on_change="credit-and-reissue")
    business.sync()
    old = by_total(xero)["4000.00"]
    xero.pay(old["InvoiceID"], "1000.00")
    business.milestones(MILESTONES.replace('amount = "4000.00"', 'amount = "4500.00"'))
    report = business.sync()
    assert report.outcome == "ok", report.problems()
    (note,) = xero.sandbox.credit_notes(xero.tenant)
    assert sorted(number for _, number in report.created) == sorted(
        [note["CreditNoteNumber"], by_total(xero)["4500.00"]["InvoiceNumber"]]
    )
    settled = by_total(xero)["4000.00"]
    assert (settled["AmountPaid"], settled["AmountCredited"], settled["AmountDue"]) == (
        Decimal("1000.00"),
        Decimal("3000.00"),
        Decimal("0.00"),
    )
    assert settled["Status"] == "PAID"
    assert (note["Total"], note["RemainingCredit"]) == (Decimal("4000.00"), Decimal("1000.00"))
    cfg = business.config()
    tonight = status_data(cfg.business.name, cfg.contracts, business.state(), AS_OF)
    beta = next(c for c in tonight["contracts"] if c["contract"] == "BETA-APP")
    assert beta["outstanding"] == "3500.00"  # right tonight, not only after the next pull
    assert [a["Amount"] for a in note["Allocations"]] == [Decimal("3000.00")]
    business.sync()  # the next night pulls the settled invoice back; nothing is allocated again
    assert len(xero.sandbox.credit_notes(xero.tenant)[0]["Allocations"]) == 1
    rows = {r.number: r for r in business.state().invoice_rows()}
    assert (rows[old["InvoiceNumber"]].state, rows[old["InvoiceNumber"]].balance_minor) == (
        "credited",
        0,
    )
    assert rows[note["CreditNoteNumber"]].balance_minor == 100000  # credit left to use
    assert rows[by_total(xero)["4500.00"]["InvoiceNumber"]].state == "pushed"
    assert rows[old["InvoiceNumber"]].paid_minor == 100000  # paid, not the credit applied
    assert totals(xero) == sorted([*(t for t in EXPECTED if t != "4000.00"), "4000.00", "4500.00"])
    cfg = business.config()
    data = status_data(cfg.business.name, cfg.contracts, business.state(), AS_OF)
    beta = next(c for c in data["contracts"] if c["contract"] == "BETA-APP")
    # billed 4,500 for the milestone; 1,000 paid; owed: 4,500 due less 1,000 credit unused
    assert (beta["billed"], beta["paid"], beta["outstanding"]) == ("4500.00", "1000.00", "3500.00")


class Crash(BaseException):
    """The process dies: nothing in the engine catches it."""


def credit_beta_1(tmp_path, xero):
    business = xero_business(tmp_path / "b", xero, on_change="credit-and-reissue")
    business.sync()
    xero.pay(by_total(xero)["4000.00"]["InvoiceID"], "1000.00")
    business.milestones(MILESTONES.replace('amount = "4000.00"', 'amount = "4500.00"'))
    return business


def test_a_credit_note_xero_would_not_allocate_is_reported(tmp_path, xero):
    business = credit_beta_1(tmp_path, xero)
    xero.sandbox.faults.fail(match="/Allocations", status=400)
    report = business.sync()
    assert report.outcome == "problems"
    assert any("CN-0001" in p or "credit" in p for p in report.problems()), report.problems()
    assert by_total(xero)["4000.00"]["AmountDue"] == Decimal("3000.00")


def test_a_credit_note_left_unallocated_by_a_dead_run_is_settled_when_found(tmp_path, xero):
    """The run died after Xero created the credit note but before it was set against the old
    invoice and before the engine recorded it; the next run finds it and settles it."""
    business = credit_beta_1(tmp_path, xero)
    xero.sandbox.faults.fail(match="/Allocations", status=400)

    def die_after_the_credit(name: str) -> None:
        if name == "after:create_invoices":
            raise Crash

    with pytest.raises(Crash):
        business.sync(checkpoint=die_after_the_credit)
    assert by_total(xero)["4000.00"]["AmountDue"] == Decimal("3000.00")  # not settled yet
    report = business.sync()
    assert report.resolved == 1 and report.outcome == "ok", report.problems()
    (note,) = xero.sandbox.credit_notes(xero.tenant)
    assert [a["Amount"] for a in note["Allocations"]] == [Decimal("3000.00")]
    assert by_total(xero)["4000.00"]["AmountDue"] == Decimal("0.00")
    assert "4500.00" in by_total(xero)


def test_an_element_missing_from_the_answer_is_looked_up_next_run(tmp_path, xero):
    """Xero created all six invoices but its answer left one out: that one stays in doubt (never
    marked with a neighbour's invoice) and the next run finds it by reference."""
    business = xero_business(tmp_path / "b", xero)
    xero.sandbox.faults.omit_elements(match="PUT /api.xro/2.0/Invoices", index=2)
    first = business.sync()
    assert first.in_doubt == 1 and first.outcome == "problems"
    assert len({r.ledger_id for r in business.state().invoice_rows() if r.ledger_id}) == 4
    # the retainage release waits until that milestone invoice is confirmed
    assert len(xero.invoices()) == 5 and any("waits until" in p for p in first.problems())
    second = business.sync()
    assert second.resolved == 1 and second.outcome == "ok", second.problems()
    assert totals(xero) == EXPECTED and len(xero.invoices()) == 6
    assert {r.state for r in business.state().invoice_rows()} == {"pushed"}
    by_number = {i["InvoiceNumber"]: i for i in xero.invoices()}
    for row in business.state().invoice_rows():
        assert by_number[row.number]["Reference"] == row.reference


@pytest.mark.parametrize("applied", [True, False])
def test_a_500_xero_caches_under_the_key_still_ends_in_one_invoice_each(tmp_path, xero, applied):
    business = xero_business(tmp_path / "b", xero)
    xero.sandbox.faults.server_error(match="PUT /api.xro/2.0/Invoices", applied=applied)
    report = business.sync()
    assert report.outcome == "ok", report.problems()
    assert totals(xero) == EXPECTED
    assert max(Counter(i["Reference"] for i in xero.invoices()).values()) == 1


@pytest.mark.parametrize("amount", ["2000.00", "-1000.00"])
def test_a_late_change_order_is_its_own_invoice_or_an_allocated_credit_note(tmp_path, xero, amount):
    business = xero_business(tmp_path / "b", xero)
    assert business.sync().outcome == "ok"
    add_change_order(business, "CO-2", amount, "2026-11-27")
    report = business.sync(as_of=date(2026, 11, 28))
    assert report.outcome == "ok", report.problems()
    credits = xero.sandbox.credit_notes(xero.tenant)
    if amount.startswith("-"):
        assert totals(xero) == EXPECTED
        (note,) = credits
        assert note["Total"] == Decimal("1000.00") and note["DateString"].startswith("2026-11-27")
        assert note["LineItems"][0]["Description"] == "Change order adjustment (CO-2)"
        # set against the contract's oldest open invoice, the deposit
        assert note["RemainingCredit"] == 0
        assert by_total(xero)["4800.00"]["AmountDue"] == Decimal("3800.00")
        data = status_data("Northwind Studio", business.config().contracts, business.state(), AS_OF)
        acme = next(c for c in data["contracts"] if c["contract"] == "ACME-WEB")
        assert (acme["billed"], acme["outstanding"], acme["credit"]) == (
            "53000.00",
            "53000.00",
            "0.00",
        )
    else:
        assert credits == []
        assert totals(xero) == sorted([*EXPECTED, "2000.00"])


def test_a_last_invoice_that_nets_below_zero_goes_as_a_credit_note(tmp_path, xero):
    business = xero_business(tmp_path / "b", xero)
    assert business.sync(as_of=date(2026, 11, 3)).outcome == "ok"
    add_change_order(business, "CO-2", "-40000.00", "2026-11-10")
    report = business.sync()
    assert report.outcome == "ok", report.problems()
    (note,) = xero.sandbox.credit_notes(xero.tenant)
    assert note["Total"] == Decimal("13430.00")
    assert totals(xero) == sorted(["4800.00", "8160.00", "13770.00", "700.00", "4000.00"])


def test_a_document_that_cannot_be_read_is_named_and_the_others_are_pulled(
    tmp_path, xero, xero_spec, caplog
):
    """Xero's answer holds one invoice whose AmountDue is not a number. That invoice is left
    out and named; the other invoice's payment is recorded in the same run; the cursor stays,
    so the next night reads the odd one again and loses nothing."""
    business = xero_business(tmp_path / "b", xero)
    business.sync()
    cursor = business.state().cursor("payments")
    odd, other = xero.invoices()[0], xero.invoices()[1]
    xero.pay(odd["InvoiceID"], "100.00")
    xero.pay(other["InvoiceID"], "100.00")
    xero.sandbox.faults.odd_field(
        "AmountDue", "a lot", count=10, match="GET /api.xro/2.0/Invoices$", index=0
    )
    with caplog.at_level(logging.WARNING, logger="connector.adapters.xero.reads"):
        report = business.sync()
    take_violations(xero_spec, "AmountDue")
    assert report.exit_code != 2 and report.fatal is None
    named = [r.message for r in caplog.records if odd["InvoiceNumber"] in r.message]
    assert named and "could not be read" in named[0], caplog.text
    states = {r.ledger_id: r.state for r in business.state().invoice_rows()}
    assert (states[odd["InvoiceID"]], states[other["InvoiceID"]]) == ("pushed", "partially_paid")
    assert business.state().cursor("payments") == cursor
    xero.sandbox.faults.clear()
    business.sync()
    states = {r.ledger_id: r.state for r in business.state().invoice_rows()}
    assert states[odd["InvoiceID"]] == "partially_paid"
    assert business.state().cursor("payments") != cursor
