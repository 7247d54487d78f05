"""The tables of each page, built from the typed views (`readers`) and the page's filters.
Each filter narrows every table of its page, and the CSV of a table is that same table.

Filters (query parameters, all optional): `business` (its name), `customer` (its name) and
`status`: on the overview the last sync's outcome (`ok`, `problems`, `failed`, `never`,
`cannot_load`), elsewhere an invoice's standing as `status --json` names it, or `overdue` for
any invoice past its due day with a balance left.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit

from connector.aging import BUCKETS, Buckets
from connector.forecast.records import SCENARIOS, Figure
from connector.sync.status_records import BooksStatus, InvoiceStatus, Standing
from connector.web import figures
from connector.web.plan_view import PlanView
from connector.web.readers import BusinessView, Unavailable, by_currency
from connector.web.tables import Cell, Column, Progress, Table, amount, text

OPEN = (Standing.OPEN, Standing.PARTIALLY_PAID)
OVERDUE = "overdue"
NEVER = "never"
CANNOT_LOAD = "cannot_load"
OUTCOMES = ("ok", "problems", "failed", "running", "stopped", NEVER, CANNOT_LOAD)
INVOICE_STATUSES = (OVERDUE, *(str(s) for s in Standing))
BUCKET_LABELS = ("Current", "1-30", "31-60", "61-90", "Over 90")


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
        "\n".join(f"{a:,}\u00a0{c}" for c, a in sums) or "0",  # a line each (`multi`)
        "; ".join(f"{a:f} {c}" for c, a in sums) or "0",
        mark="multi",
    )


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
                (text(e.key, href=f"/b/{e.key}"), text(""), text("cannot load", mark="problem"))
                + (text(""),) * 4
                + (text("1"), text(""), text(""))
            )
            people.append((text(e.key, href=f"/b/{e.key}"), text(e.message), text("")))
            continue
        books = e.books
        last = books.last_run
        items = attention_cells(books)
        held = [figures.held_up(item) for item in books.attention]
        rows.append(
            (
                text(e.name, href=f"/b/{e.key}"),
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
        people += [(text(e.name, href=f"/b/{e.key}"), *item) for item in items]
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
                    *((text(v.name, href=f"/b/{v.key}"),) if with_business else ()),
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


# -- one business ---------------------------------------------------------------------------


def contract_table(v: BusinessView, f: Filters) -> Table:
    columns = (
        Column("contract", "Contract"),
        Column("customer", "Customer"),
        Column("currency", "Currency"),
        Column("value", "Value", numeric=True),
        Column("billed", "Billed", numeric=True),
        Column("paid", "Paid", numeric=True),
        Column("outstanding", "Outstanding", numeric=True),
        Column("overdue", "Overdue", numeric=True),
        Column("retainage_held", "Retainage held", numeric=True),
        Column("credit", "Credit", numeric=True),
        Column("progress", "Against value", in_csv=False),
    )
    rows = []
    for c in v.books.contracts:
        if not f.customer_ok(c.customer):
            continue
        bars: tuple[Progress, ...] = ()
        if c.value:
            bars = tuple(
                Progress(label, figure, c.value)
                for label, figure in (
                    ("billed", c.billed),
                    ("paid", c.paid),
                    ("outstanding", c.outstanding),
                )
            )
        rows.append(
            (
                text(c.contract),
                text(c.customer),
                text(c.currency),
                amount(c.value),
                amount(c.billed),
                amount(c.paid),
                amount(c.outstanding),
                amount(c.overdue),
                amount(c.retainage_held),
                amount(c.credit),
                Cell("" if bars else "no value set", "", bars=bars),
            )
        )
    return Table("contracts", "Contracts", columns, tuple(rows), "No contract matches.")


def aging_table(v: BusinessView, f: Filters) -> Table:
    columns = (
        Column("customer", "Customer"),
        Column("currency", "Currency"),
        *(
            Column(str(b), label, numeric=True)
            for b, label in zip(BUCKETS, BUCKET_LABELS, strict=True)
        ),
        Column("credit", "Credit", numeric=True),
        Column("total", "Total", numeric=True),
    )

    def cells(who: str, figures: Buckets) -> tuple[Cell, ...]:
        return (
            text(who),
            text(figures.currency),
            *(amount(a) for a in figures.owed),
            amount(figures.credit),
            amount(figures.total),
        )

    rows = tuple(
        cells(c.customer, c.amounts) for c in v.aging.customers if f.customer_ok(c.customer)
    )
    foot = () if f.customer else tuple(cells("All customers", t) for t in v.aging.totals)
    return Table("aging", "Aging: days past due", columns, rows, "Nobody owes anything.", foot)


def unbilled_table(v: BusinessView, f: Filters) -> Table:
    columns = (
        Column("milestone", "Milestone"),
        Column("contract", "Contract"),
        Column("customer", "Customer"),
        Column("reason", "Reason"),
        Column("message", "Why"),
    )
    rows = tuple(
        (text(u.milestone), text(u.contract), text(u.customer), text(u.reason), text(u.message))
        for u in v.unbilled
        if f.customer_ok(u.customer)
    )
    return Table(
        "unbilled", "Milestones not billed, and why", columns, rows, "Every milestone is billed."
    )


def business_attention(v: BusinessView) -> Table:
    return Table(
        "attention",
        "Needs a person",
        (Column("item", "What"), Column("held_up", "Held up")),
        tuple(attention_cells(v.books)),
        "Nothing needs a person.",
    )


def forecast_table(v: BusinessView, f: Filters) -> Table:
    """`connector forecast`'s weeks, per currency: early, expected and late; for one customer
    (a filter), the part of each figure that is that customer's invoices and milestones."""
    columns = (
        Column("currency", "Currency"),
        Column("week", "Week", numeric=True),
        Column("start", "From"),
        Column("end", "To"),
        *(Column(str(s), str(s).capitalize(), numeric=True) for s in SCENARIOS),
    )
    rows: list[tuple[Cell, ...]] = []
    foot: list[tuple[Cell, ...]] = []
    for c in v.forecast.currencies if v.forecast else ():
        sums = dict.fromkeys(SCENARIOS, Decimal(0))
        for w in c.weeks:
            shares = {s: _share(w.figure(s), f) for s in SCENARIOS}
            for s in SCENARIOS:
                sums[s] += shares[s]
            rows.append(
                (
                    text(c.currency),
                    text(w.number),
                    text(w.start.isoformat()),
                    text(w.end.isoformat()),
                    *(amount(shares[s]) for s in SCENARIOS),
                )
            )
        foot.append(
            (
                text(c.currency),
                text("all"),
                text(""),
                text(""),
                *(amount(sums[s]) for s in SCENARIOS),
            )
        )
    empty = v.forecast_note or "Nothing expected in these weeks."
    return Table(
        "forecast", "Forecast: expected receipts per week", columns, tuple(rows), empty, tuple(foot)
    )


