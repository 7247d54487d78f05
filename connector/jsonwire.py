"""JSON with Decimal money, both ways, for anything that writes or reads a vendor's JSON body
(the Xero adapter's request bodies, the sandboxes' answers).

`loads` reads every non-integer number as Decimal; `dumps` writes a Decimal as the number it is
(`format(d, "f")`: never quoted, never through a float). A float anywhere is refused, because in
this program it can only be a bug: money is never a float, and nothing else needs one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

__all__ = ["dumps", "loads"]


def loads(text: str | bytes) -> Any:
    """JSON with every non-integer number as Decimal, so no amount ever passes through a float."""
    return json.loads(text, parse_float=Decimal)


def dumps(value: Any) -> str:
    """JSON in which a Decimal is written exactly. Mappings, lists, tuples, str, int, bool and
    None only: anything else (a float, a date) is a TypeError, never a silent conversion."""
    parts: list[str] = []
    _encode(value, parts)
    return "".join(parts)


def _encode(value: Any, out: list[str]) -> None:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a JSON number: {value}")
        out.append(format(value, "f"))
    elif isinstance(value, float):
        raise TypeError("a float in JSON: build amounts as Decimal")
    elif value is None or isinstance(value, bool | int | str):
        out.append(json.dumps(value))
    elif isinstance(value, Mapping):
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            if i:
                out.append(",")
            out.append(json.dumps(str(key)))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as JSON")
