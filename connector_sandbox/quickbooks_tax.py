"""Sales tax as a QuickBooks company computes it: the codes each country starts with, the
TaxCode and TaxRate entities, and the tax of an invoice's lines.

Two models, as Intuit documents them:

- US (Manage sales tax for US locales,
  developer.intuit.com/app/developer/qbo/docs/workflows/manage-sales-tax-for-us-locales): a
  line is TAX or NON (pseudo tax codes); the rate comes from the transaction's
  TxnTaxDetail.TxnTaxCodeRef (a tax group), or, in an Automated Sales Tax company, from the AST
  engine, which "assigns the appropriate tax code" and "honors" an explicit tax amount sent
  (Intuit developer blog, 2017-12-11, Using QuickBooks Online API for automated sales tax).
- Everywhere else (Manage sales tax for non-US locales,
  developer.intuit.com/app/developer/qbo/docs/workflows/manage-sales-tax-for-non-us-locales):
  every sales line names a TaxCode, whose rates QuickBooks applies; TxnTaxDetail returns the
  totals, one TaxLine per rate.

Rounding (the sandbox's choice; Intuit documents none): each line's tax for each rate is
rounded half-up to cents, and a TaxLine's Amount is the sum of those, so the tax of every line
is a whole number of cents, as an invoice shows it. A tax-inclusive line's net is its gross
times 100 / (100 + the code's rates), rounded to cents; its tax is gross - net (split over the
code's rates, the last taking what rounding leaves), so net + tax is exactly what was sent.
This module must never round anywhere else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from connector_sandbox.quickbooks_faults import (
    business,
    dec,
    invalid_property,
    invalid_reference,
    ref_value,
    round2,
)
from connector_sandbox.quickbooks_settings import CompanySettings, TaxCodeSpec, TaxRateSpec

if TYPE_CHECKING:
    from connector_sandbox.quickbooks_company import Company

HUNDRED = Decimal(100)
US_PSEUDO_CODES = ("TAX", "NON")
CALCULATIONS = ("TaxExcluded", "TaxInclusive", "NotApplicable")
AST_RATE_NAME = "Automated Sales Tax"


def _code(name: str, *rates: tuple[str, str], description: str = "") -> TaxCodeSpec:
    return TaxCodeSpec(name, tuple(TaxRateSpec(n, Decimal(r)) for n, r in rates), description)


# The codes a new company of each country shows. Sourced names: CA "GST/HST" wording and QC's
# "TPS/TVQ QC - 9,975" (its English "GST/QST QC - 9.975") from integrators' lists of QuickBooks
# Canada codes (ruckus/quickbooks-ruby#351; a Quebec integration's notes found by code search);
# GB "20.0% S" and "Exempt" from intuit/quickbooks-online-mcp-server#94. The other names, the
# rate names and the AU list are assumptions in QuickBooks' naming style (see
# tests/specs/quickbooks_sandbox_sources.md).
STANDARD_CODES: dict[str, tuple[TaxCodeSpec, ...]] = {
    "US": (),
    "CA": (
        _code("Exempt", ("Exempt", "0")),
        _code("Zero-rated", ("Zero-rated", "0")),
        _code("Out of Scope", ("Out of Scope", "0")),
        _code("GST", ("GST", "5")),
        _code("HST ON", ("HST ON", "13")),
        _code("GST/QST QC - 9.975", ("GST", "5"), ("QST QC", "9.975")),
    ),
    "GB": (
        _code("20.0% S", ("20.0% S", "20")),
        _code("5.0% R", ("5.0% R", "5")),
        _code("0.0% Z", ("0.0% Z", "0")),
        _code("Exempt", ("Exempt", "0")),
        _code("No VAT", ("No VAT", "0")),
    ),
    "AU": (
        _code("GST", ("GST", "10")),
        _code("GST free", ("GST free", "0")),
        _code("Out of scope", ("Out of scope", "0")),
    ),
}

# What QuickBooks answers (6000) for a line without a tax code. CA: ruckus/quickbooks-ruby#351
# and activepieces/activepieces#8539; GB: intuit/quickbooks-online-mcp-server#94; AU: an
# assumption by analogy (no AU report found).
MISSING_CODE = {
    "CA": "Make sure all your transactions have a GST/HST rate before you save.",
    "GB": "Make sure all your transactions have a VAT rate before you save.",
    "AU": "Make sure all your transactions have a GST rate before you save.",
}


def tax_code_specs(
    raw: Sequence[Mapping[str, Any]] | None, country: str
) -> tuple[TaxCodeSpec, ...]:
    """The codes to seed: the country's standard ones, or the caller's. Each mapping is
    {"name", "rate"} or {"name", "rates": [{"name", "rate"}, ...]}, with optional
    "description" and "active"."""
    if raw is None:
        return STANDARD_CODES[country]
    out = []
    for entry in raw:
        name = str(entry["name"])
        if "rates" in entry:
            rates = tuple(TaxRateSpec(str(r["name"]), _percent(r["rate"])) for r in entry["rates"])
        else:
            rates = (TaxRateSpec(name, _percent(entry.get("rate", "0"))),)
        active = entry.get("active", True) is not False
        out.append(TaxCodeSpec(name, rates, str(entry.get("description", "")), active))
    return tuple(out)


def _percent(raw: Any) -> Decimal:
    value = dec(raw, "rate")
    if value is None or value < 0:
        raise ValueError(f"a tax rate must be a percentage of 0 or more, not {raw!r}")
    return value


def seed_tax(books: Company) -> None:
    """TaxRate and TaxCode entities for the company's codes. US companies also answer the
    TAX and NON pseudo codes (their Ids are the names), as the US tax model describes."""
    s = books.settings
    rate_ids: dict[str, str] = {}

    def rate_id(spec: TaxRateSpec) -> str:
        if spec.name not in rate_ids:
            rate = books.create("TaxRate", _rate_body(spec))
            rate_ids[spec.name] = rate["Id"]
        return rate_ids[spec.name]

    if s.us:
        for pseudo in US_PSEUDO_CODES:
            books.create("TaxCode", _pseudo_body(pseudo), obj_id=pseudo)
    if s.automated_sales_tax:
        rate_id(TaxRateSpec(AST_RATE_NAME, s.ast_rate))
    for spec in s.tax_codes:
        books.create("TaxCode", _code_body(spec, [rate_id(r) for r in spec.rates], s.us))


def _rate_body(spec: TaxRateSpec) -> dict[str, Any]:
    return {
        "Name": spec.name,
        "Description": spec.name,
        "Active": True,
        "RateValue": spec.rate,
        "AgencyRef": {"value": "1"},
        "SpecialTaxType": "ZERO_RATE" if spec.rate == 0 else "NONE",
        "DisplayType": "ReadOnly",
    }


def _pseudo_body(name: str) -> dict[str, Any]:
    return {
        "Id": name,
        "Name": name,
        "Description": name,
        "Active": True,
        "Taxable": name == "TAX",
        "TaxGroup": False,
    }


def _code_body(spec: TaxCodeSpec, rate_ids: list[str], us: bool) -> dict[str, Any]:
    details = [
        {
            "TaxRateRef": {"value": rid, "name": rate.name},
            "TaxTypeApplicable": "TaxOnAmount",
            "TaxOrder": 0,
        }
        for rid, rate in zip(rate_ids, spec.rates, strict=True)
    ]
    return {
        "Name": spec.name,
        "Description": spec.description or spec.name,
        "Active": spec.active,
        "Taxable": True,
        "TaxGroup": us or len(details) > 1,
        "SalesTaxRateList": {"TaxRateDetail": details},
        "PurchaseTaxRateList": {"TaxRateDetail": []},
    }


# --- the tax of a transaction -----------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    rate_id: str
    percent: Decimal


@dataclass
class _TaxLine:
    rate: Rate
    net: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)


def calculation(settings: CompanySettings, sent: Any) -> str | None:
    """GlobalTaxCalculation: "Not applicable to US companies; required for non-US companies"
    (Invoice reference). Outside the US an absent one is read as TaxExcluded (assumption:
    python-quickbooks always sends it, so what QuickBooks does without it is not seen here)."""
    if settings.us:
        return None
    value = str(sent) if sent not in (None, "") else "TaxExcluded"
    if value not in CALCULATIONS:
        raise invalid_property("GlobalTaxCalculation", f"{value} is not one of {CALCULATIONS}")
    return value


def line_code(books: Company, raw_ref: Any, index: int, calc: str | None) -> str | None:
    """The TaxCodeRef value a sales line keeps, checked against the company's codes."""
    value = ref_value(raw_ref)
    if books.settings.us:
        if value is None:
            return "NON"  # assumption: an untagged US line is not taxable
        if value not in US_PSEUDO_CODES:
            raise invalid_reference(f"Line[{index}].TaxCodeRef", value)
        return value
    if value is None:
        if calc == "NotApplicable":
            return None  # assumption: no tax, so no code needed
        raise business(MISSING_CODE[books.settings.country])
    code = books.objects["TaxCode"].get(value)
    if code is None or not code.get("Active", True):
        raise invalid_reference(f"Line[{index}].TaxCodeRef", value)
    return value


