"""`connector aging` for people and for spreadsheets: rich tables (one per currency, never a
sum of two), and CSV for the accountant.

Tables: amounts get thousands separators, a bucket with nothing in it is blank, and unused
credit is a negative amount in a Credit column (shown only when some customer has credit). A
customer's name is never cut: the table has one line per customer when every name fits whole
beside the amounts, and otherwise one line per bucket under the name ("long" layout), so the
amounts never lose a digit either. Every cell is plain text (never markup).

CSV (RFC 4180, UTF-8, no byte order mark): one row per customer and currency (`scope`
customer), per business and currency (`scope` business) and, for a folder, per currency across
every business (`scope` all); amounts as plain decimal text (`-13000.00`, no separators) with
the currency in its own column. A text cell that starts with =, +, -, @, a tab or a carriage
return gets a leading apostrophe (OWASP, "CSV Injection"), so a customer named
`=HYPERLINK(...)` stays text; a cell that is a plain decimal number (a negative credit) is left
as it is, so it stays a number: such a cell cannot be a formula.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from connector.aging import BUCKETS, Aging, AgingOverview, Bucket, Buckets
from connector.exports import csv_of
from connector.money import fmt, grouped
from connector.validation import printable

LABELS = {
    Bucket.CURRENT: "Current",
    Bucket.DAYS_1_30: "1-30",
    Bucket.DAYS_31_60: "31-60",
    Bucket.DAYS_61_90: "61-90",
    Bucket.OVER_90: "90+",
}
# What needs chasing first stands out.
STYLES = {Bucket.DAYS_61_90: "red", Bucket.OVER_90: "bold red"}

Named = tuple[str, Buckets]  # a customer's (or a business's) name and its amounts


def business(console: Console, aging: Aging) -> None:
    """One business: a table per currency, then what is left out of the figures."""
    console.print(
        Text.assemble((printable(aging.business), "bold"), f": receivables as of {aging.as_of}"),
        highlight=False,
    )
    if not aging.customers:
        console.print("Nothing owed.", highlight=False)
    for total in aging.totals:
        rows = [
            (printable(c.customer), c.amounts)
            for c in aging.customers
            if c.amounts.currency == total.currency
        ]
        console.print()
        table(console, f"In {total.currency}", "Customer", rows, total)
    for item in aging.attention:
        _note(console, ("not counted: ", "yellow"), item)


def overview(console: Console, folder: AgingOverview) -> None:
    """Every business in turn, then one table per currency of every business's total."""
    for entry in folder.entries:
        if isinstance(entry, Aging):
            business(console, entry)
        else:
            _note(console, ("cannot load: ", "red"), f"{entry.config}: {entry.error}")
        console.print()
    days = {a.as_of for a in folder.businesses}
    when = f" as of {days.pop()}" if len(days) == 1 else " (each as of its own day)"
    console.print(
        Text.assemble(("All businesses", "bold"), f": receivables{when}"), highlight=False
    )
    if not folder.totals:
        console.print("Nothing owed.", highlight=False)
    for total in folder.totals:
        rows = [
            (printable(a.business), t)
            for a in folder.businesses
            for t in a.totals
            if t.currency == total.currency
        ]
        console.print()
        table(console, f"In {total.currency}", "Business", rows, total)


def _note(console: Console, label: tuple[str, str], text: str) -> None:
    console.print(Text.assemble(label, printable(text)), highlight=False)


def _amount(value: Decimal, *, blank_zero: bool = True) -> str:
    return "" if blank_zero and not value else grouped(value)


def _cells(amounts: Buckets, credit: bool) -> list[str]:
    cells = [_amount(a) for a in amounts.owed]
    if credit:
        cells.append(_amount(amounts.credit))
    cells.append(_amount(amounts.total, blank_zero=False))
    return cells


