"""How each QuickBooks entity is validated and computed from what a client sends.

Each builder takes the request body (a create, a full update, or a sparse update already merged
onto the stored object) and returns the fields to store. Read-only fields a client sends back
(TotalAmt, Balance, MetaData, UnappliedAmt) are ignored and computed here, as QuickBooks
computes them. Amounts stay Decimal.

Invoices and credit memos are built in `quickbooks_sales`; customers, items and payments here.
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
    invalid_property,
    invalid_reference,
    not_found,
    ref_value,
    required,
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


def copy_fields(body: Mapping[str, Any], out: dict[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        value = body.get(name)
        if value not in (None, "", {}, []):
            out[name] = value


def parse_date(value: Any, name: str) -> str | None:
    raw = text(value)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw.replace("/", "-")).isoformat()
    except ValueError:
        raise invalid_property(name, f"{raw} is not a date") from None


def customer_of(books: Company, ref: Any) -> dict[str, Any]:
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
    copy_fields(body, out, _CUSTOMER_PASSTHROUGH)
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
    currency = _customer_currency(books, body, own_id)
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


def _customer_currency(books: Company, body: Mapping[str, Any], own_id: str | None) -> str:
    """One currency per customer, fixed once a transaction is posted (QuickBooks community,
    About Multi-currency; bookkeeper-needs.md 1e). The refusal's wording is ours."""
    before = books.objects["Customer"].get(own_id) if own_id else None
    held = before["CurrencyRef"]["value"] if before else None
    currency = ref_value(body.get("CurrencyRef")) or held or books.settings.currency
    if currency not in books.settings.currencies:
        raise invalid_reference("CurrencyRef", currency)
    if held is not None and currency != held and books.has_transactions(str(own_id)):
        raise business(
            f"The currency of a customer with transactions cannot change ({held} to {currency})"
        )
    return currency


def build_item(books: Company, body: Mapping[str, Any], own_id: str | None) -> dict[str, Any]:
    name = text(body.get("Name"))
    if not name:
        raise required("Name")
    if len(name) > 100:
        raise too_long("Name")
    books.check_unique_name("Item", name, own_id, "product or service")
    out: dict[str, Any] = {}
    copy_fields(body, out, _ITEM_PASSTHROUGH)
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


# --- payments ---------------------------------------------------------------------------------


def build_payment(
    books: Company, body: Mapping[str, Any], own_id: str | None
) -> tuple[dict[str, Any], list[tuple[str, str, Decimal]]]:
    """The payment and what it applies: (TxnType, TxnId, amount) per linked invoice/credit."""
    customer = customer_of(books, body.get("CustomerRef"))
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
    for index, line in enumerate(body.get("Line") or []):
        applied.append(_application(books, customer["Id"], line, index, applied, own_id))
    net = sum((a if t == "Invoice" else -a for t, _, a in applied), Decimal(0))
    if net > total:
        raise business(f"The amounts applied ({net}) are more than the payment total {total}")
    out: dict[str, Any] = {}
    copy_fields(
        body, out, ("PaymentRefNum", "PaymentMethodRef", "DepositToAccountRef", "PrivateNote")
    )
    out.update(
        TxnDate=parse_date(body.get("TxnDate"), "TxnDate") or books.today().isoformat(),
        CustomerRef={"value": customer["Id"], "name": customer["DisplayName"]},
        CurrencyRef=currency_ref(currency),
        TotalAmt=total,
        UnappliedAmt=total - net,
        ProcessPayment=False,
        Line=[{"Amount": a, "LinkedTxn": [{"TxnId": i, "TxnType": t}]} for t, i, a in applied],
    )
    return out, applied


def _application(
    books: Company,
    customer_id: str,
    line: Mapping[str, Any],
    index: int,
    applied: list[tuple[str, str, Decimal]],
    own_id: str | None,
) -> tuple[str, str, Decimal]:
    """One payment line: an amount applied to one open invoice or credit memo of the payer."""
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
    if target["CustomerRef"]["value"] != customer_id:
        raise business(f"{txn_type} {txn_id} belongs to another customer")
    already = sum((a for t, i, a in applied if (t, i) == (txn_type, txn_id)), Decimal(0))
    open_amount = books.open_balance(txn_type, txn_id, excluding_payment=own_id)
    if amount <= 0 or amount + already > open_amount:
        raise business(
            f"The amount {amount} applied to {txn_type} {txn_id} is more than its "
            f"open balance {open_amount - already}"
        )
    return txn_type, txn_id, amount


def reject_unknown(kind: str) -> QboFault:
    return QboFault("500", "Unsupported Operation", f"Operation {kind} is not supported.")
