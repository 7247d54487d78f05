"""Turn pydantic's errors into one line each: the key path, what is expected, what was found."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Sequence
from datetime import date
from typing import Any

from pydantic import BaseModel, BeforeValidator, ValidationError

SECRET_KEY = re.compile(
    r"(token|secret|password|passwd|api[_-]?key|private[_-]?key|credential)", re.IGNORECASE
)


def key_path(loc: Sequence[str | int]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _model_at(model: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class that owns the last key of `loc`, to list the keys it accepts."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = _unwrap(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    while True:
        args = typing.get_args(annotation)
        origin = typing.get_origin(annotation)
        if origin in (list, tuple, typing.Union, types.UnionType):
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            if models:
                annotation = models[0]
                continue
            return None
        return annotation


def describe(error: dict[str, Any], model: type[BaseModel]) -> str:
    loc = error["loc"]
    kind = error["type"]
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        owner = _model_at(model, loc[:-1])
        allowed = f"; expected one of: {', '.join(owner.model_fields)}" if owner else ""
        return f"unknown key{allowed}"
    message = error["msg"].removeprefix("Value error, ")
    if "input" in error and kind not in ("value_error",):
        message += f", got {error['input']!r}"
    return message


def problems_from(exc: ValidationError, model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for error in exc.errors():
        path = key_path(error["loc"])
        full = f"{prefix}.{path}" if prefix and path else (prefix or path)
        out.append(f"{full}: {describe(error, model)}")
    return out


def secret_keys(data: Any, path: str = "") -> list[str]:
    """Key paths that look like credentials, which never belong in a config file."""
    found = []
    if isinstance(data, dict):
        for key, value in data.items():
            here = f"{path}.{key}" if path else key
            # An endpoint address (token_url) names where a secret goes, not the secret.
            if SECRET_KEY.search(key) and not key.endswith("_url"):
                found.append(here)
            found += secret_keys(value, here)
    elif isinstance(data, list):
        for i, item in enumerate(data):
            found += secret_keys(item, f"{path}[{i}]")
    return found


def _date_not_number(value: Any) -> Any:
    if isinstance(value, int | float):
        raise ValueError(f"expected a date like 2026-09-20, got {value!r}")
    return value


IsoDate = typing.Annotated[date, BeforeValidator(_date_not_number)]
