"""The state database's tables, its schema version, and the migrations that bring an older
database up to it.

Money columns hold integer minor units beside an ISO currency code, never floats. A migration is
appended, never edited. This module defines tables only: queries live in `state` and
`http_cache`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    inspect,
    text,
)

SCHEMA_VERSION = 4


class OutboxState(StrEnum):
    """Where an invoice row stands. `pushing` means the intent is committed and the ledger may
    or may not have the document: a run that finds one asks the ledger before sending anything."""

    __hash__ = str.__hash__  # equal to the hash of the text it equals, as in a set of strings

    PUSHING = "pushing"
    PUSHED = "pushed"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    VOIDED = "voided"
    CREDITED = "credited"
    FAILED = "failed"
    # Voided or deleted by a person in the ledger: still counts as billed, so the milestone is
    # never silently billed again; reported until someone decides what to do.
    VOIDED_IN_LEDGER = "voided_in_ledger"
    # Lines that net to zero: billed (it counts), but no document is sent to the ledger.
    NOT_SENT = "not_sent"


class Delivery(StrEnum):
    """Whether a document is to reach the client through the ledger's own email. `sending` is
    committed before the ledger is asked, so a run that finds it asks whether it went before
    sending again: never twice, never lost (a resend is a person's decision, in the ledger)."""

    __hash__ = str.__hash__

    WANTED = "wanted"  # to be sent once the ledger confirms the document
    SENDING = "sending"  # asked; the answer is not recorded yet
    SENT = "sent"
    REFUSED = "refused"  # the ledger would not (no email on file...): tried again each night


class OutboxAction(StrEnum):
    """What an intent asks of the ledger."""

    __hash__ = str.__hash__

    CREATE = "create"
    VOID = "void"


PUSHING, PUSHED = OutboxState.PUSHING, OutboxState.PUSHED
PARTIALLY_PAID, PAID = OutboxState.PARTIALLY_PAID, OutboxState.PAID
VOIDED, CREDITED, FAILED = OutboxState.VOIDED, OutboxState.CREDITED, OutboxState.FAILED
VOIDED_IN_LEDGER, NOT_SENT = OutboxState.VOIDED_IN_LEDGER, OutboxState.NOT_SENT
ACTIVE_STATES = (PUSHING, PUSHED, PARTIALLY_PAID, PAID, VOIDED_IN_LEDGER, NOT_SENT)

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

invoices = Table(
    "invoices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("business", String(200), nullable=False),
    Column("key", String(64), nullable=False),
    Column("reference", String(32), nullable=False),
    Column("action", String(16), nullable=False),  # create | void
    Column("contract", String(200), nullable=False),
    Column("customer", String(500), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("milestones", Text, nullable=False),  # JSON list of ids
    Column("milestone_hashes", Text, nullable=False),  # JSON [[id, hash], ...]
    Column("revision", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("invoice_date", String(10), nullable=False),
    Column("due_date", String(10), nullable=False),
    Column("lines", Text, nullable=False),  # JSON [{description, amount_minor, role, milestone}]
    Column("total_minor", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("replaces", String(64)),
    Column("ledger_id", String(64)),
    Column("number", String(64)),
    Column("paid_minor", Integer, nullable=False, default=0),
    Column("balance_minor", Integer),
    Column("error", Text),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    # v3: what the ledger computed and where the client pays, and the email to the client
    Column("tax_minor", Integer),  # the tax the ledger added (or found inside the amounts)
    Column("payment_link", Text),
    Column("delivery", String(16)),  # Delivery, or NULL: not to be sent
    Column("sent_at", String(32)),
    UniqueConstraint("business", "key", name="uq_invoices_key"),
)

payments = Table(
    "payments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("business", String(200), nullable=False),
    Column("invoice_key", String(64), nullable=False),
    Column("payment_id", String(64), nullable=False),
    Column("amount_minor", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("paid_on", String(10), nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    UniqueConstraint("business", "invoice_key", "payment_id", name="uq_payments"),
)

milestones = Table(
    "milestones",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("business", String(200), nullable=False),
    Column("milestone", String(200), nullable=False),
    Column("record", Text, nullable=False),  # JSON of the milestone, or of why it is invalid
    Column("valid", Boolean, nullable=False),
    Column("reason", String(32)),  # last decision: None when billed
    Column("message", Text),
    Column("seen_at", String(32), nullable=False),
    UniqueConstraint("business", "milestone", name="uq_milestones"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("business", String(200), nullable=False),
    Column("started_at", String(32), nullable=False),
    Column("finished_at", String(32)),
    Column("outcome", String(16)),  # ok | problems | failed | running
    Column("counts", Text),  # JSON {name: int}
    Column("problems", Text),  # JSON [str]
)

cursors = Table(
    "cursors",
    metadata,
    Column("business", String(200), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)


# Tracker responses by request, so that a night with no changes costs only 304s. Keys are
# hashed (the request's address may be long); no request headers are ever stored.
http_cache = Table(
    "http_cache",
    metadata,
    Column("business", String(200), primary_key=True),
    Column("key", String(64), primary_key=True),  # sha256 of the source's request key
    Column("etag", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("stored_at", String(32), nullable=False),
)


# v4: a digest of each business's milestones snapshot as last written, and when it was seen,
# so that a night whose milestones and decisions are the last one's writes one row, not one
# per milestone (`state_milestones.save_snapshot`).
snapshots = Table(
    "snapshots",
    metadata,
    Column("business", String(200), primary_key=True),
    Column("records", String(64), nullable=False),  # sha256 of every (id, record, valid)
    Column("decisions", String(64), nullable=False),  # sha256 of every (id, reason, message)
    Column("seen_at", String(32), nullable=False),  # every milestone's, since it was written
)


def _v1(conn: Connection) -> None:
    metadata.create_all(conn)


def _v2(conn: Connection) -> None:
    http_cache.create(conn, checkfirst=True)


def _v3(conn: Connection) -> None:
    """Invoices gain the ledger's tax, the payment link and the delivery to the client. A
    database created at v1 by this code has them already (create_all uses today's table)."""
    have = {c["name"] for c in inspect(conn).get_columns("invoices")}
    for name, kind in (
        ("tax_minor", "INTEGER"),
        ("payment_link", "TEXT"),
        ("delivery", "VARCHAR(16)"),
        ("sent_at", "VARCHAR(32)"),
    ):
        if name not in have:
            conn.execute(text(f"ALTER TABLE invoices ADD COLUMN {name} {kind}"))


def _v4(conn: Connection) -> None:
    snapshots.create(conn, checkfirst=True)


# Migration N takes a database at version N-1 to version N. Append, never edit.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _v1, 2: _v2, 3: _v3, 4: _v4}


def now() -> str:
    """Every timestamp column holds UTC ISO text to the second, so rows sort as text."""
    return datetime.now(UTC).isoformat(timespec="seconds")
