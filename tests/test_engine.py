"""The sync engine against the reference ledger: exactly once, whatever fails and wherever."""

from __future__ import annotations

import json
import stat
from collections import Counter
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from connector.adapters.base import LedgerProfile
from connector.adapters.local import MemoryLedger
from connector.errors import LockHeld, SkippableLedgerError
from connector.models import Reason
from connector.sync.lock import business_lock
from connector.sync.status import status_data
from connector_sandbox.local import BooksLocalLedger, FaultyLocalLedger
from tests.conftest import AS_OF, MILESTONES, Business, make_business

# deposit, ACME-M1, M2, M3, retainage release, BETA-1
EXPECTED_TOTALS = sorted(["4800.00", "8160.00", "13770.00", "24570.00", "2700.00", "4000.00"])


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing in the engine catches it."""


def live_documents(ledger: MemoryLedger) -> list:
    return [d for d in ledger.documents() if d.status.value != "voided"]


def totals(ledger: MemoryLedger) -> list[str]:
    return sorted(str(d.total) for d in live_documents(ledger))


def test_first_sync_creates_every_invoice_once_and_the_second_nothing(business: Business):
    report = business.sync()
    assert report.outcome == "ok"
    assert totals(business.ledger) == EXPECTED_TOTALS
    assert [row.kind for row, _ in report.created].count("milestone") == 4
    again = business.sync()
    assert again.created == [] and again.outcome == "ok"
    assert len(business.ledger.documents()) == 6
    rows = business.state().invoice_rows()
    assert {r.state for r in rows} == {"pushed"}
    assert stat.S_IMODE(business.config().state_path.stat().st_mode) == 0o600


def test_a_night_with_nothing_new_costs_one_ledger_call(business: Business):
    business.sync()
    before = dict(business.ledger.calls)
    business.sync()
    spent = {k: v - before.get(k, 0) for k, v in business.ledger.calls.items()}
    assert {k: v for k, v in spent.items() if v} == {"payment_changes": 1}


def test_payments_flow_back_into_status(business: Business):
    business.sync()
    docs = {d.number: d for d in business.ledger.documents()}
    deposit = next(d for d in docs.values() if d.total == Decimal("4800.00"))
    m1 = next(d for d in docs.values() if d.total == Decimal("8160.00"))
    business.ledger.record_payment(deposit.ledger_id, Decimal("4800.00"), date(2026, 9, 10))
    business.ledger.record_payment(m1.ledger_id, Decimal("3000.00"), date(2026, 10, 1))
    report = business.sync()
    assert report.payments_pulled == 2
    data = status_data("Northwind Studio", business.config().contracts, business.state(), AS_OF)
    acme = next(c for c in data["contracts"] if c["contract"] == "ACME-WEB")
    assert acme == {
        "contract": "ACME-WEB",
        "customer": "Acme Corporation",
        "currency": "USD",
        "value": "54000.00",
        "billed": "54000.00",
        "paid": "7800.00",
        "outstanding": "46200.00",
        "overdue": "18930.00",
        "retainage_held": "0.00",
        "credit": "0.00",
    }
    by_number = {i["number"]: i for i in data["invoices"]}
    assert by_number[deposit.number]["status"] == "paid"
    assert by_number[m1.number]["status"] == "partially_paid"
    assert by_number[m1.number]["days_overdue"] == (AS_OF - date(2026, 10, 7)).days
    payments = business.state().payment_rows()
    assert sorted(p["amount_minor"] for p in payments) == [300000, 480000]


def test_a_lost_response_is_found_by_lookup_not_sent_twice(business: Business):
    business.ledger.remember_keys = False  # the key window has passed: only lookup can help
    business.ledger.fail_next("create_invoices", "drop")
    first = business.sync()
    assert first.outcome == "problems" and first.in_doubt > 0
    assert any("not confirmed" in p for p in first.problems())
    second = business.sync()
    assert second.resolved == first.in_doubt
    assert totals(business.ledger) == EXPECTED_TOTALS
    assert {r.state for r in business.state().invoice_rows()} == {"pushed"}


def test_a_ledger_outage_before_the_write_is_retried_next_night(business: Business):
    business.ledger.fail_next("create_invoices", "error")
    first = business.sync()
    assert first.outcome == "problems"
    assert business.sync().outcome == "ok"
    assert totals(business.ledger) == EXPECTED_TOTALS


def test_one_bad_customer_does_not_stop_the_other_contracts(business: Business):
    business.ledger.find_or_create_customer(
        "Beta Bakery Ltd", "USD"
    )  # set up in the wrong currency
    report = business.sync()
    assert report.outcome == "problems"
    assert any("Beta Bakery Ltd" in p and "EUR" in p for p in report.problems())
    assert totals(business.ledger) == sorted(t for t in EXPECTED_TOTALS if t != "4000.00")


def test_the_lock_keeps_two_syncs_of_one_business_apart(business: Business):
    with business_lock(business.config()), pytest.raises(LockHeld, match="Northwind"):
        business.sync()


def test_an_invoiced_milestone_that_changes_is_flagged_and_left_alone(business: Business):
    business.sync()
    business.milestones(MILESTONES.replace('percent = "20"', 'percent = "15"'))
    report = business.sync()
    assert report.outcome == "problems"
    assert [s.reason.value for s in report.skipped if s.milestone == "ACME-M1"] == [
        "changed_after_invoicing"
    ]
    assert report.created == []
    attention = status_data("N", business.config().contracts, business.state(), AS_OF)["attention"]
    assert any(a.startswith("ACME-M1: ") for a in attention)


def test_credit_and_reissue_voids_unpaid_and_credits_paid(tmp_path):
    business = make_business(tmp_path / "b", on_change="credit-and-reissue")
    business.sync()
    docs = {str(d.total): d for d in business.ledger.documents()}
    business.ledger.record_payment(docs["13770.00"].ledger_id, Decimal("100.00"), AS_OF)
    changed = MILESTONES.replace('percent = "20"', 'percent = "15"').replace(
        'amount = "4000.00"', 'amount = "4100.00"'
    )
    # M1 20% -> 15% (unpaid: void + reissue); BETA-1 4000 -> 4100 (unpaid too)
    business.milestones(changed)
    report = business.sync()
    assert len(report.voided) == 2
    states = Counter(r.state for r in business.state().invoice_rows())
    assert states["voided"] == 2
    live = {str(d.total) for d in live_documents(business.ledger)}
    assert "4100.00" in live and "4000.00" not in live
    assert "8160.00" not in live  # the old M1 invoice is voided
    # a paid invoice gets a credit note instead of a void
    business.milestones(changed.replace('percent = "30"', 'percent = "35"'))
    report = business.sync()
    credits = [d for d in business.ledger.documents() if d.is_credit]
    assert [str(c.total) for c in credits] == ["13770.00"]
    # the credit note names the invoice it credits, so the ledger can settle that one with it
    assert business.ledger.docs[credits[0].ledger_id].credits == docs["13770.00"].ledger_id
    assert third_sync_is_quiet(business)


def third_sync_is_quiet(business: Business) -> bool:
    before = len(business.ledger.documents())
    report = business.sync()
    return report.created == [] and len(business.ledger.documents()) == before


# -- crash anywhere ---------------------------------------------------------------------------


def checkpoints(business: Business, as_of: date = AS_OF) -> list[str]:
    seen: list[str] = []
    business.sync(as_of, checkpoint=seen.append)
    return seen


def crash_at(n: int):
    calls = {"n": 0}

    def checkpoint(name: str) -> None:
        calls["n"] += 1
        if calls["n"] == n:
            raise Crash(name)

    return checkpoint


@pytest.mark.parametrize("remember_keys", [True, False], ids=["keys", "no-keys"])
def test_crash_at_every_step_then_rerun_leaves_exactly_one_invoice_each(tmp_path, remember_keys):
    names = checkpoints(make_business(tmp_path / "probe"))
    assert {
        "before:create_invoices",
        "after:create_invoices",
        "before:commit:intents",
        "after:commit:results",
        "before:find_or_create_customer",
    } <= set(names)
    for n in range(1, len(names) + 1):
        business = make_business(
            tmp_path / f"crash{n}", ledger=FaultyLocalLedger(remember_keys=remember_keys)
        )
        with pytest.raises(Crash):
            business.sync(checkpoint=crash_at(n))
        business.sync()
        assert totals(business.ledger) == EXPECTED_TOTALS, f"crash at {names[n - 1]} (#{n})"
        rows = business.state().invoice_rows()
        assert {r.state for r in rows} == {"pushed"}, names[n - 1]
        refs = Counter(d.reference for d in business.ledger.documents())
        assert max(refs.values()) == 1


def test_crash_during_credit_and_reissue_voids_once_and_reissues_once(tmp_path):
    changed = MILESTONES.replace('percent = "20"', 'percent = "15"')
    probe = make_business(tmp_path / "probe", on_change="credit-and-reissue")
    probe.sync()
    probe.milestones(changed)
    names = checkpoints(probe)
    assert "before:void_invoice" in names
    for n in range(1, len(names) + 1):
        business = make_business(tmp_path / f"crash{n}", on_change="credit-and-reissue")
        business.sync()
        business.milestones(changed)
        with pytest.raises(Crash):
            business.sync(checkpoint=crash_at(n))
        business.sync()
        live = sorted(str(d.total) for d in live_documents(business.ledger))
        # M1 re-billed at 15%: 7,200, true-up -300 to 95% of 54,000, the deposit's last 960,
        # retainage 360 withheld, and the 120 released too much on the old M1 taken back
        assert "5460.00" in live and "8160.00" not in live, names[n - 1]
        assert len(live) == 6, names[n - 1]
        assert sum(Decimal(t) for t in live if t != "4000.00") == Decimal("51300.00")


def test_run_history_is_recorded(business: Business):
    business.sync()
    business.ledger.fail_next("create_invoices", "error")
    business.milestones(
        MILESTONES
        + MILESTONES.split("[[milestones]]")[4]
        .join(["[[milestones]]", ""])
        .replace("BETA-1", "BETA-4")
    )
    business.sync()
    last = business.state().last_run()
    assert last["outcome"] == "problems"
    assert json.loads(last["counts"])["invoices_created"] == 0
    assert "not confirmed" in json.loads(last["problems"])[0]
    assert business.state().count_runs() == 2


class _IncrementalSource:
    """A tracker that, like GitHub or Jira, returns only what changed since the cursor."""

    name = "incremental"

    def __init__(self, milestones):
        self.versions = [list(milestones)]  # what the tracker held after each edit
        self.cursors_seen: list[str | None] = []

    def edit(self, milestone):
        current = {m.id: m for m in self.versions[-1]}
        current[milestone.id] = milestone
        self.versions.append(list(current.values()))

    def read(self, cursor):
        from connector.sources.base import SourceBatch

        self.cursors_seen.append(cursor)
        now = len(self.versions) - 1
        if cursor is None:
            return SourceBatch(self.versions[now], [], str(now), complete=True)
        before = {m.id: m for m in self.versions[int(cursor)]}
        changed = [m for m in self.versions[now] if before.get(m.id) != m]
        return SourceBatch(changed, [], str(now), complete=False)


def test_an_incremental_source_is_merged_with_what_is_known(business: Business):

    from connector.sources.file import FileSource

    everything = FileSource(business.dir / "milestones.toml").read(None).milestones
    m3 = next(m for m in everything if m.id == "ACME-M3")
    source = _IncrementalSource(
        [m if m.id != "ACME-M3" else m._replace(accepted=None) for m in everything]
    )
    first = business.sync(source=source)
    assert len(first.created) == 4  # deposit, M1, M2, BETA-1; M3 awaits approval
    source.edit(m3)
    second = business.sync(source=source)
    assert source.cursors_seen == [None, "0"]
    assert [list(row.milestones) for row, _ in second.created] == [["ACME-M3"], []]
    assert totals(business.ledger) == EXPECTED_TOTALS
    # the batch held only M3, yet the other milestones are still known (not "removed")
    assert not [s for s in second.skipped if s.reason.value == "changed_after_invoicing"]


def test_a_payment_made_today_turns_a_void_into_a_credit_note(tmp_path):
    """Payments are pulled before billing decides, so an invoice paid since last night is
    credited, not voided; the customer never holds the old and the new invoice both live."""
    business = make_business(tmp_path / "b", on_change="credit-and-reissue")
    business.sync()
    beta = next(d for d in business.ledger.documents() if d.total == Decimal("4000.00"))
    business.ledger.record_payment(beta.ledger_id, Decimal("100.00"), AS_OF)
    business.milestones(MILESTONES.replace('amount = "4000.00"', 'amount = "4500.00"'))
    report = business.sync()
    assert report.outcome == "ok", report.problems()
    credits = [d for d in business.ledger.documents() if d.is_credit]
    assert [str(c.total) for c in credits] == ["4000.00"]
    assert "4500.00" in totals(business.ledger)


def test_a_refused_void_holds_back_the_reissue(tmp_path):
    business = make_business(tmp_path / "b", on_change="credit-and-reissue")
    business.sync()
    business.ledger.fail_next("void_invoice", "error")
    business.milestones(MILESTONES.replace('amount = "4000.00"', 'amount = "4500.00"'))
    report = business.sync()
    assert any("not reissued" in p for p in report.problems())
    assert "4500.00" not in totals(business.ledger)  # no second live invoice for BETA-1
    business.sync()  # next night the void goes through, then the reissue
    live = totals(business.ledger)
    assert "4500.00" in live and "4000.00" not in live


def test_an_intent_older_than_the_ledger_can_search_is_left_for_a_person(business: Business):
    from datetime import timedelta

    business.ledger.fail_next("create_invoices", "error")  # nothing reaches the ledger
    business.sync()
    business.ledger.lookup_window = timedelta(seconds=-1)  # every intent is "too old" now
    report = business.sync()
    assert any("check the ledger by hand" in p for p in report.problems())
    assert report.created == []  # not sent blind


def test_a_stop_request_ends_the_run_after_the_ledger_call_in_flight(business: Business):
    import threading

    stop = threading.Event()
    business.ledger.batch_size = 2  # three create calls for six invoices

    def daemon_receives_sigterm(name: str) -> None:
        if name == "after:create_invoices":
            stop.set()  # while the first batch is at the ledger

    first = business.sync(stop=stop, checkpoint=daemon_receives_sigterm)
    assert first.outcome == "stopped"
    assert len(first.created) == 2 == len(business.ledger.documents())
    rows = business.state().invoice_rows()
    # the call in flight finished and its result was recorded; the rest were never sent, so
    # their intents are dropped rather than left for a lookup
    assert sorted(r.state for r in rows) == ["pushed", "pushed"]
    assert business.state().last_run()["outcome"] == "stopped"
    assert business.state().cursor("source") is None  # a stopped run moves no cursor

    second = business.sync()
    assert second.outcome == "ok" and second.in_doubt_found == 0
    assert totals(business.ledger) == EXPECTED_TOTALS


def test_ctrl_c_on_a_manual_sync_records_the_run_as_stopped(business: Business):
    business.ledger.batch_size = 2

    def ctrl_c(name: str) -> None:
        if name == "after:create_invoices":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        business.sync(checkpoint=ctrl_c)
    state = business.state()
    assert state.last_run()["outcome"] == "stopped"
    assert [r.state for r in state.invoice_rows()] == ["pushing", "pushing"]  # in flight
    again = business.sync()
    assert again.resolved == 2 and again.outcome == "ok"
    assert totals(business.ledger) == EXPECTED_TOTALS


def test_a_stop_requested_before_the_run_sends_nothing(business: Business):
    import threading

    stop = threading.Event()
    stop.set()
    report = business.sync(stop=stop)
    assert report.outcome == "stopped" and report.created == []
    assert business.ledger.documents() == []
    assert business.sync().outcome == "ok"
    assert totals(business.ledger) == EXPECTED_TOTALS


def test_every_log_line_of_a_run_names_the_business_and_the_run(business: Business, caplog):
    import json
    import logging

    from connector.logs import JsonFormatter, RunContextFilter

    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.addFilter(RunContextFilter())
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)
    try:
        with caplog.at_level(logging.INFO):
            business.sync()
            business.sync()
    finally:
        logging.getLogger().removeHandler(handler)
    records = [json.loads(line) for line in lines if '"connector.sync"' in line]
    assert len(records) >= 8  # start, six invoices, finish; then start, finish
    assert {(r["business"], r["run_id"]) for r in records} == {
        ("Northwind Studio", 1),
        ("Northwind Studio", 2),
    }
    assert any("invoice" in r["message"] and "created" in r["message"] for r in records)


def test_a_credit_note_is_listed_as_one_and_its_remaining_credit_kept_current(tmp_path):
    business = make_business(tmp_path / "b", on_change="credit-and-reissue")
    business.sync()
    docs = {str(d.total): d for d in business.ledger.documents()}
    business.ledger.record_payment(docs["13770.00"].ledger_id, Decimal("100.00"), AS_OF)
    business.milestones(
        MILESTONES.replace('percent = "20"', 'percent = "15"').replace(
            'percent = "30"', 'percent = "35"'
        )
    )
    business.sync()
    (credit,) = [d for d in business.ledger.documents() if d.is_credit]
    business.ledger.record_payment(credit.ledger_id, Decimal("770.00"), AS_OF)  # refunded
    business.sync()
    data = status_data("Northwind Studio", business.config().contracts, business.state(), AS_OF)
    (note,) = [i for i in data["invoices"] if i["kind"] == "credit"]
    assert (note["status"], note["days_overdue"]) == ("credit_note", 0)
    row = next(
        r for r in business.state().invoice_rows() if (r.kind, r.action) == ("credit", "create")
    )
    assert row.balance_minor == 1300000  # 13,770.00 less the 770.00 refunded


class _LedgerThatCannotSayHowFarBack(FaultyLocalLedger):
    """A third-party adapter whose `lookup_window` asks the ledger, which is throttling."""

    @property
    def lookup_window(self):
        from connector.errors import RetriableLedgerError

        raise RetriableLedgerError("429 Too Many Requests")


def test_a_lookup_window_the_ledger_cannot_give_leaves_the_intents_in_doubt(tmp_path):
    business = make_business(tmp_path / "n", ledger=_LedgerThatCannotSayHowFarBack())
    business.ledger.fail_next("create_invoices", "drop")  # applied, answer lost: in doubt
    first = business.sync()
    assert first.in_doubt > 0
    second = business.sync()  # the lookup window cannot be read tonight
    assert second.outcome == "problems" and second.created == []
    assert any("could not be checked" in p and "429" in p for p in second.problems())
    rows = business.state().invoice_rows()
    assert sum(r.state == "pushing" for r in rows) == first.in_doubt


# -- the company's books and sending --------------------------------------------------------


def sending(business: Business) -> Business:
    """The business's [billing] emails every invoice when it is created."""
    text = business.config_path.read_text()
    business.config_path.write_text(text.replace("[billing]\n", '[billing]\nsend = "on-create"\n'))
    return business


