"""Dates as Xero writes them: .NET JSON dates (`/Date(1573755038314+0000)/`) beside ISO strings.

Xero's JSON carries dates in the Microsoft format, milliseconds since 1970 UTC with an optional
offset, and repeats some as `DateString` in ISO form. Requests may send either; xero-python sends
the Microsoft form for every `date[ms-format]` field.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from email.utils import parsedate_to_datetime

_MS = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def ms_date(value: date) -> str:
    """A calendar date as Xero sends it: midnight UTC, with the +0000 offset."""
    moment = datetime.combine(value, time(), tzinfo=UTC)
    return f"/Date({int(moment.timestamp() * 1000)}+0000)/"


def ms_datetime(value: datetime) -> str:
    """A UTC instant as Xero sends UpdatedDateUTC."""
    millis = (value - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    return f"/Date({millis}+0000)/"


def iso_date(value: date) -> str:
    """`DateString`: the date with a zero time, no offset."""
    return f"{value.isoformat()}T00:00:00"


def parse_date(value: object) -> date | None:
    """A date from a request: `/Date(ms)/`, `2026-11-02` or `2026-11-02T00:00:00`."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"not a date: {value!r}")
    match = _MS.match(value)
    if match:
        millis = int(match.group(1))
        return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=millis)).date()
    return date.fromisoformat(value[:10])


def parse_instant(value: str) -> datetime:
    """An If-Modified-Since value: ISO 8601 (what xero-python sends) or an HTTP date."""
    value = value.strip()
    match = _MS.match(value)
    if match:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(match.group(1)))
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        moment = parsedate_to_datetime(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