def _share(figure: Figure, f: Filters) -> Decimal:
    if not f.customer:
        return figure.amount
    return sum((i.amount for i in figure.items if i.customer == f.customer), Decimal(0))


def business_tables(v: BusinessView, f: Filters) -> dict[str, Table]:
    return {
        t.name: t
        for t in (
            business_attention(v),
            contract_table(v, f),
            invoice_table([v], f, with_business=False),
            aging_table(v, f),
            forecast_table(v, f),
            unbilled_table(v, f),
        )
    }


def customers_of(views: Iterable[BusinessView]) -> list[str]:
    return sorted({c for v in views for c in v.customers.values() if c})


# -- the plan -------------------------------------------------------------------------------


def plan_tables(p: PlanView, f: Filters) -> dict[str, Table]:
    docs = [d for d in p.data["invoices"] if f.customer_ok(d["customer"])]
    invoices = Table(
        "plan",
        "Documents the next sync will send",
        (
            Column("contract", "Contract"),
            Column("customer", "Customer"),
            Column("document", "Document"),
            Column("kind", "Kind"),
            Column("milestones", "Milestones"),
            Column("date", "Date"),
            Column("due_date", "Due"),
            Column("currency", "Currency"),
            Column("total", "Total", numeric=True),
        ),
        tuple(
            (
                text(d["contract"]),
                text(d["customer"]),
                text(d["document"]),
                text(d["kind"]),
                text(", ".join(d["milestones"])),
                text(d["date"]),
                text(d["due_date"]),
                text(d["currency"]),
                amount(Decimal(d["total"])),
            )
            for d in docs
        ),
        "No invoices to create.",
    )
    customers = p.customers
    skipped = Table(
        "skipped",
        "Milestones the next sync leaves, and why",
        (
            Column("milestone", "Milestone"),
            Column("contract", "Contract"),
            Column("reason", "Reason"),
            Column("message", "Why"),
        ),
        tuple(
            (text(s["milestone"]), text(s["contract"]), text(s["reason"]), text(s["message"]))
            for s in p.data["skipped"]
            if not f.customer or customers.get(s["contract"]) == f.customer
        ),
        "No milestone is left.",
    )
    return {"plan": invoices, "skipped": skipped}
