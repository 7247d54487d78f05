"""`connector plan` (its table, `--json` and `--format csv`) one contract at a time.

A plan of a million milestones held them all, their decisions and their documents at once:
1.8 GB, 2.2 GB with half a million invoices in the state. Billing decides each contract on its
own (`billing_contract`), so each contract's milestones can be read (`ContractGroups`), billed
over its own invoices, checked against the company's books and shown, then dropped. The table,
the JSON and the CSV are the same, to the character, as `preview` and `render.plan`,
`write_plan_json` or `exports.plan_rows` give (tests compare them); what has to wait for the
end (the skipped milestones, listed after every document) waits in a temporary file, not in
memory, until it is shown (the table, whose columns fit its longest cells, holds it then).

With invoices in the state, the plan asks the ledger what the sync asks first, once: the
payments since the last run, applied to each contract's rows as they are read (`_History`, a
few contracts at a time). It is streamed only for large books (`STREAM_HISTORY_AT`), when no
intent is in doubt (nothing to look up, nothing to send again: every retirement billing plans
goes, as `outbox.sort_retirements` would have it) and when the ledger answered. Billing is
told every invalid milestone id of the file: a billed milestone whose record is invalid is not
"removed from the tracker". One contract's records say so for its own; a billed milestone
missing from them is looked for in the whole file, read once for its invalid ids the first
time that happens.

Used only when the source can hand out milestones by contract (the file source on a CSV); any
other plan is made whole by `preview`.
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import IO

from connector import exports
from connector.adapters.base import (
    LedgerAdapter,
    LedgerProfile,
    RemoteInvoice,
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
from connector.sync.payments import as_paid, changes_since
from connector.sync.plan import _once, books_in_order
from connector.sync.report import DocumentBooks, write_plan_items
from connector.sync.rows import InvoiceRow, to_billed

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
    connect = _once(ledger, config)
    state = st.State.open(
        config.state_url, config.business.name, path=config.state_path, read_only=True
    )
    try:
        history = _History.of(state, connect, sorted(config.contracts))
        if history is None:
            return None  # intents in doubt, or a ledger that did not answer: `preview`
        groups = source.by_contract()
        if groups is None:
            return None
        with groups, tempfile.TemporaryFile("w+b") as spool:
            plan = _Streamed(config, as_of, groups, connect, spool, history)
            if not plan.read_setup():
                return None  # the whole plan says why the books were not checked, as ever
            show(plan.documents(), plan.skipped())
            return plan.problems
    finally:
        state.engine.dispose()


# Books with fewer invoices than this are planned whole when they have any: there the whole
# plan is small enough (330 MB at 77,537 invoices) and its table quicker (2.8 s, against 3.3 s
# a contract at a time; the JSON takes 2.8 s either way); at 506,669 invoices it held 2.2 GB.
STREAM_HISTORY_AT = 100_000

# Contracts whose rows are read together (by id: the rows have no index by contract, and a
# query by contract passed over all of them, 0.1 s each at 77,537 rows).
CONTRACTS_PER_READ = 50


class _History:
    """The state's invoice rows a few contracts at a time, in the order the plan bills the
    contracts, as tonight's sync will find them: the payments since the last run applied, as
    `tonight.as_tonight_finds` applies them to all the rows at once."""

    def __init__(
        self,
        state: st.State,
        order: list[str],
        remote: list[RemoteInvoice],
        ids: dict[str, list[int]],
    ):
        self.state = state
        self.order = order
        self.at = {c: n for n, c in enumerate(order)}
        self.remote: dict[str, list[RemoteInvoice]] = {}  # by ledger id, in the pull's order
        for invoice in remote:
            self.remote.setdefault(invoice.ledger_id, []).append(invoice)
        self._read: dict[str, list[InvoiceRow]] = {}
        self._ids = ids  # each contract's row ids, until its rows are read

    @classmethod
    def of(
        cls, state: st.State, connect: Callable[[], LedgerAdapter], order: list[str]
    ) -> _History | None:
        """The history to plan over; an empty one with no invoice in the state (nothing to ask
        the ledger), None when the plan is to be made whole."""
        count = state.invoice_mark()[0]
        if not count:
            return cls(state, [], [], {})
        if count < STREAM_HISTORY_AT:
            return None  # the whole plan: quicker, and small enough
        ids, doubt = state.invoice_ids_by_contract()
        if doubt:
            return None  # looked up first, and maybe sent again: the whole plan (`preview`)
        try:
            changes = changes_since(connect(), state.cursor("payments"), nothing_sent=False)
        except ConnectorError:
            return None  # the whole plan says the ledger was not asked, and plans without
        return cls(state, order, changes.invoices, ids)

    def rows(self, contract: str) -> list[InvoiceRow]:
        """The contract's rows, in the order they were written, as the sync will find them."""
        if contract not in self.at:
            return []
        if contract not in self._read:
            start = self.at[contract]
            wanted = self.order[start : start + CONTRACTS_PER_READ]
            self._read = {c: [] for c in wanted}
            ids = sorted(i for c in wanted for i in self._ids.pop(c, ()))
            for row in self.state.invoice_rows_by_id(ids):
                self._read[row.contract].append(row)
        return self._paid(self._read.pop(contract))

    def _paid(self, rows: list[InvoiceRow]) -> list[InvoiceRow]:
        ledger_ids = dict.fromkeys(r.ledger_id for r in rows if r.ledger_id)
        found = [invoice for i in ledger_ids for invoice in self.remote.get(i, ())]
        return as_paid(rows, found) if found else rows


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
        spool: IO[bytes],
        history: _History,
    ):
        self.config = config
        self.as_of = as_of
        self.groups = groups
        self.connect = connect
        self.spool = spool  # each contract's skips, then the books' holds: a pickle each
        self.history = history
        self._file_invalid: set[str] | None = None  # every invalid id of the file, once read
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
        mismatched: list[InvalidMilestone] = []
        for line, m in read.milestones:
            if m.currency and m.currency != contract.currency:
                bad = other_currency(m, contract.currency)
                self.mismatched.append((line, bad))
                mismatched.append(bad)
            else:
                good.append(m)
        out = Decisions()
        ids = {bad.id for _, bad in read.invalid if bad.id} | {m.id for m in mismatched if m.id}
        history = [to_billed(r) for r in self.history.rows(contract_id)]
        billed = {m for h in history for m in h.milestones}
        if not billed <= ids | {m.id for m in good}:  # removed, or invalid under another
            ids |= self._invalid_in_file()
        ContractBilling(
            contract,
            good,
            len(read.invalid) + len(mismatched),
            ids,
            history,
            self.config.rules,
            self.as_of,
            out,
        ).run()
        self._spool(out.skipped)
        # Nothing is in doubt (`_History.of`), so every document goes tonight, in billing's
        # order: each void or credit note retires an invoice the ledger has and nothing else
        # retires (`outbox.sort_retirements`).
        docs = documents(out.actions)
        if self._holds(contract_id, docs):
            return []
        return docs

    def _invalid_in_file(self) -> set[str]:
        """Every id `billing.decide` would be told is invalid: the invalid records' and those
        of milestones in another currency than their contract's, read once."""
        if self._file_invalid is None:
            contracts = self.config.contracts
            found: set[str] = set()
            for key in self.groups.keys:
                read = self.groups.read(key)
                found.update(bad.id for _, bad in read.invalid if bad.id)
                contract = contracts.get(key) if key is not None else None
                if contract is not None:
                    found.update(
                        m.id
                        for _, m in read.milestones
                        if m.currency and m.currency != contract.currency
                    )
            self._file_invalid = found
        return self._file_invalid

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

    def _spool(self, skips: list[Skip]) -> None:
        """Kept for the end, as plain texts (this process's own temporary file, read back
        by `skipped`): one pickle of a contract's skips costs a tenth of a JSON line each."""
        if not skips:
            return
        self.problems |= any(s.reason in PROBLEM_REASONS for s in skips)
        texts = [(s.milestone, s.contract, str(s.reason), s.message) for s in skips]
        pickle.dump(texts, self.spool, protocol=pickle.HIGHEST_PROTOCOL)

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
        self._spool(self.held_skips)
        self.spool.seek(0)
        while True:
            try:
                texts = pickle.load(self.spool)
            except EOFError:
                break
            for milestone, contract, reason, message in texts:
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
