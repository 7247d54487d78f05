"""What needs a person, from the state alone: every milestone kept from being billed and every
invoice kept from being confirmed, paid or emailed, each an `Attention` with the money it holds
up. `connector.sync.status` puts them in the status; the overview adds what only the config
and the keyring know (a failed sync's words, a lapsing connection).

It reads records it is handed; it never writes, and never calls a ledger or a tracker.

Amounts held up: a milestone's own value on its contract (its amount, or its percent of the
contract's value as of the day), before the deposit it draws down and the retainage withheld:
what a bookkeeper quotes when asked what a stuck milestone is worth. An invoice's, its total
(its balance for one that was not emailed, which the client has not been asked for).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal

from connector.models import PROBLEM_REASONS, Contract, Kind, Milestone, Status
from connector.money import fmt, percent_of, round_money
from connector.sync import schema
from connector.sync.closeout import unbilled_remainder
from connector.sync.rows import InvoiceRow, label
from connector.sync.state import MilestoneNote
from connector.sync.status_records import Attention, ContractStatus, Trouble
from connector.validation import printable

ZERO = Decimal(0)

# The invoice rows' states a status names as a problem, and how.
ROW_TROUBLE = {
    schema.FAILED: Trouble.PUSH_REFUSED,
    schema.PUSHING: Trouble.UNCONFIRMED,
    schema.VOIDED_IN_LEDGER: Trouble.VOIDED_IN_LEDGER,
}


def attention(
    contracts: Mapping[str, Contract],
    shown: Sequence[ContractStatus],
    milestones: Sequence[MilestoneNote],
    rows: Sequence[InvoiceRow],
    problems: Sequence[str],
    as_of: date,
) -> list[Attention]:
    """Everything that needs a person: the milestones held or invalid, those the last sync
    should have billed and did not, the invoices refused, unconfirmed, voided in the ledger or
    not emailed, credit nobody used, value on no milestone, and each problem of the last sync
    (`problems`) that none of these already says."""
    out = milestone_problems(milestones, contracts, as_of)
    out += not_billed(milestones, rows, contracts, problems, as_of)
    out += [
        Attention(
            Trouble.CREDIT,
            f"contract {c.contract}: {c.customer} holds a credit of {fmt(c.credit)} {c.currency}; "
            "refund it or set it against their next invoice in the ledger",
            contract=c.contract,
            amount=c.credit,
            currency=c.currency,
        )
        for c in shown
        if c.credit and c.customer is not None
    ]
    out += unbilled_notices(contracts, milestones, rows, as_of)
    out += row_problems(rows)
    return out + _untold(problems, out, rows)


def milestone_value(m: Milestone, c: Contract | None, as_of: date) -> Decimal | None:
    """What a milestone bills of its contract before deposit and retainage, or None when that
    cannot be known (no contract, a percent of a contract without a value)."""
    if c is None:
        return None
    if m.amount is not None:
        return m.amount
    if m.percent is None or c.value is None:
        return None
    return round_money(percent_of(m.percent, c.value_on(as_of)), c.currency)


def _held_up(
    notes: Iterable[MilestoneNote], c: Contract | None, as_of: date
) -> tuple[Decimal | None, str | None]:
    """The sum of the milestones' values in their contract's currency; None if any is unknown."""
    if c is None:
        return None, None
    total = ZERO
    for note in notes:
        record = note.record()
        value = milestone_value(record, c, as_of) if isinstance(record, Milestone) else None
        if value is None:
            return None, None
        total += value
    return total, c.currency


def milestone_problems(
    milestones: Iterable[MilestoneNote], contracts: Mapping[str, Contract], as_of: date
) -> list[Attention]:
    """Milestones whose skip reason needs a person; one item per contract and message, so a
    contract held whole is one item naming its milestones, not one per milestone."""
    groups: dict[tuple[str | None, str], list[MilestoneNote]] = {}
    for note in milestones:
        if note.reason in PROBLEM_REASONS:
            groups.setdefault((note.contract, note.message or str(note.reason)), []).append(note)
    out = []
    for (cid, message), notes in groups.items():
        ids = tuple(printable(n.milestone) for n in notes)
        amount, currency = _held_up(notes, contracts.get(cid or ""), as_of)
        out.append(
            Attention(
                Trouble.MILESTONE,
                f"{', '.join(ids)}: {message}",
                contract=cid,
                milestones=ids,
                amount=amount,
                currency=currency,
            )
        )
    return out


def not_billed(
    milestones: Iterable[MilestoneNote],
    rows: Iterable[InvoiceRow],
    contracts: Mapping[str, Contract],
    problems: Sequence[str],
    as_of: date,
) -> list[Attention]:
    """Milestones the last sync found billable (it gave them no skip reason) that are on no
    invoice row at all: their push never started (the ledger refused the customer, the run
    stopped first). One item per contract, with the last sync's words about that contract."""
    on_rows: set[str] = set()
    for row in rows:
        on_rows.update(row.milestones)
    waiting: dict[str, list[MilestoneNote]] = {}
    for note in milestones:
        if (
            note.reason is None
            and note.status is Status.DONE
            and note.contract is not None
            and note.milestone not in on_rows
        ):
            waiting.setdefault(note.contract, []).append(note)
    about: dict[str, list[str]] = {}  # the last sync's words, by the contract they start with
    for problem in dict.fromkeys(problems) if waiting else ():
        cid = _contract_of(problem)
        if cid is not None:
            about.setdefault(cid, []).append(problem)
    out = []
    for cid, notes in sorted(waiting.items()):
        ids = tuple(n.milestone for n in notes)
        why = "; ".join(about.get(cid, ())) or "the last sync made no invoice for them; see its log"
        amount, currency = _held_up(notes, contracts.get(cid), as_of)
        out.append(
            Attention(
                Trouble.NOT_BILLED,
                f"{', '.join(ids)} ({cid}): not billed: {why}",
                contract=cid,
                milestones=ids,
                amount=amount,
                currency=currency,
            )
        )
    return out


