"""`connector demo`: the whole cycle on the bundled example, with no network and no accounts.

It starts a local ledger sandbox (QuickBooks or Xero) and, when asked, a local tracker sandbox
(GitHub, Jira or Asana) holding the example milestones; connects the example business to them
the way `connector auth` would, syncs, records customer payments in the ledger sandbox as a
client would pay, syncs again, and shows the status. Everything goes through the real adapters,
SDKs and HTTP; the only stand-in is the keyring, kept in memory so the demo leaves no
credentials behind.

With a country (`--country CA`), the ledger sandbox holds a company of that country and the
example business bills in its home currency with one of its tax codes (a US company: taxable
lines, Automated Sales Tax on), so the invoices carry the tax the ledger computed and the
status shows it. Without one, the company is a US one without sales tax, as documented.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from importlib import import_module
from pathlib import Path
from typing import Any, Protocol

import keyring

from connector import config as config_mod
from connector.config import Config
from connector.credentials import MemoryKeyring
from connector.errors import UserError
from connector.models import Skip
from connector.overview import amounts_of
from connector.sync import run_once
from connector.sync.report import SyncReport
from connector.sync.state import State
from connector.sync.status import books_status
from connector.sync.status_records import BooksStatus

EXAMPLE = Path(__file__).resolve().parent / "examples"

LEDGERS = {
    "quickbooks": "connector_sandbox.quickbooks_demo:QuickBooksDemoLedger",
    "xero": "connector_sandbox.xero_demo:XeroDemoLedger",
}
TRACKERS = ("file", "github", "jira", "asana")
COUNTRIES = ("US", "CA", "GB", "AU")


@dataclass(frozen=True, slots=True)
class Locale:
    """The example business as a company of one country keeps its books: the ledger stage
    knows the country's tax codes as its sandbox has them."""

    name: str  # how the demo names the company: "a Canadian company, GST/HST"
    currency: str  # the company's home currency: the business's and ACME-WEB's
    timezone: str
    billing: str  # lines for [billing]: the tax code every contract uses unless it says
    export: str  # lines for BETA-APP, the client abroad billed in EUR (zero-rated)


class DemoLedger(Protocol):
    """A ledger sandbox the story bills into and records payments in; `locale` is None for
    the documented default company."""

    label: str
    locale: Locale | None

    def __enter__(self) -> DemoLedger: ...
    def __exit__(self, *exc: object) -> None: ...
    def ledger_section(self) -> str: ...
    def connect(self, cfg: Config, show: Callable[[str], None]) -> None: ...
    def invoices(self) -> dict[str, tuple[str, Decimal]]: ...
    def pay(self, invoice_id: str, amount: Decimal, on: date) -> None: ...


class DemoTracker(Protocol):
    """A tracker sandbox holding the example milestones."""

    def __enter__(self) -> DemoTracker: ...
    def __exit__(self, *exc: object) -> None: ...
    def tracker_section(self, example: Path) -> str: ...
    def connect(self, business: str) -> None: ...


def _make(target: str, *args: Any) -> Any:
    module, _, attr = target.partition(":")
    return getattr(import_module(module), attr)(*args)


def ledger_stage(kind: str, country: str | None = None) -> DemoLedger:
    if kind not in LEDGERS:
        raise UserError(f"--ledger: expected one of {', '.join(LEDGERS)}, got {kind!r}")
    if country is not None and country.upper() not in COUNTRIES:
        raise UserError(f"--country: expected one of {', '.join(COUNTRIES)}, got {country!r}")
    return _make(LEDGERS[kind], None if country is None else country.upper())


def tracker_section(folder: Path, stack: ExitStack, kind: str) -> tuple[str, DemoTracker | None]:
    """The [tracker] section for the demo; a started tracker sandbox unless it is the file."""
    if kind not in TRACKERS:
        raise UserError(f"--tracker: expected one of {', '.join(TRACKERS)}, got {kind!r}")
    if kind == "file":
        shutil.copy(EXAMPLE / "milestones.toml", folder / "milestones.toml")
        return '[tracker]\nkind = "file"\npath = "milestones.toml"', None
    tracker = stack.enter_context(_make("connector_sandbox.trackers_demo:TrackerDemo", kind))
    return tracker.tracker_section(EXAMPLE / "milestones.toml"), tracker


