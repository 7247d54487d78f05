"""Hypothesis: however a contract is shaped and however the nights fall, the invoices add up."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as s

from connector.models import ChangeOrder, Deposit, Kind, Status
from connector.money import exponent, round_money
from tests.support import billed, contract, ms, run

START = date(2026, 9, 1)
END = date(2027, 3, 1)


def money(currency: str, low: int, high: int) -> s.SearchStrategy[Decimal]:
    e = exponent(currency)
    return s.integers(low * 10**e, high * 10**e).map(lambda n: Decimal(n).scaleb(-e))


def day() -> s.SearchStrategy[date]:
    return s.integers(0, (END - START).days - 1).map(lambda n: START + timedelta(days=n))


@s.composite
def contracts(draw: s.DrawFn, *, whole: bool = False):
    currency = draw(s.sampled_from(["USD", "JPY", "KWD", "EUR"]))
    # "whole" contracts are realistic ones: at least 10,000 (yen, dollars...) with milestones of
    # at least 1%, so half-unit roundings can never outweigh the last milestone. Below that a
    # final true-up can exceed a tiny last milestone: the contract's own numbers.
    value = draw(money(currency, 10_000 if whole else 100, 1_000_000))
    deposit = draw(
        s.one_of(
            s.none(),
            s.decimals("0", "50", places=2).map(lambda p: Deposit(percent=p)),
            # at most half the value, as with the percent deposit: a deposit and retainage that
            # together exceed a milestone would make that invoice negative by the contract's
            # own numbers
            money(currency, 0, 100).map(
                lambda a: Deposit(amount=min(a, round_money(value / 2, currency)))
            ),
        )
    )
    retainage = draw(s.one_of(s.none(), s.decimals("0", "10", places=1)))
    low = 0 if whole else -50_000
    orders = tuple(
        ChangeOrder(f"CO-{i}", amount, approved)
        for i, (amount, approved) in enumerate(
            draw(s.lists(s.tuples(money(currency, low, 50_000), day()), max_size=3))
        )
    )
    if not whole and sum((o.amount for o in orders), Decimal(0)) < -value / 2:
        orders = ()
    c = contract(
        currency=currency,
        value=value,
        start=START,
        deposit=deposit,
        retainage=retainage,
        change_orders=orders,
        cap=Decimal("1e15"),
    )
    count = draw(s.integers(1, 8))
    if whole:  # all percent, adding up to exactly 100
        cuts = sorted(
            draw(
                s.lists(
                    s.integers(1, 99).map(Decimal),
                    min_size=count - 1,
                    max_size=count - 1,
                    unique=True,
                )
            )
        )
        bounds = [Decimal(0), *cuts, Decimal(100)]
        shapes = [("percent", hi - lo) for lo, hi in itertools.pairwise(bounds)]
    else:
        shapes = []
        left = Decimal(100)
        for _ in range(count):
            if draw(s.booleans()):
                shapes.append(("amount", draw(money(currency, 0, 100_000))))
            else:
                p = draw(s.decimals("0", str(left), places=2))
                left -= p
                shapes.append(("percent", p))
    milestones = []
    for i, (kind, number) in enumerate(shapes):
        cancelled = not whole and draw(s.integers(0, 9)) == 0
        done = draw(day())
        milestones.append(
            ms(
                f"M{i}",
                c.id,
                **{kind: str(number)},
                status="cancelled" if cancelled else "done",
                completed=None if cancelled else done,
                accepted=None if cancelled else done + timedelta(days=draw(s.integers(0, 20))),
            )
        )
    nights = [*sorted(draw(s.lists(day(), max_size=5))), END + timedelta(days=30)]
    return c, milestones, nights


def bill_every_night(c, milestones, nights):
    history = []
    for night in nights:
        history += billed(run([c], milestones, night, history).invoices)
    return history


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contracts())
def test_all_invoices_add_up_to_the_contract_exactly(case):
    c, milestones, nights = case
    history = bill_every_night(c, milestones, nights)
    live = [m for m in milestones if m.status is not Status.CANCELLED]
    billed_ids = {mid for h in history if h.kind is Kind.MILESTONE for mid in h.milestones}
    assert billed_ids == {m.id for m in live}
    if not live:
        return
    last_day = max(m.accepted for m in live)
    final_value = c.value_on(last_day)
    fixed = sum((m.amount for m in live if m.amount is not None), Decimal(0))
    percent = sum((m.percent for m in live if m.percent is not None), Decimal(0))
    expected = fixed + round_money(percent * final_value / 100, c.currency)
    assert sum(h.total for h in history) == expected
    # every line is already in the currency's minor unit: nothing was left unrounded
    for h in history:
        for line in h.lines:
            assert line.amount == round_money(line.amount, c.currency)
    # deposit: exactly what was invoiced is applied back; retainage: all of it released
    assert _role_sum(history, "deposit") == -_role_sum(history, "deposit_applied")
    assert _role_sum(history, "retainage") == -_role_sum(history, "retainage_release")
    # one more night changes nothing
    assert run([c], milestones, END + timedelta(days=60), history).invoices == []


@settings(max_examples=200, deadline=None)
@given(contracts(whole=True))
def test_no_invoice_is_negative_when_the_milestones_cover_the_contract(case):
    c, milestones, nights = case
    for h in bill_every_night(c, milestones, nights):
        assert h.total >= 0, h


def _role_sum(history, role):
    return sum((ln.amount for h in history for ln in h.lines if ln.role == role), Decimal(0))
