"""Figures the dashboard takes from other modules' records, in one place: the money an item
that needs a person holds up (`status_records.Attention`), and the receipts expected in the next
four weeks (`connector.forecast`, per currency).
"""

from __future__ import annotations

from decimal import Decimal

from connector.forecast import Forecast
from connector.sync.status_records import Attention

NEXT_WEEKS = 4
NO_FORECAST = "no forecast"


def held_up(item: Attention) -> tuple[Decimal, str] | None:
    """(amount, currency) an item holds up, when the status knows it."""
    if item.amount is None or item.currency is None:
        return None
    return item.amount, item.currency


def sentence(item: Attention) -> str:
    return item.message


def expected(forecast: Forecast | None) -> tuple[tuple[str, Decimal], ...] | None:
    """Expected receipts in the next four weeks, per currency; None without a forecast."""
    if forecast is None:
        return None
    return tuple(sorted(forecast.expected_total(NEXT_WEEKS).items()))
