"""Rich renderings of a plan, a sync report and the status, for people reading a terminal or
the morning email. Amounts get thousands separators here only; JSON keeps plain strings."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from decimal import Decimal
from itertools import chain, islice
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.markup import escape as esc
from rich.table import Table

from connector.errors import naming_config
from connector.models import PROBLEM_REASONS, PlannedInvoice, Skip
from connector.money import grouped
from connector.render_grid import (
    PLAIN_ROWS,
    Col,
    Loud,
    Red,
    amount,
    grid,
    plain_document,
    spooled_grid,
)
from connector.sync.report import BooksOf, DocumentBooks, SyncReport, TaxBy, books_of
from connector.sync.status import (
    Attention,
    BooksStatus,
    ContractStatus,
    Emailed,
    InvoiceStatus,
    LastRun,
    Standing,
)
from connector.sync.status_records import FORECAST_UP_TO
from connector.validation import printable

if TYPE_CHECKING:  # the overview imports the config and the doctor; rendering needs neither
    from connector.overview import CannotLoad

# What the overview counts as open.
OPEN = (Standing.OPEN, Standing.PARTIALLY_PAID)


def _n(amount: Decimal | str | None) -> str:
    """With thousands separators, in fixed point (`_shown`)."""
    return (
        "" if amount is None else _shown(amount if isinstance(amount, Decimal) else Decimal(amount))
    )


def money(amount: Decimal | str, currency: str) -> str:
    return f"{_n(amount)} {currency}"


def plan(
    console: Console,
    business: str,
    as_of: object,
    invoices: list[PlannedInvoice],
    skipped: list[Skip],
    caveats: Sequence[str] = (),
    books: BooksOf | None = None,
) -> None:
    """`books` (by document key, or in order) says under each document who puts the tax on
    and whether it is emailed, where the config says either: a business that sets neither
    sees no such line."""
    documents = zip(invoices, books_of(invoices, books), strict=True)
    plan_items(console, business, as_of, documents, skipped, caveats)


def plan_items(
    console: Console,
    business: str,
    as_of: object,
    documents: Iterable[tuple[PlannedInvoice, DocumentBooks | None]],
    skipped: Iterable[Skip],
    caveats: Sequence[str] = (),
) -> None:
    """`plan`, of documents that may be made as they are printed (a contract at a time,
    `plan_stream`), each with its books; `skipped` is read once they are all printed."""
    console.print(f"[bold]{esc(business)}[/bold]: plan as of {as_of}")
    for caveat in caveats:
        console.print(f"[yellow]note:[/yellow] {esc(caveat)}")
    documents = iter(documents)
    first = list(islice(documents, PLAIN_ROWS + 1))  # enough to know how the plan is shown
    if not first:
        console.print("No invoices to create.")
    plain = len(first) > PLAIN_ROWS  # a large plan: written as text, in chunks
    width = console.width  # asked once: rich measures the terminal each time
    written: list[str] = []
    for inv, booked in chain(first, documents):
        total, currency = inv.total, inv.currency
        heading, sentence = _heading(inv, total, booked)
        rows = [(line.description, money(line.amount, currency)) for line in inv.lines]
        rows.append(("Total", money(total, currency)))
        text = plain_document(heading, sentence, rows, width) if plain else None
        if text is not None:
            written.append(text)
            if len(written) >= 1000:
                console.file.write("".join(written))
                written.clear()
            continue
        console.file.write("".join(written))
        written.clear()
        _document(console, inv, heading, sentence, rows)
    console.file.write("".join(written))
    skipped_table(console, skipped)


def _heading(
    inv: PlannedInvoice, total: Decimal, booked: DocumentBooks | None
) -> tuple[str, str | None]:
    """What a planned document (of `total`) is, and who puts the tax on and whether it is
    emailed (None when the config says neither), as plain text."""
    what = f"{inv.kind}" + (f" {', '.join(inv.milestones)}" if inv.milestones else "")
    if not total:
        document = ": nets to zero, nothing is sent, recorded as billed"
    elif total < 0:  # `is_credit_note`
        document = f" as a credit note for {money(-total, inv.currency)}"
    else:
        document = ""
    heading = (
        f"{inv.contract} {what} for {inv.customer}{document}: dated {inv.date}, due {inv.due_date}"
    )
    says = booked is not None and (booked.tax is not TaxBy.LEDGER_SETTINGS or booked.emailed)
    return heading, booked.sentence() if booked is not None and says else None


def _document(
    console: Console,
    inv: PlannedInvoice,
    heading: str,
    sentence: str | None,
    rows: Sequence[tuple[str, str]],
) -> None:
    """One planned document through rich: its contract in bold, its lines as a table."""
    rest = heading.removeprefix(inv.contract)
    console.print(f"\n[bold]{esc(inv.contract)}[/bold]{esc(rest)}")
    if sentence is not None:
        console.print(f"  {esc(sentence)}", highlight=False)
    table = Table(box=box.SIMPLE_HEAD, show_header=False)
    table.add_column("Line", ratio=1)
    table.add_column("Amount", justify="right", no_wrap=True)
    for text, shown in rows[:-1]:
        table.add_row(esc(text), shown)
    table.add_row("[bold]Total[/bold]", f"[bold]{rows[-1][1]}[/bold]", end_section=True)
    console.print(table)


def skipped_table(console: Console, skipped: Iterable[Skip]) -> None:
    """The milestones not billed, and why: from a list, or read once from a first plan made a
    contract at a time (`plan_stream`), which may skip a million (`spooled_grid`)."""
    rows = (
        (
            printable(s.milestone),
            Red(s.reason) if s.reason in PROBLEM_REASONS else str(s.reason),
            s.message,
        )
        for s in skipped
    )
    columns = [Col("Milestone", key=True), Col("Reason"), Col("Why", wrap=True)]
    if not isinstance(skipped, Sequence):
        spooled_grid(console, "Not billed", columns, rows, tight=False)
    elif skipped:
        grid(console, "Not billed", columns, list(rows), tight=False)


def sync(console: Console, err: Console, report: SyncReport, config: object = None) -> None:
    """The run's report; each problem once, on `err`, a command it suggests naming `config`."""
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
        + (
            f", {c['payments_withdrawn']} payment(s) deleted in the ledger since they were seen"
            if c["payments_withdrawn"]
            else ""
        )
    )
    held = {s.message for s in report.skipped if s.reason in PROBLEM_REASONS}
    shown = 0
    for problem in report.problems():
        if problem in held:
            shown += 1
            if shown > MILESTONES_LISTED:
                continue
        err.print(f"  [red]needs attention:[/red] {esc(naming_config(problem, config))}")
    if shown > MILESTONES_LISTED:
        more = (
            f"{shown - MILESTONES_LISTED:,} more problem(s) of milestones not billed; "
            "`connector plan --config FILE` lists each milestone with its reason"
        )
        err.print(f"  [red]needs attention:[/red] {esc(naming_config(more, config))}")