US_ONLY = LedgerProfile(country="US", home_currency="USD", multicurrency=False)


def test_a_contract_the_books_cannot_take_is_held_whole_and_the_others_go_on(tmp_path):
    business = make_business(tmp_path / "b", ledger=BooksLocalLedger(US_ONLY))
    report = business.sync()
    assert report.exit_code == 1
    (problem,) = report.problems()
    assert problem.startswith("contract BETA-APP bills in EUR, but the company's home currency")
    held = [s.milestone for s in report.skipped if s.reason is Reason.INVALID_CONTRACT]
    assert held == ["BETA-1"]
    assert totals(business.ledger) == sorted(t for t in EXPECTED_TOTALS if t != "4000.00")
    assert {r.contract for r in business.state().invoice_rows()} == {"ACME-WEB"}
    assert business.ledger.calls["profile"] == 1  # read once, before the first push
    attention = status_data("N", business.config().contracts, business.state(), AS_OF)["attention"]
    assert any(a.startswith("BETA-1: contract BETA-APP bills in EUR") for a in attention)
    # the company turns multicurrency on: BETA-1 goes the next night
    business.ledger.company = replace(US_ONLY, multicurrency=True, currencies=("EUR", "USD"))
    assert business.sync().outcome == "ok"
    assert totals(business.ledger) == EXPECTED_TOTALS


