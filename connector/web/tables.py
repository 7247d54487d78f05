"""Every table of the dashboard as data: columns and rows of cells, drawn as HTML by the
`table` template macro and written as CSV by `csv_text`, so the download is the table on the
page, row for row, whatever filter is applied.

A cell has the text a person reads (amounts with thousands separators) and the value a
program reads (amounts as plain decimal text, as `status --json` gives them): the HTML keeps
the value in `data-value`, the CSV writes it. CSV text cells that look like a formula are
neutralised as `connector aging --format csv` does (`exports.shown_cell`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from connector.exports import csv_of
from connector.money import fmt, grouped


@dataclass(frozen=True, slots=True)
class Progress:
    """One bar of a contract's progress: `value` of `maximum` (the contract's value)."""

    label: str
    value: Decimal
    maximum: Decimal

    @property
    def percent(self) -> str:
        if self.maximum <= 0:
            return "0"
        return f"{(self.value * 100 / self.maximum).quantize(Decimal(1))}"


@dataclass(frozen=True, slots=True)
class Cell:
    text: str
    value: str | None = None  # for programs and the CSV; the text when None
    href: str | None = None
    bars: tuple[Progress, ...] = ()
    mark: str = ""  # a CSS class: "late", "problem"

    @property
    def raw(self) -> str:
        return self.text if self.value is None else self.value


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    numeric: bool = False
    in_csv: bool = True  # the progress bars are drawn, not downloaded
    in_page: bool = True  # a spreadsheet's column that the page shows folded into another


@dataclass(frozen=True, slots=True)
class Table:
    name: str  # its address: /…/NAME.csv
    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]
    empty: str = "Nothing to show."
    foot: tuple[tuple[Cell, ...], ...] = field(default=())  # totals, after the rows

    def __post_init__(self) -> None:
        for row in (*self.rows, *self.foot):
            assert len(row) == len(self.columns), (self.name, row)


def amount(value: Decimal | None, currency: str | None = None) -> Cell:
    """An amount: `8,160.00` to read, `8160.00` for programs; blank when there is none."""
    if value is None:
        return Cell("", "")
    text = grouped(value)
    return Cell(text if currency is None else f"{text}\u00a0{currency}", fmt(value))


def text(value: object, href: str | None = None, mark: str = "") -> Cell:
    return Cell("" if value is None else str(value), href=href, mark=mark)


def csv_text(table: Table) -> str:
    """RFC 4180, UTF-8: the header, then the rows and totals as the page shows them."""
    keep = [n for n, c in enumerate(table.columns) if c.in_csv]
    rows: list[Sequence[str]] = [[table.columns[n].label for n in keep]]
    rows += [[row[n].raw for n in keep] for row in (*table.rows, *table.foot)]
    return csv_of(rows)
