"""The outbox rows a run writes and the ledger requests it builds from them.

A planned invoice becomes a row (its intent) before any ledger call; the request is rebuilt from
that row, so a re-send after a crash carries the same key and content. Pure functions: nothing
here calls the ledger or opens the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.adapters.base import CustomerRef, InvoiceRequest, RemoteInvoice
from connector.models import PlannedInvoice
from connector.money import to_minor
from connector.sync import schema
from connector.sync.rows import Change, InvoiceRow, RowUpdate
from connector.sync.schema import OutboxAction


def intent_row(p: PlannedInvoice) -> InvoiceRow:
    """The row committed as `pushing` before the ledger sees the invoice."""
    return InvoiceRow(
        key=p.key,
        reference=p.reference,
        action=OutboxAction.VOID if p.void_instead else OutboxAction.CREATE,
        contract=p.contract,
        customer=p.customer,
        kind=p.kind,
        milestones=p.milestones,
        milestone_hashes=p.milestone_hashes,
        revision=p.revision,
        currency=p.currency,
        invoice_date=p.date,
        due_date=p.due_date,
        lines=p.lines,
        total_minor=to_minor(p.total, p.currency),
        replaces=p.replaces,
    )


def invoice_request(
    row: InvoiceRow, customer: CustomerRef, credited: InvoiceRow | None = None
) -> InvoiceRequest:
    """`credited` is the row of the invoice a credit note credits (or is set against), so the
    ledger can settle that invoice with it."""
    milestones = row.milestones
    memo = (
        f"{row.contract}: {', '.join(milestones)}" if milestones else f"{row.contract}: {row.kind}"
    )
    request = InvoiceRequest(
        key=row.key,
        reference=row.reference,
        customer=customer,
        currency=row.currency,
        kind=row.kind,
        date=row.invoice_date,
        due_date=row.due_date,
        lines=row.lines,
        memo=memo,
    )
    if credited is not None and request.is_credit_note:
        request = replace(request, credits_ledger_id=credited.ledger_id)
    return request


def credit_targets(
    chunk: Sequence[InvoiceRow], known: Sequence[InvoiceRow]
) -> dict[str, InvoiceRow]:
    """For each credit note in `chunk` that retires nothing (lines that netted below zero),
    the contract's oldest invoice still owing at least as much, to set it against; a ledger
    that allocates credits explicitly (Xero) does so. With none, the credit stays with the
    customer, and status shows it as a credit."""
    open_rows = sorted(
        (
            r
            for r in known
            if r.action == "create"
            and r.state in (schema.PUSHED, schema.PARTIALLY_PAID)
            and r.ledger_id
            and r.total_minor > 0
        ),
        key=lambda r: (r.invoice_date, r.id),
    )
    targets = {}
    for row in chunk:
        if row.replaces or row.total_minor >= 0:
            continue
        owed = -row.total_minor
        for candidate in open_rows:
            balance = candidate.balance_minor
            if (
                candidate.contract == row.contract
                and candidate.currency == row.currency
                and (balance if balance is not None else candidate.total_minor) >= owed
            ):
                targets[row.key] = candidate
                break
    return targets


def pushed_changes(
    row: InvoiceRow,
    remote: RemoteInvoice,
    replaced: InvoiceRow | None = None,
    *,
    applied_to: InvoiceRow | None = None,
) -> list[Change]:
    """The ledger has the document: the row is pushed, and what it replaces is credited. A
    credit note the ledger already set against that invoice, or against the open invoice it
    was `applied_to` (Xero), lowers that invoice's balance now, so status is right tonight
    rather than after the next payment pull."""
    changes: list[Change] = [
        (
            row.key,
            {
                "state": schema.PUSHED,
                "ledger_id": remote.ledger_id,
                "number": remote.number,
                "balance_minor": to_minor(remote.balance, row.currency),
                "error": None,
            },
        )
    ]
    if row.replaces:
        credited: RowUpdate = {"state": schema.CREDITED}
        if remote.is_credit and replaced is not None and replaced.balance_minor is not None:
            applied = to_minor(remote.total - remote.balance, row.currency)
            credited["balance_minor"] = max(0, replaced.balance_minor - applied)
        changes.append((row.replaces, credited))
    elif applied_to is not None and remote.is_credit:
        applied = to_minor(remote.total - remote.balance, row.currency)
        balance = applied_to.balance_minor
        if applied and balance is not None:
            changes.append((applied_to.key, {"balance_minor": max(0, balance - applied)}))
    return changes


def not_sent_changes(row: InvoiceRow) -> list[Change]:
    """Lines that net to zero: recorded as billed, nothing sent; what it replaces is retired."""
    changes: list[Change] = [
        (row.key, {"state": schema.NOT_SENT, "balance_minor": 0, "error": None})
    ]
    if row.replaces:
        changes.append((row.replaces, {"state": schema.CREDITED}))
    return changes


def voided_changes(row: InvoiceRow, old: InvoiceRow, remote: RemoteInvoice) -> list[Change]:
    """The void is confirmed: its own row is pushed and the invoice it voids is voided."""
    return [
        (
            row.key,
            {
                "state": schema.PUSHED,
                "ledger_id": remote.ledger_id,
                "number": f"void of {remote.number}",
                "balance_minor": 0,
            },
        ),
        (old.key, {"state": schema.VOIDED, "balance_minor": 0}),
    ]


def failed_change(row: InvoiceRow, error: str | None) -> Change:
    """Refused by the ledger: the row no longer counts as billed, so billing plans it again."""
    return (row.key, {"state": schema.FAILED, "error": error})


def beyond_lookup(rows: Sequence[InvoiceRow], window: timedelta | None) -> list[InvoiceRow]:
    """Intents older than the ledger's lookups can see: a lookup would miss them, so a re-send
    could double them; a person checks instead. No window means lookups see everything."""
    if window is None:
        return []
    limit = (datetime.now(UTC) - window).isoformat()
    return [r for r in rows if r.created_at < limit]


@dataclass(frozen=True)
class InDoubt:
    """The intents left in `pushing`, sorted for the lookups that come before anything is
    sent: the creates to look up by reference, the voids to send again (voiding twice is a
    no-op), and those older than the ledger's lookups can see, for a person to check."""

    creates: list[InvoiceRow]
    voids: list[InvoiceRow]
    too_old: list[InvoiceRow]


