"""The cash forecast: expected receipts per week and per currency, early / expected / late,
from the invoices already raised and the milestones not billed yet, with the billing engine
itself run forward over the schedule; and a backtest that measures it against what was paid.

Reads the state read-only and the tracker read-only; never writes either, never calls a
ledger, never adds two currencies. `next_weeks` is the one figure other modules show (the
status and the morning digest): expected receipts in the next weeks, per currency.

    records   the typed records in and out, and their JSON
    habits    days paid after due, accepted after done, done after planned: quantiles
    invoices  open invoices: due day + the customer's habit, less what is paid
    project   when each unbilled milestone will be done and accepted
    forward   billing's own decisions, night after night, over the projected schedule
    weeks     items into weeks, per currency
    compute   all of it for one business
    backtest  the forecast made N weeks ago from what was known then, against what was paid
    chart     the weeks as an SVG bar chart with the early-late band (PNG through Chromium)
    load      a business's state and tracker, read-only
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from connector.config import Config
from connector.forecast.compute import forecast
from connector.forecast.load import known_from
from connector.forecast.records import Forecast, Known

__all__ = ["Forecast", "Known", "forecast", "forecast_for", "next_weeks"]


def forecast_for(
    cfg: Config, as_of: date | None = None, weeks: int = 13, *, read_tracker: bool = True
) -> Forecast:
    """One business's forecast, as of `as_of` or today in its time zone."""
    day = as_of or datetime.now(cfg.zone).date()
    return forecast(known_from(cfg, read_tracker=read_tracker), day, weeks)


def next_weeks(
    cfg: Config, as_of: date | None = None, weeks: int = 4, *, read_tracker: bool | None = None
) -> dict[str, Decimal]:
    """Expected receipts in the next `weeks` weeks (the as-of day included), per currency
    code, for one business: the line the status and the digest show. By default it calls no
    tracker over the network: a milestones file beside the config is read (that is where its
    planned dates are); another tracker's milestones are the ones the last sync saw."""
    if read_tracker is None:
        read_tracker = cfg.tracker_kind == "file"
    return forecast_for(cfg, as_of, weeks, read_tracker=read_tracker).expected_total()
