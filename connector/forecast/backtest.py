"""How good the forecast has been: the forecast made N weeks ago, from what the state and the
tracker say was known then, against what was actually paid in each of those weeks.

Known on the day the forecast is made (`made_on`) is everything dated before it: invoices
dated before it, with the payments made before it; milestones done and accepted before it (one
done later was open then); change orders approved before it; habits learned from those only.
What the state cannot tell is taken as it is now: a milestone's planned day (the tracker keeps
only the latest), cancellations, and voids. The error is the mean absolute error of the
expected figure per week, as a share of the receipts of those weeks. Pure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal

from connector.forecast.compute import forecast
from connector.forecast.records import Forecast, Json, Known
from connector.models import Contract, Milestone, Status
from connector.money import MONEY_CONTEXT, fmt, quantum
from connector.sync import schema
from connector.sync.rows import InvoiceRow, amount_of
from connector.sync.state_records import PaymentRow

SHARE = Decimal("0.0001")  # the error's share, to a hundredth of a percent


@dataclass(frozen=True, slots=True)
class BacktestWeek:
    number: int
    start: date
    end: date
    early: Decimal
    expected: Decimal
    late: Decimal
    actual: Decimal

    @property
    def error(self) -> Decimal:
        """Forecast less actual: positive when more was expected than came."""
        return self.expected - self.actual

    def to_json(self) -> Json:
        return {
            "week": self.number,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "early": fmt(self.early),
            "expected": fmt(self.expected),
            "late": fmt(self.late),
            "actual": fmt(self.actual),
            "error": fmt(self.error),
        }


@dataclass(frozen=True, slots=True)
class CurrencyBacktest:
    currency: str
    weeks: tuple[BacktestWeek, ...]

    @property
    def receipts(self) -> Decimal:
        return sum((w.actual for w in self.weeks), Decimal(0).quantize(quantum(self.currency)))

    @property
    def absolute_error(self) -> Decimal:
        zero = Decimal(0).quantize(quantum(self.currency))
        return sum((abs(w.error) for w in self.weeks), zero)

    @property
    def mean_absolute_error(self) -> Decimal:
        return MONEY_CONTEXT.divide(self.absolute_error, Decimal(len(self.weeks))).quantize(
            quantum(self.currency)
        )

    @property
    def error_share(self) -> Decimal | None:
        """Mean absolute error over mean receipts (the same as total over total); None when
        nothing was received, where no share can be said."""
        if not self.receipts:
            return None
        return MONEY_CONTEXT.divide(self.absolute_error, self.receipts).quantize(SHARE)

    def to_json(self) -> Json:
        share = self.error_share
        return {
            "currency": self.currency,
            "weeks": [w.to_json() for w in self.weeks],
            "receipts": fmt(self.receipts),
            "absolute_error": fmt(self.absolute_error),
            "mean_absolute_error": fmt(self.mean_absolute_error),
            "error_share": None if share is None else fmt(share),
        }


@dataclass(frozen=True, slots=True)
class Backtest:
    business: str
    made_on: date  # the day the replayed forecast was made
    as_of: date  # the day the backtest was run: its last week ends the day before
    currencies: tuple[CurrencyBacktest, ...]
    then: Forecast

    def to_json(self) -> Json:
        return {
            "business": self.business,
            "made_on": self.made_on.isoformat(),
            "as_of": self.as_of.isoformat(),
            "weeks": self.then.weeks,
            "currencies": [c.to_json() for c in self.currencies],
            "not_forecast": list(self.then.not_forecast),
        }


def _rows_then(rows: Sequence[InvoiceRow], paid: dict[str, int], day: date) -> list[InvoiceRow]:
    """Invoices dated before `day`, with only the payments made before it."""
    out = []
    for r in rows:
        if r.invoice_date >= day:
            continue
        if r.state in (schema.PUSHED, schema.PARTIALLY_PAID, schema.PAID) and r.total_minor > 0:
            got = paid.get(r.key, 0)
            state = (
                schema.PAID
                if got >= r.total_minor
                else (schema.PARTIALLY_PAID if got else schema.PUSHED)
            )
            r = r._replace(paid_minor=got, balance_minor=r.total_minor - got, state=state)
        out.append(r)
    return out


def _milestone_then(m: Milestone, day: date) -> Milestone:
    """Done on or after `day`: open then. Accepted on or after it: not accepted then."""
    if m.completed is not None and m.completed >= day:
        status = Status.OPEN if m.status is Status.DONE else m.status
        return m._replace(status=status, completed=None, accepted=None)
    if m.accepted is not None and m.accepted >= day:
        return m._replace(accepted=None)
    return m


def _contract_then(c: Contract, day: date) -> Contract:
    return replace(c, change_orders=tuple(co for co in c.change_orders if co.approved < day))


def known_then(known: Known, day: date) -> Known:
    """What `known` says was known before `day`."""
    payments = [p for p in known.payments if p.paid_on < day]
    paid: dict[str, int] = defaultdict(int)
    for p in payments:
        if not p.deleted:
            paid[p.invoice_key] += p.amount_minor
    return replace(
        known,
        contracts={cid: _contract_then(c, day) for cid, c in known.contracts.items()},
        milestones=[_milestone_then(m, day) for m in known.milestones],
        rows=_rows_then(known.rows, paid, day),
        payments=payments,
    )


def actual_receipts(
    payments: Sequence[PaymentRow], start: date, weeks: int
) -> dict[str, dict[int, int]]:
    """Minor units received per currency and week (1-based) from `start`."""
    out: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    end = start + timedelta(days=7 * weeks)
    for p in payments:
        if not p.deleted and start <= p.paid_on < end:
            out[p.currency][(p.paid_on - start).days // 7 + 1] += p.amount_minor
    return out


def backtest(known: Known, as_of: date, weeks: int) -> Backtest:
    """The forecast made `weeks` weeks before `as_of`, week by week against what was paid."""
    made_on = as_of - timedelta(days=7 * weeks)
    then = forecast(known_then(known, made_on), made_on, weeks)
    actual = actual_receipts(known.payments, made_on, weeks)
    by_currency = {c.currency: c for c in then.currencies}
    out = []
    for currency in sorted(set(by_currency) | set(actual)):
        q = quantum(currency)
        zero = Decimal(0).quantize(q)
        predicted = by_currency.get(currency)
        rows = []
        for n in range(1, weeks + 1):
            start = made_on + timedelta(days=7 * (n - 1))
            week = predicted.weeks[n - 1] if predicted else None
            got = amount_of(actual.get(currency, {}).get(n, 0), currency)
            rows.append(
                BacktestWeek(
                    n,
                    start,
                    start + timedelta(days=6),
                    week.early.amount if week else zero,
                    week.expected.amount if week else zero,
                    week.late.amount if week else zero,
                    got.quantize(q),
                )
            )
        out.append(CurrencyBacktest(currency, tuple(rows)))
    return Backtest(known.business, made_on, as_of, tuple(out), then)
