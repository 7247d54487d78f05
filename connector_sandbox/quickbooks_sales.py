"""Invoices and credit memos: what QuickBooks makes of the body a client sends.

Lines are priced, taxed (`quickbooks_tax`), then totalled: TotalAmt = the sales lines - the
discounts + TxnTaxDetail.TotalTax (Invoice reference: TotalAmt "includes the total of all the
charges, allowances, and taxes"), Balance starts at TotalAmt. SalesItemLineDetail amounts may be
negative (QuickBooks accepts a negative line, such as "Deposit applied", as long as the
transaction total is not negative); DiscountLineDetail subtracts a positive Amount or a
percentage of the subtotal, after tax ("If false or null [ApplyTaxAfterDiscount], calculate
the sales tax first, and then apply the discount": Invoice reference; the sandbox always does
that). Read-only fields a client sends back (TotalAmt, Balance, the SubTotal line, DeliveryInfo,
InvoiceLink) are ignored and computed here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from connector_sandbox import quickbooks_lists as lists
from connector_sandbox import quickbooks_tax as tax
from connector_sandbox.quickbooks_entities import (
    DEFAULT_TERMS,
    copy_fields,
    currency_ref,
    customer_of,
    parse_date,
)
from connector_sandbox.quickbooks_faults import (
    business,
    dec,
    duplicate_doc_number,
    invalid_property,
    invalid_reference,
    ref_value,
    required,
    round2,
    text,
    too_long,
)
from connector_sandbox.quickbooks_rates import booked_rate

if TYPE_CHECKING:
    from connector_sandbox.quickbooks_company import Company

_PASSTHROUGH = (
    "CustomerMemo",
    "SalesTermRef",
    "BillEmail",
    "BillEmailCc",
    "BillEmailBcc",
    "BillAddr",
    "ShipAddr",
    "ProjectRef",
    "TrackingNum",
    "ShipDate",
)
_ONLINE = ("AllowOnlineCreditCardPayment", "AllowOnlineACHPayment")
_SUBTOTAL = ("SubTotalLineDetail", "SubtotalLineDetail")
LineParser = Callable[["Company", Mapping[str, Any], int], dict[str, Any]]


def build_sales_txn(
    books: Company, kind: str, body: Mapping[str, Any], own_id: str | None
) -> dict[str, Any]:
    """An Invoice or CreditMemo: lines priced and taxed, totals computed, balance left to the
    company (it knows what payments apply)."""
    customer = customer_of(books, body.get("CustomerRef"))
    currency = _currency(books, body, customer)
    calc = tax.calculation(books.settings, body.get("GlobalTaxCalculation"))
    lines = price_lines(books, body.get("Line"), calc)
    detail = tax.apply_tax(books, lines, calc, body.get("TxnTaxDetail"))
    lines, total = _totals(lines, detail["TotalTax"])
    # QuickBooks refuses a transaction whose total is below zero ("Transaction amount must be
    # positive", as integrators quote it, e.g. ontime360.com/support/kb/a231); Intuit's own
    # invoice reference (developer.intuit.com .../all-entities/invoice) gives no negative
    # TotalAmt. Not confirmed here against Intuit's exact wording: the message below is ours.
    if total < 0:
        raise business(
            f"The {kind} total {total} is negative: a transaction total cannot be less than "
            "zero; use a credit memo"
        )
    out = _header(books, kind, body, customer, own_id)
    out.update(Line=lines, TxnTaxDetail=detail, TotalAmt=total)
    if calc is not None:
        out["GlobalTaxCalculation"] = calc
    out["CurrencyRef"] = currency_ref(currency)
    if currency != books.settings.currency:
        rate = booked_rate(books, currency, body.get("ExchangeRate"), out["TxnDate"])
        out["ExchangeRate"] = rate
        out["HomeTotalAmt"] = round2(total * rate)
    doc = _doc_number(books, kind, body.get("DocNumber"), own_id)
    if doc is not None:
        out["DocNumber"] = doc
    if kind == "Invoice":
        _invoice_fields(body, out, total)
    return out


def _currency(books: Company, body: Mapping[str, Any], customer: Mapping[str, Any]) -> str:
    """A customer has one currency, fixed (QuickBooks community, About Multi-currency; the
    wording of the refusal is ours)."""
    own = customer["CurrencyRef"]["value"]
    currency = ref_value(body.get("CurrencyRef")) or own
    if currency not in books.settings.currencies:
        raise invalid_reference("CurrencyRef", currency)
    if currency != own:
        raise business(
            f"The currency {currency} of this transaction does not match the currency "
            f"{own} of the customer"
        )
    return currency


def _header(
    books: Company,
    kind: str,
    body: Mapping[str, Any],
    customer: Mapping[str, Any],
    own_id: str | None,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    copy_fields(body, out, _PASSTHROUGH)
    note = text(body.get("PrivateNote"))
    if note is not None:
        if len(note) > 4000:
            raise too_long("PrivateNote")
        out["PrivateNote"] = note
    for ref, value in (
        ("ClassRef", lists.txn_class(books, body.get("ClassRef"))),
        ("DepartmentRef", lists.department(books, body.get("DepartmentRef"))),
    ):
        if value is not None:
            out[ref] = value
    status = text(body.get("EmailStatus")) or "NotSet"
    if status == "NeedToSend" and not out.get("BillEmail"):
        raise required("BillEmail")  # "If EmailStatus=NeedToSend, BillEmail is a required input"
    out.update(
        TxnDate=parse_date(body.get("TxnDate"), "TxnDate") or books.today().isoformat(),
        CustomerRef={"value": customer["Id"], "name": customer["DisplayName"]},
        ApplyTaxAfterDiscount=False,
        PrintStatus=text(body.get("PrintStatus")) or "NotSet",
        EmailStatus=status,
        LinkedTxn=[],
    )
    for flag in _ONLINE:
        out[flag] = body.get(flag) is True
    fields = books.custom_fields(body.get("CustomField"))
    if fields:
        out["CustomField"] = fields
    if own_id is not None:  # what sending recorded stays (DeliveryInfo is read only)
        before = books.objects[kind].get(own_id) or {}
        if "DeliveryInfo" in before:
            out["DeliveryInfo"] = before["DeliveryInfo"]
    return out


def _invoice_fields(body: Mapping[str, Any], out: dict[str, Any], total: Decimal) -> None:
    due = parse_date(body.get("DueDate"), "DueDate")
    out["DueDate"] = due or (date.fromisoformat(out["TxnDate"]) + DEFAULT_TERMS).isoformat()
    deposit = dec(body.get("Deposit"), "Deposit") or Decimal(0)
    if deposit < 0 or deposit > total:
        raise business(f"The deposit {deposit} must be between 0 and the total {total}")
    out["Deposit"] = deposit


def _doc_number(books: Company, kind: str, sent: Any, own_id: str | None) -> str | None:
    doc = text(sent)
    custom = books.settings.custom_txn_numbers
    if doc is None and not custom and own_id is not None:  # an update keeps its number
        doc = books.objects[kind][own_id].get("DocNumber")
    if doc == "AUTO_GENERATE" or (doc is None and not custom):
        return books.next_doc_number(kind)
    if doc is None:
        return None
    if len(doc) > 21:
        raise too_long("DocNumber")
    if custom:
        for other_id, other in books.objects[kind].items():
            if other_id != own_id and other.get("DocNumber") == doc:
                raise duplicate_doc_number(doc, kind, other_id)
    return doc


# --- lines ------------------------------------------------------------------------------------


def price_lines(books: Company, raw: Any, calc: str | None) -> list[dict[str, Any]]:
    """The lines as QuickBooks keeps them, before tax and totals (the SubTotal line a client
    sends back is dropped: it is computed)."""
    if not isinstance(raw, list) or not raw:
        raise required("Line")
    lines: list[dict[str, Any]] = []
    for index, line in enumerate(raw):
        if not isinstance(line, Mapping):
            raise invalid_property(f"Line[{index}]")
        kind = line.get("DetailType")
        if kind in _SUBTOTAL:
            continue
        parse = _PARSERS.get(str(kind))
        if parse is None:
            raise invalid_property(f"Line[{index}].DetailType", f"{kind!r} is not supported")
        out: dict[str, Any] = {"Id": str(len(lines) + 1), "LineNum": len(lines) + 1}
        description = text(line.get("Description"))
        if description is not None:
            out["Description"] = description
        out.update(parse(books, line, index))
        lines.append(out)
    if not any(ln["DetailType"] != "DiscountLineDetail" for ln in lines):
        raise required("Line")
    if calc != "NotApplicable":
        for index, line in enumerate(lines):
            detail = line.get("SalesItemLineDetail")
            if detail is not None and "TaxCodeRef" not in detail:
                detail["TaxCodeRef"] = {"value": tax.line_code(books, None, index, calc)}
    return lines


def _sales_item(books: Company, line: Mapping[str, Any], index: int) -> dict[str, Any]:
    raw = line.get("SalesItemLineDetail") or {}
    detail: dict[str, Any] = {}
    item_id = ref_value(raw.get("ItemRef"))
    if item_id is not None:
        item = books.objects["Item"].get(item_id)
        if item is None or not item.get("Active", True):
            raise invalid_reference("ItemRef", item_id)
        detail["ItemRef"] = {"value": item["Id"], "name": item["Name"]}
    amount = _line_amount(line, raw, index, detail)
    service_date = parse_date(raw.get("ServiceDate"), "ServiceDate")
    if service_date:
        detail["ServiceDate"] = service_date
    class_ref = lists.line_class(books, raw.get("ClassRef"), index)
    if class_ref is not None:
        detail["ClassRef"] = class_ref
    if ref_value(raw.get("TaxCodeRef")) is not None:
        detail["TaxCodeRef"] = {"value": tax.line_code(books, raw["TaxCodeRef"], index, None)}
    out: dict[str, Any] = {
        "Amount": amount,
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": detail,
    }
    gross = dec(raw.get("TaxInclusiveAmt"), f"Line[{index}].TaxInclusiveAmt")
    if gross:  # python-quickbooks sends 0 for an unset TaxInclusiveAmt: 0 means not given
        out["_gross"] = gross
    return out


def _line_amount(
    line: Mapping[str, Any], raw: Mapping[str, Any], index: int, detail: dict[str, Any]
) -> Decimal:
    qty = dec(raw.get("Qty"), f"Line[{index}].Qty")
    price = dec(raw.get("UnitPrice"), f"Line[{index}].UnitPrice")
    amount = dec(line.get("Amount"), f"Line[{index}].Amount")
    if amount is None:
        if qty is None or price is None:
            raise required(f"Line[{index}].Amount")
        amount = round2(qty * price)
    if qty and price and round2(qty * price) != round2(amount):
        raise business(
            f"Amount is not equal to UnitPrice * Qty. Supplied value:{amount}", code="6070"
        )
    if qty:
        detail["Qty"] = qty
    if price:
        detail["UnitPrice"] = price
    return amount


def _group(books: Company, line: Mapping[str, Any], index: int) -> dict[str, Any]:
    amount = dec(line.get("Amount"), f"Line[{index}].Amount") or Decimal(0)
    return {"Amount": amount, "DetailType": "GroupLineDetail", "GroupLineDetail": {}}


def _description(books: Company, line: Mapping[str, Any], index: int) -> dict[str, Any]:
    return {"DetailType": "DescriptionOnly", "DescriptionLineDetail": {}}


def _discount(books: Company, line: Mapping[str, Any], index: int) -> dict[str, Any]:
    detail = dict(line.get("DiscountLineDetail") or {})
    percent = dec(detail.get("DiscountPercent"), "DiscountPercent")
    off = dec(line.get("Amount"), f"Line[{index}].Amount")
    if detail.get("PercentBased") and percent is not None:
        detail.update(PercentBased=True, DiscountPercent=percent)
        off = None  # computed from the subtotal once it is known
    elif off is None:
        raise required(f"Line[{index}].Amount")
    return {"Amount": off, "DetailType": "DiscountLineDetail", "DiscountLineDetail": detail}


_PARSERS: dict[str, LineParser] = {
    "SalesItemLineDetail": _sales_item,
    "GroupLineDetail": _group,
    "DescriptionOnly": _description,
    "DiscountLineDetail": _discount,
}


def _totals(
    lines: list[dict[str, Any]], total_tax: Decimal
) -> tuple[list[dict[str, Any]], Decimal]:
    """The SubTotal line appended, discounts resolved, and the transaction total."""
    subtotal = sum(
        (
            ln["Amount"]
            for ln in lines
            if ln["DetailType"] in ("SalesItemLineDetail", "GroupLineDetail")
        ),
        Decimal(0),
    )
    total = subtotal
    for line in lines:
        if line["DetailType"] != "DiscountLineDetail":
            continue
        if line["Amount"] is None:
            line["Amount"] = round2(subtotal * line["DiscountLineDetail"]["DiscountPercent"] / 100)
        total -= line["Amount"]
    lines.append({"Amount": subtotal, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})
    return lines, total + total_tax
