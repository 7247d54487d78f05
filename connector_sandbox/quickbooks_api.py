"""The QuickBooks data service behind the gateway: /v3/company/<realm>/<resource>[/<id>].

By here the bearer token and the rate limits have been checked (see `quickbooks`). What is left
is what the data service does: minorversion, the `requestid` replay, and the operations
(entity create/read/update/void/delete, query, batch, cdc, preferences, companyinfo). Every
data error becomes the capital `Fault` envelope.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from connector_sandbox.quickbooks_company import ENTITIES, RESOURCES, Company
from connector_sandbox.quickbooks_entities import reject_unknown
from connector_sandbox.quickbooks_faults import QboFault, invalid_property, required, text
from connector_sandbox.server import Request, Response

MIN_MINOR_VERSION = 75
BATCH_MAX_ITEMS = 30
CDC_MAX_OBJECTS = 1000
CDC_LOOKBACK = timedelta(days=30)


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


def _operation(
    company: Company, request: Request, rest: list[str], now: datetime
) -> dict[str, Any]:
    resource = rest[0].lower() if rest else ""
    get, post = request.method == "GET", request.method == "POST"
    if resource == "query" and (get or post):
        statement = request.param("query") or request.body.decode()
        return {"QueryResponse": company.query(statement)}
    if resource == "batch" and post:
        return {"BatchItemResponse": _batch(company, _json_object(request))}
    if resource == "cdc" and get:
        found = _cdc(company, request.param("entities"), request.param("changedSince"), now)
        return {"CDCResponse": [{"QueryResponse": found}]}
    if resource == "preferences" and get:
        return {"Preferences": _preferences(company)}
    if resource == "companyinfo" and get:
        info = {"domain": "QBO", "Id": "1", "CompanyName": company.settings.company_name}
        return {"CompanyInfo": info}
    entity = RESOURCES.get(resource)
    if entity is not None and get and len(rest) == 2:
        return {entity: company.read(entity, rest[1])}
    if entity is not None and post and len(rest) == 1:
        body = _json_object(request)
        operation, include = request.param("operation"), request.param("include")
        return {entity: write(company, entity, operation, body, include)}
    raise reject_unknown(f"{request.method} {'/'.join(rest)}")


def write(
    company: Company,
    entity: str,
    operation: str | None,
    body: Mapping[str, Any],
    include: str | None = None,
) -> dict[str, Any]:
    """Create or update (by whether an Id is sent), delete or void. The SDK voids a Payment
    with operation=update&include=void and an Invoice with operation=void."""
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
    """At most 30 days back and 1,000 objects in all; one QueryResponse per entity asked."""
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
        if entity is None:
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


def _preferences(company: Company) -> dict[str, Any]:
    s = company.settings
    return {
        "domain": "QBO",
        "Id": "1",
        "SyncToken": "0",
        "SalesFormsPrefs": {"CustomTxnNumbers": s.custom_txn_numbers},
        "CurrencyPrefs": {
            "MultiCurrencyEnabled": s.multicurrency,
            "HomeCurrency": {"value": s.currency},
        },
    }


def _json_object(request: Request) -> Mapping[str, Any]:
    try:
        body = request.json()
    except ValueError:
        raise invalid_property("body", "the request body is not JSON") from None
    if not isinstance(body, Mapping):
        raise invalid_property("body", "the request body is not a JSON object")
    return body
