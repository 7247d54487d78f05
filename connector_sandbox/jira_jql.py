"""The slice of JQL the Jira sandbox understands: clauses joined by AND, each
`field op value` with op one of = != > >= < <= (parentheses only group), then
`ORDER BY updated ASC`.

Enough for what the Jira source sends (`(<the configured JQL>) AND updated >= "2026-09-20 10:00"
ORDER BY updated ASC`); anything else is a 400 naming what it could not read, as Jira does.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

_ORDER = re.compile(r"\s+ORDER\s+BY\s+(\w+)(?:\s+(ASC|DESC))?\s*$", re.IGNORECASE)
_CLAUSE = re.compile(r"^\s*(\w+)\s*(>=|<=|!=|=|>|<)\s*(.+?)\s*$")
FIELDS = ("project", "issuetype", "type", "status", "updated", "key")


class JqlError(ValueError):
    pass


@dataclass(frozen=True)
class Query:
    match: Callable[[dict[str, Any]], bool]
    order: str
    descending: bool


def _split_and(text: str) -> list[str]:
    lexer = shlex.shlex(text, posix=False)
    lexer.whitespace_split = True
    lexer.commenters = ""
    parts: list[str] = []
    current: list[str] = []
    for token in lexer:
        if token.upper() == "AND":
            parts.append(" ".join(current))
            current = []
        else:
            current.append(token)
    parts.append(" ".join(current))
    return parts


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _when(value: str, zone: str) -> datetime:
    for fmt in ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=ZoneInfo(zone))
        except ValueError:
            continue
    raise JqlError(
        f"Date value '{value}' for field 'updated' is invalid. Valid formats include: "
        "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd'"
    )


def parse(jql: str, zone: str) -> Query:
    """Dates in JQL are read in the searching user's time zone, to the minute."""
    text = jql.strip()
    order, descending = "key", False
    found = _ORDER.search(text)
    if found:
        order, descending = found.group(1).lower(), (found.group(2) or "").upper() == "DESC"
        text = text[: found.start()]
    text = text.replace("(", " ").replace(")", " ")
    tests: list[Callable[[dict[str, Any]], bool]] = []
    for clause in _split_and(text) if text.strip() else []:
        m = _CLAUSE.match(clause)
        if m is None:
            raise JqlError(f"Error in the JQL Query: cannot read {clause.strip()!r}")
        name, op, raw = m.group(1).lower(), m.group(2).lower(), m.group(3)
        if name not in FIELDS:
            raise JqlError(
                f"Field '{name}' does not exist or you do not have permission to view it."
            )
        name = "issuetype" if name == "type" else name
        if name == "updated":
            tests.append(_compare(name, op, _when(_unquote(raw), zone)))
        else:
            tests.append(_compare(name, op, _unquote(raw).lower()))
    return Query(lambda issue: all(t(issue) for t in tests), order, descending)


def _compare(name: str, op: str, value: Any) -> Callable[[dict[str, Any]], bool]:
    def get(issue: dict[str, Any]) -> Any:
        v = issue[name]
        return v if isinstance(v, datetime) else str(v).lower()

    ops: dict[str, Callable[[Any, Any], bool]] = {
        "=": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
    }
    return lambda issue: ops[op](get(issue), value)
