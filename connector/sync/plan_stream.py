"""`connector plan` (its table, `--json` and `--format csv`) one contract at a time, for a
business with nothing billed yet.

A first plan of a million milestones held them all, their decisions and their documents at
once: 1.8 GB. Billing decides each contract on its own (`billing_contract`), and with no
invoice in the state there is no history, no intent in doubt and no payment to ask the
ledger about, so each contract's milestones can be read (`ContractGroups`), billed, checked
against the company's books and shown, then dropped. The table, the JSON and the CSV are the
same, to the character, as `preview` and `render.plan`, `write_plan_json` or
`exports.plan_rows` give (a test compares them); what has to wait for the end (the skipped
milestones, listed after every document) waits in a temporary file, not in memory, until
it is shown (the table, whose columns fit its longest cells, holds it then).

Used only when the source can hand out milestones by contract (the file source on a CSV) and
the state holds no invoice; any other plan is made whole by `preview`.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import IO

from connector import exports
from connector.adapters.base import (
    LedgerAdapter,
    LedgerProfile,
    SendsInvoices,
)
from connector.config import Config
from connector.errors import ConnectorError
from connector.models import (
    PROBLEM_REASONS,
    InvalidMilestone,
    Milestone,
    PlannedInvoice,
    Reason,
    Skip,
)
from connector.perf import paused_gc
from connector.sources.base import ReadsByContract
from connector.sources.file_groups import ContractGroups, GroupRead
from connector.sync import state as st
from connector.sync.actions import CreateCredit, CreateInvoice, documents
from connector.sync.billing import Decisions, invalid_skip, other_currency, unknown_contract
from connector.sync.billing_contract import ContractBilling
from connector.sync.holding import books_holds, held_why, profile_of, send_problem, what_held
from connector.sync.outbox import emailed
from connector.sync.plan import _once, books_in_order
from connector.sync.report import DocumentBooks, write_plan_items

Write = Callable[[str], object]
Documents = Iterator[tuple[PlannedInvoice, DocumentBooks | None]]
# What shows a plan: its documents with their books, then (once those are all read) what
# is not billed.
Show = Callable[[Documents, Iterator[Skip]], None]


def write_streamed(
    config: Config,
    as_of: date,
    write: Write,
    ledger: LedgerAdapter | None = None,
    *,
    csv: bool = False,
) -> bool | None:
    """The plan's JSON (or, with `csv`, its CSV export) written to `write`, a contract at a
    time; True when it has problems (the command exits 1), None when this plan cannot be
    streamed (nothing was written)."""
    name = config.business.name

    def export(documents: Documents, skipped: Iterator[Skip]) -> None:
        rows = exports.plan_rows(name, as_of, (doc for doc, _ in documents), skipped)
        exports.write_csv(write, exports.PLAN_COLUMNS, rows)

    def dump(documents: Documents, skipped: Iterator[Skip]) -> None:
        write_plan_items(write, name, as_of, documents, skipped)

    return show_streamed(config, as_of, export if csv else dump, ledger)


@paused_gc()
def show_streamed(
    config: Config, as_of: date, show: Show, ledger: LedgerAdapter | None = None
) -> bool | None:
    """The plan handed to `show` a contract at a time (the table, the JSON, the CSV); True
    when it has problems, None when it cannot be streamed (`show` was not called)."""
    source = config.source()
    if not isinstance(source, ReadsByContract):
        return None
    state = st.State.open(
        config.state_url, config.business.name, path=config.state_path, read_only=True
    )
    try:
        if state.invoice_mark()[0]:
            return None  # history, intents in doubt, payments: the whole plan (`preview`)
    finally:
        state.engine.dispose()
    groups = source.by_contract()
    if groups is None:
        return None
    with groups, tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        plan = _Streamed(config, as_of, groups, _once(ledger, config), spool)
        if not plan.read_setup():
            return None  # the whole plan says why the books were not checked, as ever
        show(plan.documents(), plan.skipped())
        return plan.problems


@dataclass
class _Held:
    """What the company's books hold back, as `holding.holds` finds it for a whole plan."""

    profile: LedgerProfile | None = None
    cannot_send: bool = False
    send_held: list[str] = field(default_factory=list)  # contracts, in order
    send_whats: dict[str, str] = field(default_factory=dict)  # what -> its contract


