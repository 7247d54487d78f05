"""What the dashboard reads, business by business, as typed views: the status `connector
status` prints (`overview.business_status`, the same function), the aging `connector aging`
prints, the forecast `connector forecast` makes (from the state alone), the milestones the
last sync did not bill and why, and the plan (`plan_view`).

Read-only: every state database is opened with `read_only=True` (never created, never
migrated) and its engine disposed of once read. A business whose config, state or keyring
cannot be read becomes an `Unavailable` with one sentence saying why and what to do, never a
traceback: a database a sync holds locked, or one waiting for its migration, is a notice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError

from connector import config as config_mod
from connector.aging import Aging, aging_of
from connector.errors import ConnectorError
from connector.forecast import Forecast, forecast_for
from connector.models import Reason
from connector.overview import business_status
from connector.sync.state import State
from connector.sync.status_records import BooksStatus
from connector.validation import printable
from connector.web.plan_view import PlanView, plan_of

T = TypeVar("T")
log = logging.getLogger("connector.web")
FORECAST_WEEKS = 13  # as `connector forecast` by default; the overview shows the first 4


@dataclass(frozen=True, slots=True)
class Unavailable:
    """A business (or the whole folder) the dashboard cannot show right now, and why."""

    key: str
    config: str
    message: str


@dataclass(frozen=True, slots=True)
class Unbilled:
    """A milestone the last sync did not bill, with its reason and the sentence saying why."""

    milestone: str
    contract: str | None
    customer: str | None
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class BusinessView:
    key: str  # the config file's name without .toml: the business's address on the dashboard
    books: BooksStatus
    aging: Aging
    unbilled: tuple[Unbilled, ...]
    customers: dict[str, str | None] = field(default_factory=dict)  # by contract
    forecast: Forecast | None = None  # None when it could not be made: `forecast_note` says why
    forecast_note: str | None = None

    @property
    def name(self) -> str:
        return self.books.business

    def customer_of(self, contract: str) -> str | None:
        return self.customers.get(contract)


@dataclass(frozen=True, slots=True)
class Folder:
    """The businesses of one config folder (or one config file), as of `as_of` or each
    business's today. The folder is listed anew on every page, as `connector status` would."""

    config: Path | None
    config_dir: Path | None
    as_of: date | None = None

    def paths(self) -> dict[str, Path]:
        from connector.business_configs import config_files

        found = config_files(self.config, self.config_dir, allow_none=True)
        return {path.stem: path for path in found}

    def everyone(self) -> list[BusinessView | Unavailable]:
        return [self.business(key, path) for key, path in self.paths().items()]

    def find(self, key: str) -> Path | None:
        return self.paths().get(key)

    def business(self, key: str, path: Path) -> BusinessView | Unavailable:
        return guarded(key, path, lambda: _business(key, path, self.as_of))

    def plan(self, key: str, path: Path) -> PlanView | Unavailable:
        return guarded(key, path, lambda: plan_of(config_mod.load(path), self.as_of))


def guarded(key: str, path: Path, read: Callable[[], T]) -> T | Unavailable:
    """`read()`, or the notice a person can act on when it cannot be done now."""
    try:
        return read()
    except ConnectorError as exc:  # opening it: a `StateError` that names the database
        said = exc.for_person(" ")
        return Unavailable(key, str(path), BUSY if _locked(said) else said)
    except SQLAlchemyError as exc:  # reading it: a sync took it meanwhile, or it went away
        orig = getattr(exc, "orig", None)  # the driver's own error, when there is one
        first = (str(orig or exc).splitlines() or [""])[0]
        if _locked(first):
            return Unavailable(key, str(path), BUSY)
        return Unavailable(
            key, str(path), f"the state database cannot be read right now ({first}); {AGAIN}"
        )


AGAIN = "reload the page in a minute"
BUSY = (
    "the state database is busy: a sync or a migration is writing to it right now; "
    f"nothing is shown until it is done, so {AGAIN}"
)


def _locked(text: str) -> bool:
    """SQLite's words for a database another connection holds (PostgreSQL waits instead)."""
    return "database is locked" in text or "database table is locked" in text


def _business(key: str, path: Path, as_of: date | None) -> BusinessView:
    cfg = config_mod.load(path)
    books = business_status(cfg, as_of)
    day = as_of or datetime.now(cfg.zone).date()
    state = State.open(cfg.state_url, cfg.business.name, path=cfg.state_path, read_only=True)
    try:
        aging = aging_of(cfg.business.name, state.invoice_rows(), day)
        notes = state.milestone_notes()
    finally:
        state.engine.dispose()
    customers = {c.contract: c.customer for c in books.contracts}
    unbilled = tuple(
        Unbilled(
            printable(n.milestone),
            n.contract,
            customers.get(n.contract) if n.contract else None,
            str(n.reason),
            n.message or "",
        )
        for n in notes
        if n.reason is not None and n.reason is not Reason.ALREADY_INVOICED
    )
    made, note = _forecast(cfg, day)
    return BusinessView(key, books, aging, unbilled, customers, made, note)


def _forecast(cfg: config_mod.Config, day: date) -> tuple[Forecast | None, str | None]:
    """`connector forecast` from the state alone (the milestones the last sync saw: the
    dashboard asks no tracker). A forecast that cannot be made leaves the rest of the page."""
    try:
        return forecast_for(cfg, day, FORECAST_WEEKS, read_tracker=False), None
    except ConnectorError as exc:
        return None, exc.for_person(" ")
    except Exception as exc:  # the figures of the status stand without it
        log.exception("no forecast for %s", cfg.business.name)
        return None, f"the forecast could not be made ({type(exc).__name__}); the log says why"


def by_currency(pairs: Iterable[tuple[str, Decimal]]) -> tuple[tuple[str, Decimal], ...]:
    """Amounts summed per currency, by currency code: two currencies are never added."""
    sums: dict[str, Decimal] = {}
    for currency, amount in pairs:
        sums[currency] = sums.get(currency, Decimal(0)) + amount
    return tuple(sorted(sums.items()))
