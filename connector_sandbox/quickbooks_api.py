"""The QuickBooks data service behind the gateway: /v3/company/<realm>/<resource>[/<id>].

By here the bearer token and the rate limits have been checked (see `quickbooks`). What is left
is what the data service does: minorversion, the `requestid` replay, and the operations
(entity create/read/update/void/delete, query, batch, cdc, preferences, companyinfo). Every
data error becomes the capital `Fault` envelope.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from connector_sandbox import quickbooks_rates as rates
from connector_sandbox import quickbooks_send
from connector_sandbox.quickbooks_company import Company
from connector_sandbox.quickbooks_entities import reject_unknown
from connector_sandbox.quickbooks_faults import QboFault, invalid_property, required, text
from connector_sandbox.quickbooks_schema import (
    ENTITIES,
    NOT_IN_CDC,
    READ_ONLY_ENTITIES,
    RESOURCES,
)
from connector_sandbox.quickbooks_settings import company_info, preferences
from connector_sandbox.server import Request, Response

MIN_MINOR_VERSION = 75
BATCH_MAX_ITEMS = 30
CDC_MAX_OBJECTS = 1000
CDC_LOOKBACK = timedelta(days=30)
# requestid: "a maximum of 50 characters for all operations, except for batch operations"; a
# batch's requestid "a maximum of 36 characters", and "for each batch ID, only 10 characters
# are allowed when the request ID is also specified" (Intuit, Basic field definitions,
# developer.intuit.com/app/developer/qbo/docs/learn/learn-basic-field-definitions). What
# QuickBooks answers to a longer one is not documented: the sandbox refuses it with 2010
# (invalid property) before anything runs or is remembered (assumption).
REQUEST_ID_MAX = 50
BATCH_REQUEST_ID_MAX = 36
BATCH_ID_MAX = 10


def serve(
    company: Company, request: Request, rest: list[str], now: datetime, strict_minor: bool
) -> Response:
    """One data-service call. A repeated `requestid` on a POST gets the stored response back,
    whatever it was (errors included), as QuickBooks documents."""
    stamp = now.isoformat(timespec="milliseconds")
    minor = request.param("minorversion")
    if minor is not None and (
        not minor.isdigit() or (strict_minor and int(minor) < MIN_MINOR_VERSION)
    ):
        fault = invalid_property(
            "minorversion",
            f"{minor} is not supported; use {MIN_MINOR_VERSION} or later "
            "(QuickBooks itself has ignored versions below 75 since 2025-08-01)",
        )
        return Response.json(400, {"Fault": fault.fault(), "time": stamp})
    request_id = request.param("requestid") if request.method == "POST" else None
    if request_id:
        try:
            request_id = _replay_key(request, rest, request_id)
        except QboFault as fault:
            return Response.json(fault.status, {"Fault": fault.fault(), "time": stamp})
    with company.lock:
        if request_id:
            replay = company.replay(request_id)
            if replay is not None:
                return replay
        try:
            status, body = 200, {**_operation(company, request, rest, now), "time": stamp}
        except QboFault as fault:
            status, body = fault.status, {"Fault": fault.fault(), "time": stamp}
        response = Response.json(status, body, {"intuit_tid": uuid.uuid4().hex})
        if request_id:
            company.remember(request_id, response)
        return response


def _replay_key(request: Request, rest: list[str], request_id: str) -> str:
    """The key a repeated request is recognised by, after the documented length checks. For a
    batch it is the requestid and every bId: "both the request ID and batch ID must be the same
    as the original ... If you pass the same request ID but different batch IDs, they will be
    considered to be different requests" (Basic field definitions)."""
    if rest[:1] != ["batch"]:
        if len(request_id) > REQUEST_ID_MAX:
            raise invalid_property("requestid", f"at most {REQUEST_ID_MAX} characters")
        return request_id
    if len(request_id) > BATCH_REQUEST_ID_MAX:
        raise invalid_property("requestid", f"at most {BATCH_REQUEST_ID_MAX} characters in a batch")
    items = _json_object(request).get("BatchItemRequest")
    bids = (
        [str(i.get("bId", "")) for i in items if isinstance(i, Mapping)]
        if isinstance(items, list)
        else []
    )
    for bid in bids:
        if len(bid) > BATCH_ID_MAX:
            raise invalid_property("bId", f"{bid} is longer than {BATCH_ID_MAX} characters")
    return request_id + "|" + ",".join(bids)


