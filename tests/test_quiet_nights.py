"""Nights that stay cheap (issue 14): a night on which nothing billing reads has changed takes
the last quiet night's decisions (connector/sync/quiet.py) instead of reading every invoice row
and billing every contract again, and any change bills everything again, exactly once."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import pytest

from connector.sync import engine, quiet
from connector.sync.report import SyncReport
from connector.sync.state import QUIET_STAMP
from tests.conftest import AS_OF, MILESTONES, Business, make_business


def decided(report: SyncReport) -> tuple:
    """What a person sees of a night's decisions: skips, notices, invoices created."""
    return (
        sorted((s.milestone, str(s.reason), s.message) for s in report.skipped),
        sorted((n.contract, n.message) for n in report.notices),
        sorted((row.contract, row.kind, row.total_minor) for row, _ in report.created),
        report.outcome,
    )


@pytest.fixture
def billing_runs(monkeypatch) -> list[date]:
    """The nights on which billing ran (a quiet night's stamp was not enough)."""
    seen: list[date] = []
    real = engine.decide_tonight

    def counted(config, good, bad, rows, resend, as_of):
        seen.append(as_of)
        return real(config, good, bad, rows, resend, as_of)

    monkeypatch.setattr(engine, "decide_tonight", counted)
    return seen


def settled(business: Business, day: date = AS_OF) -> SyncReport:
    """Sync until a night creates nothing (the retainage release follows the confirmations)."""
    for _ in range(4):
        report = business.sync(day)
        if not report.created:
            return report
    raise AssertionError("the books never settled")


def test_a_quiet_night_takes_the_last_nights_decisions_without_billing_again(
    business, billing_runs
):
    first = settled(business)
    assert business.state().cursor(QUIET_STAMP) is not None
    before = len(billing_runs)
    again = business.sync(AS_OF + timedelta(days=1))
    assert len(billing_runs) == before  # not billed: the stamp held
    assert decided(again) == decided(first) and not again.created
    assert again.skipped and any(s.milestone == "BETA-2" for s in again.skipped)


def test_a_night_that_crosses_a_milestones_acceptance_bills_it(business, billing_runs):
    later = MILESTONES.replace(
        'status = "open"\n', 'status = "done"\ncompleted = 2026-11-20\naccepted = 2026-12-03\n'
    )
    business.milestones(later)
    settled(business)
    quiet_before = len(billing_runs)
    assert not business.sync(date(2026, 12, 2)).created  # before the acceptance: stamped
    assert len(billing_runs) == quiet_before
    report = business.sync(date(2026, 12, 3))
    assert [row.milestones for row, _ in report.created] == [("BETA-2",)]
    assert len(billing_runs) == quiet_before + 1


def test_a_payment_on_one_contract_bills_the_change_on_it_and_nothing_twice(tmp_path):
    """After quiet nights, a payment on an ACME invoice and a change of BETA-1's amount with
    credit-and-reissue: BETA-1's invoice is voided and reissued once, ACME's payment is in
    the state, and nothing else is billed again."""
    business = make_business(tmp_path / "b", on_change="credit-and-reissue")
    settled(business)
    business.sync(AS_OF + timedelta(days=1))
    assert business.state().cursor(QUIET_STAMP) is not None
    acme = next(d for d in business.ledger.docs.values() if d.customer != "C2")
    business.ledger.record_payment(acme.id, Decimal("100.00"), AS_OF + timedelta(days=1))
    business.milestones(MILESTONES.replace('amount = "4000.00"', 'amount = "4500.00"'))
    report = business.sync(AS_OF + timedelta(days=2))
    assert report.payments_pulled == 1
    # BETA-1's unpaid invoice voided and reissued at the new amount; nothing else
    assert [row.milestones for row, _ in report.voided] == [("BETA-1",)], report.problems()
    assert [(row.milestones, row.total_minor) for row, _ in report.created] == [
        (("BETA-1",), 450000)
    ]
    quiet_night = business.sync(AS_OF + timedelta(days=3))
    assert not quiet_night.created and quiet_night.outcome == "ok"
    references = Counter(d.reference for d in business.ledger.docs.values())
    assert max(references.values()) == 1
    rows = {r.key: r for r in business.state().invoice_rows()}
    assert any(r.paid_minor == 10000 for r in rows.values() if r.contract == "ACME-WEB")


def test_a_change_order_in_the_config_bills_again(business, billing_runs):
    settled(business)
    business.sync(AS_OF + timedelta(days=1))
    config = business.config_path
    config.write_text(
        config.read_text().replace(
            "approved = 2026-10-20\n",
            'approved = 2026-10-20\n\n[[contracts.change_orders]]\nid = "CO-2"\n'
            'amount = "3000.00"\napproved = 2026-11-27\n',
        )
    )
    runs = len(billing_runs)
    report = business.sync(AS_OF + timedelta(days=2))
    assert len(billing_runs) == runs + 1
    assert report.created or report.notices, "the change order was not looked at"


