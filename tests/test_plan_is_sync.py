"""`plan` shows exactly what the next `sync` sends: the same decision over the same inputs,
after any sequence of nights, payments and milestone changes, holding the contracts the
company's books cannot take and emailing the same invoices."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as s

from connector.adapters.base import LedgerProfile
from connector.models import Reason
from connector.sync.plan import document_books, preview
from connector.sync.report import TaxBy
from connector_sandbox.local import BooksLocalLedger, FaultyLocalLedger
from tests.conftest import AS_OF, MILESTONES, make_business

START = date(2026, 9, 25)

# Edits a bookkeeper or the client makes to the milestones file between nights.
EDITS = {
    "beta-amount": ('amount = "4000.00"', 'amount = "4500.00"'),
    "beta-cancelled": (
        'amount = "4000.00"\nstatus = "done"',
        'amount = "4000.00"\nstatus = "cancelled"',
    ),
    "m2-percent": ('percent = "30"', 'percent = "25"'),
}

step = s.one_of(
    s.tuples(s.just("night"), s.integers(1, 40)),
    s.tuples(s.just("pay"), s.integers(0, 9), s.sampled_from(["0.5", "1"])),
    s.tuples(s.just("edit"), s.sampled_from(sorted(EDITS))),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(s.lists(step, min_size=1, max_size=8))
# the case: paid today, then changed: `plan` must show the credit note `sync` issues
@example([("night", 5), ("pay", 4, "1"), ("pay", 0, "0.5"), ("edit", "beta-amount"), ("night", 1)])
def test_plan_lists_exactly_what_the_next_sync_sends(tmp_path_factory, steps):
    root: Path = tmp_path_factory.mktemp("plan-is-sync")
    business = make_business(root / "b", on_change="credit-and-reissue", ledger=FaultyLocalLedger())
    text, night = MILESTONES, START
    for move in [*steps, ("night", 1)]:
        if move[0] == "pay":
            open_docs = [
                d for d in business.ledger.documents() if not d.is_credit and d.balance > 0
            ]
            if open_docs:
                doc = open_docs[move[1] % len(open_docs)]
                amount = (doc.balance * Decimal(move[2])).quantize(Decimal("0.01"))
                business.ledger.record_payment(doc.ledger_id, amount, night)
            continue
        if move[0] == "edit":
            old, new = EDITS[move[1]]
            text = text.replace(old, new)
            business.milestones(text)
            continue
        night += timedelta(days=move[1])
        _, planned = preview(business.config(), night, ledger=business.ledger)
        report = business.sync(as_of=night)
        created = {row.key for row, _ in report.created}
        voided = {row.key for row, _ in report.voided}
        assert {p.key for p in planned.invoices if not p.void_instead} == created, night
        assert {p.key for p in planned.invoices if p.void_instead} == voided, night
        assert report.outcome != "failed"


def test_plan_holds_what_the_sync_holds_and_says_what_it_emails(tmp_path):
    """A company without multicurrency: BETA-APP (EUR) is held by both, with the same reason,
    and the documents `plan` says are emailed are those `sync` emails."""
    us_only = LedgerProfile(country="US", home_currency="USD", multicurrency=False)
    business = make_business(tmp_path / "b", ledger=BooksLocalLedger(us_only))
    text = business.config_path.read_text()
    business.config_path.write_text(text.replace("[billing]\n", '[billing]\nsend = "on-create"\n'))
    for night, company in [
        (AS_OF, us_only),
        (AS_OF + timedelta(days=1), replace(us_only, multicurrency=True, currencies=("EUR",))),
    ]:
        business.ledger.company = company
        config = business.config()
        _, planned = preview(config, night, ledger=business.ledger)
        books = document_books(config, planned.invoices)
        report = business.sync(as_of=night)
        assert {p.key for p in planned.invoices} == {row.key for row, _ in report.created}
        held = [s for s in planned.skipped if s.reason is Reason.INVALID_CONTRACT]
        assert held == [s for s in report.skipped if s.reason is Reason.INVALID_CONTRACT]
        assert [s.milestone for s in held] == (["BETA-1"] if company is us_only else [])
        sent = {row.key for row, _ in report.sent}
        assert {key for key, b in books.items() if b.emailed} == sent and sent
        assert {b.tax for b in books.values()} == {TaxBy.LEDGER_SETTINGS}
