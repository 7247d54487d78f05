"""`[[contracts]]` tables -> `Contract` records: each amount read in the contract's currency,
every problem noted under the contract's key path, and no contract made from a table with one.

A contract setting that needs more than its own key (a deposit out of the value, change orders
with distinct ids) is checked here; a setting that stands alone is a field of `ContractSection`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from connector.config_sections import ChangeOrderSection, ContractSection
from connector.models import ChangeOrder, Contract, Deposit
from connector.money import MoneyError, parse_amount, parse_percent
from connector.validation import problems_from, unsafe_character


def contract_sections(raw: dict[str, Any], problems: list[str]) -> list[ContractSection | None]:
    """Each [[contracts]] table validated on its own (None where it is wrong)."""
    sections: list[ContractSection | None] = []
    raw_contracts = raw.get("contracts", [])
    if not isinstance(raw_contracts, list):
        problems.append("contracts: expected [[contracts]] tables")
        raw_contracts = []
    for i, item in enumerate(raw_contracts):
        try:
            sections.append(ContractSection.model_validate(item))
        except ValidationError as exc:
            problems += problems_from(exc, ContractSection, f"contracts[{i}]")
            sections.append(None)
    return sections


def contracts(
    sections: list[ContractSection | None], default_currency: str, problems: list[str]
) -> dict[str, Contract]:
    """The valid contracts by id; a duplicate id is a problem, and its second table is left out."""
    found: dict[str, Contract] = {}
    for i, section in enumerate(sections):
        if section is None:
            continue
        where = f"contracts[{i}]"
        if section.id in found:
            problems.append(f"{where}.id: duplicate contract id {section.id!r}")
            continue
        contract = _contract(section, _Reader(where, section.currency or default_currency))
        problems += contract if isinstance(contract, list) else []
        if isinstance(contract, Contract):
            found[section.id] = contract
    return found


@dataclass
class _Reader:
    """Reads one contract's numbers in its currency and keeps what is wrong with them."""

    where: str  # the contract's key path, "contracts[2]"
    currency: str
    problems: list[str] = field(default_factory=list)

    def problem(self, key: str, message: object) -> None:
        self.problems.append(f"{self.where}.{key}: {message}")

    def amount(self, key: str, raw: object, *, negative: bool = False) -> Decimal | None:
        if raw is None:
            return None
        try:
            return parse_amount(raw, self.currency, allow_negative=negative)
        except MoneyError as exc:
            self.problem(key, exc)
            return None

    def percent(self, key: str, raw: object) -> Decimal | None:
        try:
            return parse_percent(raw)
        except MoneyError as exc:
            self.problem(key, exc)
            return None


def _contract(s: ContractSection, read: _Reader) -> Contract | list[str]:
    """The contract, or every problem its table has."""
    value = read.amount("value", s.value)
    cap = read.amount("cap", s.cap)
    retainage = None if s.retainage is None else read.percent("retainage", s.retainage)
    deposit = _deposit(s, value, read)
    orders = _change_orders(s.change_orders, read)
    if read.problems:
        return read.problems
    return Contract(
        id=s.id,
        customer=s.customer,
        currency=read.currency,
        value=value,
        start=s.start,
        deposit=deposit,
        retainage=retainage,
        cap=cap,
        terms_days=s.terms_days,
        change_orders=tuple(sorted(orders, key=lambda co: (co.approved, co.id))),
    )


def _deposit(s: ContractSection, value: Decimal | None, read: _Reader) -> Deposit | None:
    """A deposit is billed out of the contract value: it needs one, and cannot exceed it."""
    if s.deposit is None:
        return None
    if isinstance(s.deposit, str) and s.deposit.strip().endswith("%"):
        deposit = Deposit(percent=read.percent("deposit", s.deposit))
    else:
        deposit = Deposit(amount=read.amount("deposit", s.deposit))
    if s.value is None:
        read.problem("deposit", 'a deposit needs the contract value; add value = "..."')
    elif deposit.amount is not None and value is not None and deposit.amount > value:
        read.problem(
            "deposit",
            f"{deposit.amount} is more than the contract value {value}; "
            "a deposit is billed out of the value, so it can be at most the value",
        )
    return deposit


def _change_orders(sections: list[ChangeOrderSection], read: _Reader) -> list[ChangeOrder]:
    """Change orders may lower the value (a negative amount); each id is used once."""
    orders = []
    seen: set[str] = set()
    for j, co in enumerate(sections):
        if co.id in seen:
            read.problem(f"change_orders[{j}].id", f"duplicate change order id {co.id!r}")
        seen.add(co.id)
        amount = read.amount(f"change_orders[{j}].amount", co.amount, negative=True)
        if amount is not None:
            orders.append(ChangeOrder(co.id, amount, co.approved))
    return orders


def with_contract_ids(problems: list[str], raw: dict[str, Any]) -> list[str]:
    """`contracts[2].value` -> `contracts[2] (ACME-WEB).value`: the id is what people search for."""
    found = raw.get("contracts")
    items: list[Any] = found if isinstance(found, list) else []

    def label(match: re.Match[str]) -> str:
        i = int(match.group(1))
        cid = items[i].get("id") if i < len(items) and isinstance(items[i], dict) else None
        if not isinstance(cid, str):
            return match.group(0)
        return f"contracts[{i}] ({cid if unsafe_character(cid) is None else ascii(cid)})"

    return [re.sub(r"^contracts\[(\d+)\]", label, p) for p in problems]
