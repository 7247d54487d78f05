"""Billing decisions: which milestones are billed, on which invoices, with which lines.

Pure: the same contracts, milestones, history and as-of date always give the same decisions. It
never reads a file, the database or the network, and it never rounds except through
`connector.money.round_money`, once per line.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from functools import cached_property

from connector.models import (
    PROBLEM_REASONS,
    BilledInvoice,
    BillingRules,
    Contract,
    InvalidMilestone,
    Kind,
    Line,
    Milestone,
    Notice,
    PlannedInvoice,
    Reason,
    Role,
    Skip,
    Status,
)
from connector.money import (
    HUNDRED,
    MoneyError,
    check_places,
    div,
    fmt,
    mul,
    percent_of,
    percent_text,
    round_money,
)
from connector.perf import paused_gc
from connector.sync.closeout import adjustment_label, orders_between, unbilled_remainder

ZERO = Decimal(0)


@dataclass(slots=True)
class Decisions:
    invoices: list[PlannedInvoice] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)  # contract-wide, for a person
    caveats: list[str] = field(default_factory=list)  # what a plan could not take into account

    @property
    def problems(self) -> list[Skip]:
        return [s for s in self.skipped if s.reason in PROBLEM_REASONS]


@dataclass(slots=True)
class _Tally:
    """Running totals of a contract's active invoices, updated as this run adds lines."""

    gross: Decimal = ZERO  # fixed + percent + change-order adjustments
    percent_gross: Decimal = ZERO  # percent + change-order adjustments
    deposit: Decimal = ZERO
    deposit_invoiced: bool = False
    deposit_applied: Decimal = ZERO
    withheld: Decimal = ZERO
    released: Decimal = ZERO
    milestone_invoices: int = 0
    last_milestone_date: date | None = None  # the contract's value is final as of this day

    def billed_on(self, day: date | None) -> None:
        self.milestone_invoices += 1
        if day is not None and (self.last_milestone_date is None or day > self.last_milestone_date):
            self.last_milestone_date = day

    def add(self, lines: Iterable[Line], sign: int = 1) -> None:
        for line in lines:
            for attr, factor in _TALLIES[line.role]:
                setattr(self, attr, getattr(self, attr) + line.amount * (sign * factor))


# Which running totals each kind of line moves, and in which direction.
_TALLIES: dict[Role, tuple[tuple[str, int], ...]] = {
    Role.FIXED: (("gross", 1),),
    Role.PERCENT: (("gross", 1), ("percent_gross", 1)),
    Role.CO_ADJUSTMENT: (("gross", 1), ("percent_gross", 1)),
    Role.DEPOSIT: (("deposit", 1),),
    Role.DEPOSIT_APPLIED: (("deposit_applied", -1),),
    Role.RETAINAGE: (("withheld", -1),),
    Role.RETAINAGE_RELEASE: (("released", 1),),
    Role.CREDIT: (),
}

# Documents that bill the contract's end; they wait for every earlier document's confirmation.
_CLOSING_KINDS = frozenset({Kind.ADJUSTMENT, Kind.RETAINAGE, Kind.CLOSEOUT})


@paused_gc()
def decide(
    contracts: Mapping[str, Contract],
    milestones: Sequence[Milestone],
    invalid: Sequence[InvalidMilestone],
    history: Sequence[BilledInvoice],
    rules: BillingRules,
    as_of: date,
) -> Decisions:
    """Decide every milestone: billed on a planned invoice, or skipped with a reason."""
    out = Decisions()
    by_contract: dict[str, list[Milestone]] = defaultdict(list)
    invalid = list(invalid)
    for m in milestones:
        contract = contracts.get(m.contract)
        if contract is not None and m.currency and m.currency != contract.currency:
            # An amount typed in another currency is never billed as if it were this one.
            invalid.append(
                InvalidMilestone(
                    m.id,
                    m.contract,
                    f"milestone {m.id} ({m.where}): its amount is in {m.currency}, but contract "
                    f"{m.contract} bills in {contract.currency}; change one of them",
                    m.where,
                )
            )
        elif contract is not None:
            by_contract[m.contract].append(m)
        else:
            out.skipped.append(
                Skip(
                    m.id,
                    m.contract,
                    Reason.UNKNOWN_CONTRACT,
                    f"milestone {m.id} ({m.where}) names contract {m.contract!r}, which is not "
                    f"in the config; known contracts: {', '.join(sorted(contracts)) or 'none'}",
                )
            )
    invalid_by_contract: dict[str, int] = defaultdict(int)
    for bad in invalid:
        out.skipped.append(Skip(bad.id or "?", bad.contract, Reason.INVALID_MILESTONE, bad.message))
        if bad.contract:
            invalid_by_contract[bad.contract] += 1
    history_by_contract: dict[str, list[BilledInvoice]] = defaultdict(list)
    for h in history:
        history_by_contract[h.contract].append(h)
    invalid_ids = {bad.id for bad in invalid if bad.id}
    for contract_id in sorted(contracts):
        _ContractBilling(
            contracts[contract_id],
            by_contract.get(contract_id, []),
            invalid_by_contract.get(contract_id, 0),
            invalid_ids,
            history_by_contract.get(contract_id, []),
            rules,
            as_of,
            out,
        ).run()
    return out


