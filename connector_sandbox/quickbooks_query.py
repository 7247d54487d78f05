"""The subset of the QuickBooks query language the connector and the SDK send.

    select * | count(*) | *, Field from Entity
        [where F op v [and G op w ...]]   op: = != < > <= >= in (...) like
        [order by F [asc|desc]] | [orderby F ...]
        [startposition n] [maxresults m]

Strings are single-quoted; a quote inside is written '' or \\' (the SDK writes \\'). There is no
OR in QuickBooks, so there is none here. Filtering on a field the real API does not index (like
PrivateNote) is refused the way QuickBooks refuses it, so the connector cannot come to rely on it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_RESULTS = 1000
DEFAULT_RESULTS = 100


class QueryError(Exception):
    """A query QuickBooks would refuse: code 4000 (cannot parse) or 4001 (cannot run)."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Query:
    entity: str
    count: bool
    where: tuple[Condition, ...]
    order_by: str | None
    descending: bool
    start: int
    max_results: int


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^'\\]|\\.|'')*')
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<op><>|!=|<=|>=|=|<|>)
      | (?P<punct>[(),*])
      | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)


def _tokens(text: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    pos, text = 0, text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise QueryError("4000", f'QueryParserError: Encountered "{text[pos : pos + 10]}"')
        pos = m.end()
        kind = m.lastgroup or ""
        raw = m.group(kind)
        if kind == "string":
            out.append(("value", _unquote(raw)))
        elif kind == "number":
            out.append(("value", Decimal(raw)))
        elif kind == "word" and raw.lower() in ("true", "false"):
            out.append(("value", raw.lower() == "true"))
        else:
            out.append((kind, raw))
    return out


def _unquote(raw: str) -> str:
    body = raw[1:-1]
    return re.sub(r"''|\\(.)", lambda m: m.group(1) if m.group(1) is not None else "'", body)


class _Parser:
    def __init__(self, text: str):
        self.toks = _tokens(text)
        self.i = 0

    def peek_word(self) -> str | None:
        if self.i < len(self.toks) and self.toks[self.i][0] == "word":
            return str(self.toks[self.i][1]).lower()
        return None

    def take(self, kind: str, value: str | None = None) -> Any:
        if self.i >= len(self.toks):
            raise QueryError("4000", "QueryParserError: Encountered <EOF>")
        tok_kind, tok = self.toks[self.i]
        matches = tok_kind == kind and (value is None or str(tok).lower() == value)
        if not matches:
            raise QueryError("4000", f'QueryParserError: Encountered "{tok}"')
        self.i += 1
        return tok

    def maybe(self, kind: str, value: str) -> bool:
        if self.i < len(self.toks):
            tok_kind, tok = self.toks[self.i]
            if tok_kind == kind and str(tok).lower() == value:
                self.i += 1
                return True
        return False


def parse(text: str) -> Query:
    p = _Parser(text)
    p.take("word", "select")
    count = False
    if p.maybe("word", "count"):
        p.take("punct", "(")
        p.take("punct", "*")
        p.take("punct", ")")
        count = True
    else:
        p.take("punct", "*")
        while p.maybe("punct", ","):  # extra fields (the SDK asks for "*, Sku"): all are returned
            p.take("word")
    p.take("word", "from")
    entity = str(p.take("word"))
    where: list[Condition] = []
    if p.maybe("word", "where"):
        where.append(_condition(p))
        while p.maybe("word", "and"):
            where.append(_condition(p))
        if p.peek_word() == "or":
            raise QueryError("4000", 'QueryParserError: Encountered " "OR" "or ""')
    order_by, descending = None, False
    if p.maybe("word", "orderby") or (p.maybe("word", "order") and p.take("word", "by")):
        order_by = str(p.take("word"))
        if p.maybe("word", "desc"):
            descending = True
        else:
            p.maybe("word", "asc")
    start, max_results = 1, DEFAULT_RESULTS
    while p.i < len(p.toks):
        word = p.peek_word()
        if word not in ("startposition", "maxresults"):
            raise QueryError("4000", f'QueryParserError: Encountered "{p.toks[p.i][1]}"')
        p.i += 1
        number = p.take("value")
        if not isinstance(number, Decimal) or number != number.to_integral_value():
            raise QueryError("4000", f'QueryParserError: Encountered "{number}"')
        if word == "startposition":
            start = max(1, int(number))
        else:
            max_results = int(number)
    if max_results > MAX_RESULTS:
        raise QueryError(
            "4001",
            f"QueryValidationError: value {max_results} is too large. "
            f"Max allowed value is {MAX_RESULTS}",
        )
    return Query(entity, count, tuple(where), order_by, descending, start, max_results)


def _condition(p: _Parser) -> Condition:
    field = str(p.take("word"))
    word = p.peek_word()
    if word == "in":
        p.i += 1
        p.take("punct", "(")
        values = [p.take("value")]
        while p.maybe("punct", ","):
            values.append(p.take("value"))
        p.take("punct", ")")
        return Condition(field, "in", tuple(values))
    if word == "like":
        p.i += 1
        return Condition(field, "like", (p.take("value"),))
    op = str(p.take("op"))
    return Condition(field, "!=" if op == "<>" else op, (p.take("value"),))


# --- running a query --------------------------------------------------------------------------


def run(
    query: Query, rows: Iterable[Mapping[str, Any]], filterable: Iterable[str]
) -> tuple[list[Mapping[str, Any]], int]:
    """The page of matching rows and the total count. Rows come sorted by Id."""
    allowed = {f.lower(): f for f in filterable}
    for cond in query.where:
        if cond.field.lower() not in allowed:
            raise QueryError(
                "4001", f"QueryValidationError: property '{cond.field}' is not queryable"
            )
    matched = [row for row in rows if all(_test(row, c) for c in query.where)]
    if query.order_by:
        key_field = query.order_by
        present = [r for r in matched if _lookup(r, key_field) is not None]
        absent = [r for r in matched if _lookup(r, key_field) is None]
        present.sort(key=lambda r: _sort_key(_lookup(r, key_field)), reverse=query.descending)
        matched = present + absent
    page = matched[query.start - 1 : query.start - 1 + query.max_results]
    return page, len(matched)


def _lookup(row: Mapping[str, Any], path: str) -> Any:
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        key = next((k for k in value if k.lower() == part.lower()), None)
        if key is None:
            return None
        value = value[key]
    if isinstance(value, Mapping) and "value" in value:  # CustomerRef = '5'
        return value["value"]
    return value


def _sort_key(value: Any) -> tuple[int, Any]:
    number = _number(value)
    return (0, number) if number is not None else (1, str(value))


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal | int):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value) if re.fullmatch(r"-?\d+(\.\d+)?", value) else None
        except InvalidOperation:
            return None
    return None


