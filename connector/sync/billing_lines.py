"""The lines a contract's documents carry beside the work itself (the deposit and its
application, retainage withheld and released, the change-order true-up) and the running totals
they are worked out from.

Pure functions of a contract, its totals so far and the document being built; they never round
except through `connector.money.round_money`, once per line.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from connector.models import Contract, Line, Milestone, Role
from connector.money import div, fmt, mul, percent_of, percent_text, round_money
from connector.sync.closeout import adjustment_label, orders_between

ZERO = Decimal(0)


@dataclass(slots=True)
class Tally:
    """Running totals of a contract's active invoices, updated as this run adds lines."""

    gross: Decimal = ZERO  # fixed + percent + change-order adjustments
    percent_gross: Decimal = ZERO  # percent + change-order adjustments
    deposit: Decimal = ZERO
    deposit_invoiced: bool = False
    deposit_applied: Decimal = ZERO
    withheld: Decimal = ZERO
    released: Decimal = ZERO
    milestone_invoices: int = 0
    last_milestone_date: date | None = None  # the contract's value is final as of this day

    def billed_on(self, day: date | None) -> None:
        self.milestone_invoices += 1
        if day is not None and (self.last_milestone_date is None or day > self.last_milestone_date):
            self.last_milestone_date = day

    def add(self, lines: Iterable[Line], sign: int = 1) -> None:
        for line in lines:
            for attr, factor in _TALLIES[line.role]:
                # amount * 1 is the amount, and * -1 its negation, exponent and all
                moved = line.amount if sign * factor == 1 else line.amount.copy_negate()
                setattr(self, attr, getattr(self, attr) + moved)


# Which running totals each kind of line moves, and in which direction.
_TALLIES: dict[Role, tuple[tuple[str, int], ...]] = {
    Role.FIXED: (("gross", 1),),
    Role.PERCENT: (("gross", 1), ("percent_gross", 1)),
    Role.CO_ADJUSTMENT: (("gross", 1), ("percent_gross", 1)),
    Role.DEPOSIT: (("deposit", 1),),
    Role.DEPOSIT_APPLIED: (("deposit_applied", -1),),
    Role.RETAINAGE: (("withheld", -1),),
    Role.RETAINAGE_RELEASE: (("released", 1),),
    Role.CREDIT: (),
}


def show(value: Decimal, currency: str) -> str:
    """An amount as a message shows it."""
    return f"{fmt(value)} {currency}"


def deposit_line(c: Contract) -> Line | None:
    """The deposit invoice's line; a 0% deposit is no deposit, so no empty invoice."""
    spec = c.deposit
    assert spec is not None
    if spec.amount is not None:
        amount = spec.amount
    else:
        amount = round_money(percent_of(spec.percent or ZERO, c.value or ZERO), c.currency)
    if amount == ZERO:
        return None
    if spec.percent is None:
        return Line("Deposit", amount, Role.DEPOSIT)
    text = f"Deposit ({percent_text(spec.percent)}% of {show(c.value or ZERO, c.currency)})"
    return Line(text, amount, Role.DEPOSIT)


def deposit_applied(c: Contract, tally: Tally, gross: Decimal, is_last: bool) -> list[Line]:
    """The share of the deposit a document of `gross` work takes off; the last takes the rest."""
    if c.deposit is None or tally.deposit == ZERO:
        return []
    left = tally.deposit - tally.deposit_applied
    if is_last or not c.value:
        applied = left
    else:
        share = div(mul(gross, tally.deposit), c.value)
        applied = min(round_money(share, c.currency), left)
    return [Line("Deposit applied", -applied, Role.DEPOSIT_APPLIED)] if applied else []


def retainage_lines(
    c: Contract, tally: Tally, m: Milestone, work: Decimal, lines: Sequence[Line], is_last: bool
) -> list[Line]:
    """Retainage follows completed work, change-order work included. On the last invoice,
    more released than is now withheld (a reissued milestone withheld less) is settled
    here, never as a negative release invoice."""
    out = []
    withheld = round_money(percent_of(work, c.retainage), c.currency) if c.retainage else ZERO
    if withheld:
        label = f"Retainage withheld ({percent_text(c.retainage or ZERO)}%)"
        out.append(Line(label, -withheld, Role.RETAINAGE, m.id))
    if is_last:
        over = (
            tally.withheld
            - tally.released
            + sum(-ln.amount for ln in [*lines, *out] if ln.role is Role.RETAINAGE)
        )
        if over < 0:
            out.append(Line("Retainage release adjustment", over, Role.RETAINAGE_RELEASE))
    return out


def adjustment(
    c: Contract, tally: Tally, live: Iterable[Milestone], value: Decimal, this_gross: Decimal
) -> Decimal:
    """What brings the percent milestones' gross to their share of `value`."""
    total_percent = sum((m.percent for m in live if m.percent is not None), ZERO)
    if not total_percent:
        return ZERO
    target = round_money(percent_of(total_percent, value), c.currency)
    return target - (tally.percent_gross + this_gross)


def true_up_line(c: Contract, first: date | None, trued: date, amount: Decimal) -> Line:
    """Named for the change orders approved after `first` (the earliest value a percent line
    was billed at) and by `trued`: those some percent line was billed without."""
    return Line(adjustment_label(orders_between(c, first, trued)), amount, Role.CO_ADJUSTMENT)
