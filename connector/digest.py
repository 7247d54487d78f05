"""The morning digest as data: what happened in each business since the last digest, and
where its books stand, as typed records that `connector.digest_render` turns into an email.

Read from each business's state (read-only) and config, after the night's runs; nothing here
sends, writes the state or calls a ledger or a tracker (the mark of what a digest has told is
read here and written by `connector.digest_send` once the email went). Figures come from the
status (`connector.overview.business_status`) and the aging (`connector.aging.aging_of`), so the
digest says what `connector status` and `connector aging` say; currencies are never added up.

"Since the last digest" is a mark per business and recipient kept in the business's state as a
cursor: the last payment row and invoice row a digest told of. The daemon marks where the books
stand when it starts (`connector.digest_send.mark_start`), so its first digest tells of its own
runs; a business with no mark at all (its first sync) has everything told. Each list shows
`LISTED` items at most, and says how many more there are; its sums count them all.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from connector.aging import Aging, Buckets, add_up, aging_of
from connector.errors import ConnectorError
from connector.models import Kind, Milestone, Reason, Status
from connector.sync import schema

if TYPE_CHECKING:
    from connector.config import Config
    from connector.sync.rows import InvoiceRow
    from connector.sync.state import MilestoneNote, PaymentRow, State
    from connector.sync.status_records import BooksStatus

LISTED = 50  # items of one list shown in an email; the rest are counted
MARK_PREFIX = "digest"  # the state cursor "digest <recipient>" (64 characters at most)

# Invoice rows a digest lists as made tonight: reached the ledger, or on the way there.
MADE_STATES = (
    schema.PUSHING,
    schema.PUSHED,
    schema.PARTIALLY_PAID,
    schema.PAID,
    schema.CREDITED,
    schema.NOT_SENT,
)


@dataclass(frozen=True, slots=True)
class Mark:
    """What the last digest told of one business: the highest payment and invoice row ids."""

    payment: int = 0
    invoice: int = 0
    at: datetime | None = None  # when it was sent (UTC); None: no digest yet

    def to_text(self) -> str:
        at = None if self.at is None else self.at.isoformat(timespec="seconds")
        return json.dumps({"payment": self.payment, "invoice": self.invoice, "at": at})

    @classmethod
    def from_text(cls, text: str | None) -> Mark:
        if not text:
            return cls()
        data = json.loads(text)
        at = data.get("at")
        return cls(int(data["payment"]), int(data["invoice"]), at and datetime.fromisoformat(at))


def mark_name(recipient: str) -> str:
    return f"{MARK_PREFIX} {recipient}"[:64]


@dataclass(frozen=True, slots=True)
class Received:
    """A payment the ledger reported since the last digest."""

    customer: str
    contract: str
    invoice: str  # its number (the reference before the ledger gave one)
    amount: Decimal
    currency: str
    paid_on: date


@dataclass(frozen=True, slots=True)
class Created:
    """An invoice (or credit note) recorded since the last digest."""

    number: str
    contract: str
    customer: str
    kind: Kind
    milestones: tuple[str, ...]
    total: Decimal  # negative for a credit note
    currency: str
    due_date: date
    confirmed: bool  # False: sent, the ledger has not confirmed it yet
    overdue_when_created: bool  # its due day had passed on the day it was made
    payment_link: str | None = None  # where the client pays it online, as the ledger gave it

    @property
    def is_credit_note(self) -> bool:
        return self.total < 0


@dataclass(frozen=True, slots=True)
class NeedsPerson:
    """What keeps a milestone from being billed or an invoice from being confirmed, paid or
    emailed, with the money it holds up when known (the status's attention items)."""

    message: str
    amount: Decimal | None = None
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class Awaiting:
    """A milestone done, waiting for the client's acceptance before it can be billed."""

    milestone: str
    contract: str
    title: str
    value: Decimal | None  # its amount, or its percent of the contract's value; None: unknown
    currency: str
    completed: date | None


@dataclass(frozen=True, slots=True)
class Retainage:
    """Retainage on a contract: still held (`invoice` None), released once `waiting` milestones
    are done and accepted; or billed for release on `invoice`, `amount` still to be paid."""

    contract: str
    customer: str | None
    currency: str
    amount: Decimal
    waiting: int = 0
    invoice: str | None = None
    due_date: date | None = None

    @property
    def due_for_release(self) -> bool:
        return self.invoice is not None or self.waiting == 0


@dataclass(frozen=True, slots=True)
class Section:
    """Lines another module adds under a business: `expected_receipts` (the forecast of what
    comes in over the next 4 weeks) is the one planned."""

    title: str
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LastSync:
    when: datetime  # finished (or started, if it never finished), in the business's zone
    outcome: str


@dataclass(frozen=True, slots=True)
class BusinessDigest:
    business: str
    as_of: date
    last_sync: LastSync | None = None
    received: tuple[Received, ...] = ()
    created: tuple[Created, ...] = ()
    needs: tuple[NeedsPerson, ...] = ()
    awaiting: tuple[Awaiting, ...] = ()
    retainage: tuple[Retainage, ...] = ()
    aging: Aging | None = None
    extra: tuple[Section, ...] = ()
    error: str | None = None  # the state or config could not be read: nothing else is known
    not_run: str | None = None  # why its last run could not start (the state cannot say)
    next_mark: Mark | None = None  # what this digest told of, once it went (None: as before)

    @property
    def quiet(self) -> bool:
        """Nothing new and nothing that needs a person: the night a heartbeat is for."""
        return not (self.received or self.created or self.needs or self.error or self.not_run)

    @property
    def totals(self) -> tuple[Buckets, ...]:
        return () if self.aging is None else self.aging.totals


@dataclass(frozen=True, slots=True)
class Digest:
    """One email's worth: every business the recipient hears of."""

    title: str  # "3 businesses", or the business's name for its own digest
    made_at: datetime  # aware
    businesses: tuple[BusinessDigest, ...] = ()
    since: datetime | None = None  # the previous digest, where every business has one
    cannot_load: tuple[str, ...] = ()  # config files of the folder that do not load, and why

    @property
    def quiet(self) -> bool:
        return not self.cannot_load and all(b.quiet for b in self.businesses)

    @property
    def totals(self) -> tuple[Buckets, ...]:
        """Receivables of every business, one currency at a time."""
        return add_up(t for b in self.businesses for t in b.totals)


# The forecast's "expected receipts in the next 4 weeks" plugs in here: a function of the
# business's config, state and day giving its section, or None.
ExtraSection = Callable[["Config", "State", date], Section | None]


def expected_receipts(cfg: Config, state: State, as_of: date) -> Section | None:
    """Expected receipts in the next 4 weeks, per currency (never added together), as
    `connector forecast` reckons them from the state and a milestones file beside the config;
    no tracker or ledger is called. A forecast that cannot be made is said, never raised: the
    rest of the digest still goes."""
    from connector.digest_render import money
    from connector.forecast import next_weeks

    try:
        expected = next_weeks(cfg, as_of, weeks=4)
    except Exception as exc:  # the digest must go out whatever the forecast does
        return Section(_RECEIPTS, (f"could not be forecast: {exc}",))
    if not expected:
        return Section(_RECEIPTS, ("nothing expected",))
    return Section(_RECEIPTS, tuple(money(v, c) for c, v in sorted(expected.items())))


_RECEIPTS = "Expected receipts in the next 4 weeks"


# -- reading one business ----------------------------------------------------------------------


def business_digest(
    cfg: Config,
    mark: Mark,
    now: datetime,
    *,
    extras: Sequence[ExtraSection] = (expected_receipts,),
    not_run: str | None = None,
) -> BusinessDigest:
    """What one business's people hear this morning; a state that cannot be read is said so,
    never raised (one business never keeps the others' digest from going). `not_run`: why
    its last run could not start, which the daemon knows and the state does not."""
    from sqlalchemy.exc import SQLAlchemyError

    from connector.overview import business_status
    from connector.sync.state import State

    name = cfg.business.name
    as_of = now.astimezone(cfg.zone).date()
    try:
        state = State.open(cfg.state_url, name, path=cfg.state_path, read_only=True)
        books = business_status(cfg, as_of)
        rows = state.invoice_rows()
        first = _not_run(not_run, books)
        payments = state.payment_rows()  # read once: what is told is what is marked
        notes = state.milestone_notes()
        return BusinessDigest(
            business=name,
            as_of=as_of,
            last_sync=_last_sync(books),
            received=received_since(payments, rows, mark),
            created=created_since(rows, mark, now, cfg),
            needs=first + tuple(_needs(item) for item in books.attention),
            not_run=not_run,
            awaiting=awaiting_acceptance(cfg, notes, as_of),
            retainage=retainage(books, notes, rows),
            aging=aging_of(name, rows, as_of),
            extra=tuple(s for s in (x(cfg, state, as_of) for x in extras) if s is not None),
            next_mark=latest_mark(payments, rows, now),
        )
    except (ConnectorError, OSError, SQLAlchemyError) as exc:
        error = f"its books could not be read: {exc}"
        return BusinessDigest(name, as_of, error=error, not_run=not_run)


def _not_run(why: str | None, books: BooksStatus) -> tuple[NeedsPerson, ...]:
    """Why the last run could not start, unless the state recorded that run's failure (its
    words are then among the status's own)."""
    if not why:
        return ()
    words = why.split(": ", 1)[-1]
    if any(words in str(getattr(a, "message", a)) for a in books.attention):
        return ()
    return (NeedsPerson(f"the last run could not start: {why}"),)


def _last_sync(books: BooksStatus) -> LastSync | None:
    last = books.last_run
    if last is None:
        return None
    return LastSync(last.finished_at or last.started_at, str(last.outcome))


def _needs(item: Any) -> NeedsPerson:
    """An attention item as the status gives it: a typed record with the amount it holds up,
    or (from a status of before those) its sentence alone."""
    amount, currency = getattr(item, "amount", None), getattr(item, "currency", None)
    message = getattr(item, "message", None) or str(item)
    return NeedsPerson(message, amount if currency else None, currency if amount else None)


def _number(row: InvoiceRow) -> str:
    return row.number or row.reference


def received_since(
    payments: Sequence[PaymentRow], rows: Sequence[InvoiceRow], mark: Mark
) -> tuple[Received, ...]:
    """Payments recorded after the mark, each with the invoice it was paid on; a payment the
    ledger since removed is not listed."""
    by_key = {r.key: r for r in rows}
    out = []
    for p in payments:
        if p.deleted or p.id <= mark.payment:
            continue
        row = by_key.get(p.invoice_key)
        if row is None:
            continue
        out.append(
            Received(row.customer, row.contract, _number(row), p.amount, p.currency, p.paid_on)
        )
    return tuple(out)


def created_since(
    rows: Sequence[InvoiceRow], mark: Mark, now: datetime, cfg: Config
) -> tuple[Created, ...]:
    """Invoices and credit notes recorded after the mark."""
    as_of = now.astimezone(cfg.zone).date()
    out = []
    for row in rows:
        if row.action != schema.OutboxAction.CREATE or row.state not in MADE_STATES:
            continue
        if row.id <= mark.invoice:
            continue
        made_day = min(_recorded(row, now).astimezone(cfg.zone).date(), as_of)
        out.append(
            Created(
                number=_number(row),
                contract=row.contract,
                customer=row.customer,
                kind=row.kind,
                milestones=row.milestones,
                total=row.total,
                currency=row.currency,
                due_date=row.due_date,
                confirmed=row.state != schema.PUSHING,
                overdue_when_created=row.total > 0 and row.due_date < made_day,
                payment_link=_web(row.payment_link),
            )
        )
    return tuple(out)


def _web(link: str | None) -> str | None:
    """A link the email may carry: a web address, never `javascript:` or the like."""
    return link if link and link.lower().startswith(("https://", "http://")) else None


def _recorded(row: InvoiceRow, now: datetime) -> datetime:
    """When the row was written (UTC, as stored); now for a row without a stamp."""
    try:
        return datetime.fromisoformat(row.created_at)
    except ValueError:
        return now.astimezone(UTC)


def awaiting_acceptance(
    cfg: Config, notes: Sequence[MilestoneNote], as_of: date
) -> tuple[Awaiting, ...]:
    """Milestones the last sync found done but not accepted by the client."""
    out = []
    for note in notes:
        if note.reason != Reason.AWAITING_APPROVAL:
            continue
        m = note.record()
        if not isinstance(m, Milestone):
            continue
        c = cfg.contracts.get(m.contract)
        currency = c.currency if c else (m.currency or cfg.business.currency)
        out.append(
            Awaiting(m.id, m.contract, m.title, _value(m, cfg, as_of), currency, m.completed)
        )
    return tuple(out)


def _value(m: Milestone, cfg: Config, as_of: date) -> Decimal | None:
    """What the milestone bills before deposit and retainage, as the status counts it."""
    from connector.sync.status_attention import milestone_value

    return milestone_value(m, cfg.contracts.get(m.contract), as_of)


def retainage(
    books: BooksStatus, notes: Sequence[MilestoneNote], rows: Sequence[InvoiceRow]
) -> tuple[Retainage, ...]:
    """Retainage still held per contract (and how many milestones its release waits for), and
    each open retainage-release invoice."""
    waiting: dict[str, int] = {}
    for note in notes:
        if note.contract is not None and note.status is not None:
            left = note.status is Status.OPEN or note.reason in (
                Reason.NOT_DONE,
                Reason.AWAITING_APPROVAL,
            )
            waiting[note.contract] = waiting.get(note.contract, 0) + int(left)
    out = [
        Retainage(c.contract, c.customer, c.currency, c.retainage_held, waiting.get(c.contract, 0))
        for c in books.contracts
        if c.retainage_held > 0
    ]
    for row in rows:
        if (
            row.kind == Kind.RETAINAGE
            and row.action == schema.OutboxAction.CREATE
            and row.state in (schema.PUSHED, schema.PARTIALLY_PAID)
            and row.balance > 0
        ):
            out.append(
                Retainage(
                    row.contract,
                    row.customer,
                    row.currency,
                    row.balance,
                    invoice=_number(row),
                    due_date=row.due_date,
                )
            )
    return tuple(out)


def latest_mark(payments: Sequence[PaymentRow], rows: Sequence[InvoiceRow], now: datetime) -> Mark:
    """The mark after a digest that told of everything it read."""
    paid = max((p.id for p in payments), default=0)
    return Mark(paid, max((r.id for r in rows), default=0), now.astimezone(UTC))


def digest_of(
    title: str,
    businesses: Sequence[BusinessDigest],
    marks: Sequence[Mark],
    now: datetime,
    cannot_load: Sequence[str] = (),
) -> Digest:
    known = [m.at for m in marks if m.at is not None]
    since = min(known) if known and len(known) == len(marks) else None
    return Digest(title, now, tuple(businesses), since, tuple(cannot_load))


__all__ = [
    "Awaiting",
    "BusinessDigest",
    "Created",
    "Digest",
    "ExtraSection",
    "LastSync",
    "Mark",
    "NeedsPerson",
    "Received",
    "Retainage",
    "Section",
    "business_digest",
    "digest_of",
    "expected_receipts",
    "latest_mark",
    "mark_name",
]
