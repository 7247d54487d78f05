"""A folder's forecasts added up per currency and week: one `Forecast` named "All
businesses", whose figures hold every business's items. Weeks are added by number, so the
businesses must share the as-of day (a folder is forecast as of one day; `across` refuses
otherwise). Two currencies are never added."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from connector.forecast.records import SCENARIOS, Forecast, Item, Scenario
from connector.forecast.weeks import bucket

ALL = "All businesses"


def across(forecasts: Sequence[Forecast]) -> Forecast:
    days = {f.as_of for f in forecasts}
    if len(days) != 1:
        raise ValueError("forecasts of different days cannot be added week by week")
    as_of = days.pop()
    weeks = max(f.weeks for f in forecasts)
    items: dict[Scenario, list[Item]] = defaultdict(list)
    for f in forecasts:
        for c in f.currencies:
            for s in SCENARIOS:
                for w in c.weeks:
                    items[s] += w.figure(s).items
                items[s] += c.later[s].items
    return Forecast(ALL, as_of, weeks, bucket(items, as_of, weeks))
