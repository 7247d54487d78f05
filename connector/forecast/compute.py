"""One business's forecast from what it knows (`Known`): habits learned, open invoices
projected, billing run forward over the milestones, everything bucketed into weeks, for each
of the three scenarios. Pure.
"""

from __future__ import annotations

from datetime import date

from connector.forecast.forward import items as document_items
from connector.forecast.forward import run_forward
from connector.forecast.habits import learn
from connector.forecast.invoices import open_invoices
from connector.forecast.records import SCENARIOS, Forecast, Item, Known, Scenario
from connector.forecast.weeks import bucket
from connector.sync.rows import to_billed


def forecast(known: Known, as_of: date, weeks: int = 13) -> Forecast:
    """Expected receipts per week from `as_of`, per currency, early / expected / late."""
    habits = learn(known.rows, known.payments, known.milestones, known.contracts)
    history = [to_billed(r) for r in known.rows]
    by_scenario: dict[Scenario, list[Item]] = {}
    not_forecast: list[str] = []
    for scenario in SCENARIOS:
        outcome = run_forward(
            dict(known.contracts),
            known.milestones,
            known.invalid,
            history,
            known.rules,
            habits,
            scenario,
            as_of,
            weeks,
        )
        found = open_invoices(known.rows, habits.pay, scenario, as_of, outcome.retired)
        by_scenario[scenario] = found + document_items(outcome, habits, scenario, as_of)
        if scenario is Scenario.EXPECTED:
            not_forecast = outcome.not_forecast
    return Forecast(
        known.business,
        as_of,
        weeks,
        bucket(by_scenario, as_of, weeks),
        tuple(dict.fromkeys(not_forecast)),
        known.caveats,
        habits.to_table(),
    )