def test_every_write_to_the_invoice_rows_takes_the_stamp_away(business):
    settled(business)
    state = business.state()
    assert state.cursor(QUIET_STAMP) is not None
    row = state.invoice_rows()[0]
    state.update_invoices([(row.key, {"paid_minor": row.paid_minor})])
    assert state.cursor(QUIET_STAMP) is None


@pytest.mark.parametrize("on_change", ["flag", "credit-and-reissue"])
def test_night_after_night_the_stamp_decides_as_billing_would(tmp_path, monkeypatch, on_change):
    """Two copies of one business over 60 nights with milestones finished, accepted and
    changed along the way: one may take stamps, the other bills every night. Every night's
    decisions, invoices and the ledgers' documents are the same."""
    stamped = make_business(tmp_path / "stamped", on_change=on_change)
    control = make_business(tmp_path / "control", on_change=on_change)
    events = {
        5: MILESTONES.replace(
            'status = "open"\n', 'status = "done"\ncompleted = 2026-12-08\naccepted = 2026-12-12\n'
        ),
        20: MILESTONES.replace('amount = "4000.00"', 'amount = "3000.00"').replace(
            'status = "open"\n', 'status = "done"\ncompleted = 2026-12-08\naccepted = 2026-12-12\n'
        ),
    }
    billed = 0
    real = engine.decide_tonight

    def counted(*args):
        nonlocal billed
        billed += 1
        return real(*args)

    monkeypatch.setattr(engine, "decide_tonight", counted)
    for night in range(60):
        day = date(2026, 11, 1) + timedelta(days=night)
        for business in (stamped, control):
            if night in events:
                business.milestones(events[night])
        mine = stamped.sync(day)
        with monkeypatch.context() as never:
            never.setattr(engine.quiet, "recall", lambda run, prepared: None)
            theirs = control.sync(day)
        assert decided(mine) == decided(theirs), day
    assert billed - 60 < 25  # the control billed 60 times; most nights the stamp held
    docs = sorted((d.reference, d.total, d.voided) for d in stamped.ledger.docs.values())
    assert docs == sorted((d.reference, d.total, d.voided) for d in control.ledger.docs.values())


def test_a_stamp_of_another_format_is_ignored(business, billing_runs):
    settled(business)
    state = business.state()
    state.stamp('{"format": 99}')
    runs = len(billing_runs)
    business.sync(AS_OF + timedelta(days=1))
    assert len(billing_runs) == runs + 1
    assert quiet.Stamp.from_text(business.state().cursor(QUIET_STAMP) or "") is not None


def test_the_window_is_between_event_dates():
    days = [date(2026, 11, 1), date(2026, 11, 10)]
    assert quiet.window(days, date(2026, 10, 1)) == (None, date(2026, 11, 1))
    assert quiet.window(days, date(2026, 11, 1)) == (date(2026, 11, 1), date(2026, 11, 10))
    assert quiet.window(days, date(2026, 11, 9)) == (date(2026, 11, 1), date(2026, 11, 10))
    assert quiet.window(days, date(2026, 11, 10)) == (date(2026, 11, 10), None)


def test_the_stamps_digest_covers_every_field_of_a_milestone_billing_reads():
    """The stamp compares the milestones by the snapshot's record of each (`record_text`): a
    field billing reads but the record leaves out would let a changed milestone pass for the
    same. `planned` is the cash forecast's alone."""
    import json

    from connector.models import Milestone
    from connector.sync.state_milestones import record_text

    recorded = set(json.loads(record_text(Milestone("M1", "C1"))))
    fields = set(Milestone._fields)
    assert fields - recorded <= {"planned"}, fields - recorded


def test_a_night_with_milestones_held_by_a_cap_takes_the_stamp_and_says_so_again(
    tmp_path, billing_runs
):
    """A milestone held by its contract's cap is a problem every night (exit 1), not a reason
    to bill again: the stamp keeps the skip and the night reports it as billing would."""
    held = MILESTONES.replace(
        'amount = "8000.00"\nstatus = "open"\n',
        'amount = "9000.00"\nstatus = "done"\ncompleted = 2026-11-20\naccepted = 2026-11-21\n',
    )
    business = make_business(tmp_path / "b", milestones=held)
    first = settled(business)
    assert first.exit_code == 1 and any("above its cap" in p for p in first.problems())
    assert business.state().cursor(QUIET_STAMP) is not None
    runs = len(billing_runs)
    again = business.sync(AS_OF + timedelta(days=1))
    assert len(billing_runs) == runs  # the stamp held
    assert decided(again) == decided(first) and again.problems() == first.problems()
    assert again.exit_code == 1
