"""What billing asks of the ledger: typed actions, each with its idempotency key.

Billing (pure) returns them in the order it decides them; the engine orders them for the ledger,
records each as an outbox row before the call and its result after, and picks the ledger call by
the action's type. Nothing here talks to the ledger, the state database or the network.

A document action (`CreateInvoice`, `CreateCredit`, `Void`) is the document billing decided on,
a `PlannedInvoice` (what a plan shows and the outbox row records), under the type that says what
the ledger is asked to do with it; its key is the document's. A `Settle` names, by key, the
credit note and the invoice it is set against. Adding an action means a class here, a case in
`outbox.intents` (how it is recorded) and a case in the engine's `_run_phase` (which call).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from connector.models import PlannedInvoice


class _Document(PlannedInvoice):
    """What the document actions share. Tuples, as `PlannedInvoice` is: a big plan makes
    hundreds of thousands; equal only to the same action on the same document."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return tuple.__hash__(self)

    @property
    def void_instead(self) -> bool:
        """The flag plans carried before there were actions, read by older callers; code
        dispatches on the type."""
        return isinstance(self, Void)


class CreateInvoice(_Document):
    """Create an invoice. One whose lines net to zero is recorded as billed and never sent;
    one that `replaces` a credit note reverses it."""

    __slots__ = ()


class CreateCredit(_Document):
    """Create a credit note for the lines' negative total (no ledger takes a negative
    invoice); a `Settle` follows it, saying what it is set against."""

    __slots__ = ()


class Void(_Document):
    """Void the unpaid invoice `replaces`. Its lines carry the amount retired, so the outbox
    row shows what the void took back; a paid invoice is credited (`CreateCredit`) instead."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Settle:
    """Set credit note `credit` against invoice `against` (both keys). With no `against`, the
    contract's oldest invoice still owing at least as much when the credit note is sent, which
    only the outbox knows then; with none such, the credit stays with the customer. A ledger
    that allocates credits explicitly (Xero) does it as it creates the credit note."""

    credit: str
    against: str | None = None

    @property
    def key(self) -> str:
        """The same credit note set against the same invoice is one allocation."""
        raw = json.dumps(["settle", self.credit, self.against])
        return "mc-" + hashlib.sha256(raw.encode()).hexdigest()[:40]


Document = CreateInvoice | CreateCredit | Void
Action = CreateInvoice | CreateCredit | Void | Settle


def documents(actions: Iterable[Action]) -> list[PlannedInvoice]:
    """The documents among `actions`, in order: what a plan lists and the outbox records."""
    return [a for a in actions if not isinstance(a, Settle)]
