"""Items into weeks: week 1 is the as-of day and the six after it, week 2 the next seven, and
so on; what arrives after the last week is `later`. One `CurrencyForecast` per currency, by
currency code; amounts of two currencies are never added.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal

from connector.forecast.records import SCENARIOS, CurrencyForecast, Figure, Item, Scenario, Week
from connector.money import quantum


def _order(item: Item) -> tuple[date, str, str, str]:
    return (item.day, item.customer.casefold(), item.contract, item.reference)


def figure(items: Sequence[Item], currency: str) -> Figure:
    zero = Decimal(0).quantize(quantum(currency))
    return Figure(sum((i.amount for i in items), zero), tuple(sorted(items, key=_order)))


def week_of(day: date, as_of: date) -> int:
    """1 for the as-of day and the six after it; 0 never happens (items are never earlier)."""
    return (day - as_of).days // 7 + 1


def bucket(
    by_scenario: Mapping[Scenario, Sequence[Item]], as_of: date, weeks: int
) -> tuple[CurrencyForecast, ...]:
    cells: dict[tuple[str, Scenario, int], list[Item]] = defaultdict(list)
    currencies: set[str] = set()
    for scenario, found in by_scenario.items():
        for item in found:
            currencies.add(item.currency)
            cells[item.currency, scenario, min(week_of(item.day, as_of), weeks + 1)].append(item)
    out = []
    for currency in sorted(currencies):
        rows = []
        for n in range(1, weeks + 1):
            start = as_of + timedelta(days=7 * (n - 1))
            f = {s: figure(cells[currency, s, n], currency) for s in SCENARIOS}
            rows.append(
                Week(
                    n,
                    start,
                    start + timedelta(days=6),
                    f[Scenario.EARLY],
                    f[Scenario.EXPECTED],
                    f[Scenario.LATE],
                )
            )
        later = {s: figure(cells[currency, s, weeks + 1], currency) for s in SCENARIOS}
        out.append(CurrencyForecast(currency, tuple(rows), later))
    return tuple(out)
