"""Failures of Xero's own making, on top of the shared ones (`faults.FaultInjector`: latency,
gateway 5xx and 429 storms, lost responses):

- `omit_elements`: a batch answer leaves out one element (the write happened);
- `reorder_elements`: a batch answer lists its elements in another order than sent;
- `server_error`: a write is answered 500 from inside the API, after it was (or was not)
  applied, and because it carries an Idempotency-Key the 500 is what that key replays for the
  next 6 minutes, as Xero documents;
- `odd_field`: an answer carries a field in a form its schema does not allow, as Xero's own
  example for GET /Payments does (xero_accounting.yaml: `BatchPayment.IsReconciled: "false"`, a
  string where the schema says boolean, which xero-python refuses with ValueError). Such an
  answer breaks the OpenAPI description on purpose; a test using it takes that violation.

Rules match `METHOD /path` by regex and disarm after `count` requests, like the shared ones.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from connector_sandbox.faults import FaultInjector
from connector_sandbox.server import Request, Response, loads
from connector_sandbox.xero_identity import problem

OMIT, REORDER, SERVER_ERROR, ODD = "omit", "reorder", "server_error", "odd_field"
ELEMENTS = (
    "Invoices",
    "CreditNotes",
    "Contacts",
    "Payments",
    "Allocations",
    "TaxRates",
    "TrackingCategories",
)


@dataclass
class _Rule:
    kind: str
    remaining: int
    match: re.Pattern[str] | None
    index: int | None = 0  # OMIT: which element is left out; ODD: which is changed (None: all)
    applied: bool = True  # SERVER_ERROR: the write happened before the 500
    field: str = ""  # ODD: the (dotted) field set to `value`
    value: Any = None

    def fires(self, request: Request) -> bool:
        return self.remaining > 0 and (self.match is None or bool(self.match.search(request.line)))


class XeroFaults(FaultInjector):
    def __init__(self) -> None:
        super().__init__()
        self._xero_lock = threading.Lock()
        self._xero_rules: list[_Rule] = []

    def omit_elements(self, count: int = 1, match: str | None = None, index: int = 0) -> None:
        """The next `count` matching batch answers leave out element `index` (0-based)."""
        self._arm(_Rule(OMIT, count, _pattern(match), index=index))

    def reorder_elements(self, count: int = 1, match: str | None = None) -> None:
        """The next `count` matching batch answers list their elements in reverse order."""
        self._arm(_Rule(REORDER, count, _pattern(match)))

    def server_error(self, count: int = 1, match: str | None = None, applied: bool = True) -> None:
        """The next `count` matching requests get a 500 from inside the API, after being
        applied (or not); a write's Idempotency-Key keeps replaying that 500."""
        self._arm(_Rule(SERVER_ERROR, count, _pattern(match), applied=applied))

    def odd_field(
        self,
        field: str,
        value: Any,
        count: int = 1,
        match: str | None = None,
        index: int | None = 0,
    ) -> None:
        """The next `count` matching list answers carry `field` (dotted for a nested one, e.g.
        "BatchPayment.IsReconciled") set to `value` in element `index` (None: every one)."""
        self._arm(_Rule(ODD, count, _pattern(match), index=index, field=field, value=value))

    def clear(self) -> None:
        super().clear()
        with self._xero_lock:
            self._xero_rules.clear()

    def snapshot(self) -> dict[str, Any]:
        out = super().snapshot()
        with self._xero_lock:
            out["rules"] += [
                {"kind": r.kind, "remaining": r.remaining, "match": r.match and r.match.pattern}
                for r in self._xero_rules
                if r.remaining > 0
            ]
        return out

    def configure(self, spec: Mapping[str, Any]) -> None:
        """The shared faults, plus `omit`, `reorder` and `server_error` (admin HTTP API)."""
        super().configure(spec)
        if (rule := spec.get("omit")) is not None:
            self.omit_elements(
                int(rule.get("count", 1)), rule.get("match"), int(rule.get("index", 0))
            )
        if (rule := spec.get("reorder")) is not None:
            self.reorder_elements(int(rule.get("count", 1)), rule.get("match"))
        if (rule := spec.get("server_error")) is not None:
            applied = bool(rule.get("applied", True))
            self.server_error(int(rule.get("count", 1)), rule.get("match"), applied)
        if (rule := spec.get("odd_field")) is not None:
            self.odd_field(
                str(rule["field"]),
                rule.get("value"),
                int(rule.get("count", 1)),
                rule.get("match"),
                rule.get("index", 0),
            )

    def server_error_instead(
        self, request: Request, run: Callable[[], Response]
    ) -> Response | None:
        """A 500 in place of the answer when a rule fires (after `run()` when it applies)."""
        rule = self._fire(request, (SERVER_ERROR,))
        if rule is None:
            return None
        if rule.applied:
            run()
        return problem(500, "Internal Server Error", "An error occurred in Xero.")

    def shape(self, request: Request, response: Response) -> Response:
        """The answer with an element left out or the order changed, when a rule fires."""
        if response.status != 200:
            return response
        rule = self._fire(request, (OMIT, REORDER, ODD))
        if rule is None:
            return response
        body = loads(response.body)
        key = next((k for k in ELEMENTS if isinstance(body.get(k), list)), None)
        if key is None:
            return response
        if rule.kind == OMIT:
            body[key] = [e for n, e in enumerate(body[key]) if n != rule.index]
        elif rule.kind == ODD:
            for n, element in enumerate(body[key]):
                if rule.index is None or n == rule.index:
                    _set(element, rule.field, rule.value)
        else:
            body[key] = list(reversed(body[key]))
        return Response.json(200, body, dict(response.headers))

    def _arm(self, rule: _Rule) -> None:
        if rule.remaining < 1:
            raise ValueError("count must be at least 1")
        with self._xero_lock:
            self._xero_rules.append(rule)

    def _fire(self, request: Request, kinds: tuple[str, ...]) -> _Rule | None:
        with self._xero_lock:
            for rule in self._xero_rules:
                if rule.kind in kinds and rule.fires(request):
                    rule.remaining -= 1
                    return rule
        return None


def _set(element: dict[str, Any], field: str, value: Any) -> None:
    *parents, last = field.split(".")
    for name in parents:
        element = element.setdefault(name, {})
    element[last] = value


def _pattern(match: str | None) -> re.Pattern[str] | None:
    return re.compile(match) if match else None
