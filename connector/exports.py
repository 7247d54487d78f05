"""CSV for the accountant's spreadsheet: `status`, `plan` (and `aging`, `render_aging`) with
`--format csv`. One header row; amounts as plain decimal strings (`4000.00`, `-250.00`: no
thousands separators, never floats); dates as ISO text.

A text cell that a spreadsheet would run as a formula (starting with = + - @, a tab or a
carriage return: OWASP, "CSV Injection") gets a leading apostrophe, so it shows as the text
it is. Only text is neutralised: an amount is a `Decimal` here and is written as the number
it is, a negative one too. Nothing here reads the state or calls anything.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from connector.models import PlannedInvoice, Skip
from connector.money import fmt
from connector.sync.status_records import Attention, BooksStatus

Cell = str | Decimal | int | dt.date | None
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def text_cell(text: str) -> str:
    """Text as a spreadsheet shows it, never run as a formula."""
    return "'" + text if text.startswith(FORMULA_START) else text


def shown_cell(shown: str) -> str:
    """A cell already written as text (a table's figures as shown): a plain number such as
    "-5.00" stays a number, any other text is neutralised as `text_cell` does."""
    return shown if PLAIN_NUMBER.fullmatch(shown) else text_cell(shown)


def csv_of(rows: Iterable[Sequence[str]]) -> str:
    """Rows already written as text, as one CSV (RFC 4180 line ends), each cell `shown_cell`."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows([[shown_cell(c) for c in r] for r in rows])
    return buffer.getvalue()


def cell(value: Cell) -> str:
    """A value as its cell: by its type, looked up once (a plan of 100,000 milestones has
    3,500,000 cells); a subclass (a datetime, a text enum) as the nearest type it is one of."""
    written = _WRITTEN.get(type(value))
    if written is None:
        written = next((_WRITTEN[t] for t in type(value).__mro__ if t in _WRITTEN), str)
    return written(value)


def _nothing(value: None) -> str:
    return ""


def _iso(value: dt.date) -> str:
    return value.isoformat()  # a datetime's own: with its time


_WRITTEN: dict[type, Callable[[Any], str]] = {
    str: text_cell,
    Decimal: fmt,
    int: str,
    bool: str,
    dt.date: _iso,
    type(None): _nothing,
}


def write_csv(
    write: Callable[[str], object], header: Sequence[str], rows: Iterable[Sequence[Cell]]
) -> None:
    """The header, then each row, in writes of a thousand rows (a plan of a million lines
    never holds its CSV whole)."""

    class Sink:
        def write(self, text: str) -> None:
            chunk.append(text)

    chunk: list[str] = []
    out = csv.writer(Sink(), lineterminator="\r\n")
    out.writerow(header)
    for n, row in enumerate(rows, 1):
        out.writerow([cell(v) for v in row])
        if n % 1000 == 0:
            write("".join(chunk))
            chunk.clear()
    write("".join(chunk))


# -- status -----------------------------------------------------------------------------------

# One row per contract, per invoice and per thing that needs a person (`record` says which);
# the columns a record has no value for are empty.
STATUS_COLUMNS = (
    "record",
    "business",
    "as_of",
    "contract",
    "customer",
    "invoice",
    "kind",
    "milestones",
    "date",
    "due_date",
    "currency",
    "value",
    "billed",
    "total",
    "net",
    "tax",
    "gross",
    "paid",
    "balance",
    "outstanding",
    "overdue",
    "days_overdue",
    "retainage_held",
    "credit",
    "status",
    "emailed",
    "held_up",
    "message",
)
_AT = {name: n for n, name in enumerate(STATUS_COLUMNS)}


def _row(**values: Cell) -> list[Cell]:
    out: list[Cell] = [None] * len(STATUS_COLUMNS)
    for name, value in values.items():
        out[_AT[name]] = value
    return out


def status_rows(books: BooksStatus) -> Iterator[list[Cell]]:
    at: dict[str, Cell] = {"business": books.business, "as_of": books.as_of}
    for c in books.contracts:
        yield _row(
            record="contract",
            **at,
            contract=c.contract,
            customer=c.customer,
            currency=c.currency,
            value=c.value,
            billed=c.billed,
            paid=c.paid,
            outstanding=c.outstanding,
            overdue=c.overdue,
            retainage_held=c.retainage_held,
            credit=c.credit,
        )
    customers = {c.contract: c.customer for c in books.contracts}
    for i in books.invoices:
        yield _row(
            record="invoice",
            **at,
            contract=i.contract,
            customer=customers.get(i.contract),
            invoice=i.number,
            kind=str(i.kind),
            milestones=" ".join(i.milestones),
            date=i.date,
            due_date=i.due_date,
            currency=i.currency,
            total=i.total,
            net=i.net,
            tax=i.tax,
            gross=i.gross,
            paid=i.paid,
            balance=i.balance,
            days_overdue=i.days_overdue,
            status=str(i.status),
            emailed=str(i.emailed),
        )
    yield from attention_rows(books.business, books.as_of, books.attention)


def attention_rows(
    business: str | None, as_of: dt.date | None, items: Iterable[Attention]
) -> Iterator[list[Cell]]:
    for a in items:
        yield _row(
            record="attention",
            business=business,
            as_of=as_of,
            contract=a.contract,
            invoice=a.invoice,
            kind=str(a.kind),
            milestones=" ".join(a.milestones),
            currency=a.currency,
            held_up=a.amount,
            message=a.message,
        )


# -- plan -------------------------------------------------------------------------------------

# One row per line of each planned document, one `total` row after each, and one per
# milestone not billed (`skipped`, with its reason).
PLAN_COLUMNS = (
    "record",
    "business",
    "as_of",
    "contract",
    "customer",
    "document",
    "kind",
    "milestones",
    "date",
    "due_date",
    "currency",
    "description",
    "amount",
    "reason",
    "message",
)


def plan_rows(
    business: str, as_of: dt.date, invoices: Iterable[PlannedInvoice], skipped: Iterable[Skip]
) -> Iterator[list[Cell]]:
    for p in invoices:
        document = "credit_note" if p.is_credit_note else ("invoice" if p.total else "none")
        head: list[Cell] = [business, as_of, p.contract, p.customer, document, str(p.kind)]
        head += [" ".join(p.milestones), p.date, p.due_date, p.currency]
        for line in p.lines:
            yield ["line", *head, line.description, line.amount, None, None]
        yield ["total", *head, "Total", p.total, None, None]
    for s in skipped:
        yield skipped_row(business, as_of, s)


def skipped_row(business: str, as_of: dt.date, s: Skip) -> list[Cell]:
    return [
        "skipped",
        business,
        as_of,
        s.contract,
        None,
        None,
        None,
        s.milestone,
        None,
        None,
        None,
        None,
        None,
        str(s.reason),
        s.message,
    ]
