"""The LedgerAdapter conformance contract: what the sync engine relies on, whatever the ledger.

An adapter's test module subclasses `LedgerConformance` and provides a `ledger` fixture (a fresh,
empty ledger for each test) and `pay(ledger, invoice, amount)` (a payment made in the ledger, as
the bookkeeper's client would make it):

    class TestMyLedger(LedgerConformance):
        @pytest.fixture
        def ledger(self, tmp_path):
            return MyLedger(tmp_path / "books.json")

        def pay(self, ledger, invoice, amount):
            ledger.record_payment(invoice.ledger_id, amount)

It uses pytest, which only whoever runs it needs; the connector never imports this module.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from connector.adapters.base import CustomerRef, InvoiceRequest, RemoteInvoice, RemoteStatus
from connector.errors import SkippableLedgerError
from connector.models import Kind, Line, Role, idempotency_key, reference_for


def request(
    customer: CustomerRef, n: int, amount: str = "1000.00", *, kind: Kind = Kind.MILESTONE
) -> InvoiceRequest:
    """Invoice (or credit note) number `n` of one contract for `customer`, less 5% retainage."""
    key = idempotency_key("Conformance Co", "C-1", kind, (f"M{n}",), 0)
    sign = Decimal(-1) if kind is Kind.CREDIT else Decimal(1)
    return InvoiceRequest(
        key=key,
        reference=reference_for(key),
        customer=customer,
        currency=customer.currency,
        kind=kind,
        date=date(2026, 11, 2),
        due_date=date(2026, 11, 17),
        lines=(
            Line(f"Milestone {n}", Decimal(amount) * sign, Role.FIXED, f"M{n}"),
            Line("Retainage withheld (5%)", Decimal("-50.00") * sign, Role.RETAINAGE),
        ),
        memo=f"C-1: M{n}",
    )


class LedgerConformance:
    """Behaviour the sync engine relies on, whatever the ledger."""

    # `ledger` is Any: a fixture may wrap the adapter (a reloading file, a sandbox client), and
    # each test calls only the LedgerAdapter methods.

    def pay(self, ledger: Any, invoice: RemoteInvoice, amount: Decimal) -> None:
        """Record a payment of `amount` against `invoice`, as the customer would."""
        raise NotImplementedError

    @pytest.fixture
    def customer(self, ledger: Any) -> CustomerRef:
        return ledger.find_or_create_customer("Acme Corporation", "USD")

    def test_customer_is_found_not_duplicated(self, ledger: Any, customer: CustomerRef) -> None:
        again = ledger.find_or_create_customer("Acme Corporation", "USD")
        assert again.id == customer.id

    def test_customer_in_another_currency_is_an_error_not_a_guess(
        self, ledger: Any, customer: CustomerRef
    ) -> None:
        with pytest.raises(SkippableLedgerError, match="USD"):
            ledger.find_or_create_customer("Acme Corporation", "EUR")

    def test_batch_create_returns_one_result_per_request_in_order(
        self, ledger: Any, customer: CustomerRef
    ) -> None:
        requests = [request(customer, n, f"{n}000.00") for n in range(1, 4)]
        results = ledger.create_invoices(requests)
        assert [r.key for r in results] == [r.key for r in requests]
        assert [r.invoice.total for r in results] == [
            Decimal("950.00"),
            Decimal("1950.00"),
            Decimal("2950.00"),
        ]
        assert all(r.invoice.status is RemoteStatus.OPEN for r in results)
        assert len({r.invoice.number for r in results}) == 3

    def test_a_repeated_key_returns_the_original_document(
        self, ledger: Any, customer: CustomerRef
    ) -> None:
        first = ledger.create_invoices([request(customer, 1)])[0].invoice
        again = ledger.create_invoices([request(customer, 1)])[0].invoice
        assert again.ledger_id == first.ledger_id
        found = ledger.find_invoices([first.reference])
        assert list(found) == [first.reference]

    def test_find_by_reference(self, ledger: Any, customer: CustomerRef) -> None:
        made = ledger.create_invoices([request(customer, 1), request(customer, 2)])
        refs = [r.invoice.reference for r in made]
        found = ledger.find_invoices([*refs, "MC-NOSUCHREF00"])
        assert sorted(found) == sorted(refs)
        assert found[refs[0]].ledger_id == made[0].invoice.ledger_id

    def test_full_batch(self, ledger: Any, customer: CustomerRef) -> None:
        requests = [request(customer, n) for n in range(ledger.batch_size)]
        assert all(r.invoice for r in ledger.create_invoices(requests))

    def test_credit_note(self, ledger: Any, customer: CustomerRef) -> None:
        credit = ledger.create_invoices([request(customer, 9, kind=Kind.CREDIT)])[0].invoice
        assert credit.is_credit
        assert credit.total == Decimal("950.00")

    def test_void_an_unpaid_invoice_but_not_a_paid_one(
        self, ledger: Any, customer: CustomerRef
    ) -> None:
        a, b = (
            r.invoice for r in ledger.create_invoices([request(customer, 1), request(customer, 2)])
        )
        voided = ledger.void_invoice(a.ledger_id, "void-key-1")
        assert voided.status is RemoteStatus.VOIDED
        assert ledger.void_invoice(a.ledger_id, "void-key-1").status is RemoteStatus.VOIDED
        self.pay(ledger, b, Decimal("100.00"))
        with pytest.raises(SkippableLedgerError):
            ledger.void_invoice(b.ledger_id, "void-key-2")

    def test_payment_changes_since_a_cursor(self, ledger: Any, customer: CustomerRef) -> None:
        invoice = ledger.create_invoices([request(customer, 1)])[0].invoice
        cursor = ledger.payment_changes(None).cursor
        self.pay(ledger, invoice, Decimal("400.00"))
        changes = ledger.payment_changes(cursor)
        (seen,) = [i for i in changes.invoices if i.ledger_id == invoice.ledger_id]
        assert (seen.status, seen.balance) == (RemoteStatus.PARTIALLY_PAID, Decimal("550.00"))
        assert [p.amount for p in seen.payments] == [Decimal("400.00")]
        self.pay(ledger, invoice, Decimal("550.00"))
        later = ledger.payment_changes(changes.cursor)
        (seen,) = [i for i in later.invoices if i.ledger_id == invoice.ledger_id]
        assert (seen.status, seen.balance) == (RemoteStatus.PAID, Decimal("0.00"))
        # A ledger may read back over a little overlap (two changes in one second are not lost),
        # so an unchanged invoice may come again, but only as it is.
        quiet = ledger.payment_changes(later.cursor)
        again = [i for i in quiet.invoices if i.ledger_id == invoice.ledger_id]
        assert all((i.status, i.balance) == (RemoteStatus.PAID, Decimal("0.00")) for i in again)
