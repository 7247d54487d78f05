"""Classes and departments (locations): the lists a bookkeeper tags transactions with.

Class and Department are name lists any app may create and update (Intuit, Class and
Department entity references: Name at most 100 characters, Active, SubClass/SubDepartment,
FullyQualifiedName "Parent:Child"). Where they may be used is the company's choice
(Preferences.AccountingInfoPrefs): a ClassRef on the transaction is "Available if
Preferences.AccountingInfoPrefs.ClassTrackingPerTxn is set to true" (Invoice reference), a
ClassRef on a line likewise with ClassTrackingPerTxnLine (python-quickbooks'
SalesItemLineDetail.ClassRef; Preferences reference). What QuickBooks answers for a ClassRef the
company's setting does not allow is not documented: the sandbox refuses it with a 6000
business validation error (assumption), so a client that sends one learns of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from connector_sandbox.quickbooks_faults import (
    business,
    invalid_reference,
    ref_value,
    required,
    text,
    too_long,
)

if TYPE_CHECKING:
    from connector_sandbox.quickbooks_company import Company

_SUB = {"Class": "SubClass", "Department": "SubDepartment"}


def build_named(
    books: Company, entity: str, body: Mapping[str, Any], own_id: str | None
) -> dict[str, Any]:
    """A Class or Department: a unique name (ignoring case), optionally under a parent."""
    name = text(body.get("Name"))
    if not name:
        raise required("Name")
    if len(name) > 100:
        raise too_long("Name")
    books.check_unique_name(entity, name, own_id, entity.lower())
    out: dict[str, Any] = {"Name": name, "Active": body.get("Active", True) is not False}
    parent_id = ref_value(body.get("ParentRef"))
    if parent_id is not None:
        parent = books.objects[entity].get(parent_id)
        if parent is None or parent_id == own_id:
            raise invalid_reference("ParentRef", parent_id)
        out["ParentRef"] = {"value": parent_id}
        out["FullyQualifiedName"] = f"{parent['FullyQualifiedName']}:{name}"
        out[_SUB[entity]] = True
    else:
        out["FullyQualifiedName"] = name
        out[_SUB[entity]] = False
    return out


def seed_lists(books: Company) -> None:
    for name in books.settings.classes:
        books.create("Class", {"Name": name})
    for name in books.settings.departments:
        books.create("Department", {"Name": name})


def _ref(books: Company, entity: str, raw: Any, element: str) -> dict[str, str] | None:
    value = ref_value(raw)
    if value is None:
        return None
    found = books.objects[entity].get(value)
    if found is None or not found.get("Active", True):
        raise invalid_reference(element, value)
    return {"value": value, "name": found["FullyQualifiedName"]}


def txn_class(books: Company, raw: Any) -> dict[str, str] | None:
    """The document's ClassRef, allowed only with class tracking per transaction."""
    ref = _ref(books, "Class", raw, "ClassRef")
    if ref is not None and books.settings.class_tracking != "txn":
        raise business(
            "ClassRef on the transaction is not available: the company tracks classes "
            + (
                "per line (Preferences.AccountingInfoPrefs.ClassTrackingPerTxnLine)"
                if books.settings.class_tracking == "line"
                else "nowhere (class tracking is off)"
            )
        )
    return ref


def line_class(books: Company, raw: Any, index: int) -> dict[str, str] | None:
    """A sales line's ClassRef, allowed only with class tracking per line."""
    ref = _ref(books, "Class", raw, f"Line[{index}].ClassRef")
    if ref is not None and books.settings.class_tracking != "line":
        raise business(
            f"Line[{index}].ClassRef is not available: the company tracks classes "
            + (
                "per transaction (Preferences.AccountingInfoPrefs.ClassTrackingPerTxn)"
                if books.settings.class_tracking == "txn"
                else "nowhere (class tracking is off)"
            )
        )
    return ref


def department(books: Company, raw: Any) -> dict[str, str] | None:
    """The document's DepartmentRef (its location): an active department of the company."""
    return _ref(books, "Department", raw, "DepartmentRef")
