"""Invoice and milestone rows as stored <-> the records the rest of the sync passes around,
and the label that names an invoice row in a message.

Amounts go in as integer minor units and come out as `Decimal` in the row's currency; dates are
ISO text. Pure functions: nothing here opens the database.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from connector.models import BilledInvoice, Kind, Line, Milestone, Role, Status
from connector.money import from_minor, to_minor
from connector.sync.schema import ACTIVE_STATES, PUSHING


def lines_to_json(lines: Sequence[Line], currency: str) -> str:
    return json.dumps(
        [
            {
                "description": ln.description,
                "amount_minor": to_minor(ln.amount, currency),
                "role": str(ln.role),
                "milestone": ln.milestone,
            }
            for ln in lines
        ]
    )


def lines_from_json(text: str, currency: str) -> tuple[Line, ...]:
    return tuple(
        Line(
            d["description"],
            from_minor(d["amount_minor"], currency),
            Role(d["role"]),
            d["milestone"],
        )
        for d in json.loads(text)
    )


def to_billed(row: dict[str, Any]) -> BilledInvoice:
    currency = row["currency"]
    return BilledInvoice(
        key=row["key"],
        contract=row["contract"],
        kind=Kind(row["kind"]),
        milestones=tuple(json.loads(row["milestones"])),
        lines=lines_from_json(row["lines"], currency),
        active=row["state"] in ACTIVE_STATES,
        revision=row["revision"],
        milestone_hashes=tuple((str(a), str(b)) for a, b in json.loads(row["milestone_hashes"])),
        paid=from_minor(row["paid_minor"] or 0, currency),
        number=row["number"],
        total=from_minor(row["total_minor"], currency),
        date=date.fromisoformat(row["invoice_date"]),
        confirmed=row["state"] != PUSHING,
    )


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def milestone_to_json(m: Milestone) -> dict[str, Any]:
    return {
        "id": m.id,
        "contract": m.contract,
        "title": m.title,
        "percent": _dec(m.percent),
        "amount": _dec(m.amount),
        "status": str(m.status),
        "completed": m.completed.isoformat() if m.completed else None,
        "accepted": m.accepted.isoformat() if m.accepted else None,
        "terms_days": m.terms_days,
        "where": m.where,
        "currency": m.currency,
    }


def milestone_from_json(d: dict[str, Any]) -> Milestone:
    def day(v: str | None) -> date | None:
        return date.fromisoformat(v) if v else None

    return Milestone(
        id=d["id"],
        contract=d["contract"],
        title=d["title"],
        percent=Decimal(d["percent"]) if d["percent"] is not None else None,
        amount=Decimal(d["amount"]) if d["amount"] is not None else None,
        status=Status(d["status"]),
        completed=day(d["completed"]),
        accepted=day(d["accepted"]),
        terms_days=d["terms_days"],
        where=d["where"],
        currency=d.get("currency"),
    )


def label(row: dict[str, Any]) -> str:
    """How a person finds an invoice row in a message: its contract and milestones."""
    milestones = json.loads(row["milestones"])
    what = f"milestone {', '.join(milestones)}" if milestones else f"{row['kind']} invoice"
    return f"contract {row['contract']}, {what}"