def test_a_night_with_nothing_to_create_does_not_read_the_company_s_setup(tmp_path):
    profile = replace(US_ONLY, multicurrency=True, currencies=("EUR", "USD"))
    business = make_business(tmp_path / "b", ledger=BooksLocalLedger(profile))
    business.sync()
    business.sync()
    assert business.ledger.calls["profile"] == 1


def test_a_setup_that_cannot_be_read_holds_tonight_s_documents_as_a_problem(tmp_path):
    business = make_business(tmp_path / "b", ledger=BooksLocalLedger(US_ONLY))
    business.ledger.fail_next("profile")
    first = business.sync()
    assert first.exit_code == 1 and first.created == [] and business.ledger.documents() == []
    (problem,) = first.problems()
    assert "the company's setup could not be read from the ledger" in problem
    assert "503" in problem and "next run reads it again" in problem
    assert business.state().invoice_rows() == []
    business.ledger.company = replace(US_ONLY, multicurrency=True, currencies=("EUR", "USD"))
    assert business.sync().outcome == "ok"
    assert totals(business.ledger) == EXPECTED_TOTALS


def test_every_invoice_is_emailed_once_and_credit_notes_never(tmp_path):
    business = sending(make_business(tmp_path / "b", on_change="credit-and-reissue"))
    first = business.sync()
    assert first.outcome == "ok", first.problems()
    invoices = {d.ledger_id for d in business.ledger.documents()}
    assert sorted(business.ledger.emails) == sorted(invoices) and len(first.sent) == 6
    assert all(d.sent for d in business.ledger.documents())
    docs = {str(d.total): d for d in business.ledger.documents()}
    business.ledger.record_payment(docs["13770.00"].ledger_id, Decimal("100.00"), AS_OF)
    business.milestones(
        MILESTONES.replace('percent = "20"', 'percent = "15"').replace(
            'percent = "30"', 'percent = "35"'
        )
    )
    second = business.sync()
    credits = [d for d in business.ledger.documents() if d.is_credit]
    assert credits and not any(d.sent for d in credits)
    assert Counter(business.ledger.emails).most_common(1)[0][1] == 1  # none twice
    assert len(second.sent) == len(business.ledger.emails) - 6
    rows = business.state().invoice_rows()
    assert {r.delivery for r in rows if r.is_credit_note or r.action == "void"} == {None}


