"""The line items of a sandbox invoice or credit note, read and checked as Xero does: amounts,
the item's defaults, the account, the organisation's tax rate for the line's TaxType (or the
account's default when none is sent), and the line's tracking.

Callers hold the organisation's lock; `Invalid` messages are collected in `problems`.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, Protocol

from connector_sandbox.xero_entities import Invalid, Line, cents, money
from connector_sandbox.xero_setup import TaxRate, line_tracking, unknown_tax_type


class LineBooks(Protocol):
    """What reading a line needs of its organisation."""

    accounts: dict[str, dict[str, Any]]
    tax_rates: dict[str, TaxRate]
    tracking: dict[str, dict[str, Any]]

    def item_by_code(self, code: str) -> dict[str, Any] | None: ...


def parse_lines(books: LineBooks, raw: Any, status: str, problems: list[str]) -> list[Line]:
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        problems.append("LineItems must be a list")
        return []
    if not raw and status == "AUTHORISED":
        problems.append("At least one line item is required to approve a document")
    lines = []
    for n, item in enumerate(raw, 1):
        line = _line(books, n, item, status, problems)
        if line is not None:
            lines.append(line)
    return lines


def _line(books: LineBooks, n: int, item: Any, status: str, problems: list[str]) -> Line | None:
    if not isinstance(item, dict):
        problems.append(f"Line item {n} must be an object")
        return None
    try:
        quantity = money(item.get("Quantity"), "Quantity")
        unit = money(item.get("UnitAmount"), "UnitAmount")
    except Invalid as exc:
        problems += exc.messages
        return None
    description = str(item.get("Description") or "")
    if len(description) > 4000:
        problems.append("Description must be 4000 characters or less")
    item_code = item.get("ItemCode") or None
    account, tax_type, unit = _item_defaults(books, item, unit, problems)
    if account is not None and account not in books.accounts:
        problems.append(f"Account code '{account}' is not a valid code for this document.")
    rate = _tax_rate(books, account, tax_type, problems)
    if status == "AUTHORISED" and account is None:
        problems.append("An account code must be specified to approve a document")
    if status == "AUTHORISED" and not description:
        problems.append("Description must be specified to approve a document")
    return Line(
        id=str(uuid.uuid4()),
        description=description,
        quantity=quantity if quantity is not None else Decimal(1),
        unit_amount=cents(unit if unit is not None else Decimal(0)),
        account_code=str(account) if account else None,
        item_code=str(item_code) if item_code else None,
        tax_type=rate.tax_type if rate else None,
        tax_rate=rate.rate if rate else Decimal(0),
        tracking=line_tracking(item.get("Tracking"), books.tracking.values(), problems),
    )


def _item_defaults(
    books: LineBooks, item: dict[str, Any], unit: Decimal | None, problems: list[str]
) -> tuple[Any, Any, Decimal | None]:
    """Account, TaxType and unit amount: the line's own, else its item's sales details."""
    account = item.get("AccountCode") or None
    tax_type = item.get("TaxType") or None
    code = item.get("ItemCode") or None
    if code is None:
        return account, tax_type, unit
    stored = books.item_by_code(str(code))
    if stored is None:
        problems.append(f"Item code '{code}' is not valid")
        return account, tax_type, unit
    sales = stored["SalesDetails"]
    if unit is None:
        unit = money(sales.get("UnitPrice"), "UnitPrice")
    return account or sales.get("AccountCode"), tax_type or sales.get("TaxType"), unit


def _tax_rate(books: LineBooks, account: Any, tax_type: Any, problems: list[str]) -> TaxRate | None:
    """The line's rate: its TaxType's, else its account's default (xero_accounting.yaml, Account
    TaxType; a line "TaxType from TaxRates"). A TaxType the organisation lacks is refused, and
    so is a purchases rate on a revenue account, in Xero's words (XeroAPI/Xero-Java#336)."""
    stored = books.accounts.get(str(account)) if account else None
    if tax_type is None:
        if stored is None:
            return None
        tax_type = stored.get("TaxType") or "NONE"
    rate = books.tax_rates.get(str(tax_type))
    if rate is None:
        problems.append(unknown_tax_type(str(tax_type)))
        return None
    if stored is not None and stored.get("Type") == "REVENUE" and not rate.revenue:
        problems.append(
            f"The TaxType code '{tax_type}' cannot be used with account code '{account}'."
        )
        return None
    return rate
