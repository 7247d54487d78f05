"""Rich renderings of a plan, a sync report and the status, for people reading a terminal or
the morning email. Amounts get thousands separators here only; JSON keeps plain strings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.markup import escape as esc
from rich.table import Table

from connector.models import PROBLEM_REASONS, PlannedInvoice, Skip
from connector.money import fmt
from connector.sync.report import DocumentBooks, SyncReport, TaxBy
from connector.sync.status import (
    BooksStatus,
    ContractStatus,
    Emailed,
    InvoiceStatus,
    LastRun,
    Standing,
)
from connector.validation import printable

if TYPE_CHECKING:  # the overview imports the config and the doctor; rendering needs neither
    from connector.overview import CannotLoad

# What the overview counts as open.
OPEN = (Standing.OPEN, Standing.PARTIALLY_PAID)


def _n(amount: Decimal | str | None) -> str:
    return "" if amount is None else f"{Decimal(amount):,}"


def money(amount: Decimal | str, currency: str) -> str:
    return f"{_n(amount)} {currency}"


def plan(
    console: Console,
    business: str,
    as_of: object,
    invoices: list[PlannedInvoice],
    skipped: list[Skip],
    caveats: Sequence[str] = (),
    books: Mapping[str, DocumentBooks] | None = None,
) -> None:
    """`books` (by document key) says under each document who puts the tax on and whether it
    is emailed, where the config says either: a business that sets neither sees no such line."""
    console.print(f"[bold]{esc(business)}[/bold]: plan as of {as_of}")
    for caveat in caveats:
        console.print(f"[yellow]note:[/yellow] {esc(caveat)}")
    if not invoices:
        console.print("No invoices to create.")
    for inv in invoices:
        what = f"{inv.kind}" + (f" {', '.join(inv.milestones)}" if inv.milestones else "")
        if not inv.total:
            document = ": nets to zero, nothing is sent, recorded as billed"
        elif inv.is_credit_note:
            document = f" as a credit note for {money(-inv.total, inv.currency)}"
        else:
            document = ""
        console.print(
            f"\n[bold]{esc(inv.contract)}[/bold] {esc(what)} for {esc(inv.customer)}{document}: "
            f"dated {inv.date}, due {inv.due_date}"
        )
        booked = (books or {}).get(inv.key)
        if booked is not None and (booked.tax is not TaxBy.LEDGER_SETTINGS or booked.emailed):
            console.print(f"  {esc(booked.sentence())}", highlight=False)
        table = Table(box=box.SIMPLE_HEAD, show_header=False)
        table.add_column("Line", ratio=1)
        table.add_column("Amount", justify="right", no_wrap=True)
        for line in inv.lines:
            table.add_row(esc(line.description), money(line.amount, inv.currency))
        table.add_row(
            "[bold]Total[/bold]",
            f"[bold]{money(inv.total, inv.currency)}[/bold]",
            end_section=True,
        )
        console.print(table)
    skipped_table(console, skipped)


def skipped_table(console: Console, skipped: list[Skip]) -> None:
    if not skipped:
        return
    table = Table(
        "Milestone", "Reason", "Why", title="Not billed", title_justify="left", box=box.SIMPLE_HEAD
    )
    for s in skipped:
        reason = f"[red]{s.reason}[/red]" if s.reason in PROBLEM_REASONS else str(s.reason)
        table.add_row(esc(printable(s.milestone)), reason, esc(s.message))
    console.print(table)


def sync(console: Console, err: Console, report: SyncReport) -> None:
    console.print(
        f"[bold]{esc(report.business)}[/bold]: sync as of {report.as_of} "
        f"(run {report.run_id}): {report.outcome}"
    )
    for row, number in report.created:
        what = ", ".join(row.milestones) or row.kind
        document = "credit note" if row.is_credit_note else "invoice"  # for -total
        console.print(
            f"  created {document} {esc(number)}: {esc(row.contract)} {esc(what)}, "
            f"{money(abs(row.total), row.currency)}"
        )
    for row, number in report.voided:
        console.print(f"  voided {esc(number.removeprefix('void of '))}: {esc(row.contract)}")
    c = report.counts()
    waiting = sum(1 for s in report.skipped if s.reason.value != "already_invoiced")
    console.print(
        f"  {c['invoices_created']} invoice(s) created, {c['invoices_voided']} voided, "
        f"{c['in_doubt_resolved']} earlier push(es) confirmed, {c['payments_pulled']} "
        f"payment(s) seen, {waiting} milestone(s) not billable yet or held"
    )
    for problem in report.problems():
        err.print(f"  [red]needs attention:[/red] {esc(problem)}")


def status(console: Console, books: BooksStatus) -> None:
    """One business's books: contracts, invoices, and what needs a person."""
    console.print(
        f"[bold]{esc(books.business)}[/bold] as of {books.as_of}; last sync: {_ran(books.last_run)}"
    )
    console.print(_contracts_table(books.contracts))
    if books.invoices:
        console.print(_invoices_table(books.invoices))
    client = _client_table(books.invoices)
    if client is not None:
        console.print(client)
    _payment_links(console, books.invoices)
    for item in books.attention:
        console.print(f"[red]needs attention:[/red] {esc(item)}")


def _ran(last: LastRun | None) -> str:
    return f"{last.when} ({last.outcome})" if last else "never"


def _shown(amount: Decimal | None) -> str:
    """An amount as its JSON text reads (`fmt`), with thousands separators."""
    return "" if amount is None else _n(fmt(amount))


