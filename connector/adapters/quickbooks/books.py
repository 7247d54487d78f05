"""What the company's books are set up with, and a request's booking resolved to the company's
ids.

QuickBooks keeps the setup in CompanyInfo (Country), Preferences (home currency, multicurrency,
Automated Sales Tax as TaxPrefs.PartnerTaxEnabled, class and location tracking, custom numbers)
and the TaxCode, Class, Department and CompanyCurrency lists (Intuit's entity references for
each; bookkeeper-needs.md 1a, 1e, 1f). They are read together, in one batch of queries, the
first time any is needed, and kept per company for a while (`setup`). Names match without
regard to case, as QuickBooks matches them. Reads only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from connector.adapters.base import AmountsAre, Booking, InvoiceRequest, LedgerProfile
from connector.adapters.quickbooks.mapping import Booked
from connector.adapters.quickbooks.setup import Setup
from connector.errors import SkippableLedgerError

US = "US"
PSEUDO_CODES = ("TAX", "NON")  # US lines: taxable or not (Manage sales tax for US locales)
CALCULATION = {  # GlobalTaxCalculation, for companies outside the US only (Invoice reference)
    AmountsAre.EXCLUSIVE: "TaxExcluded",
    AmountsAre.INCLUSIVE: "TaxInclusive",
    AmountsAre.NO_TAX: "NotApplicable",
}


class ClassTracking(StrEnum):
    """Preferences.AccountingInfoPrefs: ClassTrackingPerTxnLine puts ClassRef on each line,
    ClassTrackingPerTxn on the document (Invoice reference, ClassRef)."""

    OFF = "off"
    LINE = "per line"
    TXN = "per transaction"


@dataclass(frozen=True, slots=True)
class Named:
    """A name list: the active entries' ids by case-folded name, and the names as shown."""

    ids: Mapping[str, str]
    names: tuple[str, ...]

    def id_of(self, name: str) -> str | None:
        return self.ids.get(name.casefold())

    def listed(self) -> str:
        return ", ".join(f'"{n}"' for n in sorted(self.names, key=str.casefold)) or "none"


def named(rows: Iterable[Mapping[str, Any]], skip: tuple[str, ...] = ()) -> Named:
    """The active rows by FullyQualifiedName (Parent:Child for sub-classes), else Name."""
    ids: dict[str, str] = {}
    names: list[str] = []
    for row in rows:
        name = str(row.get("FullyQualifiedName") or row.get("Name") or "")
        if not name or name in skip or row.get("Active") is False:
            continue
        ids.setdefault(name.casefold(), str(row["Id"]))
        names.append(name)
    return Named(ids, tuple(names))


