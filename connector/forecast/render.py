"""The forecast and its backtest for people (rich tables of plain-text cells, one per
currency, never a sum of two) and for spreadsheets (CSV, RFC 4180).

Forecast CSV is long: one row per item behind each figure (`scenario` early, expected or late),
so a pivot of `amount` by week and scenario gives the figures; a week with nothing in a
scenario has one row of amount 0 and no item. Backtest CSV: one row per currency and week,
then a row `all` per currency with the receipts, the absolute error and its share. Text cells
that look like formulas are neutralised as `connector aging` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from connector.exports import csv_of
from connector.forecast.backtest import Backtest
from connector.forecast.records import SCENARIOS, Forecast
from connector.money import fmt, grouped
from connector.validation import printable

FORECAST_COLUMNS = (
    "business", "currency", "week", "start", "end", "scenario", "kind", "reference",
    "contract", "customer", "amount", "day", "why",
)  # fmt: skip
BACKTEST_COLUMNS = (
    "business", "currency", "week", "start", "end", "early", "expected", "late", "actual",
    "error", "error_share",
)  # fmt: skip


def _table(title: str, headers: Sequence[str], right_from: int) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for n, name in enumerate(headers):
        table.add_column(name, justify="right" if n >= right_from else "left", no_wrap=True)
    return table


def forecast(console: Console, f: Forecast) -> None:
    """Per currency: the weeks' three figures, then the items behind the expected ones."""
    console.print(
        Text.assemble(
            (printable(f.business), "bold"),
            f": expected receipts per week from {f.as_of} ({f.weeks} weeks)",
        ),
        highlight=False,
    )
    if not f.currencies:
        console.print("Nothing is expected in these weeks.", highlight=False)
    for c in f.currencies:
        table = _table(c.currency, ["Week", "From", "To", "Early", "Expected", "Late"], 3)
        for w in c.weeks:
            table.add_row(
                str(w.number), str(w.start), str(w.end),
                grouped(w.early.amount), grouped(w.expected.amount), grouped(w.late.amount),
            )  # fmt: skip
        table.add_row(
            "later", "", "", *(grouped(c.later[s].amount) for s in SCENARIOS), style="dim"
        )
        table.add_row("Total", "", "", *(grouped(c.total(s)) for s in SCENARIOS), style="bold")
        console.print(table)
        items = _table(
            f"Behind the expected {c.currency} figures",
            ["Week", "Day", "What", "Customer", "Amount", "Why"],
            4,
        )
        items.columns[5].justify = "left"
        items.columns[5].no_wrap = False
        for w in c.weeks:
            for i in w.expected.items:
                what = f"{i.kind} {i.reference}"
                items.add_row(
                    str(w.number), str(i.day), Text(printable(what)),
                    Text(printable(i.customer)), grouped(i.amount), Text(printable(i.why)),
                )  # fmt: skip
        if items.row_count:
            console.print(items)
    for line in f.not_forecast:
        console.print(Text.assemble(("not forecast: ", "yellow"), printable(line)), highlight=False)
    for line in f.caveats:
        console.print(Text.assemble(("note: ", "yellow"), printable(line)), highlight=False)


def backtest(console: Console, b: Backtest) -> None:
    console.print(
        Text.assemble(
            (printable(b.business), "bold"),
            f": the forecast made on {b.made_on} against what was paid, "
            f"{b.then.weeks} weeks to {b.as_of}",
        ),
        highlight=False,
    )
    if not b.currencies:
        console.print("Nothing was forecast and nothing was paid.", highlight=False)
    for c in b.currencies:
        table = _table(
            c.currency,
            ["Week", "From", "Early", "Expected", "Late", "Actual", "Error"],
            2,
        )
        for w in c.weeks:
            table.add_row(
                str(w.number), str(w.start), grouped(w.early), grouped(w.expected),
                grouped(w.late), grouped(w.actual), grouped(w.error),
            )  # fmt: skip
        console.print(table)
        share = c.error_share
        said = (
            f"{(share * 100).quantize(Decimal('0.01'))}% of the receipts"
            if share is not None
            else "no receipts, so no share"
        )
        console.print(
            f"Mean absolute error: {grouped(c.mean_absolute_error)} {c.currency} a week, {said} "
            f"({grouped(c.absolute_error)} off in total over {grouped(c.receipts)} received).",
            highlight=False,
        )


def forecast_csv(forecasts: Sequence[Forecast]) -> str:
    rows: list[list[str]] = [list(FORECAST_COLUMNS)]
    for f in forecasts:
        for c in f.currencies:
            for w in c.weeks:
                for s in SCENARIOS:
                    head = [f.business, c.currency, str(w.number), str(w.start), str(w.end), s]
                    fig = w.figure(s)
                    if not fig.items:
                        rows.append([*head, "", "", "", "", fmt(fig.amount), "", ""])
                    for i in fig.items:
                        rows.append(
                            [
                                *head, str(i.kind), i.reference, i.contract, i.customer,
                                fmt(i.amount), str(i.day), i.why,
                            ]
                        )  # fmt: skip
    return csv_of(rows)


def backtest_csv(tests: Sequence[Backtest]) -> str:
    rows: list[list[str]] = [list(BACKTEST_COLUMNS)]
    for b in tests:
        for c in b.currencies:
            for w in c.weeks:
                rows.append(
                    [
                        b.business, c.currency, str(w.number), str(w.start), str(w.end),
                        fmt(w.early), fmt(w.expected), fmt(w.late), fmt(w.actual),
                        fmt(w.error), "",
                    ]
                )  # fmt: skip
            share = c.error_share
            rows.append(
                [
                    b.business, c.currency, "all", str(b.made_on), str(c.weeks[-1].end),
                    "", "", "", fmt(c.receipts), fmt(c.absolute_error),
                    "" if share is None else fmt(share),
                ]
            )  # fmt: skip
    return csv_of(rows)
