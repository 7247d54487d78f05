"""The night's customers in QuickBooks: all of them looked up in one batch of queries (which
carries the company's setup reads not made yet, `setup`), the missing ones created in one batch.

A lookup asks `select * from Customer where DisplayName in (...)`, each name a string literal
with its quotes escaped by a backslash, as python-quickbooks writes them (`session.escape`:
O'Brien is 'O\\'Brien'). Display names are unique in a company regardless of case, so an answer
is matched to the name asked case-folded. A creation is one /batch of Customer creates, its
requestid and bIds derived from the names and currencies (`ids`), so a lost answer is replayed,
never doubled; a create refused because the name exists (6240: created meanwhile, perhaps by
another business's run) is looked up again once. A lone customer is created on its own, as it
always was. Nothing here touches an invoice.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from quickbooks.objects.customer import Customer

from connector.adapters.base import CustomerKey, CustomerRef, Customers
from connector.adapters.quickbooks import ids
from connector.adapters.quickbooks.faults import classify_fault, fault_code
from connector.adapters.quickbooks.mapping import ref
from connector.adapters.quickbooks.session import QuickBooksSession, escape
from connector.adapters.quickbooks.setup import BATCH_MAX, Ask, Setup
from connector.errors import RetriableLedgerError, SkippableLedgerError

NAMES_PER_QUERY = 50  # display names in one `in (...)`: a statement of a few kilobytes at most
DUPLICATE_NAME = 6240


def _chunks(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def find(setup: Setup, wanted: Sequence[CustomerKey]) -> Customers:
    """The customers of `wanted` that QuickBooks has (active ones: an inactive namesake is
    refused by the create as a taken name, 6240). A query that fails fails the lookup."""
    names = list(dict.fromkeys(name for name, _ in wanted))
    asks = [
        Ask(
            f"c{n}",
            "Customer",
            "select * from Customer where DisplayName in ("
            + ", ".join(escape(name) for name in chunk)
            + ")",
        )
        for n, chunk in enumerate(_chunks(names, NAMES_PER_QUERY))
    ]
    answers, _ = setup.read(asks)
    rows: dict[str, Mapping[str, Any]] = {}
    for ask in asks:
        got = answers.get(ask.bid)
        if isinstance(got, Exception):
            raise got
        if got is None:
            raise RetriableLedgerError("QuickBooks returned no result for the customer lookup")
        for row in got:
            rows.setdefault(str(row.get("DisplayName", "")).casefold(), row)
    found: Customers = {}
    for name, currency in dict.fromkeys(wanted):
        match = rows.get(name.casefold())
        if match is not None:
            found[(name, currency)] = _existing(match, name, currency)
    return found


def _existing(
    row: Mapping[str, Any], name: str, currency: str
) -> CustomerRef | SkippableLedgerError:
    theirs = (row.get("CurrencyRef") or {}).get("value") or currency
    if theirs != currency:
        return SkippableLedgerError(
            f"customer {name!r} is set up in {theirs} in QuickBooks, but the contract is in "
            f"{currency}; QuickBooks cannot invoice a customer in another currency"
        )
    return CustomerRef(str(row["Id"]), name, currency)


def create(session: QuickBooksSession, setup: Setup, wanted: Sequence[CustomerKey]) -> Customers:
    """Create `wanted` (30 to a batch); a name taken meanwhile is looked up once more."""
    made: Customers = {}
    taken: dict[CustomerKey, SkippableLedgerError] = {}
    for chunk in _chunks(list(dict.fromkeys(wanted)), BATCH_MAX):
        answers = (
            _create_one(session, chunk[0]) if len(chunk) == 1 else _create_batch(session, chunk)
        )
        for key, answer in answers.items():
            if isinstance(answer, _Taken):
                taken[key] = answer.error
            else:
                made[key] = answer
    if taken:
        again = find(setup, list(taken))
        made.update({key: again.get(key, error) for key, error in taken.items()})
    return made


class _Taken:
    """A create refused with 6240: the name exists (and is looked up again)."""

    def __init__(self, error: SkippableLedgerError):
        self.error = error


def _create_one(
    session: QuickBooksSession, key: CustomerKey
) -> dict[CustomerKey, CustomerRef | SkippableLedgerError | _Taken]:
    """A lone customer goes to the Customer endpoint, with the requestid of its own (QuickBooks
    rations /batch more tightly than single requests: ledger-apis.md, section 3)."""
    body = json.dumps(_body(*key))
    try:
        created = session.post("customer", body, request_id=ids.request_id("customer", *key))
    except SkippableLedgerError as exc:
        return {key: _Taken(exc) if exc.code == str(DUPLICATE_NAME) else exc}
    return {key: CustomerRef(str(created["Customer"]["Id"]), *key)}


def _create_batch(
    session: QuickBooksSession, chunk: Sequence[CustomerKey]
) -> dict[CustomerKey, CustomerRef | SkippableLedgerError | _Taken]:
    keys = {
        ids.request_id("customer", name, currency): (name, currency) for name, currency in chunk
    }
    bids = ids.item_ids(keys)  # bId -> key; refuses two keys sharing one
    items = [
        {"bId": bid, "operation": "create", "Customer": _body(*keys[key])}
        for bid, key in bids.items()
    ]
    answer = session.post(
        "batch", json.dumps({"BatchItemRequest": items}), request_id=ids.batch_id(keys)
    )
    by_bid = {str(item.get("bId")): item for item in answer.get("BatchItemResponse", [])}
    out: dict[CustomerKey, CustomerRef | SkippableLedgerError | _Taken] = {}
    for bid, key in bids.items():
        out[keys[key]] = _created(by_bid.get(bid), *keys[key])
    return out


def _body(name: str, currency: str) -> dict[str, Any]:
    customer = Customer()
    customer.DisplayName = name
    customer.CurrencyRef = ref(currency)
    body: dict[str, Any] = json.loads(customer.to_json())
    return body


def _created(
    item: Mapping[str, Any] | None, name: str, currency: str
) -> CustomerRef | SkippableLedgerError | _Taken:
    if item is None:
        return SkippableLedgerError("QuickBooks returned no result for its creation")
    if "Fault" in item:
        error = classify_fault(dict(item["Fault"]))
        problem = (
            error if isinstance(error, SkippableLedgerError) else SkippableLedgerError(str(error))
        )
        return _Taken(problem) if fault_code(dict(item["Fault"])) == DUPLICATE_NAME else problem
    return CustomerRef(str(item["Customer"]["Id"]), name, currency)
