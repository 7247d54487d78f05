"""The Accounting API's answers that every route shares: the response envelope, Xero's 400
ValidationException and PostDataInvalidException bodies (shapes: xero_accounting.yaml, Error and
its examples) and its 404."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from connector_sandbox.server import Response
from connector_sandbox.xero_dates import ms_datetime


class ApiError(Exception):
    def __init__(self, response: Response):
        super().__init__(response.status)
        self.response = response


def validation(elements: list[dict[str, Any]], message: str = "") -> Response:
    """Xero's 400 body for data it refuses."""
    body: dict[str, Any] = {
        "ErrorNumber": 10,
        "Type": "ValidationException",
        "Message": message or "A validation exception occurred",
    }
    if elements:
        body["Elements"] = elements
    return Response.json(400, body)


def not_found() -> Response:
    return Response.json(
        404,
        {
            "Type": None,
            "Title": "NotFound",
            "Status": 404,
            "Detail": "The resource you're looking for cannot be found",
        },
    )


def bad_request(message: str) -> Response:
    return Response.json(
        400, {"ErrorNumber": 14, "Type": "PostDataInvalidException", "Message": message}
    )


def envelope(now: datetime, key: str, items: list[Any], extra: dict[str, Any] | None = None) -> Any:
    return {
        "Id": str(uuid.uuid4()),
        "Status": "OK",
        "ProviderName": "milestone-connector sandbox",
        "DateTimeUTC": ms_datetime(now),
        **(extra or {}),
        key: items,
    }
