"""`connector status` for one business or a folder of them: the books, the last run, and
everything that needs a person, including what only the keyring knows (a connection about to
lapse). Reads only: nothing is created, migrated or sent."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from connector import config as config_mod
from connector.doctor import credentials_warning
from connector.errors import ConnectorError, naming_config
from connector.sync import state as st
from connector.sync.status import AmountsOf, Attention, BooksStatus, Json, Trouble, books_status
from connector.sync.status_records import FORECAST_UP_TO

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CannotLoad:
    """A config file of the folder that cannot be read, and why: one line of the overview."""

    config: str
    error: str

    @property
    def attention(self) -> tuple[Attention, ...]:
        return (Attention(Trouble.CANNOT_LOAD, self.error),)

    def to_json(self) -> Json:
        items = self.attention
        return {
            "business": None,
            "config": self.config,
            "error": self.error,
            "attention": [a.message for a in items],
            "attention_items": [a.to_json() for a in items],
        }


Entry = BooksStatus | CannotLoad


def amounts_of(cfg: config_mod.Config) -> AmountsOf:
    """How each contract's amounts are meant as the config says today, for the status's net,
    tax and gross (a contract the config no longer lists has the business's setting)."""
    return lambda contract: cfg.books_for(contract).booking.amounts


def business_status(
    cfg: config_mod.Config, as_of: date | None, *, forecast: bool = False
) -> BooksStatus:
    """The status, with what the state alone cannot say first: a failed last run, and the
    ledger connection the keyring knows about. The last run's times are shown beside "as of"
    (a local day), so in local time too. `forecast`: with `connector status`'s line of the
    next 4 weeks (the digest and the dashboard make their own forecast, so they leave it)."""
    day = as_of or datetime.now(cfg.zone).date()
    state = st.State.open(cfg.state_url, cfg.business.name, path=cfg.state_path, read_only=True)
    books = books_status(cfg.business.name, cfg.contracts, state, day, amounts_of(cfg))
    last = books.last_run
    failure = last.failure() if last else None
    connection = credentials_warning(cfg)
    extra = [Attention(Trouble.LAST_SYNC_FAILED, failure)] if failure else []
    if connection:
        extra.append(Attention(Trouble.CONNECTION, connection))
    if failure and last and last.problems:  # its last problem is the failure's own words
        told = f"the last sync: {last.problems[-1]}"
        books = replace(books, attention=tuple(a for a in books.attention if a.message != told))
    items = (*extra, *books.attention)
    return replace(
        books,
        last_run=last.in_zone(cfg.zone) if last else None,
        attention=tuple(replace(a, message=naming_config(a.message, cfg.path)) for a in items),
        expected=expected_receipts(cfg, day)
        if forecast and len(books.invoices) <= FORECAST_UP_TO
        else None,
    )


def expected_receipts(cfg: config_mod.Config, day: date) -> tuple[tuple[str, Decimal], ...] | None:
    """The status's line of `connector forecast`: what should come in over the next 4 weeks,
    from the state and a milestones file beside the config (no tracker or ledger is called).
    A forecast that cannot be made leaves the line out; it never hides the books."""
    from connector.forecast import next_weeks

    try:
        expected = next_weeks(cfg, day, weeks=4)
    except (ConnectorError, SQLAlchemyError, OSError, ValueError) as exc:
        log.warning("%s: no forecast for the status: %s", cfg.business.name, exc)
        return None
    return tuple(sorted(expected.items()))


def overview(paths: list[Path], as_of: date | None) -> list[Entry]:
    """One entry per config file, each with its next 4 weeks; a file that cannot be read
    says why instead."""
    out: list[Entry] = []
    for path in paths:
        try:
            out.append(business_status(config_mod.load(path), as_of, forecast=True))
        except ConnectorError as exc:
            out.append(CannotLoad(str(path), str(exc)))
    return out
