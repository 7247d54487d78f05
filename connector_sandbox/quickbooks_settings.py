"""What a QuickBooks company is set up with, and how it shows that through the API.

`CompanySettings` is fixed when the sandbox seeds a company (QuickBooks lets nobody change the
country or switch multicurrency off later, so neither can the sandbox). The Preferences and
CompanyInfo bodies below are what `GET /preferences` and `GET /companyinfo` answer, with the
fields Intuit documents for them (Preferences and CompanyInfo entity references,
developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/preferences and
.../companyinfo).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

COUNTRIES = ("US", "CA", "GB", "AU")
CLASS_TRACKING = ("none", "line", "txn")
HOME_CURRENCY = {"US": "USD", "CA": "CAD", "GB": "GBP", "AU": "AUD"}
HOME_TIMEZONE = {
    "US": "America/Los_Angeles",
    "CA": "America/Toronto",
    "GB": "Europe/London",
    "AU": "Australia/Sydney",
}


@dataclass(frozen=True)
class TaxRateSpec:
    """One rate of a tax code (a TaxRate entity): its name and percentage."""

    name: str
    rate: Decimal


@dataclass(frozen=True)
class TaxCodeSpec:
    """A tax code as the company shows it: a name and the rates it applies, in order."""

    name: str
    rates: tuple[TaxRateSpec, ...]
    description: str = ""
    active: bool = True


@dataclass
class CompanySettings:
    realm_id: str
    company_name: str = "Sandbox Company"
    currency: str = "USD"
    currencies: frozenset[str] = frozenset()
    custom_txn_numbers: bool = True
    exchange_rates: dict[str, Decimal] = field(default_factory=dict)
    custom_fields: tuple[str, ...] = ()
    timezone: str = "America/Los_Angeles"
    country: str = "US"
    automated_sales_tax: bool = False
    ast_rate: Decimal = Decimal("8.25")
    tax_codes: tuple[TaxCodeSpec, ...] = ()
    classes: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    class_tracking: str = "none"

    def __post_init__(self) -> None:
        self.currencies = frozenset({self.currency, *self.currencies})
        if self.country not in COUNTRIES:
            raise ValueError(f"country must be one of {', '.join(COUNTRIES)}, not {self.country}")
        if self.class_tracking not in CLASS_TRACKING:
            raise ValueError(f"class_tracking must be one of {', '.join(CLASS_TRACKING)}")
        if self.automated_sales_tax and self.country != "US":
            raise ValueError("automated sales tax exists only in US companies")

    @property
    def multicurrency(self) -> bool:
        return len(self.currencies) > 1

    @property
    def us(self) -> bool:
        return self.country == "US"


def preferences(s: CompanySettings) -> dict[str, Any]:
    """Preferences as QuickBooks answers them. TaxPrefs.PartnerTaxEnabled is present only for
    an AST company ("absent = not AST": Intuit, Manage sales tax for US locales,
    developer.intuit.com/app/developer/qbo/docs/workflows/manage-sales-tax-for-us-locales).
    Class tracking is one of the two AccountingInfoPrefs flags, never both (the UI offers one
    or the other: assumption); TrackDepartments is on when the company has departments."""
    tax: dict[str, Any] = {"UsingSalesTax": s.automated_sales_tax or bool(s.tax_codes)}
    if s.automated_sales_tax:
        tax["PartnerTaxEnabled"] = True
    return {
        "domain": "QBO",
        "Id": "1",
        "SyncToken": "0",
        "AccountingInfoPrefs": {
            "ClassTrackingPerTxn": s.class_tracking == "txn",
            "ClassTrackingPerTxnLine": s.class_tracking == "line",
            "TrackDepartments": bool(s.departments),
            "DepartmentTerminology": "Location",
        },
        "SalesFormsPrefs": {"CustomTxnNumbers": s.custom_txn_numbers},
        "TaxPrefs": tax,
        "CurrencyPrefs": {
            "MultiCurrencyEnabled": s.multicurrency,
            "HomeCurrency": {"value": s.currency},
        },
    }


def company_info(s: CompanySettings) -> dict[str, Any]:
    """CompanyInfo: Country is the ISO code the sample object shows ("US")."""
    address = {"Country": s.country}
    return {
        "domain": "QBO",
        "sparse": False,
        "Id": "1",
        "SyncToken": "0",
        "CompanyName": s.company_name,
        "LegalName": s.company_name,
        "Country": s.country,
        "CompanyAddr": address,
        "LegalAddr": address,
        "SupportedLanguages": "en",
    }
