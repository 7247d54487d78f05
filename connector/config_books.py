"""How the ledger books and delivers each contract's documents, from [billing] and the contract.

A contract's own key wins over the business's; what neither says is left to the ledger: amounts
as its settings have them (net of tax unless changed there), its default tax code, and nothing
sent to the client. `connector.sync.preflight` checks the result against the company's lists.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from connector.adapters.base import AmountsAre, Booking
from connector.config_sections import BillingSection, ContractSection


@dataclass(frozen=True, slots=True)
class ContractBooks:
    """One contract's booking, and whether its invoices are emailed when they are created."""

    booking: Booking
    send_on_create: bool


def contract_books(
    billing: BillingSection, sections: Iterable[ContractSection | None]
) -> dict[str, ContractBooks]:
    return {s.id: books_of(billing, s) for s in sections if s is not None}


def books_of(billing: BillingSection, contract: ContractSection | None) -> ContractBooks:
    """The business's settings with the contract's own on top (None: the contract is silent)."""

    def pick(key: str) -> object:
        own = getattr(contract, key) if contract is not None else None
        return getattr(billing, key) if own is None else own

    amounts = pick("amounts")
    booking = Booking(
        tax_code=pick("tax_code"),  # type: ignore[arg-type]
        taxable=pick("taxable"),  # type: ignore[arg-type]
        amounts=AmountsAre(amounts) if isinstance(amounts, str) else None,
        class_name=contract.class_name if contract else None,
        location=contract.location if contract else None,
        tracking=tuple(contract.tracking.items()) if contract else (),
    )
    return ContractBooks(booking, pick("send") == "on-create")
