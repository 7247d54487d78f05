"""One contract's billing for one run: which of its milestones are billed tonight, on which
documents, and why the others wait.

Pure, like `billing`: the state lives only for the call. The milestones changed after
invoicing are `billing_changes`', the contract's end is `billing_closing`'s, the lines beside
the work are `billing_lines`'.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from operator import attrgetter
from typing import TYPE_CHECKING

from connector.models import (
    BilledInvoice,
    BillingRules,
    Contract,
    Kind,
    Line,
    Milestone,
    Notice,
    Reason,
    Role,
    Skip,
    Status,
)
from connector.money import (
    HUNDRED,
    MoneyError,
    check_places,
    percent_of,
    percent_text,
    round_money,
)
from connector.sync import billing_changes, billing_closing
from connector.sync.actions import CreateCredit, CreateInvoice, Document, Settle, Void
from connector.sync.billing_lines import (
    Tally,
    adjustment,
    deposit_applied,
    deposit_line,
    retainage_lines,
    show,
    true_up_line,
)

if TYPE_CHECKING:
    from connector.sync.billing import Decisions

ZERO = Decimal(0)

# Documents that bill the contract's end; they wait for every earlier document's confirmation.
_amount_of = attrgetter("amount")  # of a line: summed in C
_CLOSING_KINDS = frozenset({Kind.ADJUSTMENT, Kind.RETAINAGE, Kind.CLOSEOUT})


class ContractBilling:
    """One contract's decisions for one run, appended to `out`."""

    def __init__(
        self,
        contract: Contract,
        milestones: list[Milestone],
        invalid_count: int,
        invalid_ids: set[str],
        history: list[BilledInvoice],
        rules: BillingRules,
        as_of: date,
        out: Decisions,
    ):
        self.c = contract
        self.milestones = sorted(milestones, key=lambda m: m.id)
        self.invalid_count = invalid_count
        self.invalid_ids = invalid_ids
        self.rules = rules
        self.as_of = as_of
        self.out = out
        self.tally = Tally()
        self.billed: dict[str, BilledInvoice] = {}
        self.flagged: set[str] = set()
        self._terms: dict[int, timedelta] = {}
        # value_on as a step function: _steps[i] is the value before change order i's date
        orders = sorted(contract.change_orders, key=lambda co: co.approved)
        self._step_days = [co.approved for co in orders]
        self._steps = [contract.value or ZERO]
        for co in orders:
            self._steps.append(self._steps[-1] + co.amount)
        self.revisions: Counter[tuple[Kind, tuple[str, ...]]] = Counter(
            (h.kind, h.milestones) for h in history
        )
        # Documents of this contract the ledger has not confirmed yet (a lost answer, an
        # outage): a close-out is sent only once this run has confirmed them.
        self.unconfirmed: list[str] = []
        self.valued_from: date | None = None  # the earliest value a percent line was billed at
        self.trued_up_to: date | None = None  # percent lines add up to their share of this day
        self.closing_day: date | None = None  # the last milestone's invoice date, if billed now
        self.planned_keys: list[str] = []  # this run's documents for the contract
        for h in history:
            if h.active:
                self._count(h)

    def _count(self, h: BilledInvoice) -> None:
        """An active document of an earlier run, in the totals this run bills on from."""
        self.tally.add(h.lines)
        self.tally.deposit_invoiced |= h.kind is Kind.DEPOSIT
        if not h.confirmed:
            self.unconfirmed.append(h.key)
        if h.kind is Kind.MILESTONE and h.milestones:
            self.tally.billed_on(h.date)
            for mid in h.milestones:
                self.billed[mid] = h
            if h.date is not None and any(ln.role is Role.PERCENT for ln in h.lines):
                self.valued(h.date)
        # the last milestone invoice trued up to its date; a later adjustment to its own
        if h.kind in (Kind.MILESTONE, Kind.ADJUSTMENT) and h.date is not None:
            self.trued_up(h.date)

    # -- helpers -------------------------------------------------------------------------------

    def skip(self, m: Milestone | str, reason: Reason, message: str) -> None:
        mid = m if isinstance(m, str) else m.id
        self.out.skipped.append(Skip(mid, self.c.id, reason, message))

    def notice(self, message: str) -> None:
        self.out.notices.append(Notice(self.c.id, message))

    def money(self, value: Decimal) -> Decimal:
        return round_money(value, self.c.currency)

    def show(self, value: Decimal) -> str:
        return show(value, self.c.currency)

    def valued(self, day: date) -> None:
        if self.valued_from is None or day < self.valued_from:
            self.valued_from = day

    def trued_up(self, day: date) -> None:
        if self.trued_up_to is None or day > self.trued_up_to:
            self.trued_up_to = day

    def value_on(self, day: date) -> Decimal:
        """The contract value on `day`: the value after the last change order approved by then."""
        return self._steps[bisect_right(self._step_days, day)]

    def cap(self) -> Decimal | None:
        """The cap as of the sync night: a change order approved since a milestone was held
        makes room for it (README billing rule 6)."""
        if self.c.cap is not None:
            return self.c.cap
        return self.value_on(self.as_of) if self.c.value is not None else None

    def terms(self, m: Milestone | None = None) -> int:
        if m is not None and m.terms_days is not None:
            return m.terms_days
        return self.c.terms_days if self.c.terms_days is not None else self.rules.terms_days

    def plan(
        self,
        kind: Kind,
        milestones: tuple[str, ...],
        day: date,
        lines: list[Line],
        terms: int,
        *,
        billed: tuple[Milestone, ...] = (),
        replaces: str | None = None,
        void: bool = False,
    ) -> Document:
        """Add a document to tonight's actions: a `Void` of `replaces` when `void`, otherwise
        an invoice, or a credit note (then set against what it `replaces`, or an open invoice)
        when its lines net below zero."""
        delta = self._terms.get(terms)
        if delta is None:
            delta = self._terms[terms] = timedelta(days=terms)
        after = (*self.unconfirmed, *self.planned_keys) if kind in _CLOSING_KINDS else ()
        credit = sum(map(_amount_of, lines), ZERO) < 0
        action = Void if void else (CreateCredit if credit else CreateInvoice)
        same = (kind, milestones)  # this document's earlier revisions
        revision = self.revisions[same]
        document = action(
            self.rules.business,
            self.c.id,
            self.c.customer,
            self.c.currency,
            kind,
            milestones,
            day,
            day + delta,
            tuple(lines),
            revision,
            billed,
            replaces,
            after,
        )
        key = document.key
        self.out.actions.append(document)
        self.out.keys.append(key)
        if isinstance(document, CreateCredit):
            self.out.actions.append(Settle(key, replaces))
        self.planned_keys.append(key)
        self.revisions[same] = revision + 1
        self.tally.add(lines)
        return document

    def invoice_date(self, m: Milestone) -> date:
        """Never before the work was done: a milestone accepted before its completion date is
        dated on its completion."""
        if self.rules.invoice_date == "sync":
            return self.as_of
        if self.rules.invoice_date == "completed" or m.accepted is None:
            return m.completed or self.as_of
        if m.completed is not None and m.completed > m.accepted:
            return m.completed
        return m.accepted

    # -- the run -------------------------------------------------------------------------------

    def run(self) -> None:
        self.drop_unbillable_amounts()
        live = [m for m in self.milestones if m.status is not Status.CANCELLED]
        problem = self.contract_problem(live)
        if problem:
            for m in self.milestones:
                self.skip(m, Reason.INVALID_CONTRACT, problem)
            return
        billing_changes.handle_changes(self)
        started = self.c.started_by(self.as_of)
        if self.c.deposit is not None and not self.tally.deposit_invoiced and started:
            self.bill_deposit()
        candidates = self.classify(started)
        remaining = {m.id for m in live if m.id not in self.billed}
        for m in sorted(candidates, key=lambda m: (self.invoice_date(m), m.id)):
            if self.bill_milestone(m, remaining, live):
                remaining.discard(m.id)
        if not remaining and self.settled() and self.tally.milestone_invoices:
            billing_closing.close_out(self, live)

    def drop_unbillable_amounts(self) -> None:
        """A fixed amount finer than the contract currency's minor unit (10.005 USD) is the
        milestone's error: it is reported, never rounded away."""
        kept = []
        for m in self.milestones:
            try:
                if m.amount is not None:  # 100 -> 100.00: shown and billed at the minor unit
                    amount = check_places(m.amount, self.c.currency)
                    if amount.as_tuple().exponent != m.amount.as_tuple().exponent:
                        m = m._replace(amount=amount)
                kept.append(m)
            except MoneyError as exc:
                self.skip(
                    m, Reason.INVALID_MILESTONE, f"{m.where}: milestone {m.id}: amount: {exc}"
                )
                self.invalid_count += 1
        self.milestones = kept

    def settled(self) -> bool:
        """No milestone is in question: none invalid, none changed after invoicing. Only then
        may a contract be closed (true-up, deposit remainder, retainage release)."""
        return self.invalid_count == 0 and not self.flagged

    def contract_problem(self, live: list[Milestone]) -> str | None:
        percents = [m for m in live if m.percent is not None]
        if not percents:
            return None
        if self.c.value is None:
            return (
                f"contract {self.c.id} has percent milestones but no value; "
                'add value = "..." to the contract in the config'
            )
        total = sum((m.percent for m in percents if m.percent is not None), ZERO)
        if total > HUNDRED:
            where = ", ".join(f"{m.id} ({m.where})" if m.where else m.id for m in percents)
            return (
                f"the milestones of contract {self.c.id} add up to {percent_text(total)}% "
                f"of its value; they must total 100% or less: {where}"
            )
        return None

    def bill_deposit(self) -> None:
        line = deposit_line(self.c)
        if line is not None:
            self.plan(Kind.DEPOSIT, (), self.c.start or self.as_of, [line], self.terms())
            self.tally.deposit_invoiced = True

    def classify(self, started: bool) -> list[Milestone]:
        """The milestones billable tonight; every other one is skipped with its reason."""
        candidates = []
        for m in self.milestones:
            if m.id in self.flagged:
                continue
            why = self.why_not(m, started)
            if why is None:
                candidates.append(m)
            else:
                self.skip(m, *why)
        return candidates

    def why_not(self, m: Milestone, started: bool) -> tuple[Reason, str] | None:
        if m.id in self.billed:
            h = self.billed[m.id]
            return Reason.ALREADY_INVOICED, f"milestone {m.id} is on invoice {h.number or h.key}"
        if m.status is Status.CANCELLED:
            return Reason.CANCELLED, f"milestone {m.id} is cancelled"
        if m.status is Status.OPEN or m.completed is None or m.completed > self.as_of:
            return Reason.NOT_DONE, f"milestone {m.id} is not done yet"
        if self.rules.approval == "required" and (m.accepted is None or m.accepted > self.as_of):
            return (
                Reason.AWAITING_APPROVAL,
                f"milestone {m.id} is done but the client has not accepted it",
            )
        if not started:
            return Reason.CONTRACT_NOT_STARTED, f"contract {self.c.id} starts on {self.c.start}"
        return None

    def bill_milestone(self, m: Milestone, remaining: set[str], live: list[Milestone]) -> bool:
        day = self.invoice_date(m)
        gross, lines = self.gross_lines(m, day)
        is_last = remaining == {m.id} and self.settled()
        extra, trued = ZERO, day
        if is_last:
            # The true-up covers the change orders approved by this invoice's own date (or the
            # latest milestone invoice's, which a reissued early milestone is not).
            last = self.tally.last_milestone_date
            trued = max(day, last) if last else day
            this_gross = gross if m.percent else ZERO
            extra = adjustment(self.c, self.tally, live, self.value_on(trued), this_gross)
        if self.held_at_cap(m, gross + extra):
            return False
        if extra:
            first = self.valued_from
            if m.percent is not None:
                first = min(first, day) if first else day
            lines.append(true_up_line(self.c, first, trued, extra))
        lines += deposit_applied(self.c, self.tally, gross, is_last)
        lines += retainage_lines(self.c, self.tally, m, gross + extra, lines, is_last)
        self.plan(Kind.MILESTONE, (m.id,), day, lines, self.terms(m), billed=(m,))
        self.tally.billed_on(day)
        if m.percent is not None:
            self.valued(day)
        if is_last:
            self.trued_up(trued)
            self.closing_day = day
        return True

    def gross_lines(self, m: Milestone, day: date) -> tuple[Decimal, list[Line]]:
        """The work line: the fixed amount, or the percent of the value as of `day`."""
        if m.percent is None:
            gross = m.amount or ZERO
            return gross, [Line(m.title or m.id, gross, Role.FIXED, m.id)]
        value = self.value_on(day)
        gross = self.money(percent_of(m.percent, value))
        text = f"{m.title or m.id} ({percent_text(m.percent)}% of {self.show(value)})"
        return gross, [Line(text, gross, Role.PERCENT, m.id)]

    def held_at_cap(self, m: Milestone, billed: Decimal) -> bool:
        cap = self.cap()
        if cap is None or self.tally.gross + billed <= cap:
            return False
        self.skip(
            m,
            Reason.EXCEEDS_CAP,
            f"billing {m.id} ({self.show(billed)}) would bring contract "
            f"{self.c.id} to {self.show(self.tally.gross + billed)}, above "
            f"its cap of {self.show(cap)}; it is billed on the first night there is room",
        )
        return True
