"""Billing returns typed actions, each with its idempotency key: a changed unpaid invoice is
voided and billed again, a paid one is credited, and a credit note is set against an invoice;
the outbox records each under the stored action the state database has always held."""

from __future__ import annotations

import hashlib
import json
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from connector.models import ChangeOrder, Kind, idempotency_key
from connector.sync.actions import CreateCredit, CreateInvoice, Settle, Void
from connector.sync.outbox import Creation, Voiding, intent_row, intents, left_over
from connector.sync.schema import OutboxAction
from tests.support import D, billed, contract, ms, run

AS_OF = date(2026, 10, 15)
C = contract(value=D("1000.00"))
FIRST = [ms("A", amount="400.00", accepted=date(2026, 10, 1))]
CHANGED = [ms("A", amount="450.00", accepted=date(2026, 10, 1))]


def first_invoice() -> CreateInvoice:
    (invoice,) = run([C], FIRST, AS_OF).actions
    assert isinstance(invoice, CreateInvoice)
    return invoice


def test_a_milestone_billed_for_the_first_time_is_one_create_invoice_with_its_key():
    invoice = first_invoice()
    assert (invoice.kind, invoice.milestones, str(invoice.total)) == (
        Kind.MILESTONE,
        ("A",),
        "400.00",
    )
    assert invoice.key == idempotency_key("Northwind Studio", "ACME-WEB", Kind.MILESTONE, ("A",), 0)
    assert run([C], FIRST, AS_OF).actions == [invoice]  # the same decision, the same action


def test_a_changed_unpaid_invoice_is_voided_then_billed_again():
    old = first_invoice()
    out = run([C], CHANGED, AS_OF, billed([old]), on_change="credit-and-reissue")
    void, reissue = out.actions
    assert isinstance(void, Void) and isinstance(reissue, CreateInvoice)
    assert (void.replaces, str(void.total)) == (old.key, "-400.00")
    assert void.key == idempotency_key("Northwind Studio", "ACME-WEB", Kind.CREDIT, ("A",), 0)
    assert (str(reissue.total), reissue.revision) == ("450.00", 1)
    assert len({old.key, void.key, reissue.key}) == 3


def test_a_changed_paid_invoice_is_credited_and_the_credit_note_set_against_it():
    old = first_invoice()
    history = billed([old], paid={old.key: D("400.00")})
    out = run([C], CHANGED, AS_OF, history, on_change="credit-and-reissue")
    credit, settle, reissue = out.actions
    assert isinstance(credit, CreateCredit) and isinstance(reissue, CreateInvoice)
    assert (credit.replaces, str(credit.total)) == (old.key, "-400.00")
    assert settle == Settle(credit=credit.key, against=old.key)
    assert settle.key.startswith("mc-") and settle.key not in (credit.key, old.key)
    assert out.invoices == [credit, reissue]  # what a plan lists: the documents


def test_a_negative_change_order_is_a_credit_note_set_against_an_open_invoice():
    """No invoice is named: the outbox finds, when it is sent, the oldest one still owing."""
    c = contract(
        value=D("1000.00"),
        change_orders=(ChangeOrder("CO-1", D("-100.00"), date(2026, 10, 20)),),
    )
    m = [ms("A", percent="50", accepted=date(2026, 10, 1)), ms("B", percent="50", accepted=AS_OF)]
    first = run([c], m, AS_OF)
    credit, settle = run([c], m, date(2026, 10, 25), billed(first.invoices)).actions
    assert isinstance(credit, CreateCredit)
    assert (credit.kind, str(credit.total), credit.date) == (
        Kind.ADJUSTMENT,
        "-100.00",
        date(2026, 10, 20),
    )
    assert settle == Settle(credit=credit.key, against=None)


def test_the_outbox_records_each_action_under_its_stored_action_and_reads_it_back():
    old = first_invoice()
    voided = run([C], CHANGED, AS_OF, billed([old]), on_change="credit-and-reissue")
    history = billed([old], paid={old.key: D("400.00")})
    credited = run([C], CHANGED, AS_OF, history, on_change="credit-and-reissue")
    void, reissue = intents(voided.actions)
    credit, _ = intents(credited.actions)
    assert isinstance(void, Voiding) and void.row.action == OutboxAction.VOID
    assert isinstance(reissue, Creation) and reissue.row.action == OutboxAction.CREATE
    assert reissue.settle is None
    assert isinstance(credit, Creation) and credit.row.action == OutboxAction.CREATE
    assert credit.settle == Settle(credit.key, old.key)  # the Settle goes with its credit note
    assert void.row == intent_row(voided.actions[0])
    # an intent an earlier run left is read back as the same action, from its row alone
    assert [left_over(i.row) for i in (void, reissue, credit)] == [void, reissue, credit]


@given(
    business=st.text(),
    contract=st.text(),
    kind=st.sampled_from(list(Kind)),
    milestones=st.lists(st.text(), max_size=4),
    revision=st.integers(0, 10**6),
)
def test_an_idempotency_key_hashes_the_same_text_as_ever(
    business, contract, kind, milestones, revision
):
    """Keys are in every ledger's invoices already: the text they hash never changes."""
    raw = json.dumps([business, contract, str(kind), list(milestones), revision])
    ever = "mc-" + hashlib.sha256(raw.encode()).hexdigest()[:40]
    assert idempotency_key(business, contract, kind, tuple(milestones), revision) == ever
