"""Xero's answers read one document at a time, so that one odd field costs one document, never
the run.

xero-python turns a whole answer into models in one go and raises ValueError at the first value
it does not expect: Xero's own example for GET /Payments carries `"IsReconciled": "false"` (a
string where the schema says boolean), and the SDK refuses a ReportTaxType or Status newer than
itself (XeroAPI/xero-ruby#245, XeroAPI/xero-php-oauth2#274 for the same generator). Here each
element of a list is read on its own: strictly first; then tolerating those known odd forms (a
boolean written as "true"/"false", an enum string newer than the SDK, kept as sent); and if it
still cannot be read it is left out and recorded as `Unreadable`, for the caller to name. A money
field, a date or an id that does not parse is never guessed or dropped: its document is
unreadable. An answer that is not a JSON object at all is an `UnreadableAnswer`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from xero_python.api_client.deserializer import deserialize

from connector.errors import SkippableLedgerError

_LIST = re.compile(r"^list\[(.*)\]$")
_BOOLS = {"true": True, "false": False}
# what names a document in a message, in order of preference
_NAMES = ("InvoiceNumber", "CreditNoteNumber", "Name", "PaymentID", "InvoiceID", "CreditNoteID")


class OddField(ValueError):
    """A field whose value does not fit the SDK's type, named by its path in the document."""

    def __init__(self, path: str, value: Any):
        shown = repr(value) if not isinstance(value, dict | list) else type(value).__name__
        super().__init__(f"{path} = {shown[:60]} does not fit Xero's schema")
        self.path = path
        self.value = value


class UnreadableAnswer(SkippableLedgerError):
    """Xero's answer as a whole could not be read (not JSON, not the expected shape)."""


@dataclass(frozen=True, slots=True)
class Unreadable:
    """One document left out of an answer: what it is, what names it, and why."""

    kind: str  # the SDK model: Invoice, Payment, Contact...
    name: str  # its number, name or id, as Xero sent it
    why: str
    reference: str | None = None  # Reference, for a document found by it
    invoice_id: str | None = None  # a payment's invoice, or the invoice itself

    def __str__(self) -> str:
        return f"{self.kind.lower()} {self.name or '(no id)'} could not be read ({self.why})"


def read_answer(response_type: str, data: Any, finder: Any, unreadable: list[Unreadable]) -> Any:
    """The SDK's model for an answer, each listed document read on its own; the ones that
    cannot be read are appended to `unreadable`."""
    top = _LIST.match(response_type)
    if top and isinstance(data, list) and _is_model(top.group(1), finder):
        return _elements(top.group(1), data, finder, unreadable)
    if not isinstance(data, dict) or not _is_model(response_type, finder):
        return _whole(response_type, data, finder)
    model = finder.find_model(response_type)
    kwargs: dict[str, Any] = {}
    for attr, kind in model.openapi_types.items():
        key = model.attribute_map[attr]
        if key not in data:
            continue
        inner = _LIST.match(kind)
        if inner and isinstance(data[key], list) and _is_model(inner.group(1), finder):
            kwargs[attr] = _elements(inner.group(1), data[key], finder, unreadable)
        else:
            kwargs[attr] = _whole(kind, data[key], finder)
    return _build(model, kwargs)


def _whole(kind: str, data: Any, finder: Any) -> Any:
    try:
        return _value(kind, data, finder)
    except Exception as exc:  # whatever the SDK raises about a shape it did not expect
        raise UnreadableAnswer(f"Xero's answer could not be read: {str(exc)[:200]}") from None


def _elements(kind: str, rows: list[Any], finder: Any, unreadable: list[Unreadable]) -> list[Any]:
    out = []
    for row in rows:
        try:
            out.append(_element(kind, row, finder))
        except Exception as exc:  # one document the SDK cannot read, for any reason
            unreadable.append(_describe(kind, row, exc))
    return out


def _element(kind: str, row: Any, finder: Any) -> Any:
    try:
        return deserialize(kind, row, finder)
    except Exception:  # read again, tolerating the documented odd forms
        return _value(kind, row, finder)


def _value(kind: str, data: Any, finder: Any) -> Any:
    """`data` as the SDK type `kind`, tolerating "true"/"false" for a boolean and enum strings
    the SDK does not know; anything else that does not parse raises."""
    inner = _LIST.match(kind)
    if inner:
        if not isinstance(data, list):
            raise ValueError(f"a list expected, got {data!r}")
        return [_value(inner.group(1), d, finder) for d in data]
    if kind == "bool" and isinstance(data, str) and data.lower() in _BOOLS:
        return _BOOLS[data.lower()]
    if not _is_model(kind, finder) or data is None:
        return deserialize(kind, data, finder)
    model = finder.find_model(kind)
    if issubclass(model, Enum) or not isinstance(data, dict):
        return deserialize(kind, data, finder)
    kwargs = {}
    for attr, t in model.openapi_types.items():
        key = model.attribute_map[attr]
        if key not in data:
            continue
        try:
            kwargs[attr] = _value(t, data[key], finder)
        except OddField as exc:
            raise OddField(f"{key}.{exc.path}", exc.value) from None
        except Exception:  # the SDK's own error says little (decimal.ConversionSyntax): name it
            raise OddField(key, data[key]) from None
    return _build(model, kwargs)


def _build(model: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """The model; a value its setter refuses (an enum value newer than the SDK) is kept as
    Xero sent it, when it is a string."""
    try:
        return model(**kwargs)
    except ValueError:
        instance = model()
        for attr, value in kwargs.items():
            try:
                setattr(instance, attr, value)
            except ValueError:
                if not isinstance(value, str):
                    raise
                instance.__dict__["_" + attr] = value
        return instance


def _is_model(kind: str, finder: Any) -> bool:
    if kind in ("str", "int", "float", "bool", "date", "datetime", "object") or "[" in kind:
        return False
    try:
        finder.find_model(kind)
    except (AttributeError, ValueError):
        return False
    return True


def _describe(kind: str, row: Any, exc: BaseException) -> Unreadable:
    raw = row if isinstance(row, dict) else {}
    name = next((str(raw[k]) for k in _NAMES if raw.get(k)), "")
    invoice = raw.get("Invoice") if isinstance(raw.get("Invoice"), dict) else {}
    invoice_id = raw.get("InvoiceID") or (invoice or {}).get("InvoiceID")
    if kind == "Payment" and invoice:
        number = invoice.get("InvoiceNumber") or invoice_id or "?"
        name = f"{name} (on invoice {number})" if name else f"on invoice {number}"
    reference = raw.get("Reference")
    return Unreadable(
        kind,
        name,
        str(exc)[:200],
        str(reference) if reference is not None else None,
        str(invoice_id) if invoice_id else None,
    )