def _compare(actual: Any, expected: Any) -> int | None:
    if actual is None:
        return None
    if isinstance(actual, bool) or isinstance(expected, bool):
        wanted = expected if isinstance(expected, bool) else str(expected).lower() == "true"
        return 0 if bool(actual) == wanted else 1
    if isinstance(actual, Decimal | int):  # amounts compare as numbers; ids and DocNumbers as text
        e = _number(expected)
        if e is None:
            return None
        return (actual > e) - (actual < e)
    then, when = _moment(actual), _moment(expected)
    if then is not None and when is not None:  # MetaData times with offsets
        return (then > when) - (then < when)
    sa, se = str(actual), str(expected)
    return (sa > se) - (sa < se)


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def _test(row: Mapping[str, Any], cond: Condition) -> bool:
    actual = _lookup(row, cond.field)
    if cond.op == "in":
        return any(_compare(actual, v) == 0 for v in cond.values)
    if cond.op == "like":
        if actual is None:
            return False
        pattern = "".join(".*" if ch == "%" else re.escape(ch) for ch in str(cond.values[0]))
        return re.fullmatch(pattern, str(actual), re.IGNORECASE | re.DOTALL) is not None
    c = _compare(actual, cond.values[0])
    if c is None:
        return False
    return {
        "=": c == 0,
        "!=": c != 0,
        "<": c < 0,
        ">": c > 0,
        "<=": c <= 0,
        ">=": c >= 0,
    }[cond.op]