@pytest.mark.parametrize("mode", ["error", "drop"])
def test_an_email_whose_answer_is_not_had_is_asked_about_not_sent_again(tmp_path, mode):
    """A 503 before the send, or the answer lost after it: the row stays `sending`, and the
    next run asks the ledger whether it went before sending anything. After a lost answer the
    ledger's payment changes already show the invoice sent, and that is recorded: no lookup."""
    business = sending(make_business(tmp_path / "b"))
    business.ledger.fail_next("send_invoice", mode)
    first = business.sync()
    assert first.exit_code == 1 and len(first.sent) == 5
    (problem,) = [p for p in first.problems() if "email is not confirmed" in p]
    assert "asks the ledger whether it went" in problem
    (left,) = [r for r in business.state().invoice_rows() if r.delivery == "sending"]
    finds = business.ledger.calls.get("find_invoices", 0)
    second = business.sync()
    assert second.outcome == "ok", second.problems()
    asked = business.ledger.calls.get("find_invoices", 0) - finds
    assert asked == (1 if mode == "error" else 0)
    assert Counter(business.ledger.emails)[left.ledger_id] == 1
    assert len(business.ledger.emails) == 6
    assert {r.delivery for r in business.state().invoice_rows()} == {"sent"}


def test_a_refused_email_is_a_problem_and_tried_again_the_next_night(tmp_path):
    business = sending(make_business(tmp_path / "b", ledger=_RefusingLedger()))
    first = business.sync()
    refused = [p for p in first.problems() if "was not emailed" in p]
    assert len(refused) == 6 and all("has no email address" in p for p in refused)
    assert {r.delivery for r in business.state().invoice_rows()} == {"refused"}
    business.ledger.refusing = False  # the bookkeeper adds the address
    assert business.sync().outcome == "ok"
    assert {r.delivery for r in business.state().invoice_rows()} == {"sent"}
    assert len(business.ledger.emails) == 6


