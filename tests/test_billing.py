"""Billing rules, checked against numbers a bookkeeper can verify by hand."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from connector.models import BillingRules, ChangeOrder, Deposit, InvalidMilestone, Kind, Reason
from connector.sync.billing import decide
from tests.support import D, acme, billed, contract, ms, run

AS_OF = date(2026, 11, 26)


def acme_milestones(m3_accepted: date | None = date(2026, 11, 25)) -> list:
    return [
        ms("M1", percent="20", completed=date(2026, 9, 20), accepted=date(2026, 9, 22)),
        ms("M2", percent="30", completed=date(2026, 10, 28), accepted=date(2026, 11, 2)),
        ms("M3", percent="50", completed=date(2026, 11, 20), accepted=m3_accepted),
    ]


def lines(invoice) -> list[tuple[str, str]]:
    return [(ln.description, str(ln.amount)) for ln in invoice.lines]


def test_worked_example_bills_deposit_milestones_true_up_and_retainage_release():
    out = run([acme()], acme_milestones(), AS_OF)
    assert [(i.kind, i.milestones, str(i.total)) for i in out.invoices] == [
        (Kind.DEPOSIT, (), "4800.00"),
        (Kind.MILESTONE, ("M1",), "8160.00"),
        (Kind.MILESTONE, ("M2",), "13770.00"),
        (Kind.MILESTONE, ("M3",), "24570.00"),
        (Kind.RETAINAGE, (), "2700.00"),
    ]
    deposit, m1, m2, m3, release = out.invoices
    assert lines(deposit) == [("Deposit (10% of 48000.00 USD)", "4800.00")]
    assert (deposit.date, deposit.due_date) == (date(2026, 9, 1), date(2026, 9, 16))
    assert lines(m1) == [
        ("M1 (20% of 48000.00 USD)", "9600.00"),
        ("Deposit applied", "-960.00"),
        ("Retainage withheld (5%)", "-480.00"),
    ]
    # M2 is dated after CO-1 was approved: 30% of 54,000.
    assert lines(m2)[0] == ("M2 (30% of 54000.00 USD)", "16200.00")
    assert lines(m3) == [
        ("M3 (50% of 54000.00 USD)", "27000.00"),
        ("Change order adjustment (CO-1)", "1200.00"),  # M1 was billed on the pre-CO value
        ("Deposit applied", "-2220.00"),  # the remainder: exactly 4,800 applied in total
        ("Retainage withheld (5%)", "-1410.00"),  # 5% of 27,000 + 1,200: change-order work too
    ]
    assert lines(release) == [("Retainage release", "2700.00")]
    assert sum(i.total for i in out.invoices) == D("54000.00")
    assert out.skipped == []


def test_nightly_runs_bill_the_same_as_one_run():
    nights = [date(2026, 9, 1), date(2026, 9, 25), date(2026, 11, 3), AS_OF]
    history: list = []
    for night in nights:
        out = run([acme()], acme_milestones(), night, history)
        history += billed(out.invoices)
    once = run([acme()], acme_milestones(), AS_OF)
    assert [(h.kind, h.milestones, h.total) for h in history] == [
        (i.kind, i.milestones, i.total) for i in once.invoices
    ]
    # and a further night bills nothing new
    again = run([acme()], acme_milestones(), AS_OF, history)
    assert again.invoices == []
    assert {s.reason for s in again.skipped} == {Reason.ALREADY_INVOICED}


def test_every_unbilled_milestone_gets_a_reason():
    c = acme()
    other = contract("LATE", value=D("1000.00"), start=date(2027, 1, 1))
    capped = contract("CAPPED", value=D("1000.00"), cap=D("500.00"))
    milestones = [
        ms("OPEN", status="open"),
        ms("WAITING", percent="10", accepted=None),
        ms("GONE", percent="10", status="cancelled"),
        ms("EARLY", "LATE", amount="100.00", accepted=date(2026, 10, 1)),
        ms("BIG", "CAPPED", amount="600.00", accepted=date(2026, 10, 1)),
        ms("STRAY", "NO-SUCH-CONTRACT", amount="1.00", accepted=date(2026, 10, 1)),
        ms("FUTURE", percent="10", completed=date(2026, 12, 1), accepted=date(2026, 12, 2)),
    ]
    invalid = [InvalidMilestone("BROKEN", "ACME-WEB", "milestones.toml, line 9: bad", "x")]
    out = decide(
        {x.id: x for x in (c, other, capped)},
        milestones,
        invalid,
        [],
        BillingRules(business="B"),
        AS_OF,
    )
    reasons = {s.milestone: s.reason for s in out.skipped}
    assert reasons == {
        "OPEN": Reason.NOT_DONE,
        "WAITING": Reason.AWAITING_APPROVAL,
        "GONE": Reason.CANCELLED,
        "EARLY": Reason.CONTRACT_NOT_STARTED,
        "BIG": Reason.EXCEEDS_CAP,
        "STRAY": Reason.UNKNOWN_CONTRACT,
        "FUTURE": Reason.NOT_DONE,
        "BROKEN": Reason.INVALID_MILESTONE,
    }
    assert "above its cap of 500.00 USD" in next(
        s.message for s in out.skipped if s.milestone == "BIG"
    )
    assert "NO-SUCH-CONTRACT" in next(s.message for s in out.skipped if s.milestone == "STRAY")
    # the deposit of the started contract is still billed; the late one's is not
    assert [(i.contract, i.kind) for i in out.invoices] == [("ACME-WEB", Kind.DEPOSIT)]


def test_an_invalid_milestone_keeps_the_contract_from_closing():
    c = contract(value=D("1000.00"), retainage=D("10"))
    out = decide(
        {c.id: c},
        [ms("A", amount="1000.00", accepted=date(2026, 10, 1))],
        [InvalidMilestone("B", c.id, "bad percent", "x")],
        [],
        BillingRules(business="B"),
        AS_OF,
    )
    # A is billed, but B might still be a real milestone: no retainage release yet
    assert [i.kind for i in out.invoices] == [Kind.MILESTONE]


def test_an_amount_entered_in_another_currency_is_never_billed_as_this_one():
    c = contract(value=D("2000.00"), currency="EUR")
    euros = ms("A", amount="1000.00", accepted=date(2026, 10, 1))._replace(currency="EUR")
    dollars = ms("B", amount="1000.00", accepted=date(2026, 10, 1))._replace(currency="USD")
    out = run([c], [euros, dollars], AS_OF)
    assert [i.milestones for i in out.invoices] == [("A",)]
    (skip,) = [s for s in out.skipped if s.milestone == "B"]
    assert skip.reason is Reason.INVALID_MILESTONE
    assert "in USD, but contract ACME-WEB bills in EUR" in skip.message


def test_percents_over_100_make_the_contract_invalid_but_not_the_others():
    bad = contract("BAD", value=D("1000.00"))
    good = contract("GOOD", value=D("1000.00"))
    out = run(
        [bad, good],
        [
            ms("B1", "BAD", percent="60", accepted=date(2026, 10, 1)),
            ms("B2", "BAD", percent="50", accepted=date(2026, 10, 1)),
            ms("G1", "GOOD", percent="100", accepted=date(2026, 10, 1)),
        ],
        AS_OF,
    )
    assert {s.milestone: s.reason for s in out.skipped} == {
        "B1": Reason.INVALID_CONTRACT,
        "B2": Reason.INVALID_CONTRACT,
    }
    assert "110%" in out.skipped[0].message
    # the message names the milestones and where they are, so they can be found and fixed
    assert "B1 (test:B1)" in out.skipped[0].message and "B2 (test:B2)" in out.skipped[0].message
    assert [(i.contract, str(i.total)) for i in out.invoices] == [("GOOD", "1000.00")]


def test_percent_milestones_need_a_contract_value():
    out = run([contract()], [ms("A", percent="50", accepted=date(2026, 10, 1))], AS_OF)
    assert out.skipped[0].reason is Reason.INVALID_CONTRACT
    assert "no value" in out.skipped[0].message


def test_rounding_is_half_up_once_per_line_in_the_currency_minor_unit():
    jpy = contract("JP", currency="JPY", value=D("100001"))
    kwd = contract("KW", currency="KWD", value=D("1000.005"))
    usd = contract("US", value=D("0.05"))
    out = run(
        [jpy, kwd, usd],
        [
            ms("J", "JP", percent="50", accepted=date(2026, 10, 1)),
            ms("K", "KW", percent="50", accepted=date(2026, 10, 1)),
            ms("U", "US", percent="50", accepted=date(2026, 10, 1)),
        ],
        AS_OF,
    )
    gross = {i.contract: str(i.lines[0].amount) for i in out.invoices}
    assert gross == {"JP": "50001", "KW": "500.003", "US": "0.03"}


def test_fixed_deposit_is_applied_pro_rata_and_never_over_applied():
    c = contract(value=D("1000.00"), deposit=Deposit(amount=D("300.00")), cap=D("2000.00"))
    out = run(
        [c],
        [
            ms("A", amount="900.00", accepted=date(2026, 10, 1)),
            ms("B", amount="500.00", status="open"),
        ],
        AS_OF,
    )
    deposit, a = out.invoices
    assert str(deposit.total) == "300.00"
    assert lines(a) == [("A", "900.00"), ("Deposit applied", "-270.00")]
    # B is worth more than the rest of the deposit: only the 30.00 left is applied
    later = run(
        [c],
        [
            ms("A", amount="900.00", accepted=date(2026, 10, 1)),
            ms("B", amount="500.00", accepted=date(2026, 11, 1)),
        ],
        AS_OF,
        billed(out.invoices),
    )
    assert lines(later.invoices[0])[1] == ("Deposit applied", "-30.00")


def test_negative_change_order_trues_up_downward_on_the_last_invoice():
    c = contract(
        value=D("10000.00"), change_orders=(ChangeOrder("CO-2", D("-2000.00"), date(2026, 10, 15)),)
    )
    out = run(
        [c],
        [
            ms("A", percent="50", accepted=date(2026, 10, 1)),
            ms("B", percent="50", accepted=date(2026, 11, 1)),
        ],
        AS_OF,
    )
    a, b = out.invoices
    assert str(a.total) == "5000.00"
    assert lines(b) == [
        ("B (50% of 8000.00 USD)", "4000.00"),
        ("Change order adjustment (CO-2)", "-1000.00"),
    ]
    assert sum(i.total for i in out.invoices) == D("8000.00")


def test_invoice_date_modes_and_terms_precedence():
    c = contract(value=D("1000.00"), terms_days=20)
    m = [
        ms("A", amount="10.00", completed=date(2026, 10, 1), accepted=date(2026, 10, 5)),
        ms(
            "B",
            amount="10.00",
            completed=date(2026, 10, 2),
            accepted=date(2026, 10, 6),
            terms_days=7,
        ),
    ]
    dates = {
        mode: [(i.date, i.due_date) for i in run([c], m, AS_OF, invoice_date=mode).invoices]
        for mode in ("accepted", "completed", "sync")
    }
    assert dates["accepted"] == [
        (date(2026, 10, 5), date(2026, 10, 25)),
        (date(2026, 10, 6), date(2026, 10, 13)),
    ]
    assert dates["completed"][0] == (date(2026, 10, 1), date(2026, 10, 21))
    assert dates["sync"][0] == (AS_OF, date(2026, 12, 16))
    # approval "none": done is enough, and "accepted" falls back to the completed date
    unaccepted = [ms("A", amount="10.00", completed=date(2026, 10, 1))]
    none = run([contract(value=D("1000.00"))], unaccepted, AS_OF, approval="none", terms_days=30)
    assert [(i.date, i.due_date) for i in none.invoices] == [
        (date(2026, 10, 1), date(2026, 10, 31))
    ]


def test_cap_holds_a_milestone_and_bills_it_once_room_appears():
    c = contract(value=D("1000.00"), cap=D("1000.00"))
    m = [
        ms("A", amount="700.00", accepted=date(2026, 10, 1)),
        ms("B", amount="400.00", accepted=date(2026, 10, 2)),
    ]
    out = run([c], m, AS_OF)
    assert [i.milestones for i in out.invoices] == [("A",)]
    assert [(s.milestone, s.reason) for s in out.skipped] == [("B", Reason.EXCEEDS_CAP)]
    raised = run([replace(c, cap=D("1100.00"))], m, AS_OF, billed(out.invoices))
    assert [i.milestones for i in raised.invoices] == [("B",)]


def test_a_changed_invoiced_milestone_is_flagged_and_never_silently_rebilled():
    c = contract(value=D("1000.00"))
    first = run([c], [ms("A", amount="400.00", accepted=date(2026, 10, 1))], AS_OF)
    history = billed(first.invoices)
    for changed in (
        ms("A", amount="450.00", accepted=date(2026, 10, 1)),
        ms("A", amount="400.00", status="cancelled"),
    ):
        out = run([c], [changed], AS_OF, history)
        assert out.invoices == []
        assert [(s.milestone, s.reason) for s in out.skipped] == [
            ("A", Reason.CHANGED_AFTER_INVOICING)
        ]
        assert "INV-1" in out.skipped[0].message
    removed = run([c], [], AS_OF, history)
    assert [s.reason for s in removed.skipped] == [Reason.CHANGED_AFTER_INVOICING]
    assert "removed" in removed.skipped[0].message
    # a change of title or dates alone is not a change to the invoice
    retitled = run(
        [c], [ms("A", amount="400.00", accepted=date(2026, 10, 2), title="New")], AS_OF, history
    )
    assert [s.reason for s in retitled.skipped] == [Reason.ALREADY_INVOICED]


def test_credit_and_reissue_voids_an_unpaid_invoice_and_credits_a_paid_one():
    c = contract(value=D("1000.00"))
    first = run([c], [ms("A", amount="400.00", accepted=date(2026, 10, 1))], AS_OF)
    old = first.invoices[0]
    changed = [ms("A", amount="450.00", accepted=date(2026, 10, 1))]

    unpaid = run([c], changed, AS_OF, billed(first.invoices), on_change="credit-and-reissue")
    void, reissue = unpaid.invoices
    assert (void.kind, void.void_instead, void.replaces, str(void.total)) == (
        Kind.CREDIT,
        True,
        old.key,
        "-400.00",
    )
    assert (reissue.kind, str(reissue.total), reissue.revision) == (Kind.MILESTONE, "450.00", 1)
    assert reissue.key != old.key

    paid = run(
        [c],
        changed,
        AS_OF,
        billed(first.invoices, paid={old.key: D("400.00")}),
        on_change="credit-and-reissue",
    )
    credit, reissue = paid.invoices
    assert (credit.kind, credit.void_instead, str(credit.total)) == (Kind.CREDIT, False, "-400.00")
    assert "Credit note for invoice INV-1" in credit.lines[0].description


def test_cancelling_the_last_milestone_closes_the_contract_out():
    c = contract(value=D("1000.00"), deposit=Deposit(percent=D("10")), retainage=D("10"))
    m = [ms("A", percent="50", accepted=date(2026, 10, 1)), ms("B", percent="50", status="open")]
    first = run([c], m, AS_OF)
    assert [str(i.total) for i in first.invoices] == ["100.00", "400.00"]  # 500 - 50 - 50
    m[1] = ms("B", percent="50", status="cancelled")
    closing = run([c], m, AS_OF, billed(first.invoices))
    (close,) = closing.invoices
    assert close.kind is Kind.RETAINAGE
    assert lines(close) == [("Retainage release", "50.00"), ("Deposit applied", "-50.00")]
    assert sum(i.total for i in first.invoices + closing.invoices) == D("500.00")
    # and it happens once
    assert run([c], m, AS_OF, billed(first.invoices + closing.invoices)).invoices == []


def test_keys_are_deterministic_and_distinct():
    a = run([acme()], acme_milestones(), AS_OF)
    b = run([acme()], acme_milestones(), AS_OF)
    assert [i.key for i in a.invoices] == [i.key for i in b.invoices]
    assert len({i.key for i in a.invoices}) == len(a.invoices)
    assert all(len(i.reference) <= 21 for i in a.invoices)
    other_business = decide(
        {acme().id: acme()}, acme_milestones(), [], [], BillingRules(business="Other"), AS_OF
    )
    assert not {i.key for i in a.invoices} & {i.key for i in other_business.invoices}


def test_a_true_up_with_no_change_order_behind_it_is_a_rounding_adjustment():
    c = contract(value=D("100.01"))
    out = run(
        [c],
        [
            ms("A", percent="33.33", accepted=date(2026, 10, 1)),
            ms("B", percent="33.33", accepted=date(2026, 10, 2)),
            ms("C", percent="33.34", accepted=date(2026, 10, 3)),
        ],
        AS_OF,
    )
    *_, last = out.invoices
    assert lines(last) == [("C (33.34% of 100.01 USD)", "33.34"), ("Rounding adjustment", "0.01")]
    assert sum(i.total for i in out.invoices) == D("100.01")
