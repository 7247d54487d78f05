"""The plan for the next night, made by `connector plan`'s own function (`sync.plan.preview`)
from the state alone: the milestones as the last sync read them, and a ledger that is never
asked. That is the path `preview` already takes "when the ledger cannot be asked": the plan is
made from the state as the last sync left it, and its caveats say what that leaves out.

So the dashboard's plan is `connector plan` of a business whose ledger is not connected and
whose tracker has not changed since the last sync; a change made in the tracker since then
shows after the next sync. Nothing is written and nothing is called.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from typing import Any, NoReturn

from connector import render
from connector.cli.common import PIPED_WIDTH, CommandConsole
from connector.config import Config
from connector.errors import UserError
from connector.models import PlannedInvoice, Skip
from connector.sources.base import SourceBatch
from connector.sync.plan import books_in_order, document_books, preview
from connector.sync.report import Json, plan_json
from connector.sync.state import State

NOT_ASKED = "the dashboard never asks the ledger"
NEVER_SYNCED = (
    "no sync has run yet, so the dashboard knows none of the tracker's milestones: "
    "`connector plan --config FILE` reads them from the tracker"
)


class LastSyncMilestones:
    """A tracker source that answers with no changes: `merge_snapshot` then keeps the
    milestones the last sync stored, as if the tracker had not changed since."""

    name = "the milestones of the last sync"

    def read(self, cursor: str | None) -> SourceBatch:
        return SourceBatch(milestones=[], invalid=[], cursor=cursor, complete=False)


class UnaskedLedger:
    """Stands where the ledger would: whatever the plan would ask it fails as a ledger that
    cannot be reached does, so the plan takes its "not asked" path and says so."""

    def __getattr__(self, name: str) -> NoReturn:
        raise UserError(NOT_ASKED)


@dataclass(frozen=True, slots=True)
class PlanView:
    business: str
    as_of: date
    invoices: tuple[PlannedInvoice, ...]
    skipped: tuple[Skip, ...]
    caveats: tuple[str, ...]
    data: Json  # `connector plan --json`'s document
    text: str  # what `connector plan` prints
    customers: dict[str, str]  # by contract, as the config lists them


def plan_of(cfg: Config, as_of: date | None) -> PlanView:
    ledger: Any = UnaskedLedger()
    day, decisions = preview(cfg, as_of, source=LastSyncMilestones(), ledger=ledger)
    caveats = list(decisions.caveats)
    if _never_synced(cfg):
        caveats.insert(0, NEVER_SYNCED)
    invoices, skipped = list(decisions.invoices), list(decisions.skipped)
    data = plan_json(cfg.business.name, day, invoices, skipped, document_books(cfg, invoices))
    text = io.StringIO()  # rich writes a large plan to its file directly, so a file it is
    # the commands' own console (its markup rules), as wide as `connector plan` piped
    console = CommandConsole(file=text, width=PIPED_WIDTH, color_system=None, force_terminal=False)
    books = books_in_order(cfg, invoices)
    render.plan(console, cfg.business.name, day, invoices, skipped, caveats, books)
    return PlanView(
        cfg.business.name,
        day,
        tuple(invoices),
        tuple(skipped),
        tuple(caveats),
        data,
        text.getvalue(),
        {cid: c.customer for cid, c in cfg.contracts.items()},
    )


def _never_synced(cfg: Config) -> bool:
    state = State.open(cfg.state_url, cfg.business.name, path=cfg.state_path, read_only=True)
    try:
        return state.last_run() is None
    finally:
        state.engine.dispose()