def table(console: Console, title: str, first: str, rows: Sequence[Named], total: Buckets) -> None:
    """The rows and their total, one line each when the names fit whole beside the amounts,
    else the long layout."""
    credit = bool(total.credit) or any(b.credit for _, b in rows)
    headers = [first, *LABELS.values(), *(["Credit"] if credit else []), "Total"]
    body = [[name, *_cells(b, credit)] for name, b in rows]
    foot = ["Total", *_cells(total, credit)]
    widths = [
        max(cell_len(cell) for cell in column) for column in zip(headers, *body, foot, strict=True)
    ]
    if sum(widths) + len(widths) - 1 <= console.width:
        _wide(console, title, headers, body, foot)
    else:
        _long(console, title, first, rows, total)


def _table(title: str) -> Table:
    """One space between columns (the box's) and none at the edges: room for the names. The
    total is the footer, under a rule."""
    return Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE,
        padding=0,
        show_edge=False,
        show_footer=True,
        highlight=False,
    )


def _wide(
    console: Console,
    title: str,
    headers: Sequence[str],
    body: Sequence[Sequence[str]],
    foot: Sequence[str],
) -> None:
    t = _table(title)
    t.add_column(headers[0], Text(foot[0], style="bold"), no_wrap=True)
    for n, header in enumerate(headers[1:]):
        style = STYLES.get(BUCKETS[n], "") if n < len(BUCKETS) else ""  # credit, total: plain
        footer = Text(foot[n + 1], style="bold")
        t.add_column(header, footer, justify="right", no_wrap=True, style=style)
    for row in body:
        t.add_row(*(Text(c) for c in row))
    console.print(t)


def _long(console: Console, title: str, first: str, rows: Sequence[Named], total: Buckets) -> None:
    """One line per bucket that holds something, under each name (the total as the footer):
    for narrow screens and large amounts."""
    labels, amounts = _lines(total)
    t = _table(title)
    t.add_column(first, Text("Total", style="bold"), overflow="fold")
    t.add_column("Age", Text("\n".join(labels), style="bold"), no_wrap=True)
    t.add_column("Amount", Text("\n".join(amounts), style="bold"), justify="right", no_wrap=True)
    for name, figures in rows:
        labels, amounts = _lines(figures)
        for n, (label, amount) in enumerate(zip(labels, amounts, strict=True)):
            t.add_row(
                Text(name if n == 0 else ""),
                Text(label),
                Text(amount, style="bold" if label == "Total" else ""),
                end_section=n == len(labels) - 1,
            )
    console.print(t)


def _lines(figures: Buckets) -> tuple[list[str], list[str]]:
    """The labels and amounts of the buckets that hold something, the credit, and the total."""
    shown = [(LABELS[b], a) for b, a in zip(BUCKETS, figures.owed, strict=True) if a]
    if figures.credit:
        shown.append(("Credit", figures.credit))
    shown.append(("Total", figures.total))
    return [label for label, _ in shown], [_amount(a, blank_zero=False) for _, a in shown]


# -- CSV -------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "scope",
    "business",
    "customer",
    "as_of",
    "currency",
    *(str(b) for b in BUCKETS),
    "credit",
    "total",
)


def _figures(amounts: Buckets) -> list[str]:
    return [
        amounts.currency,
        *(fmt(a) for a in amounts.owed),
        fmt(amounts.credit),
        fmt(amounts.total),
    ]


def csv_text(entries: Sequence[Aging], totals: Sequence[Buckets] | None = None) -> str:
    """The businesses' rows, then (`totals`, for a folder) the rows across all of them."""
    rows: list[list[str]] = [list(CSV_COLUMNS)]
    for a in entries:
        day = a.as_of.isoformat()
        rows += [
            ["customer", a.business, c.customer, day, *_figures(c.amounts)] for c in a.customers
        ]
        rows += [["business", a.business, "", day, *_figures(t)] for t in a.totals]
    if totals is not None:
        days = {a.as_of.isoformat() for a in entries}
        day = days.pop() if len(days) == 1 else ""
        rows += [["all", "", "", day, *_figures(t)] for t in totals]
    return csv_of(rows)
