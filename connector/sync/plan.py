"""The plan: what the next sync would do, computed without writing anything anywhere.

It reads the tracker and, read-only, the state database; it never calls the ledger.
"""

from __future__ import annotations

from datetime import date, datetime

from connector.config import Config
from connector.sources.base import Source
from connector.sync import billing
from connector.sync import state as st
from connector.sync.snapshot import merge_snapshot


def preview(
    config: Config, as_of: date | None = None, source: Source | None = None
) -> tuple[date, billing.Decisions]:
    as_of = as_of or datetime.now(config.zone).date()
    state = st.State.open(
        config.state_url, config.business.name, path=config.state_path, read_only=True
    )
    source = source or config.source()
    batch = source.read(state.cursor("source"))
    good, bad = merge_snapshot(batch.complete, batch.milestones, batch.invalid, state.snapshot())
    return as_of, billing.decide(config.contracts, good, bad, state.history(), config.rules, as_of)
