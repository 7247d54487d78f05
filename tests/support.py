"""Builders shared by the tests: contracts, milestones, and history the way state records it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from connector.models import (
    BilledInvoice,
    BillingRules,
    ChangeOrder,
    Contract,
    Deposit,
    Milestone,
    PlannedInvoice,
    Status,
)
from connector.sync.billing import Decisions, decide

D = Decimal


def contract(cid: str = "ACME-WEB", **kw: object) -> Contract:
    base: dict[str, object] = {"customer": "Acme Corporation", "currency": "USD"}
    base.update(kw)
    return Contract(id=cid, **base)  # type: ignore[arg-type]


def acme() -> Contract:
    """The worked example of the docs: 48,000 with a 10% deposit, 5% retainage, CO +6,000."""
    return contract(
        value=D("48000.00"),
        start=date(2026, 9, 1),
        deposit=Deposit(percent=D("10")),
        retainage=D("5"),
        terms_days=15,
        change_orders=(ChangeOrder("CO-1", D("6000.00"), date(2026, 10, 20)),),
    )


def ms(
    mid: str,
    contract_id: str = "ACME-WEB",
    *,
    percent: str | None = None,
    amount: str | None = None,
    status: str = "done",
    completed: date | None = None,
    accepted: date | None = None,
    title: str = "",
    terms_days: int | None = None,
) -> Milestone:
    st = Status(status)
    if st is Status.DONE and completed is None:
        completed = date(2026, 9, 20)
    return Milestone(
        id=mid,
        contract=contract_id,
        title=title or mid,
        percent=D(percent) if percent is not None else None,
        amount=D(amount) if amount is not None else None,
        status=st,
        completed=completed,
        accepted=accepted,
        terms_days=terms_days,
        where=f"test:{mid}",
    )


def billed(
    planned: list[PlannedInvoice], paid: dict[str, Decimal] | None = None
) -> list[BilledInvoice]:
    """History as state would record it after pushing `planned`."""
    paid = paid or {}
    return [
        BilledInvoice(
            key=p.key,
            contract=p.contract,
            kind=p.kind,
            milestones=p.milestones,
            lines=p.lines,
            active=True,
            revision=p.revision,
            milestone_hashes=p.milestone_hashes,
            paid=paid.get(p.key, D(0)),
            number=f"INV-{i}",
            total=p.total,
            date=p.date,
        )
        for i, p in enumerate(planned, 1)
    ]


def run(
    contracts: list[Contract],
    milestones: list[Milestone],
    as_of: date,
    history: list[BilledInvoice] | None = None,
    **rules: object,
) -> Decisions:
    return decide(
        {c.id: c for c in contracts},
        milestones,
        [],
        history or [],
        BillingRules(business="Northwind Studio", **rules),
        as_of,
    )  # type: ignore[arg-type]
