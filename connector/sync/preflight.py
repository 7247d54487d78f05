"""Before the first push: does what the config asks of the ledger exist in the company's books?

A wrong tax code, class or currency is refused by the ledger on every document, every night, at
2 a.m. (QuickBooks answers 6000 for a line without a tax code outside the US; Xero drops a
tracking option it cannot match without a word: bookkeeper-needs.md 1a and 1f). Comparing the
config with the ledger's own lists (`LedgerProfile`) turns that into one message per mismatch,
naming the contract, the setting and what the company does have. Pure: the caller reads the
profile; `doctor` shows the same problems before anything is pushed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from connector.adapters.base import Booking, LedgerProfile
from connector.config import Config

MAX_TRACKING = 2  # Xero: at most two tracking categories per line (ledger-apis.md, Line row)


@dataclass(frozen=True, slots=True)
class ContractBooking:
    """One contract as the ledger will see it."""

    contract: str
    currency: str
    booking: Booking


def bookings(config: Config, contracts: Iterable[str] | None = None) -> list[ContractBooking]:
    """The config's contracts (or those named) as the ledger will see them."""
    wanted = config.contracts if contracts is None else contracts
    return [
        ContractBooking(cid, config.contracts[cid].currency, config.books_for(cid).booking)
        for cid in wanted
        if cid in config.contracts
    ]


def _listed(values: Iterable[str]) -> str:
    names = sorted(values, key=str.casefold)
    return ", ".join(f'"{v}"' for v in names) if names else "none"


def _casefolded(values: Iterable[str]) -> set[str]:
    return {v.casefold() for v in values}


def problems(profile: LedgerProfile, contracts: Sequence[ContractBooking]) -> list[str]:
    """Every mismatch between the contracts' bookings and the company, one sentence each, in
    contract order. Names compare without regard to case, as both ledgers do."""
    found: list[str] = []
    for c in contracts:
        found += _currency(profile, c)
        found += _tax(profile, c)
        found += _classes(profile, c)
        found += _tracking(profile, c)
    return found


def _currency(profile: LedgerProfile, c: ContractBooking) -> list[str]:
    if c.currency == profile.home_currency:
        return []
    if not profile.multicurrency:
        return [
            f"contract {c.contract} bills in {c.currency}, but the company's home currency is "
            f"{profile.home_currency} and multicurrency is off: turn multicurrency on in the "
            f"ledger's settings, or bill this contract in {profile.home_currency}"
        ]
    if profile.currencies and c.currency not in profile.currencies:
        return [
            f"contract {c.contract} bills in {c.currency}, which the company does not use: add "
            f"it to the ledger's currencies (it has {_listed(profile.currencies)})"
        ]
    return []


def _tax(profile: LedgerProfile, c: ContractBooking) -> list[str]:
    b = c.booking
    if b.taxable is not None and profile.needs_tax_code:
        where = profile.country or "outside the US"
        return [
            f"contract {c.contract}: taxable = true/false is for US companies, whose lines are "
            f"taxable or not; this company ({where}) needs tax_code = one of "
            f"{_listed(profile.tax_codes)}"
        ]
    if b.tax_code is None:
        if profile.needs_tax_code:
            return [
                f"contract {c.contract} has no tax_code, and every line in this company "
                f"({profile.country}) needs one: set tax_code in [billing] or on the contract "
                f"to one of {_listed(profile.tax_codes)}"
            ]
        return []
    if b.tax_code.casefold() not in _casefolded(profile.tax_codes):
        return [
            f'contract {c.contract}: tax_code "{b.tax_code}" is not one of the company\'s '
            f"active tax codes: {_listed(profile.tax_codes)}"
        ]
    return []


def _classes(profile: LedgerProfile, c: ContractBooking) -> list[str]:
    found: list[str] = []
    for setting, wanted, known, what in (
        ("class", c.booking.class_name, profile.classes, "class tracking"),
        ("location", c.booking.location, profile.locations, "location tracking"),
    ):
        if wanted is None:
            continue
        if known is None:
            found.append(
                f'contract {c.contract} sets {setting} = "{wanted}", but {what} is off in '
                f"the company: turn it on in the ledger's settings, or remove {setting}"
            )
        elif wanted.casefold() not in _casefolded(known):
            found.append(
                f'contract {c.contract}: {setting} "{wanted}" is not in the company\'s list: '
                f"{_listed(known)}"
            )
    return found


def _tracking(profile: LedgerProfile, c: ContractBooking) -> list[str]:
    wanted = c.booking.tracking
    if not wanted:
        return []
    if len(wanted) > MAX_TRACKING:
        return [
            f"contract {c.contract} names {len(wanted)} tracking categories; the ledger takes "
            f"at most {MAX_TRACKING} on a line"
        ]
    categories = {name.casefold(): (name, options) for name, options in profile.tracking}
    found: list[str] = []
    for category, option in wanted:
        known = categories.get(category.casefold())
        if known is None:
            found.append(
                f'contract {c.contract}: tracking category "{category}" does not exist in the '
                f"ledger (it has {_listed(n for n, _ in profile.tracking)})"
            )
        elif option.casefold() not in _casefolded(known[1]):
            found.append(
                f'contract {c.contract}: "{option}" is not an active option of tracking '
                f'category "{known[0]}" (it has {_listed(known[1])})'
            )
    return found
