"""Whole syncs into the QuickBooks sandbox: the real adapter, SDK and HTTP, end to end."""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal

import pytest

from connector_sandbox.quickbooks import DEFAULT_REALM
from tests import qbo_support
from tests.conftest import add_change_order, cancel_beta_after_invoicing

EXPECTED = sorted(["4800.00", "8160.00", "13770.00", "24570.00", "2700.00", "4000.00"])


def totals(sandbox) -> list[str]:
    live = [i for i in sandbox.invoices() if "Voided" not in (i.get("PrivateNote") or "")]
    return sorted(f"{Decimal(str(i['TotalAmt'])):.2f}" for i in live)


def test_first_sync_then_a_quiet_night(tmp_path, qbo):
    business = qbo_support.qbo_business(tmp_path / "b", qbo)
    report = business.sync()
    assert report.outcome == "ok", report.problems()
    assert totals(qbo) == EXPECTED
    numbers = Counter(i["DocNumber"] for i in qbo.invoices())
    assert max(numbers.values()) == 1
    again = business.sync()
    assert again.created == [] and again.outcome == "ok"
    assert totals(qbo) == EXPECTED


def test_payments_come_back(tmp_path, qbo):
    business = qbo_support.qbo_business(tmp_path / "b", qbo)
    business.sync()
    by_total = {f"{Decimal(str(i['TotalAmt'])):.2f}": i for i in qbo.invoices()}
    qbo.record_payment(DEFAULT_REALM, by_total["4800.00"]["Id"], "4800.00", date(2026, 11, 20))
    qbo.record_payment(DEFAULT_REALM, by_total["8160.00"]["Id"], "1000.00", date(2026, 11, 21))
    report = business.sync()
    assert report.outcome == "ok", report.problems()
    states = {r.number: r.state for r in business.state().invoice_rows()}
    assert states[by_total["4800.00"]["DocNumber"]] == "paid"
    assert states[by_total["8160.00"]["DocNumber"]] == "partially_paid"
    paid = sorted(p["amount_minor"] for p in business.state().payment_rows())
    assert paid == [100000, 480000]


def test_a_lost_batch_response_is_found_not_resent(tmp_path, qbo):
    business = qbo_support.qbo_business(tmp_path / "b", qbo)
    qbo_support.invoices_next(qbo)  # the setup and customers also go through /batch
    # every attempt of the first batch is applied (or replayed by requestid) and then lost
    qbo.faults.drop_after_commit(5, match="batch")
    first = business.sync()
    assert first.in_doubt > 0 and first.outcome == "problems"
    qbo.forget_request_ids(DEFAULT_REALM)  # even with QuickBooks' requestid memory gone
    qbo.faults.clear()
    second = business.sync()
    assert second.resolved == first.in_doubt
    assert totals(qbo) == EXPECTED
    assert {r.state for r in business.state().invoice_rows()} == {"pushed"}


def test_a_throttling_storm_is_waited_out(tmp_path, qbo):
    business = qbo_support.qbo_business(tmp_path / "b", qbo)
    qbo.faults.throttle(3)
    report = business.sync()
    assert report.outcome == "ok", report.problems()
    assert totals(qbo) == EXPECTED


def test_a_cancelled_invoiced_milestone_is_voided_with_credit_and_reissue(tmp_path, qbo):
    business = qbo_support.qbo_business(tmp_path / "b", qbo, on_change="credit-and-reissue")
    report = cancel_beta_after_invoicing(business)
    assert len(report.voided) == 1, report.problems()
    voided = [i for i in qbo.invoices() if "Voided" in (i.get("PrivateNote") or "")]
    assert len(voided) == 1 and Decimal(str(voided[0]["TotalAmt"])) == 0


def test_without_custom_invoice_numbers_the_note_carries_the_reference(tmp_path, qbo):
    qbo.seed_company(DEFAULT_REALM, currencies=["EUR"], custom_txn_numbers=False)
    business = qbo_support.qbo_business(tmp_path / "b", qbo)
    qbo_support.invoices_next(qbo)  # the setup and customers also go through /batch
    qbo.faults.drop_after_commit(5, match="batch")
    first = business.sync()
    assert first.in_doubt > 0
    qbo.forget_request_ids(DEFAULT_REALM)
    qbo.faults.clear()
    second = business.sync()
    assert second.resolved == first.in_doubt
    assert totals(qbo) == EXPECTED
    # QuickBooks numbered them itself; our reference is in each private note
    assert all(i["DocNumber"].isdigit() for i in qbo.invoices())
    assert all(i["PrivateNote"].startswith("MC-") for i in qbo.invoices())