def apply_tax(
    books: Company, lines: list[dict[str, Any]], calc: str | None, sent: Any
) -> dict[str, Any]:
    """Tax the priced sales lines (each already holds its TaxCodeRef) and return the
    TxnTaxDetail. Tax-inclusive lines are rewritten to their net Amount with TaxInclusiveAmt
    holding what was sent."""
    s = books.settings
    sales = [ln for ln in lines if ln.get("DetailType") == "SalesItemLineDetail"]
    if s.us:
        return _us_tax(books, sales, sent)
    if calc == "NotApplicable":
        return {"TotalTax": Decimal(0), "TaxLine": []}
    taxed: dict[str, _TaxLine] = {}
    for line in sales:
        rates = _code_rates(books, line["SalesItemLineDetail"].get("TaxCodeRef", {}).get("value"))
        sent_gross = line.pop("_gross", None)
        gross = None
        if calc == "TaxInclusive":
            gross = sent_gross if sent_gross is not None else line["Amount"]
            line["Amount"] = _net_of(gross, rates)
            line["SalesItemLineDetail"]["TaxInclusiveAmt"] = gross
        _add(taxed, line["Amount"], rates, gross)
    return _detail(taxed.values(), None)


def _us_tax(books: Company, sales: list[dict[str, Any]], sent: Any) -> dict[str, Any]:
    s = books.settings
    taxable = [
        ln["Amount"] for ln in sales if ln["SalesItemLineDetail"]["TaxCodeRef"]["value"] == "TAX"
    ]
    for line in sales:
        line.pop("_gross", None)
    sent = sent if isinstance(sent, Mapping) else {}
    if s.automated_sales_tax:
        rate = Rate(_ast_rate_id(books), s.ast_rate)
        taxed: dict[str, _TaxLine] = {}
        for amount in taxable:
            _add(taxed, amount, [rate], None)
        explicit = dec(sent.get("TotalTax"), "TxnTaxDetail.TotalTax")
        if explicit is not None and taxed:
            # the AST engine honours an explicit tax amount (Intuit blog, 2017-12-11)
            taxed[rate.rate_id].tax = round2(explicit)
        return _detail(taxed.values(), None)
    code_id = ref_value(sent.get("TxnTaxCodeRef"))
    if code_id is None:
        return {"TotalTax": Decimal(0)}
    rates = _code_rates(books, code_id, "TxnTaxDetail.TxnTaxCodeRef")
    taxed = {}
    for amount in taxable:
        _add(taxed, amount, rates, None)
    return _detail(taxed.values(), code_id)