def _contracts_table(contracts: Sequence[ContractStatus]) -> Table:
    table = _table("Contracts")
    table.add_column("Contract", overflow="fold")
    table.add_column("Cur", no_wrap=True)
    for name in ("Value", "Billed", "Paid", "Outstanding", "Overdue", "Retainage"):
        table.add_column(name, justify="right", no_wrap=True, min_width=9)
    for c in contracts:
        # the customer's unused credit is their money, never a negative balance
        owed = f"credit {_shown(c.credit)}" if c.credit else _shown(c.outstanding)
        table.add_row(
            esc(c.contract),
            c.currency,
            _shown(c.value),
            _shown(c.billed),
            _shown(c.paid),
            owed,
            _shown(c.overdue),
            _shown(c.retainage_held),
        )
    return table


# How an invoice's email to the client is worded in the status (the JSON keeps `Emailed`).
EMAILED_WORDS = {
    Emailed.SENT: "sent",
    Emailed.SENDING: "sending",
    Emailed.REFUSED: "[red]refused[/red]",
    Emailed.TO_SEND: "to send",
    Emailed.NEVER: "",
}


def _invoices_table(invoices: Sequence[InvoiceStatus]) -> Table:
    """Total is what the client is asked for: the gross once the ledger computed tax (the
    next table splits it), the connector's total before that."""
    table = _table("Invoices")
    table.add_column("Invoice", no_wrap=True)
    table.add_column("Contract", overflow="fold")
    table.add_column("For", overflow="fold")
    table.add_column("Total", justify="right", no_wrap=True, min_width=12)
    table.add_column("Due", no_wrap=True, min_width=10)
    table.add_column("Paid", justify="right", no_wrap=True, min_width=8)
    table.add_column("Status", overflow="fold")
    table.add_column("Late", justify="right", no_wrap=True)
    for i in invoices:
        total = i.total if i.gross is None else i.gross
        table.add_row(
            esc(i.number),
            esc(i.contract),
            esc(", ".join(i.milestones) or str(i.kind)),
            # a credit note is for a positive amount, shown as such beside its status
            f"{_shown(abs(total))} {i.currency}",
            i.due_date.isoformat(),
            _shown(i.paid),
            str(i.status),
            f"{i.days_overdue}d" if i.days_overdue else "",
        )
    return table


CLIENT_TITLES = {
    (True, True): "Tax (as the ledger computed it) and email to the client",
    (True, False): "Tax, as the ledger computed it",
    (False, True): "Email to the client",
}


def _client_table(invoices: Sequence[InvoiceStatus]) -> Table | None:
    """The tax the ledger computed on each invoice, between the amounts without it and the
    gross (a credit note's as positive amounts, like its total), and whether the ledger
    emailed it to the client: a table of its own, so the invoices table keeps to 80 columns.
    Each part appears only when some invoice has it (a tax, not just the 0 of books without
    tax: the JSON has those); None when neither does."""
    taxed = any(i.tax for i in invoices)
    emailing = any(i.emailed is not Emailed.NEVER for i in invoices)
    shown = [i for i in invoices if (taxed and i.tax is not None) or i.emailed is not Emailed.NEVER]
    if not shown:
        return None
    table = _table(CLIENT_TITLES[taxed, emailing])
    table.add_column("Invoice", no_wrap=True)
    table.add_column("Cur", no_wrap=True)
    if taxed:
        for name in ("Net", "Tax", "Gross"):
            table.add_column(name, justify="right", no_wrap=True, min_width=9)
    if emailing:
        table.add_column("Emailed", no_wrap=True)
    for i in shown:
        cells = [esc(i.number), i.currency]
        if taxed:
            cells += [_shown(None if a is None else abs(a)) for a in (i.net, i.tax, i.gross)]
        if emailing:
            cells.append(EMAILED_WORDS[i.emailed])
        table.add_row(*cells)
    return table


def _payment_links(console: Console, invoices: Sequence[InvoiceStatus]) -> None:
    """Each open invoice's online payment link, whole on its line: a link cut in two cannot
    be clicked or copied."""
    linked = [i for i in invoices if i.payment_link and i.status in OPEN]
    if not linked:
        return
    console.print("[bold]Pay online[/bold]")
    for i in linked:
        console.print(
            f"  {esc(i.number)}  {esc(i.payment_link or '')}", soft_wrap=True, highlight=False
        )


def overview(console: Console, entries: Sequence[BooksStatus | CannotLoad]) -> None:
    """Every business on one screen: the last sync, open and overdue invoices, and what needs
    a person, each item under its business's name."""
    table = _table("Businesses")
    for name in ("Business", "Last sync", "Outcome"):
        table.add_column(name)
    for name in ("Open", "Overdue", "Attention"):
        table.add_column(name, justify="right", no_wrap=True)
    for e in entries:
        if isinstance(e, BooksStatus):
            table.add_row(*_business_row(e))
        else:
            table.add_row(esc(e.config), "", "[red]cannot load[/red]", "", "", "1")
    console.print(table)
    for e in entries:
        who = e.business if isinstance(e, BooksStatus) else e.config
        for item in e.attention:
            console.print(f"[red]needs attention:[/red] {esc(who)}: {esc(item)}", highlight=False)


def _business_row(books: BooksStatus) -> tuple[str, ...]:
    last = books.last_run
    return (
        esc(books.business),
        last.when if last else "never",
        str(last.outcome) if last else "",
        str(sum(1 for i in books.invoices if i.status in OPEN)),
        str(sum(1 for i in books.invoices if i.days_overdue)),
        str(len(books.attention)),
    )


def _table(title: str) -> Table:
    """Tight padding so the amount columns fit an 80-column terminal whole: an amount is never
    cut short with an ellipsis, and a name too long for its column folds onto a second line
    (`overflow="fold"` on the text columns) instead of losing its end."""
    return Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
