"""Where a business's books stand: one typed value (`status_records.BooksStatus`), computed
here from the state and the config, rendered elsewhere (the CLI's tables, `--json`, the demo,
the overview of many businesses).

It reads the state; it never writes and never calls a ledger or a tracker. Only `status_data`
and `BooksStatus.to_json` give the JSON form, for what prints JSON.

Tax: an invoice row keeps the total of the connector's lines as sent (`total_minor`) and the
tax the ledger computed on them (`tax_minor`). Whether those lines were net of tax or included
it is the contract's booking (`[billing] amounts`, as `Config.books_for` gives it today), so
`tax_split` says: exclusive (or unset: both ledgers' default), net = the total and gross =
total + tax; inclusive, gross = the total and net = total - tax; no_tax, as exclusive (the
ledger's tax is then 0). The `total` of the status stays the connector's total as sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from connector.adapters.base import AmountsAre
from connector.models import Contract, Role
from connector.money import exponent, round_money
from connector.perf import paused_gc
from connector.sync import schema, status_attention
from connector.sync.rows import InvoiceRow
from connector.sync.state import State
from connector.sync.status_attention import refused_notice, unbilled_notices
from connector.sync.status_records import (
    Attention,
    BooksStatus,
    ContractStatus,
    Emailed,
    InvoiceStatus,
    Json,
    LastRun,
    Standing,
    Trouble,
)

__all__ = [
    "Attention",
    "BooksStatus",
    "ContractStatus",
    "Emailed",
    "InvoiceStatus",
    "LastRun",
    "Standing",
    "Trouble",
    "books_status",
    "refused_notice",
    "status_data",
    "tax_split",
    "unbilled_notices",
]

# How a contract's amounts are meant ([billing] amounts): None leaves it to the ledger.
AmountsOf = Callable[[str], AmountsAre | None]

ZERO = Decimal(0)
BILLED_STATES = (schema.PUSHED, schema.PARTIALLY_PAID, schema.PAID, schema.NOT_SENT)


# The word for each outbox state; a credit note that counts is `credit_note` whatever its state.
STATUS_WORDS = {
    schema.PUSHING: Standing.SENDING,
    schema.PUSHED: Standing.OPEN,
    schema.PARTIALLY_PAID: Standing.PARTIALLY_PAID,
    schema.PAID: Standing.PAID,
    schema.VOIDED: Standing.VOIDED,
    schema.CREDITED: Standing.CREDITED,
    schema.FAILED: Standing.FAILED,
    schema.VOIDED_IN_LEDGER: Standing.VOIDED_IN_LEDGER,
    schema.NOT_SENT: Standing.NOTHING_TO_SEND,
}


@dataclass(slots=True)
class _Sums:
    billed: Decimal = ZERO
    paid: Decimal = ZERO
    outstanding: Decimal = ZERO  # what is due less credit the customer has not used
    overdue: Decimal = ZERO
    retainage_held: Decimal = ZERO


def _unset(contract: str) -> AmountsAre | None:
    return None


@paused_gc()  # 100,000s of small acyclic records: the collector's passes find nothing
def books_status(
    business: str,
    contracts: Mapping[str, Contract],
    state: State,
    as_of: date,
    amounts: AmountsOf = _unset,
) -> BooksStatus:
    """`amounts` says how each contract's amounts are meant (`Config.books_for(c).booking.
    amounts`), for the net, tax and gross of the invoices the ledger taxed."""
    rows = [r for r in state.invoice_rows() if r.action == schema.OutboxAction.CREATE]
    sums: dict[str, _Sums] = {}
    currencies: dict[str, str] = {}  # of a contract the config no longer lists: its first row's
    invoices = []
    meant: dict[str, AmountsAre | None] = {}  # asked once per contract, not once per invoice
    places: dict[str, int] = {}
    for row in rows:
        if row.contract not in meant:
            meant[row.contract] = amounts(row.contract)
        if row.currency not in places:
            places[row.currency] = -exponent(row.currency)
        money = _Money.of(row, places[row.currency])
        _add(sums.setdefault(row.contract, _Sums()), row, money, as_of)
        currencies.setdefault(row.contract, row.currency)
        invoices.append(_invoice(row, money, as_of, meant[row.contract]))
    shown = tuple(
        _contract(cid, contracts.get(cid), sums.get(cid), currencies, as_of)
        for cid in sorted(set(contracts) | set(sums))
    )
    milestones = state.milestone_notes()
    last = state.last_run()
    problems = last.problems if last is not None else ()
    attention = status_attention.attention(contracts, shown, milestones, rows, problems, as_of)
    return BooksStatus(
        business,
        as_of,
        None if last is None else LastRun.of(last),
        shown,
        tuple(invoices),
        tuple(attention),
    )


def status_data(
    business: str,
    contracts: Mapping[str, Contract],
    state: State,
    as_of: date,
    amounts: AmountsOf = _unset,
) -> Json:
    """The status in its JSON form, as `status --json` prints it."""
    return books_status(business, contracts, state, as_of, amounts).to_json()


def tax_split(
    row: InvoiceRow, amounts: AmountsAre | None, total: Decimal | None = None
) -> tuple[Decimal, Decimal, Decimal] | None:
    """Net, tax and gross of an invoice the ledger taxed (None until it says), signed like the
    row's total (`total`, when the caller decoded it already): a credit note's are negative,
    whichever sign the ledger gave its tax."""
    tax = row.tax
    if tax is None:
        return None
    total = row.total if total is None else total
    tax = -abs(tax) if total < 0 else abs(tax)
    if amounts is AmountsAre.INCLUSIVE:  # the lines already held the tax
        return total - tax, tax, total
    return total, tax, total + tax  # exclusive, no_tax, or the ledger's default (exclusive)


class _Money(NamedTuple):
    """An invoice row's amounts, decoded from minor units once for the sums and the status."""

    total: Decimal
    paid: Decimal
    balance: Decimal

    @classmethod
    def of(cls, row: InvoiceRow, places: int) -> _Money:
        """`row.total`, `row.paid` and `row.balance`, the same Decimals (`rows.amount_of`),
        with the currency's exponent looked up once per currency, not three times a row."""
        balance = row.total_minor if row.balance_minor is None else row.balance_minor
        return cls(
            Decimal(row.total_minor).scaleb(places),
            Decimal(row.paid_minor).scaleb(places),
            Decimal(balance).scaleb(places),
        )


def _add(sums: _Sums, row: InvoiceRow, money: _Money, as_of: date) -> None:
    credit_note = row.is_credit_note  # lines that net below zero went as a credit note
    balance = money.balance
    if row.state in BILLED_STATES or row.state == schema.CREDITED:
        # A credited invoice and its credit note both count: together they bill nothing,
        # and what is still due on the one less the credit left on the other is owed.
        sums.billed += money.total
        if credit_note:
            sums.outstanding -= balance  # credit the customer has not used yet
        else:
            sums.paid += money.paid
            sums.outstanding += balance
    if row.state in BILLED_STATES and not credit_note and balance > 0 and row.due_date < as_of:
        sums.overdue += balance
    if row.state in BILLED_STATES:
        for line in row.lines:
            if line.role in (Role.RETAINAGE, Role.RETAINAGE_RELEASE):
                sums.retainage_held -= line.amount  # withheld lines are negative


# An invoice row's delivery to the client as the status words it.
EMAILED = {
    None: Emailed.NEVER,
    schema.Delivery.WANTED: Emailed.TO_SEND,
    schema.Delivery.SENDING: Emailed.SENDING,
    schema.Delivery.SENT: Emailed.SENT,
    schema.Delivery.REFUSED: Emailed.REFUSED,
}


def _invoice(
    row: InvoiceRow, money: _Money, as_of: date, amounts: AmountsAre | None
) -> InvoiceStatus:
    balance = money.balance
    late = (
        row.state in (schema.PUSHED, schema.PARTIALLY_PAID)
        and balance > 0
        and row.due_date < as_of
        and not row.is_credit_note
    )
    word = (
        Standing.CREDIT_NOTE
        if row.is_credit_note and row.state in BILLED_STATES
        else STATUS_WORDS[row.state]
    )
    net, tax, gross = tax_split(row, amounts, money.total) or (None, None, None)
    return InvoiceStatus(
        number=row.number or row.reference,
        contract=row.contract,
        kind=row.kind,
        milestones=row.milestones,
        currency=row.currency,
        total=money.total,
        date=row.invoice_date,
        due_date=row.due_date,
        paid=money.paid,
        balance=balance,
        status=word,
        days_overdue=(as_of - row.due_date).days if late else 0,
        error=row.error,
        net=net,
        tax=tax,
        gross=gross,
        emailed=EMAILED[row.delivery],
        sent_at=row.sent_at,
        payment_link=row.payment_link,
    )


def _contract(
    cid: str,
    c: Contract | None,
    sums: _Sums | None,
    currencies: Mapping[str, str],
    as_of: date,
) -> ContractStatus:
    sums = sums or _Sums()
    currency = c.currency if c else currencies[cid]

    def money(value: Decimal) -> Decimal:
        return round_money(value, currency)

    return ContractStatus(
        contract=cid,
        customer=c.customer if c else None,
        currency=currency,
        value=c.value_on(as_of) if c and c.value is not None else None,
        billed=money(sums.billed),
        paid=money(sums.paid),
        # Credit the customer has not used is theirs, not a negative balance they owe.
        outstanding=money(max(sums.outstanding, ZERO)),
        overdue=money(sums.overdue),
        retainage_held=money(sums.retainage_held),
        credit=money(max(-sums.outstanding, ZERO)),
    )
