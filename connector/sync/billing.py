"""Billing decisions: which milestones are billed, on which documents, with which lines, as the
typed actions (`connector.sync.actions`) the engine carries out.

Pure: the same contracts, milestones, history and as-of date always give the same decisions. It
never reads a file, the database or the network, and it never rounds except through
`connector.money.round_money`, once per line. This module sorts the milestones by contract;
`billing_contract` decides each contract.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from connector.models import (
    PROBLEM_REASONS,
    BilledInvoice,
    BillingRules,
    Contract,
    InvalidMilestone,
    Milestone,
    Notice,
    PlannedInvoice,
    Reason,
    Skip,
)
from connector.perf import paused_gc
from connector.sync.actions import Action, documents
from connector.sync.billing_contract import ContractBilling


@dataclass(slots=True)
class Decisions:
    actions: list[Action] = field(default_factory=list)  # in the order billing decided them
    skipped: list[Skip] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)  # contract-wide, for a person
    caveats: list[str] = field(default_factory=list)  # what a plan could not take into account
    # the key of each document among the actions (all but the `Settle`s), in order, when
    # billing made them: a key hashes its document, and a first night has 100,000s
    keys: list[str] = field(default_factory=list)

    @property
    def invoices(self) -> list[PlannedInvoice]:
        """The documents among the actions (every one but a `Settle`), as a plan lists them."""
        return documents(self.actions)

    @property
    def problems(self) -> list[Skip]:
        return [s for s in self.skipped if s.reason in PROBLEM_REASONS]


@paused_gc()
def decide(
    contracts: Mapping[str, Contract],
    milestones: Sequence[Milestone],
    invalid: Sequence[InvalidMilestone],
    history: Sequence[BilledInvoice],
    rules: BillingRules,
    as_of: date,
) -> Decisions:
    """Decide every milestone: billed on a planned document, or skipped with a reason."""
    out = Decisions()
    invalid = list(invalid)
    by_contract = _by_contract(contracts, milestones, invalid, out)
    invalid_by_contract: dict[str, int] = defaultdict(int)
    for bad in invalid:
        out.skipped.append(invalid_skip(bad))
        if bad.contract:
            invalid_by_contract[bad.contract] += 1
    history_by_contract: dict[str, list[BilledInvoice]] = defaultdict(list)
    for h in history:
        history_by_contract[h.contract].append(h)
    invalid_ids = {bad.id for bad in invalid if bad.id}
    for contract_id in sorted(contracts):
        ContractBilling(
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


def _by_contract(
    contracts: Mapping[str, Contract],
    milestones: Sequence[Milestone],
    invalid: list[InvalidMilestone],
    out: Decisions,
) -> dict[str, list[Milestone]]:
    """The milestones of each known contract. One naming an unknown contract is skipped; one
    whose amount is in another currency than its contract's is invalid (added to `invalid`):
    it is never billed as if it were in the contract's."""
    by_contract: dict[str, list[Milestone]] = defaultdict(list)
    for m in milestones:
        contract = contracts.get(m.contract)
        if contract is not None and m.currency and m.currency != contract.currency:
            invalid.append(other_currency(m, contract.currency))
        elif contract is not None:
            by_contract[m.contract].append(m)
        else:
            out.skipped.append(unknown_contract(m, contracts))
    return by_contract


def other_currency(m: Milestone, currency: str) -> InvalidMilestone:
    """A milestone whose amount is in another currency than its contract's `currency`."""
    return InvalidMilestone(
        m.id,
        m.contract,
        f"milestone {m.id} ({m.where}): its amount is in {m.currency}, but contract "
        f"{m.contract} bills in {currency}; change one of them",
        m.where,
    )


def unknown_contract(m: Milestone, contracts: Mapping[str, Contract]) -> Skip:
    return Skip(
        m.id,
        m.contract,
        Reason.UNKNOWN_CONTRACT,
        f"milestone {m.id} ({m.where}) names contract {m.contract!r}, which is not "
        f"in the config; known contracts: {', '.join(sorted(contracts)) or 'none'}",
    )


def invalid_skip(bad: InvalidMilestone) -> Skip:
    return Skip(bad.id or "?", bad.contract, Reason.INVALID_MILESTONE, bad.message)
