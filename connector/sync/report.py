"""What a run did, and what a plan will do, as data: the CLI renders it, tests assert on it.
Where the books stand is `connector.sync.status`.

JSON forms carry amounts as strings and dates as ISO text, never floats.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

from connector.adapters.base import AmountsAre
from connector.models import (
    PROBLEM_REASONS,
    Notice,
    PlannedInvoice,
    Skip,
)
from connector.money import fmt
from connector.sync.rows import InvoiceRow

# `plan --json`'s output, JSON at the edge: only the functions below build it, for printing.
Json = dict[str, Any]


@dataclass
class SyncReport:
    business: str
    as_of: date
    run_id: int = 0
    planned: list[PlannedInvoice] = field(default_factory=list)
    created: list[tuple[InvoiceRow, str]] = field(default_factory=list)
    voided: list[tuple[InvoiceRow, str]] = field(default_factory=list)
    sent: list[tuple[InvoiceRow, str]] = field(default_factory=list)  # emailed to the client
    skipped: list[Skip] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    in_doubt: int = 0
    in_doubt_found: int = 0
    resolved: int = 0
    payments_pulled: int = 0
    payments_withdrawn: int = 0  # recorded before, deleted in the ledger since
    fatal: str | None = None
    stopped: bool = False  # the daemon was asked to stop; the next run goes on

    def problems(self) -> list[str]:
        """Each once: a contract's problem is every one of its milestones' skip reason."""
        out = [s.message for s in self.skipped if s.reason in PROBLEM_REASONS]
        out += [n.message for n in self.notices]
        out += self.failures
        if self.fatal:
            out.append(self.fatal)
        return list(dict.fromkeys(out))

    @property
    def outcome(self) -> str:
        if self.fatal:
            return "failed"
        if self.stopped:
            return "stopped"
        return "problems" if self.problems() else "ok"

    @property
    def exit_code(self) -> int:
        return {"ok": 0, "problems": 1, "failed": 2, "stopped": 2}[self.outcome]

    def counts(self) -> dict[str, int]:
        return {
            "invoices_created": len(self.created),
            "invoices_voided": len(self.voided),
            "invoices_sent": len(self.sent),
            "in_doubt_resolved": self.resolved,
            "in_doubt_left": self.in_doubt,
            "payments_pulled": self.payments_pulled,
            "payments_withdrawn": self.payments_withdrawn,
            "skipped": len(self.skipped),
            "problems": len(self.problems()),
        }


class TaxBy(StrEnum):
    """Who puts the tax on a document, as its contract's booking says."""

    LEDGER = "ledger"  # a tax code (or US taxable = true): the ledger computes it
    NONE = "none"  # amounts = "no_tax", or US taxable = false
    LEDGER_SETTINGS = "ledger_settings"  # the booking says nothing: the company's defaults


@dataclass(frozen=True, slots=True)
class DocumentBooks:
    """How the ledger books a planned document and whether it emails it to the client."""

    tax: TaxBy
    tax_code: str | None = None
    amounts: AmountsAre | None = None  # None: as the ledger's settings have it
    emailed: bool = False

    def sentence(self) -> str:
        """For a person reading the plan: who puts the tax on, and whether it is emailed."""
        if self.tax is TaxBy.NONE:
            tax = "no tax"
        elif self.tax is TaxBy.LEDGER_SETTINGS:
            tax = "tax as the ledger's settings have it"
        else:
            code = f" with tax code {self.tax_code}" if self.tax_code else ""
            inside = " (the amounts include it)" if self.amounts is AmountsAre.INCLUSIVE else ""
            tax = f"the ledger computes the tax{code}{inside}"
        return tax + ("; emailed to the client once the ledger has it" if self.emailed else "")

    def to_json(self) -> Json:
        return {
            "tax": str(self.tax),
            "tax_code": self.tax_code,
            "amounts": None if self.amounts is None else str(self.amounts),
            "emailed": self.emailed,
        }


# How the ledger books each planned document: by the document's key (`plan.document_books`),
# or in the documents' order (`plan.books_in_order`, which hashes no key).
BooksOf = Mapping[str, DocumentBooks] | Sequence[DocumentBooks | None]


def books_of(
    documents: Sequence[PlannedInvoice], books: BooksOf | None
) -> Iterator[DocumentBooks | None]:
    """Each document's books, in order."""
    if books is None:
        return iter([None] * len(documents))
    if isinstance(books, Mapping):
        return (books.get(d.key) for d in documents)
    return iter(books)


