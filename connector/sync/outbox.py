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


def document_kind(row: dict[str, Any]) -> Kind:
    """What the ledger is asked to create: lines that net below zero go as a credit note, so
    no document with a negative total ever reaches a ledger; a credit-and-reissue reversal of
    a credit note (a positive total) goes as an invoice."""
    kind = Kind(row["kind"])
    if row["total_minor"] < 0:
        return Kind.CREDIT
    return Kind.ADJUSTMENT if kind is Kind.CREDIT else kind


def invoice_request(
    row: dict[str, Any], customer: CustomerRef, credited: dict[str, Any] | None = None
) -> InvoiceRequest:
    """`credited` is the row of the invoice a credit note credits (or is set against), so the
    ledger can settle that invoice with it."""
    milestones = json.loads(row["milestones"])
    memo = (
        f"{row['contract']}: {', '.join(milestones)}"
        if milestones
        else f"{row['contract']}: {row['kind']}"
    )
    kind = document_kind(row)
    return InvoiceRequest(
        key=row["key"],
        reference=row["reference"],
        customer=customer,
        currency=row["currency"],
        kind=kind,
        date=date.fromisoformat(row["invoice_date"]),
        due_date=date.fromisoformat(row["due_date"]),
        lines=lines_from_json(row["lines"], row["currency"]),
        memo=memo,
        credits_ledger_id=(
            credited["ledger_id"] if credited is not None and kind is Kind.CREDIT else None
        ),
    )


def credit_targets(
    chunk: Sequence[dict[str, Any]], known: Sequence[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """For each credit note in `chunk` that retires nothing (lines that netted below zero),
    the contract's oldest invoice still owing at least as much, to set it against; a ledger
    that allocates credits explicitly (Xero) does so. With none, the credit stays with the
    customer, and status shows it as a credit."""
    open_rows = sorted(
        (
            r
            for r in known
            if r["action"] == "create"
            and r["state"] in (schema.PUSHED, schema.PARTIALLY_PAID)
            and r["ledger_id"]
            and r["total_minor"] > 0
        ),
        key=lambda r: (r["invoice_date"], r["id"]),
    )
    targets = {}
    for row in chunk:
        if row["replaces"] or row["total_minor"] >= 0:
            continue
        owed = -row["total_minor"]
        for candidate in open_rows:
            balance = candidate["balance_minor"]
            if (
                candidate["contract"] == row["contract"]
                and candidate["currency"] == row["currency"]
                and (balance if balance is not None else candidate["total_minor"]) >= owed
            ):
                targets[row["key"]] = candidate
                break
    return targets


def pushed_changes(
    row: dict[str, Any],
    remote: RemoteInvoice,
    replaced: dict[str, Any] | None = None,
    *,
    applied_to: dict[str, Any] | None = None,
) -> list[Change]:
    """The ledger has the document: the row is pushed, and what it replaces is credited. A
    credit note the ledger already set against that invoice, or against the open invoice it
    was `applied_to` (Xero), lowers that invoice's balance now, so status is right tonight
    rather than after the next payment pull."""
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
    elif applied_to is not None and remote.is_credit:
        applied = to_minor(remote.total - remote.balance, row["currency"])
        balance = applied_to["balance_minor"]
        if applied and balance is not None:
            changes.append((applied_to["key"], {"balance_minor": max(0, balance - applied)}))
    return changes


def not_sent_changes(row: dict[str, Any]) -> list[Change]:
    """Lines that net to zero: recorded as billed, nothing sent; what it replaces is retired."""
    changes: list[Change] = [
        (row["key"], {"state": schema.NOT_SENT, "balance_minor": 0, "error": None})
    ]
    if row["replaces"]:
        changes.append((row["replaces"], {"state": schema.CREDITED}))
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
