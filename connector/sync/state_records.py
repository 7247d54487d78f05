"""The records the state store hands out beside the invoice rows (`rows.InvoiceRow`): a run, a
payment pulled back from the ledger, and a milestone as the last run saw it.

Frozen and typed, so no reader parses columns itself; the columns and the queries stay in the
`state_*` modules. Pure: nothing here opens the database.
"""

from __future__ import annotations

import json
from collections.abc import KeysView, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from connector.models import InvalidMilestone, Milestone, Reason, Status
from connector.money import from_minor


class RunOutcome(StrEnum):
    """How a run ended; `running` while it goes on, or when its process died mid-run."""

    __hash__ = str.__hash__  # equal to the hash of the text it equals, as in a set of strings

    RUNNING = "running"
    OK = "ok"
    PROBLEMS = "problems"
    FAILED = "failed"
    STOPPED = "stopped"


def stamp(moment: datetime) -> str:
    """A moment as the timestamp columns hold it (`schema.now`): UTC ISO text to the second."""
    return moment.isoformat(timespec="seconds")


class StoredColumns:
    """Reading a record by column name (`run["outcome"]`, `dict(run)`) gives what the column
    holds, as the state's readers returned rows before they were typed: scripts and older tests
    read them so. Code in `connector/` reads the attributes."""

    __slots__ = ()

    def columns(self) -> Mapping[str, object]:
        raise NotImplementedError

    def __getitem__(self, column: str) -> object:
        return self.columns()[column]

    def keys(self) -> KeysView[str]:
        return self.columns().keys()


@dataclass(frozen=True, slots=True)
class RunRow(StoredColumns):
    """One run of the sync as recorded: when, how it ended, its counts and its problems."""

    id: int
    started_at: datetime
    finished_at: datetime | None
    outcome: RunOutcome
    counts: Mapping[str, int]  # empty until the run finishes
    problems: tuple[str, ...]

    def columns(self) -> Mapping[str, object]:
        finished = self.finished_at is not None
        return {
            "id": self.id,
            "started_at": stamp(self.started_at),
            "finished_at": None if self.finished_at is None else stamp(self.finished_at),
            "outcome": str(self.outcome),
            "counts": json.dumps(dict(self.counts)) if finished else None,
            "problems": json.dumps(list(self.problems)) if finished else None,
        }


@dataclass(frozen=True, slots=True)
class PaymentRow(StoredColumns):
    """One payment the ledger reported on one of our invoices; `deleted` once it was removed
    there (kept, so a payment that comes back is the same row)."""

    id: int
    invoice_key: str
    payment_id: str
    amount_minor: int
    currency: str
    paid_on: date
    deleted: bool

    @property
    def amount(self) -> Decimal:
        return from_minor(self.amount_minor, self.currency)

    def columns(self) -> Mapping[str, object]:
        return {
            "id": self.id,
            "invoice_key": self.invoice_key,
            "payment_id": self.payment_id,
            "amount_minor": self.amount_minor,
            "currency": self.currency,
            "paid_on": self.paid_on.isoformat(),
            "deleted": self.deleted,
        }


@dataclass(frozen=True, slots=True)
class MilestoneRow:
    """A milestone as the last run read it, valid or not, with that run's decision on it."""

    milestone: str  # its id; `?<where>` for an invalid record that has none
    record: Milestone | InvalidMilestone
    reason: Reason | None  # why that run did not bill it; None when it did
    message: str | None
    seen_at: datetime

    @property
    def valid(self) -> bool:
        return isinstance(self.record, Milestone)


@dataclass(frozen=True, slots=True)
class MilestoneNote:
    """A milestone of the last run as the status reads it (`State.milestone_notes`): what its
    stored record says of its contract and status, and that run's decision on it. The record
    itself is decoded when asked (`record`): the status of 100,000 milestones needs a few."""

    milestone: str  # its id; `?<where>` for an invalid record that has none
    contract: str | None
    status: Status | None  # None for an invalid record
    reason: Reason | None
    message: str | None
    stored: str  # the record as stored (`state_milestones.record_text`)

    def record(self) -> Milestone | InvalidMilestone:
        from connector.sync.rows import milestone_from_json  # rows imports this module

        data = json.loads(self.stored)
        if self.status is None:
            return InvalidMilestone(data["id"], data["contract"], data["message"], data["where"])
        return milestone_from_json(data)
