"""The tables of the pages of every business (the overview, every invoice), built from the
typed views (`readers`) and the page's filters; one business's are in `pages_books`. Each
filter narrows every table of its page, and the CSV of a table is that same table.

Filters (query parameters, all optional): `business` (its name), `customer` (its name) and
`status`: on the overview the last sync's outcome (`ok`, `problems`, `failed`, `never`,
`cannot_load`), elsewhere an invoice's standing as `status --json` names it, or `overdue` for
any invoice past its due day with a balance left.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import quote, urlsplit

from connector.money import grouped
from connector.sync.status_records import BooksStatus, InvoiceStatus, Standing
from connector.web import figures
from connector.web.readers import BusinessView, Unavailable, by_currency
from connector.web.tables import Cell, Column, Table, amount, text

OPEN = (Standing.OPEN, Standing.PARTIALLY_PAID)
OVERDUE = "overdue"
NEVER = "never"
CANNOT_LOAD = "cannot_load"
OUTCOMES = ("ok", "problems", "failed", "running", "stopped", NEVER, CANNOT_LOAD)
INVOICE_STATUSES = (OVERDUE, *(str(s) for s in Standing))


@dataclass(frozen=True, slots=True)
class Filters:
    business: str = ""
    customer: str = ""
    status: str = ""

    @classmethod
    def of(cls, args: Mapping[str, str]) -> Filters:
        return cls(*(args.get(k, "").strip() for k in ("business", "customer", "status")))

    @property
    def any(self) -> bool:
        return bool(self.business or self.customer or self.status)

    def query(self) -> str:
        from urllib.parse import urlencode

        pairs = [
            (k, v)
            for k, v in zip(("business", "customer", "status"), self.tuple(), strict=True)
            if v
        ]
        return "?" + urlencode(pairs) if pairs else ""

    def tuple(self) -> tuple[str, str, str]:
        return self.business, self.customer, self.status

    def customer_ok(self, customer: str | None) -> bool:
        return not self.customer or customer == self.customer

    def invoice_ok(self, invoice: InvoiceStatus) -> bool:
        if not self.status:
            return True
        if self.status == OVERDUE:
            return invoice.days_overdue > 0
        return str(invoice.status) == self.status


def money_list(pairs: Iterable[tuple[str, Decimal]]) -> Cell:
    """Amounts in several currencies, one per currency, never added together."""
    sums = [(c, a) for c, a in by_currency(pairs) if a]
    return Cell(
        "\n".join(f"{grouped(a)}\u00a0{c}" for c, a in sums) or "0",  # a line each (`multi`)
        "; ".join(f"{a:f} {c}" for c, a in sums) or "0",
        mark="multi",
    )


def page_of(key: str) -> str:
    """A business's address: its config file's name, quoted (a name may hold a space)."""
    return "/b/" + quote(key, safe="")


def safe_link(url: str | None) -> str | None:
    """A payment link is a link only when it is a web address (never `javascript:`)."""
    if url and urlsplit(url).scheme in ("https", "http"):
        return url
    return None


# -- the overview ---------------------------------------------------------------------------


def outcome_of(entry: BusinessView | Unavailable) -> str:
    if isinstance(entry, Unavailable):
        return CANNOT_LOAD
    last = entry.books.last_run
    return str(last.outcome) if last else NEVER


def attention_cells(books: BooksStatus) -> list[tuple[Cell, Cell]]:
    """Each item that needs a person, and the money it holds up where the status says."""
    out = []
    for item in books.attention:
        held = figures.held_up(item)
        out.append((text(figures.sentence(item)), amount(*held) if held else text("")))
    return out


def overview_tables(
    entries: Sequence[BusinessView | Unavailable], f: Filters
) -> tuple[Table, Table]:
    shown = [
        e
        for e in entries
        if (not f.business or (isinstance(e, BusinessView) and e.name == f.business))
        and (not f.status or outcome_of(e) == f.status)
    ]
    columns = (
        Column("business", "Business"),
        Column("last_sync", "Last sync"),
        Column("outcome", "Outcome"),
        Column("open", "Open", numeric=True),
        Column("outstanding", "Outstanding", numeric=True),
        Column("overdue", "Overdue", numeric=True),
        Column("overdue_amount", "Overdue amount", numeric=True),
        Column("attention", "Needs a person", numeric=True),
        Column("held_up", "Held up", numeric=True),
        Column("expected", "Expected in 4 weeks", numeric=True),
    )
    rows: list[tuple[Cell, ...]] = []
    people: list[tuple[Cell, ...]] = []
    for e in shown:
        if isinstance(e, Unavailable):
            rows.append(
                (text(e.key, href=page_of(e.key)), text(""), text("cannot load", mark="problem"))
                + (text(""),) * 4
                + (text("1"), text(""), text(""))
            )
            people.append((text(e.key, href=page_of(e.key)), text(e.message), text("")))
            continue
        books = e.books
        last = books.last_run
        items = attention_cells(books)
        held = [figures.held_up(item) for item in books.attention]
        rows.append(
            (
                text(e.name, href=page_of(e.key)),
                Cell(last.when.replace("T", " "), last.when) if last else text("never"),
                text(str(last.outcome) if last else "", mark=_outcome_mark(last and last.outcome)),
                text(sum(1 for i in books.invoices if i.status in OPEN)),
                money_list((c.currency, c.outstanding) for c in books.contracts),
                text(sum(1 for i in books.invoices if i.days_overdue)),
                money_list((c.currency, c.overdue) for c in books.contracts),
                text(len(books.attention), mark="problem" if books.attention else ""),
                money_list((c, a) for h in held if h for a, c in [h]),
                _expected_cell(e),
            )
        )
        people += [(text(e.name, href=page_of(e.key)), *item) for item in items]
    businesses = Table("businesses", "Businesses", columns, tuple(rows), "No business matches.")
    attention = Table(
        "attention",
        "Needs a person",
        (Column("business", "Business"), Column("item", "What"), Column("held_up", "Held up")),
        tuple(people),
        "Nothing needs a person.",
    )
    return businesses, attention


def _expected_cell(v: BusinessView) -> Cell:
    expected = figures.expected(v.forecast)
    if expected is None:
        return text(figures.NO_FORECAST, mark="gap")
    return money_list(expected)


def _outcome_mark(outcome: object) -> str:
    return {"ok": "good", "problems": "problem", "failed": "problem"}.get(str(outcome), "")


# -- invoices, of one business or of all ---------------------------------------------------


def invoice_table(views: Sequence[BusinessView], f: Filters, *, with_business: bool) -> Table:
    columns = (
        *((Column("business", "Business"),) if with_business else ()),
        Column("number", "Invoice"),
        Column("contract", "Contract"),
        Column("customer", "Customer"),
        Column("for", "For", in_csv=False),
        Column("kind", "Kind", in_page=False),
        Column("milestones", "Milestones", in_page=False),
        Column("date", "Date"),
        Column("due_date", "Due"),
        Column("currency", "Currency", in_page=False),  # the page shows it by the total
        Column("total", "Total", numeric=True),
        Column("paid", "Paid", numeric=True),
        Column("balance", "Balance", numeric=True),
        Column("status", "Status"),
        Column("days_overdue", "Days late", numeric=True),
        Column("emailed", "Emailed"),
        Column("payment_link", "Pay"),
    )
    rows = []
    for v in views:
        if f.business and v.name != f.business:
            continue
        for i in v.books.invoices:
            customer = v.customer_of(i.contract)
            if not (f.customer_ok(customer) and f.invoice_ok(i)):
                continue
            link = safe_link(i.payment_link)
            late = "late" if i.days_overdue else ""
            rows.append(
                (
                    *((text(v.name, href=page_of(v.key)),) if with_business else ()),
                    text(i.number),
                    text(i.contract),
                    text(customer),
                    text(", ".join(i.milestones) or i.kind),  # as `connector status` says
                    text(i.kind),
                    text(", ".join(i.milestones)),
                    text(i.date.isoformat()),
                    text(i.due_date.isoformat()),
                    text(i.currency),
                    amount(i.total, i.currency),
                    amount(i.paid),
                    amount(i.balance),
                    Cell(i.status.replace("_", " "), str(i.status), mark=_standing_mark(i.status)),
                    text(i.days_overdue or "", mark=late),
                    text(i.emailed),
                    Cell("link" if link else "", value=i.payment_link or "", href=link),
                )
            )
    return Table("invoices", "Invoices", columns, tuple(rows), "No invoice matches.")


def _standing_mark(status: Standing) -> str:
    if status in (Standing.FAILED, Standing.VOIDED_IN_LEDGER, Standing.SENDING):
        return "problem"
    return "good" if status is Standing.PAID else ""


def customers_of(views: Iterable[BusinessView]) -> list[str]:
    return sorted({c for v in views for c in v.customers.values() if c})