class CompanyBooks:
    """The company's setup, read lazily through `setup` and kept."""

    def __init__(self, setup: Setup):
        self.setup = setup
        self._prefs: dict[str, Any] | None = None
        self._info: dict[str, Any] | None = None
        self._lists: dict[str, Named] = {}
        self._currencies: tuple[str, ...] | None = None

    # -- what the company says about itself ----------------------------------------------------

    def preferences(self) -> dict[str, Any]:
        if self._prefs is None:
            self._prefs = _record(self.setup.rows("Preferences"))
        return self._prefs

    def company_info(self) -> dict[str, Any]:
        if self._info is None:
            self._info = _record(self.setup.rows("CompanyInfo"))
        return self._info

    def _pref(self, group: str, name: str, default: Any = None) -> Any:
        return (self.preferences().get(group) or {}).get(name, default)

    def country(self) -> str | None:
        return self.company_info().get("Country") or None

    def us(self) -> bool:
        """US companies have their own tax model; a company that names no country is taken
        for a US one, as QuickBooks' own sample companies are."""
        return (self.country() or US) == US

    def custom_numbers(self) -> bool:
        return bool(self._pref("SalesFormsPrefs", "CustomTxnNumbers", True))

    def automated_sales_tax(self) -> bool:
        """TaxPrefs.PartnerTaxEnabled; absent means no AST (bookkeeper-needs.md 1a)."""
        return bool(self._pref("TaxPrefs", "PartnerTaxEnabled", False))

    def home_currency(self) -> str:
        home = self._pref("CurrencyPrefs", "HomeCurrency") or {}
        return str(home.get("value") or "USD")

    def multicurrency(self) -> bool:
        return bool(self._pref("CurrencyPrefs", "MultiCurrencyEnabled", False))

    def class_tracking(self) -> ClassTracking:
        if self._pref("AccountingInfoPrefs", "ClassTrackingPerTxnLine", False):
            return ClassTracking.LINE
        if self._pref("AccountingInfoPrefs", "ClassTrackingPerTxn", False):
            return ClassTracking.TXN
        return ClassTracking.OFF

    def tracks_locations(self) -> bool:
        return bool(self._pref("AccountingInfoPrefs", "TrackDepartments", False))

    # -- the lists -------------------------------------------------------------------------------

    def _list(self, entity: str, skip: tuple[str, ...] = ()) -> Named:
        if entity not in self._lists:
            self._lists[entity] = named(self.setup.rows(entity), skip)
        return self._lists[entity]

    def tax_codes(self) -> Named:
        """The active TaxCodes; in the US without TAX and NON, which `taxable` stands for."""
        return self._list("TaxCode", PSEUDO_CODES if self.us() else ())

    def classes(self) -> Named:
        return self._list("Class")

    def locations(self) -> Named:
        return self._list("Department")

    def currencies(self) -> tuple[str, ...]:
        """The home currency and, with multicurrency on, the active CompanyCurrency codes
        ("the list displayed by the Currency Center"; CompanyCurrency reference)."""
        if self._currencies is None:
            codes = [self.home_currency()]
            if self.multicurrency():
                rows = self.setup.rows("CompanyCurrency")
                codes += [str(r["Code"]) for r in rows if r.get("Active") is not False]
            self._currencies = tuple(dict.fromkeys(codes))
        return self._currencies

    def _listed_currencies(self) -> tuple[tuple[str, ...], str]:
        """For the profile: the currencies, or none and why when the company refuses the
        query (the profile is still worth showing without them)."""
        try:
            return self.currencies(), ""
        except SkippableLedgerError as exc:
            return (), f"not readable ({exc})"

    def profile(self) -> LedgerProfile:
        tracking = self.class_tracking()
        currencies, unread = self._listed_currencies()
        other = (
            ("company", str(self.company_info().get("CompanyName") or "")),
            ("currencies", unread),
            ("class tracking", tracking.value),
            ("sales tax", "on" if self._pref("TaxPrefs", "UsingSalesTax", False) else "off"),
            ("online payments", _on(self._pref("SalesFormsPrefs", "ETransactionPaymentEnabled"))),
            ("books closed through", str(self._pref("AccountingInfoPrefs", "BookCloseDate", ""))),
            ("edition", _name_value(self.company_info(), "OfferingSku")),
        )
        return LedgerProfile(
            country=self.country(),
            home_currency=self.home_currency(),
            multicurrency=self.multicurrency(),
            currencies=currencies,
            automated_sales_tax=self.automated_sales_tax(),
            needs_tax_code=not self.us(),
            tax_codes=self.tax_codes().names,
            classes=None if tracking is ClassTracking.OFF else self.classes().names,
            locations=self.locations().names if self.tracks_locations() else None,
            custom_numbers=self.custom_numbers(),
            other=tuple((k, v) for k, v in other if v),
        )

    # -- a request's booking ---------------------------------------------------------------------

    def booked(self, r: InvoiceRequest) -> Booked:
        """The ids `r` is booked with, or a `SkippableLedgerError` saying what the company
        lacks: checked here, before anything is sent."""
        self._check_currency(r.currency)
        tax = self._us_tax(r.booking) if self.us() else self._tax(r.booking)
        line_class, txn_class = self._class(r.booking.class_name)
        return Booked(
            line_tax_code=tax.line_tax_code,
            txn_tax_code=tax.txn_tax_code,
            calculation=tax.calculation,
            inclusive=tax.inclusive,
            line_class=line_class,
            txn_class=txn_class,
            department=self._location(r.booking.location),
        )

    def _check_currency(self, currency: str) -> None:
        """A foreign currency needs multicurrency on; whether the company lists that currency
        is the preflight's to say (`profile().currencies`), and QuickBooks' own to refuse."""
        home = self.home_currency()
        if currency != home and not self.multicurrency():
            raise SkippableLedgerError(
                f"the document is in {currency}, but the QuickBooks company's home currency is "
                f"{home} and multicurrency is off"
            )

    def _us_tax(self, b: Booking) -> Booked:
        """US: each line TAX or NON (nothing when the booking does not say), the rate from
        the company's Automated Sales Tax, or from the tax group named (TxnTaxCodeRef) where
        the company has no AST; AST assigns its own and overrides any sent (Intuit blog,
        2017-12-11). No GlobalTaxCalculation: "not applicable to US companies"."""
        line = None if b.taxable is None else ("TAX" if b.taxable else "NON")
        group = None
        if b.tax_code is not None and not self.automated_sales_tax():
            group = self._tax_code_id(b.tax_code)
        return Booked(line_tax_code=line, txn_tax_code=group)

    def _tax(self, b: Booking) -> Booked:
        """Outside the US every sales line names a TaxCode ("...have a GST/HST rate before you
        save", 6000, otherwise) and the document its GlobalTaxCalculation."""
        code = None
        amounts = b.amounts or AmountsAre.EXCLUSIVE  # the Invoice reference's default
        if b.tax_code is not None:
            code = self._tax_code_id(b.tax_code)
        elif amounts is not AmountsAre.NO_TAX:
            raise SkippableLedgerError(
                f"QuickBooks in {self.country()} needs a tax code on every line, and this "
                f"contract has none; set tax_code to one of {self.tax_codes().listed()}"
            )
        return Booked(
            line_tax_code=code,
            calculation=CALCULATION[amounts],
            inclusive=amounts is AmountsAre.INCLUSIVE,
        )

    def _tax_code_id(self, name: str) -> str:
        found = self.tax_codes().id_of(name)
        if found is None:
            raise SkippableLedgerError(
                f'QuickBooks has no active tax code "{name}"; the company has '
                f"{self.tax_codes().listed()}"
            )
        return found

    def _class(self, name: str | None) -> tuple[str | None, str | None]:
        """The class id, on the lines or on the document as the company tracks classes."""
        if name is None:
            return None, None
        tracking = self.class_tracking()
        if tracking is ClassTracking.OFF:
            raise SkippableLedgerError(
                f'the contract books to class "{name}", but class tracking is off in QuickBooks'
            )
        found = self.classes().id_of(name)
        if found is None:
            raise SkippableLedgerError(
                f'QuickBooks has no class "{name}"; the company has {self.classes().listed()}'
            )
        return (found, None) if tracking is ClassTracking.LINE else (None, found)

    def _location(self, name: str | None) -> str | None:
        if name is None:
            return None
        if not self.tracks_locations():
            raise SkippableLedgerError(
                f'the contract books to location "{name}", but location tracking is off in '
                "QuickBooks"
            )
        found = self.locations().id_of(name)
        if found is None:
            raise SkippableLedgerError(
                f'QuickBooks has no location "{name}"; the company has {self.locations().listed()}'
            )
        return found


def _record(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A record read by query (CompanyInfo, Preferences): its one row."""
    return dict(next(iter(rows), {}))


def _on(value: Any) -> str:
    return "" if value is None else ("on" if value else "off")


def _name_value(info: Mapping[str, Any], name: str) -> str:
    """One of CompanyInfo's NameValue extensions (OfferingSku: the QuickBooks edition)."""
    for pair in info.get("NameValue") or []:
        if pair.get("Name") == name:
            return str(pair.get("Value") or "")
    return ""