def in_doubt(rows: Sequence[InvoiceRow], window: timedelta | None) -> InDoubt:
    """Sort `pushing` rows by what the lookups do with them; `window` as `beyond_lookup`."""
    pushing = [r for r in rows if r.state == schema.PUSHING]
    too_old = beyond_lookup(pushing, window)
    old = {r.key for r in too_old}
    seen = [r for r in pushing if r.key not in old]
    return InDoubt(
        creates=[r for r in seen if r.action == OutboxAction.CREATE],
        voids=[r for r in seen if r.action == OutboxAction.VOID],
        too_old=too_old,
    )


@dataclass
class Retirements:
    """What a run does with the voids and credit notes billing planned, given the intents left
    over from earlier runs (`sort_retirements`)."""

    rows: list[InvoiceRow] = field(default_factory=list)  # planned rows that go ahead
    resend: list[InvoiceRow] = field(default_factory=list)  # left-over intents to finish
    settled: list[Change] = field(default_factory=list)  # intents closed with no ledger call
    forget: list[str] = field(default_factory=list)  # void intents that were never sent
    waiting: list[InvoiceRow] = field(default_factory=list)  # their invoice is in doubt
    # planned keys not sent: the key whose confirmation stands for each (None: nothing to wait
    # for), so the documents that wait for them (close-outs) know when to go
    stand_ins: dict[str, str | None] = field(default_factory=dict)

    def waits_for(self, keys: Iterable[str]) -> set[str]:
        """What a document planned `after` these keys waits for, given what was not sent."""
        return {k for k in (self.stand_ins.get(key, key) for key in keys) if k is not None}


