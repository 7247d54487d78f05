"""Figures the dashboard takes from work that is still arriving in other modules, in one place:
the money an item that needs a person holds up, and the receipts expected in the next four
weeks (a forecast).

Until the status carries the amount an item holds up, an item is a sentence and holds up
nothing the dashboard can add; until `connector.forecast` exists, the expected receipts are
shown as not available, labelled so, never as zero.
"""

from __future__ import annotations

from decimal import Decimal

from connector.web.tables import Cell

FORECAST_GAP = "not available yet"


def held_up(item: object) -> tuple[Decimal, str] | None:
    """(amount, currency) an attention item holds up, when it says; a sentence says none."""
    value = getattr(item, "amount", None)
    currency = getattr(item, "currency", None)
    if isinstance(value, Decimal) and isinstance(currency, str):
        return value, currency
    return None


def sentence(item: object) -> str:
    """What a person reads of an attention item."""
    return str(getattr(item, "message", None) or item)


def expected_cell(view: object) -> Cell:
    """The receipts expected in the next four weeks: not computed by this release."""
    return Cell(FORECAST_GAP, "", mark="gap")
