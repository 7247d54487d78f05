"""The tables of one business's pages: its books (needs a person, contracts against their
value, aging, forecast, milestones not billed) and its plan for the next night. Filters as
`pages` says; a customer filter narrows each table to that customer's rows (the forecast: to
the part of each week's figure that is that customer's invoices and milestones).
"""

from __future__ import annotations

from decimal import Decimal

from connector.aging import BUCKETS, Buckets
from connector.forecast.records import SCENARIOS, Figure
from connector.web.pages import Filters, attention_cells, invoice_table
from connector.web.plan_view import PlanView
from connector.web.readers import BusinessView
from connector.web.tables import Cell, Column, Progress, Table, amount, text

BUCKET_LABELS = ("Current", "1-30", "31-60", "61-90", "Over 90")


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
