"""Exchange rates: the company's rate of the day per foreign currency, and the rate an invoice
books.

The ExchangeRate entity (Intuit, ExchangeRate entity reference,
developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/exchangerate) holds one
rate per SourceCurrencyCode and AsOfDate against the home currency. It is read with
`GET /exchangerate?sourcecurrencycode=EUR[&asofdate=yyyy-mm-dd]` ("If not specified, today's date
is used"), queried with `select * from ExchangeRate where SourceCurrencyCode = 'EUR'`, and set
with `POST /exchangerate` (SourceCurrencyCode, Rate and AsOfDate mandatory; TargetCurrencyCode
defaults to the home currency; a rate for the home currency itself is a validation error).

ExchangeRate on a transaction is "the number of home currency units it takes to equal one unit
of currency specified by CurrencyRef" (Invoice reference; Manage multiple currencies,
developer.intuit.com/app/developer/qbo/docs/workflows/manage-multiple-currencies). A rate sent
is booked as sent, an explicit 1 included (how QuickBooks treats a sent 1 is not documented;
bookkeeper-needs.md 1e: "assume it is honoured"); with none sent, the company's rate of the
day applies. A date without a rate of its own uses the latest rate before it, or the earliest
the company has (assumption: QuickBooks fills every day from its own rate feed).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from connector_sandbox.quickbooks_faults import (
    business,
    dec,
    invalid_property,
    invalid_reference,
    required,
    stale,
    text,
)

if TYPE_CHECKING:
    from connector_sandbox.quickbooks_company import Company


def _key(code: str, day: str) -> str:
    return f"{code}:{day}"


def seed_rates(books: Company) -> None:
    """Today's rate for every foreign currency the company has (1 when none was given)."""
    s = books.settings
    today = books.today().isoformat()
    for code in sorted(s.currencies - {s.currency}):
        _store(books, code, today, s.exchange_rates.get(code, Decimal(1)))


def _store(books: Company, code: str, day: str, rate: Decimal) -> dict[str, Any]:
    key = _key(code, day)
    before = books.objects["ExchangeRate"].get(key)
    token = str(int(before["SyncToken"]) + 1) if before else "0"
    obj = {
        "domain": "QBO",
        "sparse": False,
        "SyncToken": token,
        "AsOfDate": day,
        "SourceCurrencyCode": code,
        "Rate": rate,
        "TargetCurrencyCode": books.settings.currency,
        "MetaData": {"LastUpdatedTime": books.stamp(books.now())},
    }
    books.objects["ExchangeRate"][key] = obj
    return obj


def _rate_entry(books: Company, code: str, day: str) -> dict[str, Any] | None:
    held = sorted(
        (o for o in books.objects["ExchangeRate"].values() if o["SourceCurrencyCode"] == code),
        key=lambda o: str(o["AsOfDate"]),
    )
    before = [o for o in held if str(o["AsOfDate"]) <= day]
    if before:
        return before[-1]
    return held[0] if held else None


def rate_on(books: Company, code: str, day: str) -> Decimal:
    """The company's rate for `code` on `day` (yyyy-mm-dd)."""
    entry = _rate_entry(books, code, day)
    return entry["Rate"] if entry else Decimal(1)


def booked_rate(books: Company, code: str, sent: Any, txn_date: str) -> Decimal:
    """The ExchangeRate a transaction in `code` books: as sent, else the rate of its date."""
    if code == books.settings.currency:
        return Decimal(1)
    rate = dec(sent, "ExchangeRate")
    if rate is None:
        return rate_on(books, code, txn_date)
    if rate <= 0:
        raise invalid_property("ExchangeRate", "must be more than 0")
    return rate


def read_rate(books: Company, code: str | None, as_of: str | None) -> dict[str, Any]:
    """GET /exchangerate: the rate of `code` on `as_of` (default today), as its own record."""
    code = text(code)
    if code is None:
        raise required("sourcecurrencycode")
    code = code.upper()
    day = _day(as_of) or books.today().isoformat()
    if code not in books.settings.currencies or code == books.settings.currency:
        raise invalid_reference("sourcecurrencycode", code)
    entry = _rate_entry(books, code, day)
    if entry is None:
        raise invalid_reference("sourcecurrencycode", code)
    return {**entry, "AsOfDate": day} if entry["AsOfDate"] != day else dict(entry)


def update_rate(books: Company, body: Mapping[str, Any]) -> dict[str, Any]:
    """POST /exchangerate: set the rate of one currency on one date."""
    code = text(body.get("SourceCurrencyCode"))
    day = _day(body.get("AsOfDate"))
    rate = dec(body.get("Rate"), "Rate")
    for name, value in (("SourceCurrencyCode", code), ("AsOfDate", day), ("Rate", rate)):
        if value is None:
            raise required(name)
    assert code is not None and day is not None and rate is not None
    home = books.settings.currency
    target = text(body.get("TargetCurrencyCode")) or home
    if code == home:
        raise business(f"An exchange rate cannot be set for the home currency {home}")
    if code not in books.settings.currencies or target != home:
        raise invalid_reference("SourceCurrencyCode", code)
    if rate <= 0:
        raise invalid_property("Rate", "must be more than 0")
    held = books.objects["ExchangeRate"].get(_key(code, day))
    token = text(body.get("SyncToken"))
    if held is not None and token is not None and token != held["SyncToken"]:
        raise stale()
    return dict(_store(books, code, day, rate))


def _day(raw: Any) -> str | None:
    value = text(raw)
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise invalid_property("AsOfDate", f"{value} is not a date") from None
