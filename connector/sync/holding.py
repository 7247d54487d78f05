"""Before the first push of a night: a contract whose booking the company's books cannot take
has every one of tonight's documents held, so that nothing of it is half-done.

QuickBooks refuses every line without a tax code outside the US, and Xero drops a tracking
option it cannot match (bookkeeper-needs.md 1a, 1f). So when tonight has documents to create,
the ledger's profile is read once and `preflight.problems` compares it with each contract that
has documents tonight. A contract with a problem keeps all its documents of tonight back, its
voids too (a void without its reissue is half-done): none is recorded as an intent, none is
sent, and the problem is the skip reason of its milestones, so the run reports it and exits 1.
A contract that asks for its invoices to be emailed on a ledger that cannot send is held as
well: creating them unsent would be a silent no-op. The other contracts go on, and the adapters
still refuse a document they cannot book (the second line of defence).

`sync` (`check`) and `plan` use the same functions. This module reads the profile, nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from connector.adapters.base import (
    LedgerAdapter,
    LedgerProfile,
    Profiled,
    ProfileNeeds,
    ProfilesFor,
    SendsInvoices,
)
from connector.config import Config
from connector.errors import RetriableLedgerError, SkippableLedgerError
from connector.models import PlannedInvoice, Reason, Skip
from connector.sync import preflight
from connector.sync.outbox import Creation
from connector.sync.report import SyncReport
from connector.sync.rows import InvoiceRow
from connector.sync.schema import Delivery
from connector.sync.tonight import Tonight


@dataclass(frozen=True, slots=True)
class Hold:
    """Tonight's documents of `contracts` wait because of `problem`, one sentence."""

    contracts: tuple[str, ...]
    problem: str


def to_create(tonight: Tonight) -> list[Creation]:
    """The documents tonight asks the ledger to create (lines netting to zero never go)."""
    return [i for i in tonight.retirements.going if isinstance(i, Creation) and i.row.total_minor]


def holds(config: Config, ledger: LedgerAdapter, tonight: Tonight) -> list[Hold]:
    """What tonight's documents need held. The profile is read once, and only when there is
    something to create and the ledger has one; when it cannot be read, the ledger's error."""
    creating = to_create(tonight)
    if not creating:
        return []
    found = _cannot_send(ledger, creating)
    contracts = list(dict.fromkeys(c.row.contract for c in creating))
    profile = profile_of(config, ledger, contracts)
    return found if profile is None else books_holds(profile, config, contracts) + found


def profile_of(
    config: Config, ledger: LedgerAdapter, contracts: Sequence[str]
) -> LedgerProfile | None:
    """The company's setup, as far as the checks of `contracts` need it (each one's currency
    and booking: Xero reads only that, in fewer calls); None for a ledger that has none."""
    if isinstance(ledger, ProfilesFor):
        bookings = preflight.bookings(config, contracts)
        return ledger.profile_for(ProfileNeeds.of((b.currency, b.booking) for b in bookings))
    if isinstance(ledger, Profiled):
        return ledger.profile()
    return None


def books_holds(profile: LedgerProfile, config: Config, contracts: Sequence[str]) -> list[Hold]:
    """Each contract's mismatches with the company's books, in the order given (that of
    tonight's documents)."""
    return [
        Hold((booking.contract,), problem)
        for booking in preflight.bookings(config, contracts)
        for problem in preflight.problems(profile, [booking])
    ]


def _cannot_send(ledger: LedgerAdapter, creating: Sequence[Creation]) -> list[Hold]:
    if isinstance(ledger, SendsInvoices):
        return []
    contracts = sorted({c.row.contract for c in creating if c.row.delivery == Delivery.WANTED})
    if not contracts:
        return []
    return [Hold(tuple(contracts), send_problem(ledger.name, contracts))]


def send_problem(ledger: str, contracts: Sequence[str]) -> str:
    """Why contracts that email their invoices are held on a ledger that cannot send."""
    return (
        f'send = "on-create" asks the ledger to email invoices to the client, but the '
        f'{ledger} ledger cannot send them: set send = "never" (in [billing], or on '
        f"{_contracts(contracts)}) and send them from the ledger yourself"
    )


def held_why(problem: str, contracts: Sequence[str]) -> str:
    """The skip reason of every milestone of a held contract's documents."""
    return f"{problem}; tonight's documents of {_contracts(contracts)} are held until this is fixed"


def what_held(document: InvoiceRow | PlannedInvoice) -> tuple[str, ...]:
    """What a held document's skips name: its milestones, or the document itself (as its row
    records it, or as billing planned it)."""
    return document.milestones or (f"{document.contract} {document.kind}",)


def _contracts(names: Sequence[str]) -> str:
    return ("contracts " if len(names) > 1 else "contract ") + ", ".join(names)


def hold(tonight: Tonight, found: Sequence[Hold]) -> tuple[Tonight, list[Skip]]:
    """Tonight without the held contracts' documents, and the skips that say why: for each
    problem, one per milestone of a held document (as billing skips the milestones of an
    invalid contract) or per document without milestones (a deposit, a retainage release).
    Each problem reads the same on all of them, so the run reports it once."""
    held = {contract for h in found for contract in h.contracts}
    if not held:
        return tonight, []
    going = [i for i in tonight.retirements.going if i.row.contract not in held]
    skips: dict[tuple[str, str], Skip] = {}
    for h in found:
        why = held_why(h.problem, h.contracts)
        for intent in tonight.retirements.going:
            row = intent.row
            if row.contract in h.contracts:
                for what in what_held(row):
                    skips.setdefault(
                        (what, why), Skip(what, row.contract, Reason.INVALID_CONTRACT, why)
                    )
    kept = replace(tonight, retirements=replace(tonight.retirements, going=going))
    return kept, list(skips.values())


class Run(Protocol):
    """What the check needs of the run it is a step of."""

    config: Config
    ledger: LedgerAdapter
    report: SyncReport

    def checkpoint(self, name: str) -> None: ...


def check(run: Run, tonight: Tonight) -> Tonight:
    """The sync's preflight, before anything is recorded or sent: tonight less what is held,
    the reasons in the run's skips. A profile that cannot be read holds every document to
    create tonight, as a problem of the run: nothing goes out unchecked, and the next run
    reads it again. A fatal error (credentials) stops the run, as any other would."""
    creating = to_create(tonight)
    if not creating:
        return tonight
    try:
        run.checkpoint("before:profile")
        found = holds(run.config, run.ledger, tonight)
    except (RetriableLedgerError, SkippableLedgerError) as exc:
        contracts = tuple(dict.fromkeys(c.row.contract for c in creating))
        run.report.failures.append(
            f"the company's setup could not be read from the ledger ({exc}), so tonight's "
            f"{len(creating)} document(s) of contract {', '.join(contracts)} wait: nothing is "
            "sent before it is checked, and the next run reads it again"
        )
        kept, _ = hold(tonight, [Hold(contracts, "the ledger's setup could not be read")])
        return kept
    kept, skips = hold(tonight, found)
    run.report.skipped += skips
    return kept
