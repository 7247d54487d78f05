"""QuickBooks data-service faults and the number rules every entity shares.

Data errors travel in the capital `Fault` envelope, as the real service sends them (HTTP 400);
python-quickbooks turns them into exceptions by code, so the codes here are the documented ones:
610 not found, 2020 required, 2500 invalid reference, 5010 stale SyncToken, 6000 business rule,
6070 Amount != UnitPrice * Qty, 6140 duplicate DocNumber, 6240 duplicate name.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")


class QboFault(Exception):
    def __init__(
        self,
        code: str,
        message: str,
        detail: str = "",
        element: str = "",
        status: int = 400,
        kind: str = "ValidationFault",
    ):
        super().__init__(f"{code} {message}: {detail}")
        self.code, self.message, self.detail = code, message, detail
        self.element, self.status, self.kind = element, status, kind

    def fault(self) -> dict[str, Any]:
        error = {"Message": self.message, "Detail": self.detail, "code": self.code}
        if self.element:
            error["element"] = self.element
        return {"Error": [error], "type": self.kind}


def not_found(what: str = "") -> QboFault:
    detail = (
        "Object Not Found : Something you're trying to use has been made inactive. "
        "Check the fields with accounts, customers, items, vendors or employees."
    )
    return QboFault("610", "Object Not Found", detail + (f" ({what})" if what else ""))


def required(name: str) -> QboFault:
    return QboFault(
        "2020",
        "Required param missing, need to supply the required value for the API",
        f"Required parameter {name} is missing in the request",
        element=name,
    )


def invalid_reference(name: str, value: object) -> QboFault:
    return QboFault(
        "2500",
        "Invalid Reference Id",
        f"Invalid Reference Id : {name} {value} does not exist or has been made inactive",
        element=name,
    )


def invalid_property(name: str, why: str = "") -> QboFault:
    detail = f"Property Name:{name} specified is unsupported or invalid"
    return QboFault(
        "2010", "Request has invalid or unsupported property", detail + (f": {why}" if why else "")
    )


def stale() -> QboFault:
    return QboFault(
        "5010",
        "Stale Object Error",
        "Stale Object Error : You and root were working on this at the same time. "
        "root finished before you did, so your work was not saved.",
    )


def business(detail: str, code: str = "6000") -> QboFault:
    return QboFault(
        code,
        "A business validation error has occurred while processing your request",
        f"Business Validation Error: {detail}",
    )


def duplicate_name(kind: str) -> QboFault:
    return QboFault(
        "6240",
        "Duplicate Name Exists Error",
        f"The name supplied already exists. : Another {kind} is already using this name. "
        "Please use a different name.",
    )


def duplicate_doc_number(doc: str, txn_type: str, txn_id: str) -> QboFault:
    return QboFault(
        "6140",
        "Duplicate Document Number Error",
        "Duplicate Document Number Error : You must specify a different number. This number "
        f"has already been used. DocNumber={doc} is assigned to TxnType={txn_type} "
        f"with TxnId={txn_id}",
    )


def too_long(name: str) -> QboFault:
    return QboFault(
        "6000",
        "A business validation error has occurred while processing your request",
        "String length is either shorter or longer than supported by specification",
        element=name,
    )


def dec(value: Any, name: str) -> Decimal | None:
    """An amount as sent: a JSON number (already Decimal/int) or a numeric string, as the SDK
    writes Decimals. "" and null mean absent; a float means someone broke the JSON rule."""
    if value is None or value == "":
        return None
    if isinstance(value, bool | float):
        raise invalid_property(name, "not a decimal number")
    try:
        number = Decimal(value) if isinstance(value, Decimal | int) else Decimal(str(value))
    except InvalidOperation:
        raise invalid_property(name, "not a decimal number") from None
    if not number.is_finite():
        raise invalid_property(name, "not a decimal number")
    return number


def round2(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def text(value: Any) -> str | None:
    """A string field; the SDK sends "" for every unset one, which means absent."""
    if value is None or value == "":
        return None
    return str(value)


def ref_value(ref: Any) -> str | None:
    if isinstance(ref, dict):
        return text(ref.get("value"))
    return text(ref)
