"""The settings side of the sandbox's Accounting API: `GET /Organisation`, `/Currencies`,
`/Accounts`, `/TaxRates` and `/TrackingCategories`, shaped as xero_accounting.yaml describes
them (its examples are the model for each field). Reads only; the caller holds the lock.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from connector_sandbox.server import Request, Response
from connector_sandbox.xero_answers import envelope
from connector_sandbox.xero_setup import tax_rate_view, tracking_view

if TYPE_CHECKING:
    from connector_sandbox.xero_org import Organisation


def organisation_view(org: Organisation) -> dict[str, Any]:
    """The organisation as GET /Organisation returns it. CountryCode and BaseCurrency are the
    seeded ones; Version, PaysTax, DefaultSalesTax ("The default for LineAmountTypes on sales
    transactions"), SalesTaxBasis and SalesTaxPeriod are the spec's fields with its enum values,
    set per region in `xero_setup.SETTINGS` (assumptions)."""
    s = org.settings
    region = s.region
    return {
        "OrganisationID": s.tenant_id,
        "Name": s.name,
        "LegalName": s.name,
        "PaysTax": region.pays_tax,
        "Version": region.version,
        "BaseCurrency": s.base_currency,
        "CountryCode": s.country,
        "OrganisationType": "COMPANY",
        "OrganisationStatus": "ACTIVE",
        "IsDemoCompany": True,
        "SalesTaxBasis": region.sales_tax_basis,
        "SalesTaxPeriod": region.sales_tax_period,
        "DefaultSalesTax": region.default_sales_tax,
        "DefaultPurchasesTax": region.default_sales_tax,
    }


def route(org: Organisation, request: Request, lower: list[str], now: datetime) -> Response | None:
    """The answer to a settings read, or None when the path is not one of them."""
    if request.method != "GET" or len(lower) != 1:
        return None
    match lower[0]:
        case "organisation":
            items: list[Any] = [organisation_view(org)]
            key = "Organisations"
        case "currencies":
            # a currency the organisation has not added is refused on documents (xero_org)
            items = [{"Code": c, "Description": c} for c in sorted(org.settings.all_currencies)]
            key = "Currencies"
        case "accounts":
            items = [{**a, "Status": "ACTIVE"} for a in org.accounts.values()]
            key = "Accounts"
        case "taxrates":
            items = [tax_rate_view(r) for r in org.tax_rates.values()]
            key = "TaxRates"
        case "trackingcategories":
            archived = (request.param("includeArchived") or "").lower() == "true"
            items = tracking_view(org.tracking.values(), archived)
            key = "TrackingCategories"
        case _:
            return None
    return Response.json(200, envelope(now, key, items))
