"""The outbox: the rows a run records for its actions, and the ledger requests built from them.

An action becomes a row (its intent) before any ledger call; the request is rebuilt from that
row, so a re-send after a crash carries the same key and content. The stored `action` column
keeps its two values (`OutboxAction`): this module alone maps the typed actions to it and back.
Pure functions: nothing here calls the ledger or opens the database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, assert_never

from connector.adapters.base import Booking, CustomerRef, InvoiceRequest, RemoteInvoice
from connector.models import PlannedInvoice, reference_for
from connector.money import to_minor
from connector.sync import schema
from connector.sync.actions import Action, CreateCredit, CreateInvoice, Document, Settle, Void
from connector.sync.rows import Change, InvoiceRow, RowUpdate
from connector.sync.schema import Delivery, OutboxAction

# Whether a contract's invoices are emailed to the client when created (send = "on-create").
Sends = Callable[[str], bool]


def never(contract: str) -> bool:
    return False


def emailed(document: PlannedInvoice, sends: Sends) -> bool:
    """Whether the ledger is to email this document once it has it: an invoice (not a credit
    note, a void or lines netting to zero) of a contract that sends on create."""
    return _mails(document, document.total, sends)


def _mails(document: PlannedInvoice, total: Decimal, sends: Sends) -> bool:
    return isinstance(document, CreateInvoice) and total > 0 and sends(document.contract)


def intent_row(
    action: Document, sends: Sends = never, key: str | None = None, *, kept: bool = True
) -> InvoiceRow:
    """The row committed as `pushing` before the ledger sees the action. Its `delivery` is
    decided here, once: an invoice created before sending was switched on is never emailed.
    `key`: the action's, if known (`action.key` hashes the document each time). A row never
    `kept` in the state (a plan's) leaves out the milestones' hashes, which only state needs."""
    key = action.key if key is None else key
    total = action.total
    match action:
        case Void():
            stored = OutboxAction.VOID
        case CreateInvoice() | CreateCredit():
            stored = OutboxAction.CREATE
        case _:
            assert_never(action)
    return InvoiceRow(
        key=key,
        reference=reference_for(key),
        action=stored,
        contract=action.contract,
        customer=action.customer,
        kind=action.kind,
        milestones=action.milestones,
        milestone_hashes=action.milestone_hashes if kept else (),
        revision=action.revision,
        currency=action.currency,
        invoice_date=action.date,
        due_date=action.due_date,
        lines=action.lines,
        total_minor=to_minor(total, action.currency),
        replaces=action.replaces,
        delivery=Delivery.WANTED if _mails(action, total, sends) else None,  # `emailed`
    )


@dataclass(frozen=True, slots=True)
class Creation:
    """A document for the ledger to create, as its row records it (one whose lines net to zero
    is recorded as billed, never sent); `settle` says what a credit note is set against."""

    row: InvoiceRow
    settle: Settle | None = None

    @property
    def key(self) -> str:
        return self.row.key


@dataclass(frozen=True, slots=True)
class Voiding:
    """A void of the invoice `row.replaces`, as its row records it."""

    row: InvoiceRow

    @property
    def key(self) -> str:
        return self.row.key


# What the engine sends: tonight's actions once recorded, and the intents an earlier run left,
# which exist only as their rows. Same key, same content either way.
Intent = Creation | Voiding


def intents(
    actions: Sequence[Action],
    sends: Sends = never,
    keys: Sequence[str] = (),
    *,
    stored: bool = True,
) -> list[Intent]:
    """Tonight's actions as the outbox records them, in order; a `Settle` goes with the
    creation of its credit note, as the ledger allocates a credit when it creates it. `keys`:
    the documents', in order, when known (`billing.Decisions.keys`); `stored`: `intent_row`'s."""
    settles = {a.credit: a for a in actions if isinstance(a, Settle)}
    assert not keys or len(keys) == len(actions) - len(settles), "keys not of these actions"
    known = iter(keys)
    out: list[Intent] = []
    for action in actions:
        match action:
            case Void():
                out.append(Voiding(intent_row(action, key=next(known, None), kept=stored)))
            case CreateInvoice() | CreateCredit():
                key = next(known, None) or action.key
                row = intent_row(action, sends, key, kept=stored)
                out.append(Creation(row, settles.get(key)))
            case Settle():
                pass
            case _:
                assert_never(action)
    return out


def left_over(row: InvoiceRow) -> Intent:
    """An earlier run's intent, from its stored action; a credit note is set against what it
    replaces (or an open invoice), as when it was planned."""
    if row.action == OutboxAction.VOID:
        return Voiding(row)
    return Creation(row, Settle(row.key, row.replaces) if row.is_credit_note else None)


def invoice_request(
    row: InvoiceRow,
    customer: CustomerRef,
    credited: InvoiceRow | None = None,
    booking: Booking = Booking(),
) -> InvoiceRequest:
    """`credited` is the row of the invoice a credit note credits (or is set against), so the
    ledger can settle that invoice with it; `booking` is the contract's (`Config.books_for`),
    as the config says it tonight."""
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
        booking=booking,
    )
    if credited is not None and request.is_credit_note:
        request = replace(request, credits_ledger_id=credited.ledger_id)
    return request


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
                **answer_values(row, remote),
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


def answer_values(row: InvoiceRow, remote: RemoteInvoice) -> RowUpdate:
    """What the ledger says of a document besides its balance: the tax it computed (signed as
    the row's total, so a credit note's is negative), where the client pays it online, and
    whether it has emailed it. An answer without a link (Xero reads it only when asked) keeps
    the one known, and `sent` only ever moves a row to sent: an answer that does not say so
    proves nothing about an email in flight."""
    sign = -1 if row.is_credit_note else 1
    values: RowUpdate = {"tax_minor": sign * to_minor(remote.tax, row.currency)}
    if remote.payment_link is not None:
        values["payment_link"] = remote.payment_link
    if remote.sent and row.delivery != Delivery.SENT:
        values["delivery"] = Delivery.SENT
        values["sent_at"] = row.sent_at or schema.now()
    return values


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


@dataclass
class Retirements:
    """What a run does with the voids and credit notes billing planned, given the intents left
    over from earlier runs (`sort_retirements`)."""

    going: list[Intent] = field(default_factory=list)  # planned intents that go ahead
    resend: list[Intent] = field(default_factory=list)  # left-over intents to finish
    settled: list[Change] = field(default_factory=list)  # intents closed with no ledger call
    forget: list[str] = field(default_factory=list)  # void intents that were never sent
    waiting: list[Intent] = field(default_factory=list)  # their invoice is in doubt
    # planned keys not sent: the key whose confirmation stands for each (None: nothing to wait
    # for), so the documents that wait for them (close-outs) know when to go
    stand_ins: dict[str, str | None] = field(default_factory=dict)

    def waits_for(self, keys: Iterable[str]) -> set[str]:
        """What a document planned `after` these keys waits for, given what was not sent."""
        return {k for k in (self.stand_ins.get(key, key) for key in keys) if k is not None}


NEVER_SENT = "never reached the ledger; the milestone changed, so its current revision is billed"
PAID_SINCE = "not sent: the invoice has been paid since, so a credit note retires it instead"


@dataclass(frozen=True)
class _Earlier:
    """The intents earlier runs left, as the sort of tonight's retirements sees them."""

    absent: set[str]  # creations the ledger was asked about and does not have
    resending: dict[str, Intent]  # sent again tonight, by key
    retiring: dict[str, str]  # invoice key -> the unconfirmed void or credit note retiring it
    rows: Mapping[str, InvoiceRow]


def sort_retirements(
    planned: Sequence[Intent], resend: Sequence[Intent], rows: Mapping[str, InvoiceRow]
) -> Retirements:
    """One retirement per invoice, and none of an invoice the ledger does not have.

    `resend` holds this run's left-over intents: creations the ledger was asked about and does
    not have, and voids; `rows` maps keys to the state's invoice rows. A void or credit note
    billing planned for an invoice

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
    out = Retirements(forget=[i.key for i in resend if _void_of_nothing(i, rows)])
    earlier = _Earlier(
        absent={i.key for i in resend if isinstance(i, Creation)},
        resending={i.key: i for i in resend},
        retiring={
            r.replaces: r.key
            for r in rows.values()
            if r.replaces and r.state == schema.PUSHING and r.key not in out.forget
        },
        rows=rows,
    )
    closed: dict[str, str] = {}
    for intent in planned:
        _place(intent, earlier, out, closed)
    out.resend = [i for i in resend if i.key not in closed and i.key not in out.forget]
    for key, why in sorted(closed.items()):
        if why == NEVER_SENT:
            out.settled.append((key, {"state": schema.VOIDED, "balance_minor": 0, "error": why}))
        else:
            out.settled.append(failed_change(rows[key], why))
    return out


def _void_of_nothing(intent: Intent, rows: Mapping[str, InvoiceRow]) -> bool:
    old = rows.get(intent.row.replaces or "")
    return isinstance(intent, Voiding) and (old is None or not old.ledger_id)


def _place(intent: Intent, earlier: _Earlier, out: Retirements, closed: dict[str, str]) -> None:
    """Where one planned intent goes (`sort_retirements`); `closed` gathers the left-over
    intents it closes, with why."""
    old_key = intent.row.replaces
    if not old_key:
        out.going.append(intent)
        return
    if old_key in earlier.absent:
        closed[old_key] = NEVER_SENT
        out.stand_ins[intent.key] = None
        return
    before = earlier.retiring.get(old_key)
    if before is None:
        unconfirmed = earlier.rows[old_key].state == schema.PUSHING
        (out.waiting if unconfirmed else out.going).append(intent)
    elif before not in earlier.resending:
        out.waiting.append(intent)
    elif _overtaken(earlier.resending[before], intent, earlier.rows[old_key]):
        closed[before] = PAID_SINCE
        out.going.append(intent)
    else:  # the earlier one is sent again tonight, and this one is not needed
        out.stand_ins[intent.key] = before


def _overtaken(earlier: Intent, planned: Intent, old: InvoiceRow) -> bool:
    """An unconfirmed void that tonight's credit note replaces: the invoice has payments now."""
    return isinstance(earlier, Voiding) and isinstance(planned, Creation) and old.paid_minor > 0


def reissuable(ready: list[Intent], retiring: list[Intent], confirmed: set[str]) -> list[Intent]:
    """The intents to send after the retirements, less any whose milestone's old invoice was
    not confirmed retired: a customer must never hold both."""
    blocked = {m for i in retiring if i.key not in confirmed for m in i.row.milestones}
    retiring_keys = {i.key for i in retiring}
    return [i for i in ready if i.key not in retiring_keys and blocked.isdisjoint(i.row.milestones)]


def chunks(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    """Batches no bigger than the ledger's `batch_size`."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