# A night's milestone problems listed one by one, the rest counted: at 1,000,000 milestones a
# quarter can be held at their contracts' caps, 45 MB and 40 s of lines nobody reads. Failures
# and notices (a document refused, voided by a person) are always listed.
MILESTONES_LISTED = 50


# Books with more invoices than this are summarised: every contract's totals, then only the
# invoices that are open or need a person; `status --all` lists every one.
SUMMARY_AT = 100
ATTENTION = (Standing.SENDING, Standing.FAILED, Standing.VOIDED_IN_LEDGER)


def status(console: Console, books: BooksStatus, *, every: bool = False) -> None:
    """One business's books: contracts, invoices, and what needs a person. Large books
    (`SUMMARY_AT`) show only the open and problem invoices unless `every` is asked."""
    console.print(
        f"[bold]{esc(books.business)}[/bold] as of {books.as_of}; last sync: {_ran(books.last_run)}"
    )
    if books.expected is not None:
        console.print(f"Expected receipts in the next 4 weeks: {expected(books)}", highlight=False)
    elif len(books.invoices) > FORECAST_UP_TO:
        console.print(
            "Expected receipts in the next 4 weeks: large books, see `connector forecast`"
        )
    _contracts_table(console, books.contracts)
    invoices: Sequence[InvoiceStatus] = books.invoices
    title, hidden = "Invoices", 0
    if not every and len(invoices) > SUMMARY_AT:
        invoices = [i for i in invoices if _open_or_problem(i)]
        hidden = len(books.invoices) - len(invoices)
        title = f"Open and problem invoices ({len(invoices):,} of {len(books.invoices):,})"
    if invoices:
        _invoices_table(console, invoices, title)
    if hidden:
        console.print(
            f"{hidden:,} paid, credited or closed invoices are not shown: --all lists every one"
        )
    _client_table(console, invoices)
    _payment_links(console, invoices)
    attention_lines(console, books.attention)