class _RefusingLedger(FaultyLocalLedger):
    """Refuses to email anyone until `refusing` is turned off, as for a customer with no
    address on file."""

    refusing = True

    def send_invoice(self, ledger_id, key):
        if self.refusing:
            self._fault("send_invoice")
            raise SkippableLedgerError("customer 'Acme Corporation' has no email address")
        return super().send_invoice(ledger_id, key)


class _TaxingLedger(FaultyLocalLedger):
    """Answers as a ledger that computes tax and gives payment links."""

    def _dress(self, remote):
        return replace(remote, tax=Decimal("10.00"), payment_link=f"https://pay/{remote.ledger_id}")

    def create_invoices(self, requests):
        return [
            replace(r, invoice=r.invoice and self._dress(r.invoice))
            for r in super().create_invoices(requests)
        ]

    def find_invoices(self, references):
        return {k: self._dress(v) for k, v in super().find_invoices(references).items()}

    def payment_changes(self, cursor):
        changes = super().payment_changes(cursor)
        return replace(changes, invoices=[self._dress(i) for i in changes.invoices])


def test_the_tax_link_and_sending_the_ledger_answers_with_are_recorded(tmp_path):
    business = make_business(tmp_path / "b", ledger=_TaxingLedger())
    business.ledger.fail_next("create_invoices", "drop")  # the first batch found by lookup
    business.sync()
    business.sync()
    rows = business.state().invoice_rows()
    assert {(r.tax_minor, r.payment_link) for r in rows} == {
        (1000, f"https://pay/{r.ledger_id}") for r in rows
    }
    # a person emails one from the ledger, and the client pays another: the pull records both
    docs = business.ledger.documents()
    business.ledger.send_invoice(docs[0].ledger_id, "by hand")
    business.ledger.record_payment(docs[1].ledger_id, Decimal("1.00"), AS_OF)
    business.sync()
    by_id = {r.ledger_id: r for r in business.state().invoice_rows()}
    assert by_id[docs[0].ledger_id].delivery == "sent" and by_id[docs[0].ledger_id].sent_at
    assert by_id[docs[1].ledger_id].delivery is None