def demo_config(
    folder: Path, ledger_text: str, tracker_text: str, locale: Locale | None = None
) -> Path:
    """The bundled example with the demo's [tracker] and [ledger], its state in `folder`;
    with a `locale`, in that country's currency, time zone and tax codes."""
    text = (EXAMPLE / "business.toml").read_text()
    text = text.replace("{tracker}", tracker_text).replace("{ledger}", ledger_text)
    if locale is not None:
        text = localised(text, locale)
    path = folder / "business.toml"
    path.write_text(text)
    return path


def localised(text: str, locale: Locale) -> str:
    """The example config as the business would write it in `locale`'s country."""
    text = text.replace('currency = "USD"', f'currency = "{locale.currency}"')
    text = text.replace('timezone = "America/Chicago"', f'timezone = "{locale.timezone}"')
    text = text.replace("[billing]\n", f"[billing]\n{locale.billing}\n", 1)
    return text.replace('id = "BETA-APP"\n', f'id = "BETA-APP"\n{locale.export}\n', 1)


def run_demo(
    show: Callable[[str], None],
    as_of: date | None = None,
    render_report: Callable[[SyncReport], None] | None = None,
    render_status: Callable[[BooksStatus], None] | None = None,
    render_skipped: Callable[[list[Skip]], None] | None = None,
    *,
    ledger: str = "quickbooks",
    tracker: str = "file",
    country: str | None = None,
    serve: Callable[[Path], None] | None = None,
) -> dict[str, object]:
    """Run the demo; `show` prints a line, the render callbacks draw reports and tables.
    `country` (US, CA, GB, AU) bills a company of that country, with its sales tax. `serve`
    is given the demo's folder once the story is told, and returns when it is done with it
    (the dashboard over the demo's books); the folder and its keyring go after that."""
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    folder = Path(tempfile.mkdtemp(prefix="connector-demo-"))
    try:
        with ExitStack() as stack:
            books = stack.enter_context(ledger_stage(ledger, country))
            tracker_text, tracker_sandbox = tracker_section(folder, stack, tracker)
            path = demo_config(folder, books.ledger_section(), tracker_text, books.locale)
            cfg = config_mod.load(path)
            names = {"github": "GitHub", "jira": "Jira", "asana": "Asana"}
            where = (
                "the example milestones file" if tracker == "file" else f"a local {names[tracker]}"
            )
            company = f" ({books.locale.name})" if books.locale else ""
            show(f"Local {books.label} sandbox{company} and {where}; demo files in {folder}")
            books.connect(cfg, show)
            if tracker_sandbox is not None:
                tracker_sandbox.connect(cfg.business.name)
            result = _story(cfg, books, show, as_of, render_report, render_status, render_skipped)
        if serve is not None:  # the sandboxes are gone: the dashboard reads the state only
            serve(folder)
        return result
    finally:
        keyring.set_keyring(previous)
        shutil.rmtree(folder, ignore_errors=True)


def _story(
    cfg: Config,
    books: DemoLedger,
    show: Callable[[str], None],
    as_of: date | None,
    render_report: Callable[[SyncReport], None] | None,
    render_status: Callable[[BooksStatus], None] | None,
    render_skipped: Callable[[list[Skip]], None] | None,
) -> dict[str, object]:
    as_of = as_of or datetime.now(cfg.zone).date()
    show("\n1. First sync")
    first = run_once(cfg, as_of=as_of)
    if render_report:
        render_report(first)
    if render_skipped:
        render_skipped([s for s in first.skipped if s.reason.value != "already_invoiced"])
    in_ledger = books.invoices()
    paid = [row for row, _ in first.created if row.kind == "deposit"]
    part = [row for row, _ in first.created if row.kind == "milestone"][:1]
    show("\n2. The client pays: the deposit in full, and part of the first milestone")
    for row in paid + part:
        invoice_id, total = in_ledger[row.reference]
        amount = total if row in paid else Decimal("5000.00")
        books.pay(invoice_id, amount, as_of)
        show(f"   payment of {amount} {row.currency} on {row.reference}")
    show("\n3. Second sync: nothing new to invoice, payments pulled back")
    second = run_once(cfg, as_of=as_of)
    if render_report:
        render_report(second)
    state = State.open(cfg.state_url, cfg.business.name, path=cfg.state_path, read_only=True)
    books_now = books_status(cfg.business.name, cfg.contracts, state, as_of, amounts_of(cfg))
    show("\n4. Where the books stand")
    if render_status:
        render_status(books_now)
    return books_now.to_json()