Route = Callable[[Company, Request, list[str], datetime], dict[str, Any]]


def _query(company: Company, request: Request, rest: list[str], now: datetime) -> dict[str, Any]:
    statement = request.param("query") or request.body.decode()
    found = company.query(statement)
    if _wants_link(request) and "Invoice" in found:  # assumption: as on a read
        found["Invoice"] = [quickbooks_send.with_link(company, i) for i in found["Invoice"]]
    return {"QueryResponse": found}


def _wants_link(request: Request) -> bool:
    return (request.param("include") or "").lower() == "invoicelink"


def _batch_route(
    company: Company, request: Request, rest: list[str], now: datetime
) -> dict[str, Any]:
    return {"BatchItemResponse": _batch(company, _json_object(request))}


def _cdc_route(
    company: Company, request: Request, rest: list[str], now: datetime
) -> dict[str, Any]:
    found = _cdc(company, request.param("entities"), request.param("changedSince"), now)
    return {"CDCResponse": [{"QueryResponse": found}]}


def _send(company: Company, request: Request, rest: list[str], now: datetime) -> dict[str, Any]:
    return {"Invoice": quickbooks_send.send(company, rest[1], request.param("sendTo"))}


# (method, resource, path length) -> what answers it; entity reads and writes come after
_ROUTES: dict[tuple[str, str, int], Route] = {
    ("GET", "query", 1): _query,
    ("POST", "query", 1): _query,
    ("POST", "batch", 1): _batch_route,
    ("GET", "cdc", 1): _cdc_route,
    ("GET", "preferences", 1): lambda c, r, p, n: {"Preferences": preferences(c.settings)},
    ("GET", "companyinfo", 1): lambda c, r, p, n: {"CompanyInfo": company_info(c.settings)},
    # python-quickbooks reads it as CompanyInfo.get(<id>): GET /companyinfo/<id>
    ("GET", "companyinfo", 2): lambda c, r, p, n: {"CompanyInfo": company_info(c.settings)},
    ("GET", "exchangerate", 1): lambda c, r, p, n: _exchange_rate(c, r),
    ("POST", "exchangerate", 1): lambda c, r, p, n: _exchange_rate(c, r),
}


def _operation(
    company: Company, request: Request, rest: list[str], now: datetime
) -> dict[str, Any]:
    resource = rest[0].lower() if rest else ""
    route = _ROUTES.get((request.method, resource, len(rest)))
    if route is not None:
        return route(company, request, rest, now)
    if (request.method, resource, rest[2:]) == ("POST", "invoice", ["send"]):
        return _send(company, request, rest, now)
    entity = RESOURCES.get(resource)
    if entity is not None and request.method == "GET" and len(rest) == 2:
        obj = company.read(entity, rest[1])
        if entity == "Invoice" and _wants_link(request):
            obj = quickbooks_send.with_link(company, obj)
        return {entity: obj}
    if entity is not None and request.method == "POST" and len(rest) == 1:
        body = _json_object(request)
        operation, include = request.param("operation"), request.param("include")
        return {entity: write(company, entity, operation, body, include)}
    raise reject_unknown(f"{request.method} {'/'.join(rest)}")


def _exchange_rate(company: Company, request: Request) -> dict[str, Any]:
    if request.method == "GET":
        code, as_of = request.param("sourcecurrencycode"), request.param("asofdate")
        return {"ExchangeRate": rates.read_rate(company, code, as_of)}
    if request.method == "POST":
        return {"ExchangeRate": rates.update_rate(company, _json_object(request))}
    raise reject_unknown(f"{request.method} exchangerate")


def write(
    company: Company,
    entity: str,
    operation: str | None,
    body: Mapping[str, Any],
    include: str | None = None,
) -> dict[str, Any]:
    """Create or update (by whether an Id is sent), delete or void. The SDK voids a Payment
    with operation=update&include=void and an Invoice with operation=void."""
    if entity in READ_ONLY_ENTITIES:  # made through TaxService, never here
        raise reject_unknown(f"{operation or 'create'} on {entity}")
    if entity == "ExchangeRate":
        return rates.update_rate(company, body)
    if operation == "void" or (operation == "update" and include == "void"):
        return company.void(entity, body)
    if operation == "delete":
        return company.delete(entity, body)
    if operation in (None, "create", "update"):
        if operation == "update" or text(body.get("Id")):
            return company.update(entity, body)
        return company.create(entity, body)
    raise reject_unknown(f"operation={operation}")