def _ast_rate_id(books: Company) -> str:
    return next(rid for rid, r in books.objects["TaxRate"].items() if r["Name"] == AST_RATE_NAME)


def _code_rates(books: Company, code_id: str | None, element: str = "TaxCodeRef") -> list[Rate]:
    if code_id is None:
        return []
    code = books.objects["TaxCode"].get(code_id)
    if code is None or code_id in US_PSEUDO_CODES or not code.get("Active", True):
        raise invalid_reference(element, code_id)
    out = []
    for detail in code["SalesTaxRateList"]["TaxRateDetail"]:
        rid = detail["TaxRateRef"]["value"]
        out.append(Rate(rid, books.objects["TaxRate"][rid]["RateValue"]))
    return out


def _net_of(gross: Decimal, rates: Sequence[Rate]) -> Decimal:
    total = sum((r.percent for r in rates), Decimal(0))
    return round2(gross * HUNDRED / (HUNDRED + total))


def _add(
    taxed: dict[str, _TaxLine], net: Decimal, rates: Sequence[Rate], gross: Decimal | None
) -> None:
    """One line's tax, per rate, into the running TaxLines. With `gross` (tax-inclusive) the
    line's tax is exactly gross - net and the last rate takes the rounding remainder."""
    left = (gross - net) if gross is not None else None
    for i, rate in enumerate(rates):
        entry = taxed.setdefault(rate.rate_id, _TaxLine(rate))
        tax = round2(net * rate.percent / HUNDRED)
        if left is not None:
            tax = left if i == len(rates) - 1 else tax
            left -= tax
        entry.net += net
        entry.tax += tax


def _detail(taxed: Iterable[_TaxLine], code_id: str | None) -> dict[str, Any]:
    entries = list(taxed)
    lines = [
        {
            "Amount": t.tax,
            "DetailType": "TaxLineDetail",
            "TaxLineDetail": {
                "TaxRateRef": {"value": t.rate.rate_id},
                "PercentBased": True,
                "TaxPercent": t.rate.percent,
                "NetAmountTaxable": t.net,
            },
        }
        for t in entries
    ]
    detail: dict[str, Any] = {}
    if code_id is not None:
        detail["TxnTaxCodeRef"] = {"value": code_id}
    detail["TotalTax"] = sum((t.tax for t in entries), Decimal(0))
    detail["TaxLine"] = lines
    return detail


def zero(detail: Mapping[str, Any]) -> dict[str, Any]:
    """A voided transaction's TxnTaxDetail: the code kept, every amount 0."""
    out = {k: v for k, v in detail.items() if k == "TxnTaxCodeRef"}
    return {**out, "TotalTax": Decimal(0), "TaxLine": []}