def test_an_invoice_voided_by_a_person_is_reported_not_rebilled(tmp_path, qbo):
    business = qbo_support.qbo_business(tmp_path / "b", qbo)
    business.sync()
    beta = next(i for i in qbo.invoices() if f"{Decimal(str(i['TotalAmt'])):.2f}" == "4000.00")
    qbo_support.ledger(qbo).void_invoice(beta["Id"], "voided-by-a-person")  # as in the QBO UI
    report = business.sync()
    assert report.outcome == "problems"
    assert any("voided or deleted in the ledger" in p for p in report.problems())
    assert report.created == []  # BETA-1 is not billed again behind the bookkeeper's back
    states = {r.number: r.state for r in business.state().invoice_rows()}
    assert states[beta["DocNumber"]] == "voided_in_ledger"


def test_a_name_taken_in_quickbooks_is_a_clear_problem_for_that_contract_only(tmp_path, qbo):
    ledger = qbo_support.ledger(qbo)
    ledger.find_or_create_customer("BETA BAKERY LTD", "EUR")  # same name, other capitals
    business = qbo_support.qbo_business(tmp_path / "b", qbo)
    report = business.sync()
    problems = " ".join(report.problems())
    assert "Beta Bakery Ltd" in problems and "6240" in problems
    assert sorted(t for t in totals(qbo)) == sorted(t for t in EXPECTED if t != "4000.00")


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retried_not_counted_as_rejections(tmp_path, qbo, status):
    business = qbo_support.qbo_business(tmp_path / "b", qbo)
    qbo.faults.fail(2, status=status, match="batch")
    report = business.sync()
    assert report.outcome == "ok", report.problems()
    assert totals(qbo) == EXPECTED


def test_a_server_error_after_the_write_never_leads_to_a_second_invoice(tmp_path, qbo):
    business = qbo_support.qbo_business(tmp_path / "b", qbo)
    qbo_support.invoices_next(qbo)  # the setup and customers also go through /batch
    qbo.faults.drop_after_commit(1, match="batch")  # saved, then the gateway fails...
    qbo.faults.fail(10, status=504, match="batch")  # ...and keeps failing every retry
    first = business.sync()
    assert first.in_doubt > 0 and not [
        r for r in business.state().invoice_rows() if r.state == "failed"
    ]
    qbo.faults.clear()
    qbo.forget_request_ids(DEFAULT_REALM)
    business.sync()
    assert totals(qbo) == EXPECTED


@pytest.mark.parametrize(("amount", "entity"), [("2000.00", "invoice"), ("-1000.00", "credit")])
def test_a_late_change_order_is_its_own_invoice_or_credit_memo(tmp_path, qbo, amount, entity):
    business = qbo_support.qbo_business(tmp_path / "b", qbo)
    assert business.sync().outcome == "ok"
    add_change_order(business, "CO-2", amount, "2026-11-27")
    report = business.sync(as_of=date(2026, 11, 28))
    assert report.outcome == "ok", report.problems()
    if entity == "invoice":
        assert totals(qbo) == sorted([*EXPECTED, "2000.00"])
        assert qbo.credit_memos() == []
    else:
        assert totals(qbo) == EXPECTED
        (memo,) = qbo.credit_memos()
        assert Decimal(str(memo["TotalAmt"])) == Decimal("1000.00")
        assert memo["Line"][0]["Description"] == "Change order adjustment (CO-2)"
        assert memo["TxnDate"] == "2026-11-27"


def test_a_last_invoice_that_nets_below_zero_goes_as_a_credit_memo(tmp_path, qbo):
    """The contract cut to 14,000 after two milestones billed 21,930: the last milestone's
    lines net to -13,430.00, which QuickBooks takes only as a credit memo."""
    business = qbo_support.qbo_business(tmp_path / "b", qbo)
    assert business.sync(as_of=date(2026, 11, 3)).outcome == "ok"
    add_change_order(business, "CO-2", "-40000.00", "2026-11-10")
    report = business.sync()
    assert report.outcome == "ok", report.problems()
    (memo,) = qbo.credit_memos()
    assert Decimal(str(memo["TotalAmt"])) == Decimal("13430.00")
    assert totals(qbo) == sorted(["4800.00", "8160.00", "13770.00", "700.00", "4000.00"])
    invoices = sum(Decimal(t) for t in totals(qbo)) - Decimal("4000.00")  # BETA is EUR
    assert invoices - Decimal("13430.00") == Decimal("14000.00")
