"""A contract's end, once every live milestone is billed: the change orders approved since the
last true-up, the deposit not yet applied, the retainage still held, and a notice for any of
the contract's value that no milestone bills.

Pure, part of one contract's billing (`billing_contract`); the arithmetic it shares with status
is `closeout`'s. Each document it plans waits for the ledger to confirm every earlier one.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from connector.models import Kind, Line, Milestone, Role
from connector.sync.billing_lines import adjustment, deposit_applied
from connector.sync.closeout import adjustment_label, orders_between, unbilled_remainder

if TYPE_CHECKING:
    from connector.sync.billing_contract import ContractBilling

ZERO = Decimal(0)


def close_out(cb: ContractBilling, live: list[Milestone]) -> None:
    """Each night, bill what is still owed either way."""
    bill_late_change_orders(cb, live)
    lines = deposit_applied(cb.c, cb.tally, ZERO, True)
    outstanding = cb.tally.withheld - cb.tally.released
    if outstanding:
        lines.insert(0, Line("Retainage release", outstanding, Role.RETAINAGE_RELEASE))
    if lines:
        kind = Kind.RETAINAGE if outstanding else Kind.CLOSEOUT
        cb.plan(kind, (), cb.closing_day or cb.as_of, lines, cb.terms())
    report_unbilled(cb, live)


def bill_late_change_orders(cb: ContractBilling, live: list[Milestone]) -> None:
    """Change orders approved after the contract's last true-up get their own document,
    dated on the (latest) approval: an invoice when positive, a credit note when negative.
    No retainage or deposit: the work is done and the retainage released."""
    needed = adjustment(cb.c, cb.tally, live, cb.value_on(cb.as_of), ZERO)
    if not needed:
        return
    covered = orders_between(cb.c, cb.trued_up_to, cb.as_of)
    if cb.rules.invoice_date == "sync" or not covered:
        day = cb.as_of
    else:
        day = max(covered[-1].approved, cb.trued_up_to or covered[-1].approved)
    if not covered:  # a change order dated before the last true-up (entered late)
        covered = orders_between(cb.c, cb.valued_from, cb.as_of)
    cap = cb.cap()
    if needed > 0 and cap is not None and cb.tally.gross + needed > cap:
        cb.notice(
            f"contract {cb.c.id}: the change order adjustment of {cb.show(needed)} "
            f"would bring it to {cb.show(cb.tally.gross + needed)}, above its cap of "
            f"{cb.show(cap)}; raise the cap or correct the milestones"
        )
        return
    line = Line(adjustment_label(covered), needed, Role.CO_ADJUSTMENT)
    cb.plan(Kind.ADJUSTMENT, (), day, [line], cb.terms())
    cb.trued_up(day)


def report_unbilled(cb: ContractBilling, live: list[Milestone]) -> None:
    left = unbilled_remainder(cb.c, live, cb.as_of)
    if left:
        cb.notice(
            f"contract {cb.c.id}: every milestone is billed, but {cb.show(left)} of its "
            f"value of {cb.show(cb.value_on(cb.as_of))} is on no milestone; add a "
            "milestone for it, or a change order if the contract is worth less"
        )
