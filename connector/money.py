"""Money: `Decimal` built from strings, rounded once, per the currency's ISO 4217 exponent.

This module is the only place that rounds. It must never see a float: amounts come from strings,
integers, or `Decimal` values produced by parsers that were told `parse_float=Decimal`.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation

from connector.errors import MoneyError

# ISO 4217 active codes by minor-unit exponent (the standard's "E" column).
_EXPONENT_0 = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_EXPONENT_3 = "BHD IQD JOD KWD LYD OMR TND"
_EXPONENT_4 = "CLF UYW"
_EXPONENT_2 = (
    "AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD "
    "CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL "
    "GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR "
    "LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD "
    "PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC "
    "SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG ZAR ZMW ZWG"
)

EXPONENTS: dict[str, int] = {
    code: exponent
    for exponent, codes in ((0, _EXPONENT_0), (2, _EXPONENT_2), (3, _EXPONENT_3), (4, _EXPONENT_4))
    for code in codes.split()
}

# Wide enough that no intermediate product of contract arithmetic is ever rounded before the
# single quantize below; invalid operations (NaN, division by zero) raise instead of passing.
MONEY_CONTEXT = Context(prec=50, rounding=ROUND_HALF_UP, traps=[InvalidOperation])

_AMOUNT = re.compile(r"^-?\d{1,15}(\.\d{1,6})?$")  # up to 999 trillion: no contract is larger
HUNDRED = Decimal(100)


def exponent(currency: str) -> int:
    """The number of minor-unit digits of an ISO 4217 currency."""
    try:
        return EXPONENTS[currency]
    except KeyError:
        raise MoneyError(
            f"unknown currency {currency!r}; expected an ISO 4217 code like USD"
        ) from None


_QUANTA = {code: Decimal(1).scaleb(-e) for code, e in EXPONENTS.items()}


def quantum(currency: str) -> Decimal:
    """0.01 for USD, 1 for JPY, 0.001 for KWD."""
    q = _QUANTA.get(currency)
    return q if q is not None else Decimal(1).scaleb(-exponent(currency))


def round_money(value: Decimal, currency: str) -> Decimal:
    """Round once, half up, to the currency's minor unit."""
    return value.quantize(quantum(currency), rounding=ROUND_HALF_UP, context=MONEY_CONTEXT)


def mul(*factors: Decimal) -> Decimal:
    result = Decimal(1)
    for factor in factors:
        result = MONEY_CONTEXT.multiply(result, factor)
    return result


def percent_of(percent: Decimal, value: Decimal) -> Decimal:
    """percent x value / 100, exactly (dividing by 100 only moves the point)."""
    return MONEY_CONTEXT.multiply(percent, value).scaleb(-2)


def div(numerator: Decimal, denominator: Decimal) -> Decimal:
    return MONEY_CONTEXT.divide(numerator, denominator)


def parse_decimal(raw: object, what: str = "a number") -> Decimal:
    """A Decimal from a string, an int, or a Decimal (never a float)."""
    if isinstance(raw, (bool, float)):
        raise MoneyError(f'expected {what} written as a string like "1200.00", got {raw!r}')
    if isinstance(raw, Decimal):
        text = format(raw, "f")
    elif isinstance(raw, int):
        text = str(raw)
    elif isinstance(raw, str):
        text = raw.strip()
    else:
        raise MoneyError(f"expected {what}, got {raw!r}")
    if not _AMOUNT.match(text):
        raise MoneyError(f'expected {what} like "1200.00", got {raw!r}')
    return Decimal(text)


def parse_amount(raw: object, currency: str, *, allow_negative: bool = False) -> Decimal:
    """An amount in `currency`: no more decimals than its minor unit allows."""
    value = parse_decimal(raw, "an amount")
    if value < 0 and not allow_negative:
        raise MoneyError(f"expected an amount of zero or more, got {raw!r}")
    return check_places(value, currency, raw)


def check_places(value: Decimal, currency: str, raw: object = None) -> Decimal:
    """`value` at the currency's minor unit, or an error if that would drop digits."""
    if -value.normalize().as_tuple().exponent > exponent(currency):  # type: ignore[operator]
        shown = raw if raw is not None else format(value, "f")
        raise MoneyError(
            f"{shown!r} has more decimal places than {currency} allows ({exponent(currency)})"
        )
    return value.quantize(quantum(currency))


def parse_percent(raw: object) -> Decimal:
    """A percent written "20", "20.5" or "20%": 0 to 100."""
    text = raw.strip() if isinstance(raw, str) else raw
    if isinstance(text, str) and text.endswith("%"):
        text = text[:-1].strip()
    value = parse_decimal(text, "a percent")
    if not Decimal(0) <= value <= HUNDRED:
        raise MoneyError(f"expected a percent from 0 to 100, got {raw!r}")
    return value


def to_minor(amount: Decimal, currency: str) -> int:
    """Integer minor units for storage; refuses to drop a fraction of a minor unit."""
    scaled = amount.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"{amount} is not a whole number of {currency} minor units")
    return int(scaled)


def from_minor(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-exponent(currency)).quantize(quantum(currency))


def fmt(amount: Decimal) -> str:
    """Plain string form for JSON and tables: never scientific notation."""
    return format(amount, "f")


def grouped(amount: Decimal) -> str:
    """`12,345.60`: `fmt`'s fixed point with thousands separators, what a person reads in a
    table, an email or a page (never `1E+3`)."""
    return format(amount, ",f")


def percent_text(value: Decimal) -> str:
    """20, 12.5: a percent as a person writes it."""
    text = format(value.normalize(), "f")
    return text
