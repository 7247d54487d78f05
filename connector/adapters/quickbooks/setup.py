"""The company's setup, read as one /batch of queries and kept per company in the process.

CompanyInfo, Preferences, the TaxCode, Class, Department and CompanyCurrency lists and the
invoice lines' item can each be read with a query (`select * from CompanyInfo`, `... from
Preferences`: Intuit's entity references give a query for each), and /batch takes query items,
up to 30 to a call (ledger-apis.md, section 4). So everything a run needs of the setup costs one
call, together with whatever else is asked then (the night's customers, `customers`). All the
lists are read, needed or not: they come in the same call, and a run never asks for one later.

A part read whole is kept for this company (API address and realm) for `SETUP_LIFETIME`, so
that a daemon syncing many businesses of one company, or syncing one again soon, reads it once:
long enough for a night's businesses of one company, short enough that a company set up anew in
the morning (a tax code added after a held contract) is read afresh by the next night. So is a
query QuickBooks refused (a list the company cannot be asked for): its refusal is the answer,
raised where the part is needed. A part that failed for a reason that may pass (a throttled
item) is asked once more. The parts ride along with whatever else is asked: a call is sent only
for something needed now. A lone query goes to the query endpoint, not to /batch (which has a
lower rate limit of its own). Reads only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from connector.adapters.cache import TimedCache
from connector.adapters.quickbooks.faults import classify_fault
from connector.adapters.quickbooks.reads import PAGE, query_all
from connector.adapters.quickbooks.session import QuickBooksSession, escape
from connector.errors import RetriableLedgerError, SkippableLedgerError

SETUP_LIFETIME = timedelta(minutes=30)
BATCH_MAX = 30  # QuickBooks' /batch limit (ledger-apis.md, section 4)
LISTS = ("TaxCode", "Class", "Department", "CompanyCurrency")
RECORDS = ("CompanyInfo", "Preferences")

Rows = tuple[Mapping[str, Any], ...]
Answer = list[Mapping[str, Any]] | Exception  # a query item's rows, or its own error
_KEPT: TimedCache[tuple[str, str, str], Rows] = TimedCache(SETUP_LIFETIME, most=5000)
_REFUSED: TimedCache[tuple[str, str, str], str] = TimedCache(SETUP_LIFETIME, most=5000)


@dataclass(frozen=True, slots=True)
class Ask:
    """One query item of a batch: its bId, the entity it answers with, the statement."""

    bid: str
    entity: str
    query: str


def item_part(name: str) -> str:
    return f"Item:{name}"


def _ask(bid: str, part: str) -> Ask:
    if part.startswith("Item:"):
        name = part.removeprefix("Item:")
        return Ask(bid, "Item", f"select * from Item where Name = {escape(name)}")
    if part in LISTS:
        return Ask(bid, part, f"select * from {part} STARTPOSITION 1 MAXRESULTS {PAGE}")
    return Ask(bid, part, f"select * from {part}")


class Setup:
    """What one adapter knows of its company's setup: each part from this process's copy while
    it is fresh, else from the next call this adapter sends."""

    def __init__(self, session: QuickBooksSession, item: str):
        self.session = session
        self.parts = (*RECORDS, *LISTS, item_part(item))
        self._known: dict[str, Rows] = {}
        self._refused: dict[str, str] = {}  # part -> QuickBooks' refusal, as said

    def rows(self, part: str) -> Rows:
        """The part's rows: a list whole, a record as its one row, the item as found."""
        error: Exception = RetriableLedgerError("QuickBooks did not answer a setup query")
        for _ in range(2):  # a part that failed for a passing reason is asked once more
            if part in self._known:
                return self._known[part]
            if part in self._refused:
                raise SkippableLedgerError(self._refused[part])
            error = self.read((), need=part)[1].get(part, error)
        raise error

    def read(
        self, extra: Sequence[Ask], need: str | None = None
    ) -> tuple[dict[str, Answer], dict[str, Exception]]:
        """Send `extra` and every part not known yet, 30 items to a call (the setup in the
        first); returns the extra items' answers by bId, and the parts that failed for a
        reason that may pass. With no `extra` and the part `need` known, nothing is sent."""
        pending = [p for p in self.parts if not self._from_process(p)]
        if not extra and need not in pending:
            return {}, {}
        asks = [_ask(f"s{n}", p) for n, p in enumerate(pending)]
        items = [*asks, *extra]
        answers: dict[str, Answer] = {}
        for start in range(0, len(items), BATCH_MAX):
            answers.update(self._send(items[start : start + BATCH_MAX]))
        failed: dict[str, Exception] = {}
        for ask, part in zip(asks, pending, strict=True):
            got = answers.pop(ask.bid, None)
            if got is None:
                got = RetriableLedgerError("QuickBooks returned no result for a setup query")
            if isinstance(got, SkippableLedgerError):
                self._refuse(part, str(got))
            elif isinstance(got, Exception):
                failed[part] = got
            else:
                self._keep(part, self._whole(part, got))
        return answers, failed

    def _from_process(self, part: str) -> bool:
        """Known already, or kept fresh by this process (answered or refused): not to ask."""
        if part in self._known or part in self._refused:
            return True
        key = (*self._company(), part)
        kept, refused = _KEPT.get(key), _REFUSED.get(key)
        if kept is not None:
            self._known[part] = kept
        elif refused is not None:
            self._refused[part] = refused
        return kept is not None or refused is not None

    def _company(self) -> tuple[str, str]:
        settings = self.session.settings
        return settings.api_url or settings.environment, self.session.realm()

    def _send(self, asks: Sequence[Ask]) -> dict[str, Answer]:
        """One call: the query endpoint for one query, else a /batch of them (reads: the
        session retries either as it retries any). A query refused is its own answer."""
        if len(asks) == 1:
            (ask,) = asks
            try:
                found = self.session.query(ask.query)
            except SkippableLedgerError as exc:
                return {ask.bid: exc}
            return {ask.bid: list(found.get(ask.entity, []))}
        body = json.dumps({"BatchItemRequest": [{"bId": a.bid, "Query": a.query} for a in asks]})
        answer = self.session.post("batch", body)
        entity = {a.bid: a.entity for a in asks}
        out: dict[str, Answer] = {}
        for item in answer.get("BatchItemResponse", []):
            bid = str(item.get("bId"))
            if bid not in entity:
                continue
            if "Fault" in item:
                out[bid] = classify_fault(item["Fault"])
            else:
                out[bid] = list((item.get("QueryResponse") or {}).get(entity[bid], []))
        return out

    def _whole(self, part: str, rows: list[Mapping[str, Any]]) -> Rows:
        """A list of 1,000 rows may go on: the rest is read page by page."""
        if part in LISTS and len(rows) >= PAGE:
            rows = rows + query_all(self.session, part, "", start=PAGE + 1)
        return tuple(rows)

    def _keep(self, part: str, rows: Rows) -> None:
        """Known for this run; kept for the process unless it is an item not found (a person
        about to add it should not wait for the cache)."""
        self._known[part] = rows
        if rows or not part.startswith("Item:"):
            _KEPT.put((*self._company(), part), rows)

    def _refuse(self, part: str, why: str) -> None:
        self._refused[part] = why
        _REFUSED.put((*self._company(), part), why)
