"""Xero's `where` filter: the small C#-like expression language of the Accounting API.

    Status=="AUTHORISED" AND (AmountPaid>0 OR Reference=="MC-1")
    Contact.ContactID==Guid("...")   Name.StartsWith("Acme")   Date>=DateTime(2026, 11, 1)

Only what the connector and its tests use is understood; anything else is a 400 with the
parser's message, never a silently wrong filter. String equality ignores case, as Xero's does
(its filters run against a case-insensitive database collation; unverified in the docs).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>"(?:[^"\\]|\\.)*")
      | (?P<num>-?\d+(?:\.\d+)?)
      | (?P<op>==|!=|>=|<=|>|<|&&|\|\||\(|\)|,|\.)
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)

Predicate = Callable[[Mapping[str, Any]], bool]


class WhereError(ValueError):
    """The filter could not be parsed: Xero answers such a request with 400."""


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise WhereError(f"cannot parse the where filter near {text[pos : pos + 20]!r}")
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "word" and value.upper() in ("AND", "OR", "NOT"):
            kind, value = "op", value.upper()
        out.append((kind, value))
        pos = m.end()
    return out


def _unquote(token: str) -> str:
    return re.sub(r"\\(.)", r"\1", token[1:-1])


def lookup(record: Mapping[str, Any], path: list[str]) -> Any:
    value: Any = record
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return value.casefold()
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | Decimal):
        return Decimal(value)
    return value


def _compare(left: Any, op: str, right: Any) -> bool:
    if isinstance(left, datetime) and isinstance(right, date) and not isinstance(right, datetime):
        left = left.date()
    left, right = _norm(left), _norm(right)
    if op == "==":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if left is None or right is None:
        return False
    try:
        return {
            ">": left > right,
            "<": left < right,
            ">=": left >= right,
            "<=": left <= right,
        }[op]
    except TypeError:
        return False


class _Parser:
    def __init__(self, text: str):
        self.tokens = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise WhereError(f"where filter: expected {value or 'more'} at token {self.i}")
        self.i += 1
        return token

    def parse(self) -> Predicate:
        pred = self.or_()
        if self.peek() is not None:
            raise WhereError(f"where filter: unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return pred

    def or_(self) -> Predicate:
        parts = [self.and_()]
        while self.peek() in (("op", "OR"), ("op", "||")):
            self.take()
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else (lambda r: any(p(r) for p in parts))

    def and_(self) -> Predicate:
        parts = [self.unary()]
        while self.peek() in (("op", "AND"), ("op", "&&")):
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else (lambda r: all(p(r) for p in parts))

    def unary(self) -> Predicate:
        if self.peek() == ("op", "NOT"):
            self.take()
            inner = self.unary()
            return lambda r: not inner(r)
        if self.peek() == ("op", "("):
            self.take()
            inner = self.or_()
            self.take(")")
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        kind, word = self.take()
        if kind != "word":
            raise WhereError(f"where filter: expected a field name, got {word!r}")
        path = [word]
        while self.peek() == ("op", "."):
            self.take()
            path.append(self.take()[1])
        method = path[-1]
        if method in ("StartsWith", "EndsWith", "Contains") and self.peek() == ("op", "("):
            self.take("(")
            arg = self.value()
            self.take(")")
            field, needle = path[:-1], str(arg).casefold()
            check = {
                "StartsWith": str.startswith,
                "EndsWith": str.endswith,
                "Contains": str.__contains__,
            }[method]
            return lambda r: isinstance(v := lookup(r, field), str) and check(v.casefold(), needle)
        op = self.take()[1]
        if op not in ("==", "!=", ">", "<", ">=", "<="):
            raise WhereError(f"where filter: expected a comparison after {'.'.join(path)}")
        right = self.value()
        return lambda r: _compare(lookup(r, path), op, right)

    def value(self) -> Any:
        kind, token = self.take()
        if kind == "str":
            return _unquote(token)
        if kind == "num":
            return Decimal(token)
        if kind == "word":
            if token in ("true", "false"):
                return token == "true"
            if token == "null":
                return None
            if token in ("Guid", "DateTime"):
                self.take("(")
                args = [self.value()]
                while self.peek() == ("op", ","):
                    self.take()
                    args.append(self.value())
                self.take(")")
                if token == "Guid":
                    return str(args[0])
                return date(*(int(a) for a in args[:3]))
        raise WhereError(f"where filter: unexpected value {token!r}")


def compile_where(text: str | None) -> Predicate:
    """A predicate over a record in Xero's JSON field names; an empty filter matches all."""
    if not text or not text.strip():
        return lambda r: True
    return _Parser(text).parse()


def quote(value: str) -> str:
    """A string literal for a where filter."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