def test_documents_the_ledger_could_not_read_are_problems_of_the_run(tmp_path):
    class Unreadable(FaultyLocalLedger):
        def payment_changes(self, cursor):
            changes = super().payment_changes(cursor)
            return replace(changes, problems=("invoice INV-9 could not be read: Total is 'x'",))

    business = make_business(tmp_path / "b", ledger=Unreadable())
    report = business.sync()
    assert report.exit_code == 1
    assert report.problems() == ["invoice INV-9 could not be read: Total is 'x'"]
    assert totals(business.ledger) == EXPECTED_TOTALS


class _CannotSend(FaultyLocalLedger):
    send_invoice = None  # a ledger without `SendsInvoices`


def test_send_on_a_ledger_that_cannot_send_is_one_problem_for_the_business(tmp_path):
    business = sending(make_business(tmp_path / "b", ledger=_CannotSend()))
    report = business.sync()
    (problem,) = report.problems()
    assert problem.startswith('send = "on-create" asks the ledger to email invoices')
    assert problem.endswith(
        "(in [billing], or on contracts ACME-WEB, BETA-APP) and send them from the ledger "
        "yourself; tonight's documents of contracts ACME-WEB, BETA-APP are held until this "
        "is fixed"
    )
    assert business.ledger.documents() == [] and report.exit_code == 1
