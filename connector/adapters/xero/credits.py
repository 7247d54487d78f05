"""Setting a credit note against the invoice it replaces, exactly once.

Under credit-and-reissue the engine credits a (partly) paid invoice and bills the milestone
afresh. In Xero a credit note stays unapplied until it is allocated; without that the old
invoice would stay AUTHORISED with money due, and the customer would be chased for it. The
allocation is `min(credit remaining, invoice AmountDue)`, made only while the invoice has
something due. It must never happen twice: the credit note's own allocations are read first
(a replayed create response is 6 minutes stale, so they are read fresh), and the allocation
carries an Idempotency-Key of its own.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from xero_python.accounting import Allocation, Allocations, Invoice

from connector.adapters.base import RemoteInvoice
from connector.adapters.xero.mapping import request_key, to_remote
from connector.adapters.xero.session import XeroSession

log = logging.getLogger(__name__)
ZERO = Decimal(0)


def settle_credit(session: XeroSession, credit_id: str, invoice_id: str, on: date) -> RemoteInvoice:
    """Allocate credit note `credit_id` to invoice `invoice_id` unless it already is (or the
    invoice has nothing due); returns the credit note as it stands afterwards."""
    base = request_key("mc-alloc", [session.tenant(), credit_id, invoice_id])
    for attempt in session.after_server_errors():  # a 5xx is cached under its key: new key
        with attempt:
            notes = session.call(lambda api, t: api.get_credit_note(t, credit_id)).credit_notes
            credit = session.only(notes, f"credit note {credit_id}")
            remote = to_remote(credit)
            if any(
                a.invoice is not None and a.invoice.invoice_id == invoice_id
                for a in credit.allocations or []
            ):
                return remote  # allocated before (an earlier run, or an earlier attempt)
            remaining = credit.remaining_credit or ZERO
            if credit.status != "AUTHORISED" or remaining <= 0:
                return remote
            invoices = session.call(lambda api, t: api.get_invoice(t, invoice_id)).invoices
            invoice = session.only(invoices, f"invoice {invoice_id}")
            due = invoice.amount_due or ZERO
            if invoice.status != "AUTHORISED" or due <= 0:
                return remote  # paid meanwhile (or voided): the credit stays with the customer
            amount = min(remaining, due)
            n = attempt.retry_state.attempt_number
            key = base if n == 1 else request_key(base, [f"after-5xx-{n}", str(amount)])
            body = Allocations(
                allocations=[
                    Allocation(invoice=Invoice(invoice_id=invoice_id), amount=amount, date=on)
                ]
            )

            def allocate(api: Any, tenant: str, body: Any = body, key: str = key) -> Any:
                return api.create_credit_note_allocation(
                    tenant, credit_id, body, idempotency_key=key
                )

            session.call(allocate, write=True)
            log.info(
                "credit note %s set against invoice %s: %s",
                remote.number,
                invoice.invoice_number,
                amount,
            )
            return replace(remote, balance=remaining - amount)
    raise AssertionError("unreachable")  # pragma: no cover
