"""Turn pydantic's errors into one line each: the key path, what is expected, what was found."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Sequence
from datetime import date
from typing import Any

from pydantic import BaseModel, BeforeValidator, ValidationError
from pydantic_core import ErrorDetails

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


def describe(error: ErrorDetails, model: type[BaseModel]) -> str:
    loc = error["loc"]
    kind = error["type"]
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        owner = _model_at(model, loc[:-1])
        keys = [f.alias or name for name, f in owner.model_fields.items()] if owner else []
        allowed = f"; expected one of: {', '.join(keys)}" if owner else ""
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


# Characters refused in names and ids that reach a ledger: C0 and C1 controls (NUL, BEL, ESC,
# line breaks, DEL) and the bidirectional embeddings, overrides and isolates, which make text
# read differently from what it holds (U+202E turns "Acme" into a name that displays as "emcA").
_BIDI = frozenset([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])
_CONTROL_NAMES = {
    0x00: "NUL",
    0x07: "BEL",
    0x08: "backspace",
    0x09: "tab",
    0x0A: "line break",
    0x0D: "carriage return",
    0x1B: "ESC",
    0x7F: "DEL",
}


def unsafe_character(text: str, *, allow_tab: bool = False) -> str | None:
    """Why `text` cannot be sent to a ledger as it is, or None. The reason names the character
    by its code point and position, never by printing it (an ESC would reach the terminal)."""
    for position, char in enumerate(text, 1):
        code = ord(char)
        if char == "\t" and allow_tab:
            continue
        if code < 0x20 or 0x7F <= code <= 0x9F:
            name = _CONTROL_NAMES.get(code, "a control character")
            return f"holds U+{code:04X} ({name}) at character {position}; remove it"
        if code in _BIDI:
            return (
                f"holds U+{code:04X} (an invisible text-direction control) at character "
                f"{position}, which makes the text display differently from what it is; remove it"
            )
    return None


def safe_text(value: str) -> str:
    """A pydantic validator: refuse the characters `unsafe_character` names."""
    reason = unsafe_character(value)
    if reason:
        raise ValueError(reason)
    return value


def safe_optional_text(value: str | None) -> str | None:
    """`safe_text` for a key that may be left out."""
    return None if value is None else safe_text(value)


def printable(text: str) -> str:
    """`text` with every character `unsafe_character` refuses written as its code point
    (U+001B), so an id that holds one can be shown on a terminal or a page without acting."""
    if unsafe_character(text) is None:
        return text
    return "".join(f"<U+{ord(c):04X}>" if unsafe_character(c) is not None else c for c in text)
