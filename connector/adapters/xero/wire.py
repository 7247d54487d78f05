"""xero-python's HTTP client, with request bodies written from Decimal, never through float.

The SDK serialises every `float`-typed model field (all money) with `float(value)` before
`json.dumps`. This module keeps the SDK for everything else (URLs, headers, token refresh,
response models, errors) and changes one thing: a model body is turned into JSON here, with each
Decimal written as the number it is, and handed to the transport already encoded. Responses are
unaffected by that: the SDK already parses them with `parse_float=Decimal`. Responses are read one
document at a time instead (`lenient`), so that a field the SDK does not expect costs that
document, not the whole answer; the documents left out wait in `unreadable` for the caller.

urllib3 retries only connections that were never made; a request that may have reached Xero
is retried, if at all, by the session with the same Idempotency-Key.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from typing import Any
from urllib.parse import urlencode

import certifi
import urllib3
from xero_python import rest
from xero_python.api_client import ApiClient
from xero_python.api_client.serializer import serialize
from xero_python.exceptions import HTTPStatusException
from xero_python.models import BaseModel

from connector.adapters.xero.lenient import Unreadable, UnreadableAnswer, read_answer
from connector.jsonwire import dumps, loads

_LIST = re.compile(r"^list\[(.*)\]$")


class EncodedJson:
    """A request body already written as JSON text."""

    def __init__(self, text: str):
        self.text = text


# The SDK serialises a body before sending it; this type passes through unchanged. Additive:
# no existing serialisation is altered.
serialize.register("EncodedJson", lambda value, explicit_type=None: value)


def to_plain(value: Any, explicit_type: str | None = None) -> Any:
    """A model as JSON-ready data, Decimals kept as Decimals."""
    if isinstance(value, Decimal | str | bool | int):
        return value
    if isinstance(value, float):
        raise TypeError("a float in a Xero request body: build amounts as Decimal")
    if isinstance(value, BaseModel):
        defaults = _defaults(value.__class__)
        return {
            value.attribute_map[name]: to_plain(getattr(value, name), kind)
            for name, kind in value.openapi_types.items()
            if getattr(value, name) is not None
            and not (name in defaults and getattr(value, name) == defaults[name])
        }
    if isinstance(value, list | tuple):
        match = _LIST.match(explicit_type or "")
        inner = match.group(1) if match else None
        return [to_plain(v, inner) for v in value]
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, Enum):
        return value.value
    return serialize(value, explicit_type) if explicit_type else serialize(value)


@functools.cache
def _defaults(model: type) -> dict[str, Any]:
    """Constructor defaults other than None (the SDK fills in read-only flags such as
    `HasAttachments=False`, which Xero's spec forbids in requests): left out unless set."""
    return {
        name: p.default
        for name, p in inspect.signature(model).parameters.items()
        if p.default is not inspect.Parameter.empty and p.default is not None
    }


class DecimalRestClient(rest.RESTClientObject):
    """The SDK's transport, sending pre-encoded JSON bodies as they are."""

    def __init__(self, configuration: Any, timeout: urllib3.Timeout):
        super().__init__(configuration)
        self.pool_manager = urllib3.PoolManager(
            num_pools=4,
            maxsize=4,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
            timeout=timeout,
            # connection failures only; 429 and 5xx are the session's to handle
            retries=urllib3.Retry(
                total=2,
                connect=2,
                read=0,
                status=0,
                other=0,
                redirect=0,
                respect_retry_after_header=False,
            ),
        )

    def request(
        self,
        method: str,
        url: str,
        query_params: Any = None,
        headers: Any = None,
        body: Any = None,
        post_params: Any = None,
        _preload_content: bool = True,
        _request_timeout: Any = None,
    ) -> Any:
        if not isinstance(body, EncodedJson):
            return super().request(
                method,
                url,
                query_params=query_params,
                headers=headers,
                body=body,
                post_params=post_params,
                _preload_content=_preload_content,
                _request_timeout=_request_timeout,
            )
        if query_params:
            url += "?" + urlencode(query_params)
        answer = self.pool_manager.request(
            method, url, body=body.text.encode(), headers=headers, preload_content=True
        )
        if not 200 <= answer.status <= 299:
            raise HTTPStatusException(http_resp=rest.RESTResponse(answer))
        return rest.RESTResponse(answer)


class DecimalApiClient(ApiClient):
    """An ApiClient whose model bodies are encoded by `to_plain` and `dumps`."""

    def __init__(self, *args: Any, timeout: urllib3.Timeout, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.rest_client = DecimalRestClient(self.configuration, timeout)
        self.unreadable: list[Unreadable] = []  # documents left out of answers, until taken

    def deserialize(self, response: Any, response_type: Any, response_model_finder: Any) -> Any:
        """The answer's models, read document by document (`lenient.read_answer`)."""
        if response_type in (None, "file"):
            return super().deserialize(response, response_type, response_model_finder)
        try:
            data = loads(response.data or b"null")
        except ValueError:
            raise UnreadableAnswer("Xero's answer is not JSON") from None
        return read_answer(response_type, data, response_model_finder, self.unreadable)

    def call_api(self, *args: Any, **kwargs: Any) -> Any:
        body = kwargs.get("body")
        if isinstance(body, BaseModel):
            kwargs["body"] = EncodedJson(dumps(to_plain(body)))
        return super().call_api(*args, **kwargs)
