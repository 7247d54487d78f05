"""The Accounting API under /api.xro/2.0 for one organisation: reads with Xero's filters and
paging, and writes with Xero's per-element error reporting.

Writes of many elements are not transactional, as in Xero: every valid element is stored. With
`summarizeErrors=false` the answer is 200 and lists every element, each with `HasErrors` and
`ValidationErrors`; otherwise (Xero's real default, whatever the spec says) any invalid element
makes the answer a 400 ValidationException listing only the invalid ones, although the valid ones
were created. The gateway (tokens, limits, idempotency) runs before this module sees a request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from connector_sandbox import xero_api_sending, xero_api_setup
from connector_sandbox.server import Request, Response
from connector_sandbox.xero_answers import (
    ApiError,
    bad_request,
    envelope,
    not_found,
    validation,
)
from connector_sandbox.xero_dates import parse_instant
from connector_sandbox.xero_entities import (
    Document,
    Invalid,
    contact_view,
    payment_view,
    with_errors,
)
from connector_sandbox.xero_org import Organisation
from connector_sandbox.xero_where import WhereError, compile_where

BASE = "/api.xro/2.0"
DEFAULT_PAGE = 100
MAX_PAGE = 1000
_DATES = ("Date", "DueDate", "UpdatedDateUTC")


def serve(org: Organisation, request: Request, rest: list[str], app: str) -> Response:
    """Answer one Accounting API request for `org`; the caller holds no lock."""
    with org.lock:
        try:
            return _route(org, request, [p.lower() for p in rest], rest, app)
        except ApiError as exc:
            return exc.response
        except WhereError as exc:
            return validation([], str(exc))


def _route(
    org: Organisation, request: Request, lower: list[str], rest: list[str], app: str
) -> Response:
    now = org.now()
    for route in (xero_api_setup.route, xero_api_sending.route):
        answer = route(org, request, lower, now)
        if answer is not None:
            return answer
    for group in (_contacts_and_items, _documents_route, _payments_route):
        answer = group(org, request, lower, rest, app)
        if answer is not None:
            return answer
    return not_found()


def _contacts_and_items(
    org: Organisation, request: Request, lower: list[str], rest: list[str], app: str
) -> Response | None:
    now = org.now()
    match request.method, lower:
        case "GET", ["contacts"]:
            return _contacts(org, request)
        case "GET", ["contacts", _]:
            contact = org.contacts.get(rest[1])
            if contact is None:
                return not_found()
            return Response.json(200, envelope(now, "Contacts", [contact_view(contact)]))
        case "PUT" | "POST", ["contacts"]:
            return _write(now, request, "Contacts", org.create_contact)
        case "GET", ["items"]:
            rows = [(dict(i), i) for i in org.items.values()]
            return _listing(org, request, "Items", rows)
        case "PUT" | "POST", ["items"]:
            return _write(now, request, "Items", org.create_item)
    return None


def _contacts(org: Organisation, request: Request) -> Response:
    summary = request.param("summaryOnly") == "true"
    include = request.param("includeArchived") == "true"
    ids = _csv(request.param("IDs"))
    rows = [
        (contact_view(c, summary), c)
        for c in org.contacts.values()
        if (include or c["ContactStatus"] == "ACTIVE") and (not ids or c["ContactID"] in ids)
    ]
    term = (request.param("searchTerm") or "").casefold()
    if term:
        rows = [r for r in rows if term in r[0]["Name"].casefold()]
    return _listing(org, request, "Contacts", rows)


def _documents_route(
    org: Organisation, request: Request, lower: list[str], rest: list[str], app: str
) -> Response | None:
    if not lower or lower[0] not in ("invoices", "creditnotes"):
        return None
    now = org.now()
    credit = lower[0] == "creditnotes"
    key = "CreditNotes" if credit else "Invoices"
    match request.method, lower[1:]:
        case "GET", []:
            return _documents(org, request, credit, app)
        case "GET", [_]:
            return Response.json(200, envelope(now, key, [_doc(org, rest[1], credit).view()]))
        case "PUT", []:
            return _write(now, request, key, lambda b: org.create_document(b, credit, app).view())
        case "POST", []:
            return _write(now, request, key, lambda b: _update_or_create(org, b, credit, app))
        case "POST", [_]:
            doc = _doc(org, rest[1], credit)
            return _write(now, request, key, lambda b: org.update_document(doc, b).view())
        case "PUT", [_, "allocations"] if credit:
            note = _doc(org, rest[1], True)
            return _write(now, request, "Allocations", lambda b: org.allocate(note, b))
    return None


def _payments_route(
    org: Organisation, request: Request, lower: list[str], rest: list[str], app: str
) -> Response | None:
    now = org.now()
    match request.method, lower:
        case "GET", ["payments"]:
            rows = [
                (payment_view(p, org.documents[p["DocumentID"]]), p) for p in org.payments.values()
            ]
            return _listing(org, request, "Payments", rows)
        case "GET", ["payments", _]:
            payment = org.payments.get(rest[1])
            if payment is None:
                return not_found()
            view = payment_view(payment, org.documents[payment["DocumentID"]])
            return Response.json(200, envelope(now, "Payments", [view]))
        case "PUT" | "POST", ["payments"]:
            return _write(now, request, "Payments", lambda b: payment_view(*org.create_payment(b)))
        case "POST", ["payments", _]:
            return _write(now, request, "Payments", lambda b: _delete_payment(org, rest[1], b))
    return None


def _doc(org: Organisation, doc_id: str, credit: bool) -> Document:
    try:
        return org.document(doc_id, credit)
    except KeyError:
        raise ApiError(not_found()) from None


def _update_or_create(org: Organisation, body: Any, credit: bool, app: str) -> dict[str, Any]:
    key = "CreditNoteID" if credit else "InvoiceID"
    if isinstance(body, dict) and body.get(key):
        try:
            doc = org.document(str(body[key]), credit)
        except KeyError:
            raise Invalid(f"{key} {body[key]} could not be found") from None
        return org.update_document(doc, body).view()
    return org.create_document(body, credit, app).view()


def _delete_payment(org: Organisation, payment_id: str, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or body.get("Status") != "DELETED":
        raise Invalid("Only a change of Status to DELETED is supported for a payment")
    try:
        return payment_view(*org.delete_payment(payment_id))
    except KeyError:
        raise ApiError(not_found()) from None


def _csv(value: str | None) -> set[str]:
    return {v.strip().strip('"') for v in (value or "").split(",") if v.strip()}


def _write(
    now: datetime, request: Request, key: str, one: Callable[[Any], dict[str, Any]]
) -> Response:
    """Apply `one` to every element; report per element or summarised, as asked."""
    try:
        body = request.json()
    except ValueError:
        return bad_request("The request body is not valid JSON")
    elements = body.get(key) if isinstance(body, dict) and key in body else [body]
    if not isinstance(elements, list) or not elements:
        return bad_request(f"The request must carry at least one element in {key}")
    summarize = (request.param("summarizeErrors") or "true").lower() != "false"
    results: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for element in elements:
        try:
            view = one(element)
        except Invalid as exc:
            bad = with_errors(element, exc.messages)
            results.append(bad)
            failed.append(bad)
            continue
        if not summarize:
            view = {**view, "StatusAttributeString": "OK", "ValidationErrors": []}
        results.append(view)
    if failed and summarize:
        return validation(failed)
    return Response.json(200, envelope(now, key, results))


def _documents(org: Organisation, request: Request, credit: bool, app: str) -> Response:
    statuses = {s.upper() for s in _csv(request.param("Statuses"))}
    ids = _csv(request.param("IDs"))
    numbers = _csv(request.param("InvoiceNumbers"))
    contacts = _csv(request.param("ContactIDs"))
    mine = (request.param("createdByMyApp") or "").lower() == "true"
    rows = []
    for doc in org.documents_of(credit):
        if statuses and doc.status not in statuses:
            continue
        if ids and doc.id not in ids:
            continue
        if numbers and doc.number not in numbers:
            continue
        if contacts and doc.contact_id not in contacts:
            continue
        if mine and doc.app != app:
            continue
        view = doc.view()
        record = {**view, "Date": doc.date, "DueDate": doc.due_date, "UpdatedDateUTC": doc.updated}
        rows.append((view, record))
    return _listing(org, request, "CreditNotes" if credit else "Invoices", rows)


def _listing(
    org: Organisation, request: Request, key: str, rows: Iterable[tuple[dict[str, Any], Any]]
) -> Response:
    """Filter by If-Modified-Since and `where`, order, and page when `page` is given."""
    selected = list(rows)
    since_header = request.header("If-Modified-Since")
    if since_header:
        try:
            since = parse_instant(since_header)
        except (ValueError, TypeError):
            return bad_request("If-Modified-Since is not a valid date")
        selected = [r for r in selected if _updated(r[1]) >= since]
    where = compile_where(request.param("where"))
    selected = [r for r in selected if where(_record(r))]
    order = (request.param("order") or "").split()
    if order:
        field, descending = order[0], len(order) > 1 and order[1].upper() == "DESC"
        selected.sort(key=lambda r: str(_record(r).get(field, "")), reverse=descending)
    views = [r[0] for r in selected]
    page_param = request.param("page")
    if page_param is None:
        return Response.json(200, envelope(org.now(), key, views))
    try:
        page = max(1, int(page_param))
        size = min(MAX_PAGE, max(1, int(request.param("pageSize") or DEFAULT_PAGE)))
    except ValueError:
        return bad_request("page and pageSize must be whole numbers")
    chunk = views[(page - 1) * size : page * size]
    pagination = {
        "page": page,
        "pageSize": size,
        "pageCount": -(-len(views) // size),
        "itemCount": len(views),
    }
    return Response.json(200, envelope(org.now(), key, chunk, {"pagination": pagination}))


def _record(row: tuple[dict[str, Any], Any]) -> dict[str, Any]:
    view, raw = row
    if isinstance(raw, dict) and "UpdatedDateUTC" in raw:
        return {
            **view,
            **{k: v for k, v in raw.items() if k in ("Date", "DueDate", "UpdatedDateUTC")},
        }
    return view


def _updated(raw: Any) -> datetime:
    value = raw.get("UpdatedDateUTC") if isinstance(raw, dict) else None
    if isinstance(value, datetime):
        return value
    return datetime.min.replace(tzinfo=UTC)
