"""The plan: what the next sync will do, decided by the same function the sync uses.

It reads the tracker and, read-only, the state database, and asks the ledger the same
read-only questions the sync asks first (where each unconfirmed intent is, what was paid since
the last run), so that a payment made today shows as the credit note the sync will issue, not
as a void. It writes nothing: not the state, not the ledger. When the ledger cannot be asked
(not connected yet, unreachable), the plan is made from the state as the last sync left it and
says so.
"""

from __future__ import annotations

from datetime import date, datetime

from connector.adapters.base import LedgerAdapter
from connector.config import Config
from connector.errors import ConnectorError
from connector.sources.base import Source
from connector.sync import billing
from connector.sync import state as st
from connector.sync.outbox import Intent
from connector.sync.snapshot import merge_snapshot
from connector.sync.tonight import as_tonight_finds, decide_tonight


def preview(
    config: Config,
    as_of: date | None = None,
    source: Source | None = None,
    ledger: LedgerAdapter | None = None,
) -> tuple[date, billing.Decisions]:
    as_of = as_of or datetime.now(config.zone).date()
    state = st.State.open(
        config.state_url, config.business.name, path=config.state_path, read_only=True
    )
    rows = state.invoice_rows()
    resend: list[Intent] = []
    caveats: list[str] = []
    if rows:  # nothing billed yet: nothing to ask the ledger about
        try:
            rows, resend = as_tonight_finds(
                rows, ledger or config.ledger(), state.cursor("payments")
            )
        except ConnectorError as exc:
            caveats.append(
                f"the ledger was not asked ({exc}); payments since the last sync are not "
                "counted, so a void shown here may be a credit note tonight"
            )
    source = source or config.source()
    batch = source.read(state.cursor("source"))
    good, bad = merge_snapshot(batch.complete, batch.milestones, batch.invalid, state.snapshot())
    tonight = decide_tonight(config, good, bad, rows, resend, as_of)
    decisions = tonight.decisions
    return as_of, billing.Decisions(
        actions=tonight.actions(),
        skipped=decisions.skipped,
        notices=decisions.notices,
        caveats=caveats,
    )