def _batch(company: Company, body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Items run in order and independently: each gets its result or its own Fault, by bId."""
    items = body.get("BatchItemRequest")
    if not isinstance(items, list) or not items:
        raise required("BatchItemRequest")
    if len(items) > BATCH_MAX_ITEMS:
        raise QboFault(
            "1040",
            "Batch size exceeds allowed limit",
            f"The batch has {len(items)} items; at most {BATCH_MAX_ITEMS} are allowed",
        )
    out = []
    for item in items:
        bid = item.get("bId") if isinstance(item, Mapping) else None
        try:
            if not isinstance(item, Mapping):
                raise invalid_property("BatchItemRequest")
            if "Query" in item:
                out.append({"bId": bid, "QueryResponse": company.query(str(item["Query"]))})
                continue
            entity = next((k for k in item if k in ENTITIES), None)
            if entity is None or not isinstance(item[entity], Mapping):
                raise reject_unknown(f"batch item {bid}")
            operation = item.get("operation") or "create"
            if operation == "create" and text(item[entity].get("Id")):
                raise invalid_property("Id", "a create must not carry an Id")
            out.append({"bId": bid, entity: write(company, entity, operation, item[entity])})
        except QboFault as fault:
            out.append({"bId": bid, "Fault": fault.fault()})
    return out


def _cdc(
    company: Company, entities: str | None, changed_since: str | None, now: datetime
) -> list[dict[str, Any]]:
    """At most 30 days back and 1,000 objects in all; one QueryResponse per entity asked.

    "A given CDC request returns a maximum of 1000 objects" and "Objects are grouped by type
    and then in order of last updated time within the group. Objects deleted within the
    look-back period are returned after active objects" (Intuit, ChangeDataCapture reference,
    developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/changedatacapture).
    Which objects a capped answer keeps is not documented: the sandbox fills the 1,000 in that
    order (the entities as asked, each oldest change first, its deletions last) and drops the
    rest, so the newest changes of the last entities asked are the ones missing (assumption).
    Nothing in the answer says it was cut: a client knows only by counting to 1,000."""
    if not entities:
        raise required("entities")
    if not changed_since:
        raise required("changedSince")
    since = _moment(changed_since, ZoneInfo(company.settings.timezone))
    if since < now - CDC_LOOKBACK:
        raise invalid_property("changedSince", "must be within the last 30 days")
    budget, out = CDC_MAX_OBJECTS, []
    for name in entities.split(","):
        entity = next((e for e in ENTITIES if e.lower() == name.strip().lower()), None)
        if entity is None or entity in NOT_IN_CDC:
            raise invalid_property("entities", f"{name.strip()} is not supported by CDC")
        found = company.changed_since(entity, since)[:budget]
        budget -= len(found)
        response: dict[str, Any] = {
            "startPosition": 1,
            "maxResults": len(found),
            "totalCount": len(found),
        }
        if found:
            response[entity] = found
        out.append(response)
    return out


def _moment(raw: str, tz: ZoneInfo) -> datetime:
    """An ISO date or date-time; one without an offset is in the company's time zone (U)."""
    # a "+" sent unencoded in a query string arrives as a space
    value = re.sub(r" (\d\d:?\d\d)$", r"+\1", raw.strip()).replace("Z", "+00:00")
    try:
        if len(value) == 10:
            moment = datetime.combine(date.fromisoformat(value), time())
        else:
            moment = datetime.fromisoformat(value)
    except ValueError:
        raise invalid_property("changedSince", f"{raw} is not a date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def _json_object(request: Request) -> Mapping[str, Any]:
    try:
        body = request.json()
    except ValueError:
        raise invalid_property("body", "the request body is not JSON") from None
    if not isinstance(body, Mapping):
        raise invalid_property("body", "the request body is not a JSON object")
    return body
