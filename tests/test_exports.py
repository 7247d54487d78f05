"""The cells of a CSV export, whatever a row holds: amounts as the numbers they are, dates as
ISO text, and text a spreadsheet would run as a formula neutralised (`exports.cell`)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

import pytest

from connector.exports import cell


class Kind(StrEnum):
    MILESTONE = "milestone"
    EVIL = "=cmd"


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (Decimal("-250.00"), "-250.00"),  # an amount stays a (negative) number
        (Decimal("1E+3"), "1000"),  # never an exponent
        (3, "3"),
        (True, "True"),
        (dt.date(2026, 11, 26), "2026-11-26"),
        (dt.datetime(2026, 11, 26, 2, 30), "2026-11-26T02:30:00"),  # a date's subclass
        (None, ""),
        ("Design", "Design"),
        ("=1+1", "'=1+1"),
        ("-2+3", "'-2+3"),  # text, not an amount: neutralised
        (Kind.MILESTONE, "milestone"),  # a text's subclass
        (Kind.EVIL, "'=cmd"),
    ],
)
def test_each_cell_is_written_as_what_it_is(value, written):
    assert cell(value) == written
