"""The night's customers, found and created in as few ledger calls as the ledger allows.

Each document the engine creates names its customer by name and currency. Asked one at a time
that was a lookup, and for a new customer a create, per customer (half a fleet's night was
spent there). A ledger that `FindsCustomers` is asked once for all of them and once more to
create the missing ones; another is asked one customer at a time, as before.

    book = CustomerBook(ledger, intents, checkpoint)   # tonight's, before the profile is read
    book.look_up()        # one lookup (QuickBooks reads the company's setup in the same call)
    book.keep(intents)    # the ones still going once held contracts are out: only theirs are
                          # created (optional: without it, every customer of `intents` is)
    book.get(name, currency) -> CustomerRef | None    # created with the others, when missing
    book.take_problems() -> ["contract C: customer 'X': ...", ...]

A customer that cannot be had (set up in another currency, refused, the call failed) is a
problem naming each contract that bills it, once; the engine skips those documents tonight and
the next run asks again. A fatal ledger error (credentials) and a stop asked for go to the
caller, as any ledger call's do. This module asks the ledger for customers, nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from connector.adapters.base import CustomerKey, CustomerRef, FindsCustomers, LedgerAdapter
from connector.errors import RetriableLedgerError, SkippableLedgerError
from connector.sync.outbox import Creation, Intent

Checkpoint = Callable[[str], None]
BEFORE, AFTER = "before:find_or_create_customer", "after:find_or_create_customer"


def _no_checkpoint(name: str) -> None:
    """Nobody stops or crashes the run between the book's ledger calls."""


class CustomerBook:
    """The customers of `intents`' documents, as the ledger has them (or will)."""

    def __init__(
        self,
        ledger: LedgerAdapter,
        intents: Iterable[Intent],
        checkpoint: Checkpoint = _no_checkpoint,
    ):
        self.ledger = ledger
        self.checkpoint = checkpoint  # the run's: a stop or a crash may come before each call
        self._contracts: dict[CustomerKey, list[str]] = {}  # each customer's contracts, in order
        self._kept: set[CustomerKey] | None = None  # None: every customer may be created
        self._found: dict[CustomerKey, CustomerRef] = {}
        self._failed: dict[CustomerKey, str] = {}  # the ledger's words
        self._looked_up: set[CustomerKey] = set()
        self._problems: list[str] = []
        self._said: set[str] = set()
        self._taken = 0
        self._want(intents)

    # -- what the engine calls ------------------------------------------------------------------

    def look_up(self) -> None:
        """Look up every customer not looked up yet, in one call, creating none: early in the
        run, so that a ledger can read what else it needs in the same call. A ledger that
        cannot look up many at once is asked later, one at a time, in `get`."""
        wanted = [k for k in self._contracts if k not in self._looked_up and not self._known(k)]
        if not wanted or not isinstance(self.ledger, FindsCustomers):
            return
        ledger = self.ledger
        self._call(wanted, lambda: ledger.find_customers(wanted))
        self._looked_up.update(wanted)

    def keep(self, intents: Iterable[Intent]) -> None:
        """Only these intents' customers are to be created: the others' contracts are held."""
        going = list(intents)
        self._want(going)
        self._kept = {key for key, _ in _customers(going)}

    def get(self, name: str, currency: str) -> CustomerRef | None:
        """The customer, or None when it cannot be had tonight (a problem says why)."""
        key = (name, currency)
        if not self._known(key):
            self._contracts.setdefault(key, [])
            self._resolve(key)
        found = self._found.get(key)
        if found is None:
            self._tell(key)
        return found

    def __getitem__(self, key: CustomerKey) -> CustomerRef:
        """A customer `get` has answered: what a request for its document names."""
        return self._found[key]

    def take_problems(self) -> list[str]:
        """The problems not taken yet, each once, in the order they arose."""
        new, self._taken = self._problems[self._taken :], len(self._problems)
        return new

    # -- inside ---------------------------------------------------------------------------------

    def _want(self, intents: Iterable[Intent]) -> None:
        for key, contract in _customers(intents):
            contracts = self._contracts.setdefault(key, [])
            if contract not in contracts:
                contracts.append(contract)

    def _known(self, key: CustomerKey) -> bool:
        return key in self._found or key in self._failed

    def _resolve(self, key: CustomerKey) -> None:
        """`key` and, from a ledger that `FindsCustomers`, every other customer still to be
        had: one lookup of those not looked up, one creation of those missing."""
        if not isinstance(self.ledger, FindsCustomers):
            ledger = self.ledger
            self._call([key], lambda: {key: ledger.find_or_create_customer(*key)})
            return
        self.look_up()
        finds = self.ledger
        if key not in self._looked_up:  # asked for a customer no intent named
            self._call([key], lambda: finds.find_customers([key]))
            self._looked_up.add(key)
        missing = [
            k
            for k in self._contracts
            if not self._known(k) and (k == key or self._kept is None or k in self._kept)
        ]
        if missing:
            self._call(missing, lambda: finds.create_customers(missing))

    def _call(
        self,
        keys: list[CustomerKey],
        ask: Callable[[], dict[CustomerKey, CustomerRef | SkippableLedgerError]],
    ) -> None:
        """One ledger call about `keys`; a failure of the whole call is each one's problem."""
        self.checkpoint(BEFORE)
        try:
            answers = ask()
        except (SkippableLedgerError, RetriableLedgerError) as exc:
            self._failed.update({k: str(exc) for k in keys})
            return
        for key, answer in answers.items():
            if isinstance(answer, CustomerRef):
                self._found[key] = answer
            else:
                self._failed[key] = str(answer)
        self.checkpoint(AFTER)

    def _tell(self, key: CustomerKey) -> None:
        """The problem of a customer that cannot be had, once for each contract billing it."""
        name, _ = key
        why = self._failed.get(key, "the ledger did not answer for it")
        for contract in self._contracts.get(key) or [""]:
            where = f"contract {contract}: " if contract else ""
            problem = f"{where}customer {name!r}: {why}"
            if problem not in self._said:
                self._said.add(problem)
                self._problems.append(problem)


def _customers(intents: Iterable[Intent]) -> list[tuple[CustomerKey, str]]:
    """The (customer, contract) of each document to create, in order; a void names none."""
    return [
        ((i.row.customer, i.row.currency), i.row.contract)
        for i in intents
        if isinstance(i, Creation)
    ]