def invoice_json(p: PlannedInvoice, books: DocumentBooks | None = None) -> Json:
    """With `books`, how the ledger books it (a void books nothing, and has none)."""
    out: Json = {
        "contract": p.contract,
        "customer": p.customer,
        "currency": p.currency,
        "kind": str(p.kind),
        "milestones": list(p.milestones),
        "date": p.date.isoformat(),
        "due_date": p.due_date.isoformat(),
        "lines": [{"description": ln.description, "amount": fmt(ln.amount)} for ln in p.lines],
        "total": fmt(p.total),
        "document": "credit_note" if p.is_credit_note else ("invoice" if p.total else "none"),
    }
    if books is not None:
        out["books"] = books.to_json()
    return out


def skip_json(s: Skip) -> Json:
    return {
        "milestone": s.milestone,
        "contract": s.contract,
        "reason": str(s.reason),
        "message": s.message,
    }


def plan_json(
    business: str,
    as_of: date,
    invoices: list[PlannedInvoice],
    skipped: list[Skip],
    books: Mapping[str, DocumentBooks] | None = None,
) -> Json:
    """`books` by document key (`plan.document_books`)."""
    shown = books or {}
    return {
        "business": business,
        "as_of": as_of.isoformat(),
        "invoices": [invoice_json(p, shown.get(p.key)) for p in invoices],
        "skipped": [skip_json(s) for s in skipped],
    }


def write_plan_json(
    write: Callable[[str], object],
    business: str,
    as_of: date,
    invoices: Sequence[PlannedInvoice],
    skipped: Iterable[Skip],
    books: BooksOf | None = None,
) -> None:
    """`json.dumps(plan_json(...), indent=2)` and a newline, to the character, written a
    document at a time: a plan of a million milestones never holds its JSON whole."""
    shown = books_of(invoices, books)
    write_plan_items(
        write, business, as_of, ((p, next(shown)) for p in invoices), (s for s in skipped)
    )


def write_plan_items(
    write: Callable[[str], object],
    business: str,
    as_of: date,
    documents: Iterable[tuple[PlannedInvoice, DocumentBooks | None]],
    skipped: Iterable[Skip],
) -> None:
    """`write_plan_json` from iterators: the documents are all written before the first
    skipped milestone is asked for (a plan made a contract at a time lists its skips last)."""
    head = {"business": business, "as_of": as_of.isoformat()}
    write("{\n" + "".join(f"  {json.dumps(k)}: {json.dumps(v)},\n" for k, v in head.items()))
    write_json_list(write, "invoices", (invoice_json(p, b) for p, b in documents), ",")
    write_json_list(write, "skipped", (skip_json(s) for s in skipped), "")
    write("}\n")


def write_json_list(
    write: Callable[[str], object], name: str, items: Iterable[Json], end: str
) -> None:
    """One member of the top object, a list, at the indent `json.dumps(..., indent=2)` gives
    it (its items two levels in), in writes of a thousand items."""
    chunk = [f"  {json.dumps(name)}: ["]
    count = 0
    for count, item in enumerate(items, 1):
        chunk.append("\n    " if count == 1 else ",\n    ")
        chunk.append(indented(item, "    "))
        if len(chunk) >= 2000:
            write("".join(chunk))
            chunk.clear()
    chunk.append(("\n  ]" if count else "]") + end + "\n")
    write("".join(chunk))


def indented(value: Any, pad: str = "") -> str:
    """`json.dumps(value, indent=2)` (for JSON's own types), as if nested at `pad`: the same
    text, without the pure-Python encoder that an indent costs (and its garbage cycles).
    Texts, whole numbers, booleans and None, most of a plan's values, are written in place."""
    scalar = _SCALARS.get(type(value))
    if scalar is not None:
        return scalar(value)
    if isinstance(value, str):  # a str subclass (an enum's value)
        return _quote(value)
    inner = pad + "  "
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = []
        for k, v in value.items():
            scalar = _SCALARS.get(type(v))
            items.append(
                _quote(str(k)) + ": " + (scalar(v) if scalar is not None else indented(v, inner))
            )
        return "{\n" + inner + (",\n" + inner).join(items) + "\n" + pad + "}"
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        items = []
        for v in value:
            scalar = _SCALARS.get(type(v))
            items.append(scalar(v) if scalar is not None else indented(v, inner))
        return "[\n" + inner + (",\n" + inner).join(items) + "\n" + pad + "]"
    return json.dumps(value)  # other numbers


# How json.dumps writes the values of these exact types (a bool is not written as an int).
_SCALARS: dict[type, Callable[[Any], str]] = {
    str: _quote,
    int: int.__repr__,
    bool: lambda v: "true" if v else "false",
    type(None): lambda v: "null",
}
