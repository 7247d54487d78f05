"""What one business knows, gathered for the forecast: its state read-only (invoice rows and
pulled-back payments, never migrated, never written) and its milestones.

Milestones come from a complete read of the tracker (read-only; conditional-request caching
stays in memory, so the state is not written either), which is where the planned dates are.
Without the tracker (`read_tracker=False`, or when it cannot be read) they are the milestones
the last sync saw, from the state; then a milestone without a planned date there is not
placed in time, and the forecast says so.
"""

from __future__ import annotations

from connector.config import Config
from connector.errors import CredentialsMissing, CredentialsUnreadable, TrackerError
from connector.forecast.records import Known
from connector.sync.state import State


def known_from(cfg: Config, *, read_tracker: bool = True) -> Known:
    state = State.open(cfg.state_url, cfg.business.name, path=cfg.state_path, read_only=True)
    caveats: list[str] = []
    try:
        rows = state.invoice_rows()
        payments = state.payment_rows()
        good, bad = None, None
        if read_tracker:
            try:
                batch = cfg.source().read(None)
                good, bad = batch.milestones, batch.invalid
            except (TrackerError, CredentialsMissing, CredentialsUnreadable) as exc:
                caveats.append(
                    f"the tracker was not read ({exc}); the milestones are the last sync's"
                )
        if good is None or bad is None:
            good, bad = state.snapshot()
    finally:
        state.engine.dispose()
    return Known(
        cfg.business.name,
        cfg.contracts,
        cfg.rules,
        good,
        bad,
        rows,
        payments,
        tuple(caveats),
    )
