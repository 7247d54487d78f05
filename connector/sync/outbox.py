"""The outbox rows a run writes and the ledger requests it builds from them.

A planned invoice becomes a row (its intent) before any ledger call; the request is rebuilt from
that row, so a re-send after a crash carries the same key and content. Pure functions: nothing
here calls the ledger or opens the database.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from connector.adapters.base import CustomerRef, InvoiceRequest, RemoteInvoice
from connector.models import Kind, PlannedInvoice
from connector.money import to_minor
from connector.sync import schema
from connector.sync.rows import lines_from_json, lines_to_json

# A row update: the invoice's key and the columns to set.
Change = tuple[str, dict[str, Any]]


def intent_row(p: PlannedInvoice) -> dict[str, Any]:
    """The row committed as `pushing` before the ledger sees the invoice."""
    return {
        "key": p.key,
        "reference": p.reference,
        "action": "void" if p.void_instead else "create",
        "contract": p.contract,
        "customer": p.customer,
        "kind": str(p.kind),
        "milestones": json.dumps(list(p.milestones)),
        "milestone_hashes": json.dumps([list(h) for h in p.milestone_hashes]),
        "revision": p.revision,
        "currency": p.currency,
        "invoice_date": p.date.isoformat(),
        "due_date": p.due_date.isoformat(),
        "lines": lines_to_json(p.lines, p.currency),
        "total_minor": to_minor(p.total, p.currency),
        "replaces": p.replaces,
    }


def invoice_request(
    row: dict[str, Any], customer: CustomerRef, ledger_ids: dict[str, str]
) -> InvoiceRequest:
    """`ledger_ids` maps invoice keys to ledger ids, so a credit note names what it credits."""
    milestones = json.loads(row["milestones"])
    memo = (
        f"{row['contract']}: {', '.join(milestones)}"
        if milestones
        else f"{row['contract']}: {row['kind']}"
    )
    return InvoiceRequest(
        key=row["key"],
        reference=row["reference"],
        customer=customer,
        currency=row["currency"],
        kind=Kind(row["kind"]),
        date=date.fromisoformat(row["invoice_date"]),
        due_date=date.fromisoformat(row["due_date"]),
        lines=lines_from_json(row["lines"], row["currency"]),
        memo=memo,
        credits_ledger_id=ledger_ids.get(row["replaces"]) if row["replaces"] else None,
    )


def pushed_changes(
    row: dict[str, Any], remote: RemoteInvoice, replaced: dict[str, Any] | None = None
) -> list[Change]:
    """The ledger has the document: the row is pushed, and what it replaces is credited. A
    credit note the ledger already set against that invoice (Xero) lowers its balance now,
    so status is right tonight rather than after the next payment pull."""
    changes: list[Change] = [
        (
            row["key"],
            {
                "state": schema.PUSHED,
                "ledger_id": remote.ledger_id,
                "number": remote.number,
                "balance_minor": to_minor(remote.balance, row["currency"]),
                "error": None,
            },
        )
    ]
    if row["replaces"]:
        credited: dict[str, Any] = {"state": schema.CREDITED}
        if remote.is_credit and replaced is not None and replaced["balance_minor"] is not None:
            applied = to_minor(remote.total - remote.balance, row["currency"])
            credited["balance_minor"] = max(0, replaced["balance_minor"] - applied)
        changes.append((row["replaces"], credited))
    return changes


def voided_changes(row: dict[str, Any], old: dict[str, Any], remote: RemoteInvoice) -> list[Change]:
    """The void is confirmed: its own row is pushed and the invoice it voids is voided."""
    return [
        (
            row["key"],
            {
                "state": schema.PUSHED,
                "ledger_id": remote.ledger_id,
                "number": f"void of {remote.number}",
                "balance_minor": 0,
            },
        ),
        (old["key"], {"state": schema.VOIDED, "balance_minor": 0}),
    ]


def failed_change(row: dict[str, Any], error: str | None) -> Change:
    """Refused by the ledger: the row no longer counts as billed, so billing plans it again."""
    return (row["key"], {"state": schema.FAILED, "error": error})


def beyond_lookup(rows: list[dict[str, Any]], window: timedelta | None) -> list[dict[str, Any]]:
    """Intents older than the ledger's lookups can see: a lookup would miss them, so a re-send
    could double them; a person checks instead. No window means lookups see everything."""
    if window is None:
        return []
    limit = (datetime.now(UTC) - window).isoformat()
    return [r for r in rows if r["created_at"] < limit]


def reissuable(
    ready: list[dict[str, Any]], retiring: list[dict[str, Any]], confirmed: set[str]
) -> list[dict[str, Any]]:
    """The rows to send after the retirements, less any whose milestone's old invoice was not
    confirmed retired: a customer must never hold both."""
    blocked = {
        m for r in retiring if r["key"] not in confirmed for m in json.loads(r["milestones"])
    }
    return [
        r for r in ready if r not in retiring and not blocked & set(json.loads(r["milestones"]))
    ]


def chunks(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    """Batches no bigger than the ledger's `batch_size`."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