def expected(books: BooksStatus) -> str:
    """The forecast's next 4 weeks in one cell: each currency on its own, never added."""
    if not books.expected:
        return "nothing" if books.expected is not None else ""
    return "; ".join(money(amount, currency) for currency, amount in books.expected)


def attention_lines(console: Console, items: Sequence[Attention], who: str = "") -> None:
    """Each item once, with the money it holds up; its words are never read as markup."""
    for item in items:
        console.print(
            f"[red]needs attention:[/red] {esc(who)}{esc(item.message)}{esc(_held(item))}",
            highlight=False,
        )


def _held(item: Attention) -> str:
    if item.amount is None or item.currency is None:
        return ""
    return f" (holds up {money(item.amount, item.currency)})"


def _open_or_problem(i: InvoiceStatus) -> bool:
    """Still owed, overdue, unconfirmed, failed, voided in the ledger, or refused by email."""
    return (
        i.status in OPEN
        or i.status in ATTENTION
        or i.days_overdue > 0
        or i.emailed is Emailed.REFUSED
    )


def _ran(last: LastRun | None) -> str:
    return f"{last.when} ({last.outcome})" if last else "never"


def _shown(amount: Decimal | None) -> str:
    """An amount as its JSON text reads (`fmt`: fixed point, never an exponent), with
    thousands separators."""
    return "" if amount is None else grouped(amount)


def _contracts_table(console: Console, contracts: Sequence[ContractStatus]) -> None:
    # At 80 columns Retainage moves below; at 60, Value and Paid too (`Col.below`).
    moves = {"Value": 2, "Billed": 0, "Paid": 1, "Outstanding": 0, "Overdue": 0, "Retainage": 3}
    columns = [
        Col("Contract", key=True),
        Col("Cur"),
        *(replace(amount(n), below=moves[n]) for n in moves),
    ]
    rows = [
        (
            c.contract,
            c.currency,
            _shown(c.value),
            _shown(c.billed),
            _shown(c.paid),
            # the customer's unused credit is their money, never a negative balance
            f"credit {_shown(c.credit)}" if c.credit else _shown(c.outstanding),
            Loud(_shown(c.overdue)) if c.overdue else _shown(c.overdue),
            _shown(c.retainage_held),
        )
        for c in contracts
    ]
    grid(console, "Contracts", columns, rows)


# How an invoice's email to the client is worded in the status (the JSON keeps `Emailed`).
EMAILED_WORDS = {
    Emailed.SENT: "sent",
    Emailed.SENDING: "sending",
    Emailed.REFUSED: Red("refused"),
    Emailed.TO_SEND: "to send",
    Emailed.NEVER: "",
}