def row_problems(rows: Iterable[InvoiceRow]) -> list[Attention]:
    out = []
    for row in rows:
        kind = ROW_TROUBLE.get(row.state)
        if kind is not None:
            out.append(_row(row, kind, _row_message(row, kind), row.total))
        if row.delivery == schema.Delivery.REFUSED:
            out.append(_row(row, Trouble.EMAIL_REFUSED, refused_notice(row), row.balance))
    return out


def _row_message(row: InvoiceRow, kind: Trouble) -> str:
    if kind is Trouble.PUSH_REFUSED:
        return f"{row.number or row.reference} ({row.contract}): push failed: {row.error}"
    if kind is Trouble.UNCONFIRMED:
        return (
            f"{row.reference} ({row.contract}): not yet confirmed by the "
            "ledger; the next sync checks before sending again"
        )
    return (
        f"{row.number} ({row.contract}): voided or deleted in the "
        "ledger; its milestone will not be billed again automatically"
    )


def _row(row: InvoiceRow, kind: Trouble, message: str, amount: Decimal) -> Attention:
    return Attention(
        kind,
        message,
        contract=row.contract,
        milestones=row.milestones,
        invoice=row.number or row.reference,
        amount=abs(amount),
        currency=row.currency,
    )


def refused_notice(row: InvoiceRow) -> str:
    """An invoice the ledger would not email to the client, and why, in one sentence."""
    why = row.error or "the ledger refused to send it (the last sync's problems say why)"
    return (
        f"{row.number or row.reference} ({row.contract}): could not be emailed to "
        f"{row.customer or 'the client'}: {why}; the next sync tries again"
    )


def unbilled_notices(
    contracts: Mapping[str, Contract],
    milestones: Iterable[MilestoneNote],
    rows: Iterable[InvoiceRow],
    as_of: date,
) -> list[Attention]:
    """Contracts whose every milestone is billed while part of their value is on none. Only
    those contracts' milestone records are decoded."""
    billed: set[str] = set()
    for row in rows:
        if row.kind == Kind.MILESTONE and row.state in schema.ACTIVE_STATES:
            billed.update(row.milestones)
    by_contract: dict[str, list[MilestoneNote]] = {}
    for note in milestones:
        if note.status is not None and note.contract is not None:
            by_contract.setdefault(note.contract, []).append(note)
    out = []
    for cid, known in sorted(by_contract.items()):
        c = contracts.get(cid)
        live = [n for n in known if n.status is not Status.CANCELLED]
        if c is not None and live and all(n.milestone in billed for n in live):
            records = [n.record() for n in live]
            out += _unbilled_value(cid, c, [m for m in records if isinstance(m, Milestone)], as_of)
    return out


def _unbilled_value(cid: str, c: Contract, live: list[Milestone], as_of: date) -> list[Attention]:
    left = unbilled_remainder(c, live, as_of)
    if not left:
        return []
    message = (
        f"contract {cid}: every milestone is billed, but {fmt(left)} {c.currency} of "
        f"its value of {fmt(c.value_on(as_of))} {c.currency} is on no milestone; add a "
        "milestone for it, or a change order if the contract is worth less"
    )
    return [Attention(Trouble.UNBILLED_VALUE, message, cid, amount=left, currency=c.currency)]


def _untold(
    problems: Sequence[str], told: Sequence[Attention], rows: Iterable[InvoiceRow]
) -> list[Attention]:
    """The last sync's problems that no item already says: the same words (a milestone's skip
    reason), words an item quotes (a contract's, under its milestones not billed), or words
    about an invoice row an item names (by its label, number or reference). Each test is a
    set lookup: a night the ledger refused 77,000 invoices has as many problems as items."""
    said = {a.message for a in told}
    said |= {a.message.split(": ", 1)[-1] for a in told if a.kind is Trouble.MILESTONE}
    quoting = {a.contract for a in told if a.kind is Trouble.NOT_BILLED}
    named = {a.invoice for a in told if a.invoice}
    labels = {label(r) for r in rows if (r.number or r.reference) in named}
    # "5 invoice(s) not confirmed by the ledger (...)": a batch's words, its rows are listed
    unconfirmed = any(a.kind is Trouble.UNCONFIRMED for a in told)
    out = []
    for problem in dict.fromkeys(problems):
        if problem in said or problem.split(":", 1)[0] in labels:
            continue
        if _contract_of(problem) in quoting:
            continue
        if named and any(word in named for word in _WORDS.findall(problem)):
            continue
        if unconfirmed and " not confirmed" in problem and not problem.startswith("contract "):
            continue
        out.append(Attention(Trouble.LAST_SYNC, f"the last sync: {problem}"))
    return out


def _contract_of(problem: str) -> str | None:
    """The contract a problem is about when it starts by naming it ("contract BETA-APP: ...",
    "contract ACME-WEB, retainage invoice: ...")."""
    head = problem.split(":", 1)[0]
    return head.removeprefix("contract ").split(",")[0] if head.startswith("contract ") else None


# The words of a message that may be an invoice's number or reference (INV-1002, MC-1A2B, 1002).
_WORDS = re.compile(r"[A-Za-z0-9][\w./-]*")