class _Streamed:
    def __init__(
        self,
        config: Config,
        as_of: date,
        groups: ContractGroups,
        connect: Callable[[], LedgerAdapter],
        spool: IO[str],
    ):
        self.config = config
        self.as_of = as_of
        self.groups = groups
        self.connect = connect
        self.spool = spool  # each contract's skips, then the books' holds, a JSON line each
        self.invalid: list[tuple[int, InvalidMilestone]] = []
        self.mismatched: list[tuple[int, InvalidMilestone]] = []
        self.held_skips: list[Skip] = []  # spooled after the contracts' own skips
        self.held = _Held()
        self.problems = False

    # -- documents -------------------------------------------------------------------------

    def documents(self) -> Iterator[tuple[PlannedInvoice, DocumentBooks | None]]:
        """Each contract's documents, with how the ledger books them, in billing's order."""
        present = set(self.groups.keys)
        for contract_id in sorted(self.config.contracts):
            read = self.groups.read(contract_id) if contract_id in present else GroupRead([], [])
            docs = self._decide(contract_id, read)
            yield from zip(docs, books_in_order(self.config, docs), strict=True)

    def _decide(self, contract_id: str, read: GroupRead) -> list[PlannedInvoice]:
        contract = self.config.contracts[contract_id]
        self.invalid += read.invalid
        good: list[Milestone] = []
        mismatched = 0
        for line, m in read.milestones:
            if m.currency and m.currency != contract.currency:
                self.mismatched.append((line, other_currency(m, contract.currency)))
                mismatched += 1
            else:
                good.append(m)
        out = Decisions()
        ids = {bad.id for _, bad in read.invalid if bad.id}
        ContractBilling(
            contract,
            good,
            len(read.invalid) + mismatched,
            ids,
            [],
            self.config.rules,
            self.as_of,
            out,
        ).run()
        for s in out.skipped:
            self._spool(s)
        # With nothing billed before, every document goes tonight (no void or credit note
        # retires an earlier one: `outbox.sort_retirements`), in billing's order.
        docs = documents(out.actions)
        if self._holds(contract_id, docs):
            return []
        return docs

    def _holds(self, contract_id: str, docs: list[PlannedInvoice]) -> bool:
        """Whether the contract's documents are held, as `holding.hold` holds them: read off
        the documents, as their intents' rows (`outbox.intent_row`) would record them."""
        creating = [d for d in docs if isinstance(d, CreateInvoice | CreateCredit) and d.total]
        if not creating:
            return False
        held = self.held
        problems = []
        if held.profile is not None:
            problems = [h.problem for h in books_holds(held.profile, self.config, [contract_id])]
        sends = held.cannot_send and any(emailed(d, self._sends) for d in creating)
        if not (problems or sends):
            return False
        whats = [what for d in docs for what in what_held(d)]
        said: set[tuple[str, str]] = set()  # two problems may read alike: said once
        for problem in problems:
            why = held_why(problem, [contract_id])
            for what in whats:
                if (what, why) not in said:
                    said.add((what, why))
                    self.held_skips.append(Skip(what, contract_id, Reason.INVALID_CONTRACT, why))
        if sends:
            held.send_held.append(contract_id)
            for what in whats:
                held.send_whats.setdefault(what, contract_id)
        self.problems = True
        return True

    def _sends(self, contract: str) -> bool:
        return self.config.books_for(contract).send_on_create

    def read_setup(self) -> bool:
        """The company's setup, read once before anything is printed, for every contract of
        the config: a whole plan reads it for the contracts with documents tonight, which
        are not known before they are billed, so Xero may be asked for a little more. False
        when the ledger or its setup cannot be read: the plan is then made whole, which
        reads only what tonight needs and says why it could not."""
        held = self.held
        try:
            ledger = self.connect()
            held.cannot_send = not isinstance(ledger, SendsInvoices)
            held.profile = profile_of(self.config, ledger, sorted(self.config.contracts))
        except ConnectorError:
            return False
        return True

    # -- skipped ---------------------------------------------------------------------------

    def _spool(self, s: Skip) -> None:
        self.problems |= s.reason in PROBLEM_REASONS
        self.spool.write(json.dumps([s.milestone, s.contract, str(s.reason), s.message]) + "\n")

    def skipped(self) -> Iterator[Skip]:
        """In `billing.decide`'s order: milestones of unknown contracts, then the invalid
        ones, then each contract's skips; then what the books hold (`preview`'s order)."""
        contracts = self.config.contracts
        unknown: list[tuple[int, Skip]] = []
        for key in self.groups.keys:
            if key is not None and key in contracts:
                continue
            read = self.groups.read(key)
            self.invalid += read.invalid
            unknown += [(line, unknown_contract(m, contracts)) for line, m in read.milestones]
        if unknown or self.invalid or self.mismatched:
            self.problems = True
        yield from (s for _, s in sorted(unknown, key=_line))
        for _, bad in sorted(self.invalid, key=_line) + sorted(self.mismatched, key=_line):
            yield invalid_skip(bad)
        for s in self.held_skips:
            self._spool(s)
        self.spool.seek(0)
        for text in self.spool:
            milestone, contract, reason, message = json.loads(text)
            yield Skip(milestone, contract, Reason(reason), message)
        yield from self._send_skips()

    def _send_skips(self) -> Iterator[Skip]:
        held = self.held
        if not held.send_held:
            return
        names = sorted(held.send_held)
        why = held_why(send_problem(self.connect().name, names), names)
        for what, contract in held.send_whats.items():
            yield Skip(what, contract, Reason.INVALID_CONTRACT, why)


def _line(item: tuple[int, object]) -> int:
    return item[0]
