"""Milestones invoiced earlier whose amount, percent, contract or status has changed since, or
that left the tracker: flagged for a person, or (`on_change = "credit-and-reissue"`) their
invoice retired so that the milestone is billed afresh.

Pure, part of one contract's billing (`billing_contract`): it never undoes an invoice itself,
it only plans the `Void` or credit note that does.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from connector.models import BilledInvoice, Kind, Line, Reason, Role

if TYPE_CHECKING:
    from connector.sync.billing_contract import ContractBilling

ZERO = Decimal(0)


def handle_changes(cb: ContractBilling) -> None:
    """Each billed milestone whose content hash is not the one its invoice was billed with."""
    current = {m.id: m for m in cb.milestones}
    for mid, old in sorted(cb.billed.items()):
        if mid in cb.invalid_ids:
            continue
        m = current.get(mid)
        if m is not None and m.content_hash() == dict(old.milestone_hashes).get(mid):
            continue
        what = (
            "was removed from the tracker"
            if m is None
            else "changed (amount, percent, contract or status)"
        )
        if cb.rules.on_change == "credit-and-reissue":
            _retire(cb, mid, old, what)
        else:
            cb.flagged.add(mid)
            cb.skip(
                mid,
                Reason.CHANGED_AFTER_INVOICING,
                f"milestone {mid} {what} after it was invoiced on {old.number or old.key}; "
                "check it, then credit the invoice in the ledger or restore the milestone",
            )


def _retire(cb: ContractBilling, mid: str, old: BilledInvoice, what: str) -> None:
    """An unpaid invoice is voided, a paid one credited; a credit note cannot be voided like
    an invoice, so it is reversed by an invoice. The milestone is then billed afresh."""
    unpaid = old.paid == ZERO and old.total > 0
    verb = "void" if unpaid else ("credit note for" if old.total > 0 else "reverse")
    document = "invoice" if old.total > 0 else "credit note"
    text = f"{verb.capitalize()} {document} {old.number or old.key}: milestone {mid} {what}"
    line = Line(text, -old.total, Role.CREDIT, mid)
    cb.plan(Kind.CREDIT, (mid,), cb.as_of, [line], 0, replaces=old.key, void=unpaid)
    # The retired invoice no longer counts.
    cb.tally.add(old.lines, sign=-1)
    cb.tally.milestone_invoices -= 1
    del cb.billed[mid]
