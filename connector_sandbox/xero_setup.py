"""What a sandbox organisation is set up with: its region's tax rates, its tracking categories,
and the organisation record `GET /Organisation` returns.

Every behaviour here names its source next to it; the table in tests/specs/xero_sandbox_sources.md
lists them too. Rates and names are those Xero creates by default in each region; the flags
(CanApplyToRevenue and so on) follow Xero's own examples where one exists and are assumptions
otherwise. Tracking on a line that matches no active category and option is dropped without an
error, as integrators report Xero doing. Callers hold the organisation's lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

MAX_TRACKING = 2  # xero_accounting.yaml, LineItem.Tracking: "a maximum of 2 <TrackingCategory>"


@dataclass(frozen=True)
class TaxRate:
    tax_type: str
    name: str
    rate: Decimal  # percent
    report: str  # ReportTaxType
    revenue: bool = True  # CanApplyToRevenue: a sales line may use it
    expenses: bool = False


def _sales(tax_type: str, name: str, rate: str, report: str = "OUTPUT") -> TaxRate:
    return TaxRate(tax_type, name, Decimal(rate), report)


def _purchases(tax_type: str, name: str, rate: str, report: str = "INPUT") -> TaxRate:
    return TaxRate(tax_type, name, Decimal(rate), report, revenue=False, expenses=True)


# Default rates per region. Names and TaxTypes: https://eswap.global/help/how-your-default-tax-
# rate-works/ (Xero's defaults by organisation version); the UK's OUTPUT2/INPUT2/NONE names, rates
# and CanApplyToRevenue flags also appear in a real GET /TaxRates answer at
# https://docs.zynk.com/workflow/documentation/xero/export-tax-rates.html. The US defaults (all
# 0%) match https://help.xero.com/us/Tax-SetDefaults. AU flags follow the same pattern (an
# assumption). Regions not listed get the US ("Global") set, as eswap's page lists them.
REGIONS: dict[str, tuple[TaxRate, ...]] = {
    "GB": (
        _sales("OUTPUT2", "20% (VAT on Income)", "20"),
        _purchases("INPUT2", "20% (VAT on Expenses)", "20"),
        _sales("RROUTPUT", "5% (VAT on Income)", "5"),
        _purchases("RRINPUT", "5% (VAT on Expenses)", "5"),
        _sales("ZERORATEDOUTPUT", "Zero Rated Income", "0", "ZERORATEDOUTPUT"),
        _sales("EXEMPTOUTPUT", "Exempt Income", "0", "EXEMPTOUTPUT"),
        _sales("NONE", "No VAT", "0"),
    ),
    "AU": (
        _sales("OUTPUT", "GST on Income", "10"),
        _purchases("INPUT", "GST on Expenses", "10"),
        _sales("EXEMPTOUTPUT", "GST Free Income", "0", "EXEMPTOUTPUT"),
        _purchases("EXEMPTEXPENSES", "GST Free Expenses", "0", "EXEMPTEXPENSES"),
        _sales("EXEMPTEXPORT", "GST Free Exports", "0", "EXEMPTEXPORT"),
        _sales("BASEXCLUDED", "BAS Excluded", "0", "BASEXCLUDED"),
        _sales("INPUTTAXED", "Input Taxed", "0", "INPUTTAXED"),
    ),
    "US": (
        _sales("OUTPUT", "Tax on Sales", "0"),
        _sales("NONE", "Tax Exempt", "0", "NONE"),
        _purchases("INPUT", "Tax on Purchases", "0"),
        _purchases("GSTONIMPORTS", "Sales Tax on Imports", "0", "GSTONIMPORTS"),
    ),
}


@dataclass(frozen=True)
class RegionSettings:
    """Organisation settings that differ by region. Version values are the spec's enum
    (xero_accounting.yaml, Organisation.Version: UK for a GB organisation); the rest are
    assumptions of what a new organisation in that region shows."""

    version: str
    pays_tax: bool
    default_sales_tax: str  # Organisation.DefaultSalesTax: "The default for LineAmountTypes"
    sales_tax_basis: str
    sales_tax_period: str
    sales_account_tax: str  # the TaxType of the revenue accounts (200 Sales, 260)
    no_tax: str  # the TaxType of the other accounts


# Account 200 "Sales" defaults to OUTPUT2 in the spec's GET /Accounts example and in the UK demo
# company (XeroAPI/Xero-NetStandard#364); OUTPUT (GST on Income) for AU and NONE for the US are
# assumptions, as are the other accounts' (no tax). A line with no TaxType takes its account's.
SETTINGS: dict[str, RegionSettings] = {
    "GB": RegionSettings("UK", True, "Tax Exclusive", "ACCRUAL", "QUARTERLY1", "OUTPUT2", "NONE"),
    "AU": RegionSettings("AU", True, "Tax Inclusive", "CASH", "QUARTERLY", "OUTPUT", "BASEXCLUDED"),
    "US": RegionSettings("US", False, "Tax Exclusive", "NONE", "NONE", "NONE", "NONE"),
}


def rates_for(country: str) -> dict[str, TaxRate]:
    return {r.tax_type: r for r in REGIONS.get(country, REGIONS["US"])}


def settings_for(country: str) -> RegionSettings:
    return SETTINGS.get(country, SETTINGS["US"])


def tax_rate_view(rate: TaxRate) -> dict[str, Any]:
    """A TaxRate as GET /TaxRates returns it (shape: the spec's example)."""
    return {
        "Name": rate.name,
        "TaxType": rate.tax_type,
        "ReportTaxType": rate.report,
        "CanApplyToAssets": True,
        "CanApplyToEquity": True,
        "CanApplyToExpenses": rate.expenses,
        "CanApplyToLiabilities": True,
        "CanApplyToRevenue": rate.revenue,
        "DisplayTaxRate": rate.rate,
        "EffectiveRate": rate.rate,
        "Status": "ACTIVE",
        "TaxComponents": [
            {"Name": "Tax", "Rate": rate.rate, "IsCompound": False, "IsNonRecoverable": False}
        ],
    }


def unknown_tax_type(tax_type: str) -> str:
    """Xero's words for a TaxType the organisation does not have (XeroAPI/Xero-Java#336, where a
    rate's Name was sent as TaxType)."""
    return (
        f"The TaxType code {tax_type} does not exist or cannot be used for this type of "
        "transaction."
    )


# --- tracking categories ---------------------------------------------------------------------


def tracking_categories(seed: Mapping[str, Sequence[str]]) -> dict[str, dict[str, Any]]:
    """Categories by id, each with its options, all ACTIVE (shape: xero_accounting.yaml,
    TrackingCategory and TrackingOption)."""
    out: dict[str, dict[str, Any]] = {}
    for name, options in seed.items():
        category_id = str(uuid.uuid4())
        out[category_id] = {
            "TrackingCategoryID": category_id,
            "Name": name,
            "Status": "ACTIVE",
            "Options": [
                {
                    "TrackingOptionID": str(uuid.uuid4()),
                    "Name": option,
                    "Status": "ACTIVE",
                    "TrackingCategoryID": category_id,
                }
                for option in options
            ],
        }
    return out


def tracking_view(categories: Iterable[dict[str, Any]], archived: bool) -> list[dict[str, Any]]:
    """GET /TrackingCategories: active ones, or all with includeArchived=true (the parameter's
    description in xero_accounting.yaml)."""
    shown = []
    for category in categories:
        if not archived and category["Status"] != "ACTIVE":
            continue
        options = [o for o in category["Options"] if archived or o["Status"] == "ACTIVE"]
        shown.append({**category, "Options": [dict(o) for o in options]})
    return shown


def _find(items: Iterable[dict[str, Any]], id_key: str, ident: Any, name: Any) -> Any:
    """By id when one is given, else by name (any case: an assumption, Xero's documents do not
    say), active ones only."""
    for item in items:
        if item["Status"] != "ACTIVE":
            continue
        if ident and item[id_key] == str(ident):
            return item
        if not ident and name and item["Name"].casefold() == str(name).strip().casefold():
            return item
    return None


def line_tracking(
    raw: Any, categories: Iterable[dict[str, Any]], problems: list[str]
) -> list[dict[str, Any]]:
    """A line's Tracking as Xero stores it. An entry that matches no active category and option
    is dropped without a word: "The Invoice is created in Xero, but without any tracking"
    (calcinai/xero-php#636), "The invoice is created without error but no tracking is set"
    (waynerobinson/xeroizer#203), also XeroAPI/xero-node#86. More than two is refused (the limit
    is the spec's; the refusal and its words are an assumption)."""
    if not raw:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_TRACKING:
        problems.append("A line item can have at most 2 tracking categories.")
        return []
    kept = []
    for entry in raw:
        if not isinstance(entry, dict):
            continue
        category = _find(categories, "TrackingCategoryID", entry.get("TrackingCategoryID"), None)
        category = category or _find(categories, "TrackingCategoryID", None, entry.get("Name"))
        if category is None:
            continue
        options = category["Options"]
        option = _find(options, "TrackingOptionID", entry.get("TrackingOptionID"), None)
        option = option or _find(options, "TrackingOptionID", None, entry.get("Option"))
        if option is None:
            continue
        kept.append(
            {
                "TrackingCategoryID": category["TrackingCategoryID"],
                "TrackingOptionID": option["TrackingOptionID"],
                "Name": category["Name"],
                "Option": option["Name"],
            }
        )
    return kept
