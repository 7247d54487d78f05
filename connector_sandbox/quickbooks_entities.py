"""How each QuickBooks entity is validated and computed from what a client sends.

Each builder takes the request body (a create, a full update, or a sparse update already merged
onto the stored object) and returns the fields to store. Read-only fields a client sends back
(TotalAmt, Balance, MetaData, the SubTotal line) are ignored and computed here, as QuickBooks
computes them. Amounts stay Decimal.

Invoice and credit memo lines: SalesItemLineDetail amounts may be negative (QuickBooks accepts a
negative line, such as "Deposit applied", as long as the transaction total is not negative);
DiscountLineDetail subtracts a positive Amount or a percentage of the subtotal.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from connector_sandbox.quickbooks_faults import (
    QboFault,
    business,
    dec,
    duplicate_doc_number,
    invalid_property,
    invalid_reference,
    not_found,
    ref_value,
    required,
    round2,
    text,
    too_long,
)

if TYPE_CHECKING:
    from connector_sandbox.quickbooks_company import Company

CURRENCY_NAMES = {
    "USD": "United States Dollar",
    "EUR": "Euro",
    "GBP": "British Pound Sterling",
    "CAD": "Canadian Dollar",
    "AUD": "Australian Dollar",
}
DEFAULT_TERMS = timedelta(days=30)

_SALES_PASSTHROUGH = (
    "CustomerMemo",
    "SalesTermRef",
    "BillEmail",
    "BillAddr",
    "ShipAddr",
    "ClassRef",
    "DepartmentRef",
    "ProjectRef",
    "TrackingNum",
    "ShipDate",
    "GlobalTaxCalculation",
)
_CUSTOMER_PASSTHROUGH = (
    "Title",
    "GivenName",
    "MiddleName",
    "FamilyName",
    "Suffix",
    "CompanyName",
    "PrintOnCheckName",
    "PrimaryEmailAddr",
    "PrimaryPhone",
    "BillAddr",
    "ShipAddr",
    "Notes",
    "SalesTermRef",
)
_ITEM_PASSTHROUGH = ("Description", "Sku", "IncomeAccountRef", "ExpenseAccountRef")


def currency_ref(code: str) -> dict[str, str]:
    return {"value": code, "name": CURRENCY_NAMES.get(code, code)}


def _copy(body: Mapping[str, Any], out: dict[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        value = body.get(name)
        if value not in (None, "", {}, []):
            out[name] = value


def _date(value: Any, name: str) -> str | None:
    raw = text(value)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw.replace("/", "-")).isoformat()
    except ValueError:
        raise invalid_property(name, f"{raw} is not a date") from None


def _customer_of(books: Company, ref: Any) -> dict[str, Any]:
    cid = ref_value(ref)
    if cid is None:
        raise required("CustomerRef")
    customer = books.objects["Customer"].get(cid)
    if customer is None or not customer.get("Active", True):
        raise invalid_reference("CustomerRef", cid)
    return customer


# --- names ------------------------------------------------------------------------------------


def build_customer(books: Company, body: Mapping[str, Any], own_id: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _copy(body, out, _CUSTOMER_PASSTHROUGH)
    parts = [text(body.get(k)) for k in ("Title", "GivenName", "MiddleName", "FamilyName")]
    display = (
        text(body.get("DisplayName"))
        or " ".join(p for p in parts if p)
        or text(body.get("CompanyName"))
    )
    if not display:
        raise required("DisplayName")
    if len(display) > 500:
        raise too_long("DisplayName")
    books.check_unique_name("Customer", display, own_id, "customer, vendor or employee")
    currency = ref_value(body.get("CurrencyRef")) or books.settings.currency
    if currency not in books.settings.currencies:
        raise invalid_reference("CurrencyRef", currency)
    out.update(
        DisplayName=display,
        FullyQualifiedName=display,
        Active=body.get("Active", True) is not False,
        Taxable=bool(body.get("Taxable", False)),
        Job=False,
        BillWithParent=False,
        CurrencyRef=currency_ref(currency),
        PreferredDeliveryMethod="Print",
    )
    return out


def build_item(books: Company, body: Mapping[str, Any], own_id: str | None) -> dict[str, Any]:
    name = text(body.get("Name"))
    if not name:
        raise required("Name")
    if len(name) > 100:
        raise too_long("Name")
    books.check_unique_name("Item", name, own_id, "product or service")
    out: dict[str, Any] = {}
    _copy(body, out, _ITEM_PASSTHROUGH)
    price = dec(body.get("UnitPrice"), "UnitPrice")
    out.update(
        Name=name,
        FullyQualifiedName=name,
        Type=text(body.get("Type")) or "Service",
        Active=body.get("Active", True) is not False,
        Taxable=bool(body.get("Taxable", False)),
        UnitPrice=price if price is not None else Decimal(0),
    )
    return out


# --- invoices and credit memos ----------------------------------------------------------------


def build_sales_txn(
    books: Company, kind: str, body: Mapping[str, Any], own_id: str | None
) -> dict[str, Any]:
    """An Invoice or CreditMemo: lines priced, totals computed, balance left to the company
    (it knows what payments apply)."""
    customer = _customer_of(books, body.get("CustomerRef"))
    currency = ref_value(body.get("CurrencyRef")) or customer["CurrencyRef"]["value"]
    if currency not in books.settings.currencies:
        raise invalid_reference("CurrencyRef", currency)
    if currency != customer["CurrencyRef"]["value"]:
        raise business(
            f"The currency {currency} of this transaction does not match the currency "
            f"{customer['CurrencyRef']['value']} of the customer"
        )
    lines, total = _price_lines(books, body.get("Line"))
    # QuickBooks refuses a transaction whose total is below zero ("Transaction amount must be
    # positive", as integrators quote it, e.g. ontime360.com/support/kb/a231); Intuit's own
    # invoice reference (developer.intuit.com .../all-entities/invoice) gives no negative
    # TotalAmt. Not confirmed here against Intuit's exact wording: the message below is ours.
    if total < 0:
        raise business(
            f"The {kind} total {total} is negative: a transaction total cannot be less than "
            "zero; use a credit memo"
        )
    txn_date = _date(body.get("TxnDate"), "TxnDate") or books.today().isoformat()
    out: dict[str, Any] = {}
    _copy(body, out, _SALES_PASSTHROUGH)
    note = text(body.get("PrivateNote"))
    if note is not None:
        if len(note) > 4000:
            raise too_long("PrivateNote")
        out["PrivateNote"] = note
    out.update(
        TxnDate=txn_date,
        CustomerRef={"value": customer["Id"], "name": customer["DisplayName"]},
        CurrencyRef=currency_ref(currency),
        Line=lines,
        TxnTaxDetail={"TotalTax": Decimal(0)},
        TotalAmt=total,
        ApplyTaxAfterDiscount=False,
        PrintStatus=text(body.get("PrintStatus")) or "NotSet",
        EmailStatus=text(body.get("EmailStatus")) or "NotSet",
        LinkedTxn=[],
    )
    rate = _exchange_rate(books, currency, body.get("ExchangeRate"))
    if currency != books.settings.currency:
        out["ExchangeRate"] = rate
        out["HomeTotalAmt"] = round2(total * rate)
    fields = books.custom_fields(body.get("CustomField"))
    if fields:
        out["CustomField"] = fields
    doc = _doc_number(books, kind, body.get("DocNumber"), own_id)
    if doc is not None:
        out["DocNumber"] = doc
    if kind == "Invoice":
        due = _date(body.get("DueDate"), "DueDate")
        out["DueDate"] = due or (date.fromisoformat(txn_date) + DEFAULT_TERMS).isoformat()
        deposit = dec(body.get("Deposit"), "Deposit") or Decimal(0)
        if deposit < 0 or deposit > total:
            raise business(f"The deposit {deposit} must be between 0 and the total {total}")
        out["Deposit"] = deposit
    return out


def _exchange_rate(books: Company, currency: str, sent: Any) -> Decimal:
    if currency == books.settings.currency:
        return Decimal(1)
    rate = dec(sent, "ExchangeRate")
    if rate is not None and rate != 1:
        return rate
    return books.settings.exchange_rates.get(currency, Decimal(1))


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


def _price_lines(books: Company, raw: Any) -> tuple[list[dict[str, Any]], Decimal]:
    if not isinstance(raw, list) or not raw:
        raise required("Line")
    lines: list[dict[str, Any]] = []
    subtotal = Decimal(0)
    discounts: list[tuple[dict[str, Any], Decimal | None]] = []
    for index, line in enumerate(raw):
        if not isinstance(line, Mapping):
            raise invalid_property(f"Line[{index}]")
        kind = line.get("DetailType")
        if kind in ("SubTotalLineDetail", "SubtotalLineDetail"):
            continue  # computed, never taken from the client
        out: dict[str, Any] = {"Id": str(len(lines) + 1), "LineNum": len(lines) + 1}
        description = text(line.get("Description"))
        if description is not None:
            out["Description"] = description
        if kind == "SalesItemLineDetail":
            amount, detail = _sales_item(books, line, index)
            out.update(Amount=amount, DetailType=kind, SalesItemLineDetail=detail)
            subtotal += amount
        elif kind == "GroupLineDetail":
            amount = dec(line.get("Amount"), f"Line[{index}].Amount") or Decimal(0)
            out.update(Amount=amount, DetailType=kind, GroupLineDetail={})
            subtotal += amount
        elif kind == "DescriptionOnly":
            out.update(DetailType=kind, DescriptionLineDetail={})
        elif kind == "DiscountLineDetail":
            detail = dict(line.get("DiscountLineDetail") or {})
            percent = dec(detail.get("DiscountPercent"), "DiscountPercent")
            off = dec(line.get("Amount"), f"Line[{index}].Amount")
            if detail.get("PercentBased") and percent is not None:
                off = None  # computed from the subtotal once it is known
            elif off is None:
                raise required(f"Line[{index}].Amount")
            if off is None:
                detail["DiscountPercent"] = percent
            out.update(DetailType=kind, DiscountLineDetail=detail)
            discounts.append((out, off))
        else:
            raise invalid_property(f"Line[{index}].DetailType", f"{kind!r} is not supported")
        lines.append(out)
    if not any(ln["DetailType"] != "DiscountLineDetail" for ln in lines):
        raise required("Line")
    total = subtotal
    for out, off in discounts:
        if off is None:
            off = round2(subtotal * out["DiscountLineDetail"]["DiscountPercent"] / 100)
            out["DiscountLineDetail"]["PercentBased"] = True
        out["Amount"] = off
        total -= off
    lines.append({"Amount": subtotal, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})
    return lines, total


def _sales_item(
    books: Company, line: Mapping[str, Any], index: int
) -> tuple[Decimal, dict[str, Any]]:
    raw = line.get("SalesItemLineDetail") or {}
    detail: dict[str, Any] = {}
    item_id = ref_value(raw.get("ItemRef"))
    if item_id is not None:
        item = books.objects["Item"].get(item_id)
        if item is None or not item.get("Active", True):
            raise invalid_reference("ItemRef", item_id)
        detail["ItemRef"] = {"value": item["Id"], "name": item["Name"]}
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
    service_date = _date(raw.get("ServiceDate"), "ServiceDate")
    if service_date:
        detail["ServiceDate"] = service_date
    detail["TaxCodeRef"] = {"value": ref_value(raw.get("TaxCodeRef")) or "NON"}
    return amount, detail


# --- payments ---------------------------------------------------------------------------------


def build_payment(
    books: Company, body: Mapping[str, Any], own_id: str | None
) -> tuple[dict[str, Any], list[tuple[str, str, Decimal]]]:
    """The payment and what it applies: (TxnType, TxnId, amount) per linked invoice/credit."""
    customer = _customer_of(books, body.get("CustomerRef"))
    total = dec(body.get("TotalAmt"), "TotalAmt")
    if total is None:
        raise required("TotalAmt")
    if total < 0:
        raise business("A payment amount cannot be negative")
    currency = customer["CurrencyRef"]["value"]
    sent_currency = ref_value(body.get("CurrencyRef"))
    if sent_currency and sent_currency != currency:
        raise business(f"The payment currency {sent_currency} is not the customer's {currency}")
    applied: list[tuple[str, str, Decimal]] = []
    lines: list[dict[str, Any]] = []
    net = Decimal(0)
    for index, line in enumerate(body.get("Line") or []):
        amount = dec(line.get("Amount"), f"Line[{index}].Amount")
        links = [x for x in line.get("LinkedTxn") or [] if ref_value(x.get("TxnId"))]
        if amount is None or not links:
            raise required(f"Line[{index}].LinkedTxn")
        txn_type, txn_id = str(links[0].get("TxnType")), str(links[0]["TxnId"])
        if txn_type not in ("Invoice", "CreditMemo"):
            raise invalid_property(f"Line[{index}].LinkedTxn.TxnType", txn_type)
        target = books.objects[txn_type].get(txn_id)
        if target is None:
            raise not_found(f"{txn_type} {txn_id}")
        if target["CustomerRef"]["value"] != customer["Id"]:
            raise business(f"{txn_type} {txn_id} belongs to another customer")
        already = sum((a for t, i, a in applied if (t, i) == (txn_type, txn_id)), Decimal(0))
        open_amount = books.open_balance(txn_type, txn_id, excluding_payment=own_id)
        if amount <= 0 or amount + already > open_amount:
            raise business(
                f"The amount {amount} applied to {txn_type} {txn_id} is more than its "
                f"open balance {open_amount - already}"
            )
        applied.append((txn_type, txn_id, amount))
        net += amount if txn_type == "Invoice" else -amount
        lines.append({"Amount": amount, "LinkedTxn": [{"TxnId": txn_id, "TxnType": txn_type}]})
    if net > total:
        raise business(f"The amounts applied ({net}) are more than the payment total {total}")
    out: dict[str, Any] = {}
    _copy(body, out, ("PaymentRefNum", "PaymentMethodRef", "DepositToAccountRef", "PrivateNote"))
    out.update(
        TxnDate=_date(body.get("TxnDate"), "TxnDate") or books.today().isoformat(),
        CustomerRef={"value": customer["Id"], "name": customer["DisplayName"]},
        CurrencyRef=currency_ref(currency),
        TotalAmt=total,
        UnappliedAmt=total - net,
        ProcessPayment=False,
        Line=lines,
    )
    return out, applied


def reject_unknown(kind: str) -> QboFault:
    return QboFault("500", "Unsupported Operation", f"Operation {kind} is not supported.")