class _ContractBilling:
    """One contract's decisions for one run; the state lives only for the call."""

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
        self.history = history
        self.rules = rules
        self.as_of = as_of
        self.out = out
        self.tally = _Tally()
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
        self.planned_keys: list[str] = []  # this run's documents for the contract
        for h in history:
            if h.active:
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
        return f"{fmt(value)} {self.c.currency}"

    def valued(self, day: date) -> None:
        if self.valued_from is None or day < self.valued_from:
            self.valued_from = day

    def trued_up(self, day: date) -> None:
        if self.trued_up_to is None or day > self.trued_up_to:
            self.trued_up_to = day

    @cached_property
    def retainage_label(self) -> str:
        return f"Retainage withheld ({percent_text(self.c.retainage or ZERO)}%)"

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
        **extra: object,
    ) -> PlannedInvoice:
        delta = self._terms.get(terms)
        if delta is None:
            delta = self._terms[terms] = timedelta(days=terms)
        if kind in _CLOSING_KINDS:
            extra["after"] = (*self.unconfirmed, *self.planned_keys)
        invoice = PlannedInvoice(
            self.rules.business,
            self.c.id,
            self.c.customer,
            self.c.currency,
            kind,
            milestones,
            day,
            day + delta,
            tuple(lines),
            self.revisions[(kind, milestones)],
            **extra,  # type: ignore[arg-type]
        )
        self.out.invoices.append(invoice)
        self.planned_keys.append(invoice.key)
        self.revisions[(kind, milestones)] += 1
        self.tally.add(lines)
        return invoice

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

    def deposit_amount(self) -> Decimal:
        spec = self.c.deposit
        assert spec is not None
        if spec.amount is not None:
            return spec.amount
        return self.money(percent_of(spec.percent or ZERO, self.c.value or ZERO))

    # -- the run -------------------------------------------------------------------------------

    def run(self) -> None:
        self.drop_unbillable_amounts()
        live = [m for m in self.milestones if m.status is not Status.CANCELLED]
        problem = self.contract_problem(live)
        if problem:
            for m in self.milestones:
                self.skip(m, Reason.INVALID_CONTRACT, problem)
            return
        self.handle_changes()
        started = self.c.started_by(self.as_of)
        if self.c.deposit is not None and not self.tally.deposit_invoiced and started:
            self.bill_deposit()
        candidates = self.classify(started)
        remaining = {m.id for m in live if m.id not in self.billed}
        for m in sorted(candidates, key=lambda m: (self.invoice_date(m), m.id)):
            if self.bill_milestone(m, remaining, live):
                remaining.discard(m.id)
        if not remaining and self.settled() and self.tally.milestone_invoices:
            self.close_out(live)

    def drop_unbillable_amounts(self) -> None:
        """A fixed amount finer than the contract currency's minor unit (10.005 USD) is the
        milestone's error: it is reported, never rounded away."""
        kept = []
        for m in self.milestones:
            try:
                if m.amount is not None:  # 100 -> 100.00: shown and billed at the minor unit
                    amount = check_places(m.amount, self.c.currency)
                    if amount.as_tuple().exponent != m.amount.as_tuple().exponent:
                        m = replace(m, amount=amount)
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

    def handle_changes(self) -> None:
        """Milestones invoiced earlier whose amount, percent, contract or status has changed."""
        current = {m.id: m for m in self.milestones}
        for mid, old in sorted(self.billed.items()):
            if mid in self.invalid_ids:
                continue
            m = current.get(mid)
            old_hash = dict(old.milestone_hashes).get(mid)
            if m is not None and m.content_hash() == old_hash:
                continue
            what = (
                "was removed from the tracker"
                if m is None
                else "changed (amount, percent, contract or status)"
            )
            label = old.number or old.key
            if self.rules.on_change != "credit-and-reissue":
                self.flagged.add(mid)
                self.skip(
                    mid,
                    Reason.CHANGED_AFTER_INVOICING,
                    f"milestone {mid} {what} after it was invoiced on {label}; "
                    "check it, then credit the invoice in the ledger or restore the milestone",
                )
                continue
            # A credit note cannot be voided like an invoice; it is reversed by an invoice.
            unpaid = old.paid == ZERO and old.total > 0
            action = "void" if unpaid else ("credit note for" if old.total > 0 else "reverse")
            document = "invoice" if old.total > 0 else "credit note"
            self.plan(
                Kind.CREDIT,
                (mid,),
                self.as_of,
                [
                    Line(
                        f"{action.capitalize()} {document} {label}: milestone {mid} {what}",
                        -old.total,
                        Role.CREDIT,
                        mid,
                    )
                ],
                0,
                replaces=old.key,
                void_instead=unpaid,
            )
            # The credited invoice no longer counts; the milestone is billed afresh below.
            self.tally.add(old.lines, sign=-1)
            self.tally.milestone_invoices -= 1
            del self.billed[mid]

    def bill_deposit(self) -> None:
        spec = self.c.deposit
        assert spec is not None
        amount = self.deposit_amount()
        if amount == ZERO:  # a 0% deposit is no deposit: no empty invoice
            return
        if spec.percent is not None:
            text = f"Deposit ({percent_text(spec.percent)}% of {self.show(self.c.value or ZERO)})"
        else:
            text = "Deposit"
        self.plan(
            Kind.DEPOSIT,
            (),
            self.c.start or self.as_of,
            [Line(text, amount, Role.DEPOSIT)],
            self.terms(),
        )
        self.tally.deposit_invoiced = True

    def classify(self, started: bool) -> list[Milestone]:
        candidates = []
        for m in self.milestones:
            if m.id in self.flagged:
                continue
            if m.id in self.billed:
                h = self.billed[m.id]
                self.skip(
                    m,
                    Reason.ALREADY_INVOICED,
                    f"milestone {m.id} is on invoice {h.number or h.key}",
                )
            elif m.status is Status.CANCELLED:
                self.skip(m, Reason.CANCELLED, f"milestone {m.id} is cancelled")
            elif m.status is Status.OPEN or m.completed is None or m.completed > self.as_of:
                self.skip(m, Reason.NOT_DONE, f"milestone {m.id} is not done yet")
            elif self.rules.approval == "required" and (
                m.accepted is None or m.accepted > self.as_of
            ):
                self.skip(
                    m,
                    Reason.AWAITING_APPROVAL,
                    f"milestone {m.id} is done but the client has not accepted it",
                )
            elif not started:
                self.skip(
                    m, Reason.CONTRACT_NOT_STARTED, f"contract {self.c.id} starts on {self.c.start}"
                )
            else:
                candidates.append(m)
        return candidates

    def bill_milestone(self, m: Milestone, remaining: set[str], live: list[Milestone]) -> bool:
        day = self.invoice_date(m)
        gross, lines = self.gross_lines(m, day)
        is_last = remaining == {m.id} and self.settled()
        adjustment, trued = ZERO, day
        if is_last:
            # The true-up covers the change orders approved by this invoice's own date (or the
            # latest milestone invoice's, which a reissued early milestone is not).
            last = self.tally.last_milestone_date
            trued = max(day, last) if last else day
            adjustment = self.adjustment(live, self.value_on(trued), gross if m.percent else ZERO)
        if self.held_at_cap(m, gross + adjustment):
            return False
        if adjustment:
            lines.append(self.true_up_line(m, day, trued, adjustment))
        lines += self.deposit_applied(gross, is_last)
        lines += self.retainage_lines(m, gross + adjustment, lines, is_last)
        self.plan(
            Kind.MILESTONE,
            (m.id,),
            day,
            lines,
            self.terms(m),
            billed_milestones=(m,),
        )
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

    def true_up_line(self, m: Milestone, day: date, trued: date, adjustment: Decimal) -> Line:
        """Named for the change orders some percent line was billed without."""
        first = self.valued_from
        if m.percent is not None:
            first = min(first, day) if first else day
        covered = orders_between(self.c, first, trued)
        return Line(adjustment_label(covered), adjustment, Role.CO_ADJUSTMENT)

    def retainage_lines(
        self, m: Milestone, work: Decimal, lines: list[Line], is_last: bool
    ) -> list[Line]:
        """Retainage follows completed work, change-order work included. On the last invoice,
        more released than is now withheld (a reissued milestone withheld less) is settled
        here, never as a negative release invoice."""
        out = []
        withheld = self.money(percent_of(work, self.c.retainage)) if self.c.retainage else ZERO
        if withheld:
            out.append(Line(self.retainage_label, -withheld, Role.RETAINAGE, m.id))
        if is_last:
            over = (
                self.tally.withheld
                - self.tally.released
                + sum(-ln.amount for ln in [*lines, *out] if ln.role is Role.RETAINAGE)
            )
            if over < 0:
                out.append(Line("Retainage release adjustment", over, Role.RETAINAGE_RELEASE))
        return out

    def adjustment(self, live: list[Milestone], value: Decimal, this_gross: Decimal) -> Decimal:
        """What brings the percent milestones' gross to their share of `value`."""
        total_percent = sum((m.percent for m in live if m.percent is not None), ZERO)
        if not total_percent:
            return ZERO
        target = self.money(percent_of(total_percent, value))
        return target - (self.tally.percent_gross + this_gross)

    def deposit_applied(self, gross: Decimal, is_last: bool) -> list[Line]:
        if self.c.deposit is None or self.tally.deposit == ZERO:
            return []
        left = self.tally.deposit - self.tally.deposit_applied
        if is_last or not self.c.value:
            applied = left
        else:
            applied = min(self.money(div(mul(gross, self.tally.deposit), self.c.value)), left)
        return [Line("Deposit applied", -applied, Role.DEPOSIT_APPLIED)] if applied else []

    # -- the contract's end --------------------------------------------------------------------

    closing_day: date | None = None  # the last milestone's invoice date, when billed this run

    def close_out(self, live: list[Milestone]) -> None:
        """Every live milestone is billed. Each night, bill what is still owed either way: a
        change order approved since the last true-up, the deposit not yet applied, the
        retainage still held. Each waits for the ledger to confirm every earlier document."""
        self.bill_late_change_orders(live)
        lines = self.deposit_applied(ZERO, True)
        outstanding = self.tally.withheld - self.tally.released
        if outstanding:
            lines.insert(0, Line("Retainage release", outstanding, Role.RETAINAGE_RELEASE))
        if lines:
            kind = Kind.RETAINAGE if outstanding else Kind.CLOSEOUT
            self.plan(kind, (), self.closing_day or self.as_of, lines, self.terms())
        self.report_unbilled(live)

    def bill_late_change_orders(self, live: list[Milestone]) -> None:
        """Change orders approved after the contract's last true-up get their own document,
        dated on the (latest) approval: an invoice when positive, a credit note when negative.
        No retainage or deposit: the work is done and the retainage released."""
        needed = self.adjustment(live, self.value_on(self.as_of), ZERO)
        if not needed:
            return
        covered = orders_between(self.c, self.trued_up_to, self.as_of)
        if self.rules.invoice_date == "sync" or not covered:
            day = self.as_of
        else:
            day = max(covered[-1].approved, self.trued_up_to or covered[-1].approved)
        if not covered:  # a change order dated before the last true-up (entered late)
            covered = orders_between(self.c, self.valued_from, self.as_of)
        cap = self.cap()
        if needed > 0 and cap is not None and self.tally.gross + needed > cap:
            self.notice(
                f"contract {self.c.id}: the change order adjustment of {self.show(needed)} "
                f"would bring it to {self.show(self.tally.gross + needed)}, above its cap of "
                f"{self.show(cap)}; raise the cap or correct the milestones"
            )
            return
        line = Line(adjustment_label(covered), needed, Role.CO_ADJUSTMENT)
        self.plan(Kind.ADJUSTMENT, (), day, [line], self.terms())
        self.trued_up(day)

    def report_unbilled(self, live: list[Milestone]) -> None:
        left = unbilled_remainder(self.c, live, self.as_of)
        if left:
            self.notice(
                f"contract {self.c.id}: every milestone is billed, but {self.show(left)} of its "
                f"value of {self.show(self.value_on(self.as_of))} is on no milestone; add a "
                "milestone for it, or a change order if the contract is worth less"
            )