def _invoices_table(console: Console, invoices: Sequence[InvoiceStatus], title: str) -> None:
    """Total is what the client is asked for: the gross once the ledger computed tax (the
    next table splits it), the connector's total before that."""
    # Too wide, Paid moves below first, then For, Due and Late: the invoice, its contract, the
    # amount and where it stands stay (an overdue one's amount in bold red).
    columns = [
        Col("Invoice", key=True),
        Col("Contract", key=True),
        Col("For", fold=True, below=5),
        Col("Total", right=True, min_width=12),
        Col("Due", min_width=10, below=3),
        Col("Paid", right=True, min_width=8, below=6),
        Col("Status"),
        Col("Late", right=True, below=2),
    ]
    rows = [
        (
            i.number,
            i.contract,
            ", ".join(i.milestones) or str(i.kind),
            # a credit note is for a positive amount, shown as such beside its status
            _late(f"{_shown(abs(i.total if i.gross is None else i.gross))} {i.currency}", i),
            i.due_date.isoformat(),
            _shown(i.paid),
            str(i.status),
            Loud(f"{i.days_overdue}d") if i.days_overdue else "",
        )
        for i in invoices
    ]
    grid(console, title, columns, rows)


def _late(text: str, i: InvoiceStatus) -> str:
    return Loud(text) if i.days_overdue else text


CLIENT_TITLES = {
    (True, True): "Tax (as the ledger computed it) and email to the client",
    (True, False): "Tax, as the ledger computed it",
    (False, True): "Email to the client",
}


def _client_table(console: Console, invoices: Sequence[InvoiceStatus]) -> None:
    """The tax the ledger computed on each invoice, between the amounts without it and the
    gross (a credit note's as positive amounts, like its total), and whether the ledger
    emailed it to the client: a table of its own, so the invoices table keeps to 80 columns.
    Each part appears only when some invoice has it (a tax, not just the 0 of books without
    tax: the JSON has those); nothing when neither does."""
    taxed = any(i.tax for i in invoices)
    emailing = any(i.emailed is not Emailed.NEVER for i in invoices)
    shown = [i for i in invoices if (taxed and i.tax is not None) or i.emailed is not Emailed.NEVER]
    if not shown:
        return
    columns = [Col("Invoice", key=True), Col("Cur")]
    if taxed:
        columns += [
            replace(amount(name), below=b) for name, b in (("Net", 2), ("Tax", 0), ("Gross", 0))
        ]
    if emailing:
        columns.append(Col("Emailed"))
    rows = []
    for i in shown:
        cells: list[str] = [i.number, i.currency]
        if taxed:
            cells += [_shown(None if a is None else abs(a)) for a in (i.net, i.tax, i.gross)]
        if emailing:
            cells.append(EMAILED_WORDS[i.emailed])
        rows.append(tuple(cells))
    grid(console, CLIENT_TITLES[taxed, emailing], columns, rows)


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
    columns = [Col("Business", key=True), Col("Last sync", below=2), Col("Outcome", below=1)]
    columns += [Col(name, right=True) for name in ("Open", "Overdue")]
    columns += [Col("Next 4 weeks", right=True, below=3), Col("Attention", right=True)]
    rows = [
        _business_row(e)
        if isinstance(e, BooksStatus)
        else (e.config, "", Red("cannot load"), "", "", "", "1")
        for e in entries
    ]
    grid(console, "Businesses", columns, rows)
    for e in entries:
        who = e.business if isinstance(e, BooksStatus) else e.config
        attention_lines(console, e.attention, f"{who}: ")


def _business_row(books: BooksStatus) -> tuple[str, ...]:
    last = books.last_run
    return (
        books.business,
        last.when if last else "never",
        str(last.outcome) if last else "",
        str(sum(1 for i in books.invoices if i.status in OPEN)),
        str(sum(1 for i in books.invoices if i.days_overdue)),
        expected(books),
        str(len(books.attention)),
    )