NEVER_SENT = "never reached the ledger; the milestone changed, so its current revision is billed"
PAID_SINCE = "not sent: the invoice has been paid since, so a credit note retires it instead"


def sort_retirements(
    planned: Sequence[InvoiceRow],
    resend: Sequence[InvoiceRow],
    rows: Mapping[str, InvoiceRow],
) -> Retirements:
    """One retirement per invoice, and none of an invoice the ledger does not have.

    `resend` holds this run's left-over intents: creates the ledger was asked about and does not
    have, and voids; `rows` maps keys to the state's invoice rows. A void or credit note billing
    planned for an invoice

    - that the ledger was just found not to have is not sent: there is nothing to retire. The
      invoice's intent is closed here and the milestone's current revision goes out instead;
    - that an earlier run's unconfirmed void or credit note retires is not sent either: that
      one is finished, with its own key, or, when it cannot be checked tonight, waited for (and
      so is the reissue). A void is the exception when the invoice has been paid since it was
      written: a paid invoice was never voided (a voided one takes no payment) and cannot be,
      so that void is closed unsent and the credit note goes instead;
    - that is itself unconfirmed (its lookup failed tonight) waits, and so does the reissue.

    A left-over void of an invoice with no ledger id was never sent (there was nothing to send
    it to): it is forgotten."""
    out = Retirements()
    for row in resend:
        old = rows.get(row.replaces or "")
        if row.action == "void" and (old is None or not old.ledger_id):
            out.forget.append(row.key)
    absent = {r.key for r in resend if r.action == "create"}
    resending = {r.key for r in resend}
    pending = {
        r.replaces: r
        for r in rows.values()
        if r.replaces and r.state == schema.PUSHING and r.key not in out.forget
    }
    closed: dict[str, str] = {}
    for row in planned:
        old_key = row.replaces
        earlier = pending.get(old_key or "")
        if not old_key:
            out.rows.append(row)
        elif old_key in absent:
            closed[old_key] = NEVER_SENT
            out.stand_ins[row.key] = None
        elif earlier is None:
            (out.waiting if rows[old_key].state == schema.PUSHING else out.rows).append(row)
        elif earlier.key not in resending:
            out.waiting.append(row)
        elif _overtaken(earlier, row, rows[old_key]):
            closed[earlier.key] = PAID_SINCE
            out.rows.append(row)
        else:  # the earlier one is sent again tonight, and this one is not needed
            out.stand_ins[row.key] = earlier.key
    out.resend = [r for r in resend if r.key not in closed and r.key not in out.forget]
    for key, why in sorted(closed.items()):
        if why == NEVER_SENT:
            out.settled.append((key, {"state": schema.VOIDED, "balance_minor": 0, "error": why}))
        else:
            out.settled.append(failed_change(rows[key], why))
    return out


def _overtaken(earlier: InvoiceRow, planned: InvoiceRow, old: InvoiceRow) -> bool:
    """An unconfirmed void that tonight's credit note replaces: the invoice has payments now."""
    return earlier.action == "void" and planned.action == "create" and old.paid_minor > 0


def reissuable(
    ready: list[InvoiceRow], retiring: list[InvoiceRow], confirmed: set[str]
) -> list[InvoiceRow]:
    """The rows to send after the retirements, less any whose milestone's old invoice was not
    confirmed retired: a customer must never hold both."""
    blocked = {m for r in retiring if r.key not in confirmed for m in r.milestones}
    retiring_keys = {r.key for r in retiring}
    return [r for r in ready if r.key not in retiring_keys and blocked.isdisjoint(r.milestones)]


def chunks(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    """Batches no bigger than the ledger's `batch_size`."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
