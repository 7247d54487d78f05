"""`connector doctor`: can each business run tonight? One line per check, nothing written
except what a sync would write anyway (the state database is created and migrated)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import keyring
from keyring.backends import fail

from connector import config as config_mod
from connector.adapters.base import SelfChecking as LedgerCheck
from connector.credentials import TokenStore
from connector.errors import ConnectorError, UserError
from connector.sources.base import SelfChecking as SourceCheck
from connector.sync import state as st

RECONNECT_WARNING_DAYS = 14


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def _check(name: str, probe: Callable[[], str]) -> Check:
    try:
        return Check(name, True, probe())
    except (ConnectorError, OSError) as exc:
        return Check(name, False, str(exc))


LEDGER_LABELS = {"quickbooks": "QuickBooks", "xero": "Xero"}


def credentials_warning(cfg: config_mod.Config) -> str | None:
    """Not connected yet, or the refresh token expires soon: say how to reconnect."""
    label = LEDGER_LABELS.get(cfg.ledger_kind)
    if label is None:
        return None
    tokens = TokenStore(cfg.business.name, cfg.ledger_kind).load()
    how = f"run `connector auth {cfg.ledger_kind} --config {cfg.path}`"
    if tokens is None or not tokens.refresh_token:
        return f"{cfg.business.name} is not connected to {label} yet; {how}"
    days = tokens.refresh_days_left()
    if days is not None and days < RECONNECT_WARNING_DAYS:
        return (
            f"the {label} connection expires in {max(days, 0):.0f} day(s) unless a sync "
            f"uses it before then; if it has lapsed, {how}"
        )
    return None


def _connection(cfg: config_mod.Config) -> str:
    """How long the ledger connection lasts without a sync; a problem is an error."""
    label = LEDGER_LABELS.get(cfg.ledger_kind)
    if label is None:
        return "none needed"
    warning = credentials_warning(cfg)
    if warning:
        raise UserError(warning)
    tokens = TokenStore(cfg.business.name, cfg.ledger_kind).require()
    days = tokens.refresh_days_left()
    lasts = f"; unused, it lapses in {days:.0f} days (each sync renews it)" if days else ""
    return f"connected to {label} ({tokens.company_id}){lasts}"


def check_business(path: Path) -> Iterator[Check]:
    try:
        cfg = config_mod.load(path)
    except ConnectorError as exc:
        yield Check("config", False, str(exc))
        return
    yield Check("config", True, f"{cfg.business.name}: {len(cfg.contracts)} contract(s)")

    def state() -> str:
        db = st.State.open(cfg.state_url, cfg.business.name, path=cfg.state_path)
        db.cursor("source")
        return f"schema version {db.version()} ({cfg.state_path or 'database URL'})"

    yield _check("state", state)

    def backend() -> str:
        chosen = keyring.get_keyring()
        if isinstance(chosen, fail.Keyring):
            TokenStore(cfg.business.name, cfg.ledger_kind).load()  # raises the install advice
        return type(chosen).__module__ + "." + type(chosen).__name__

    needs_secrets = cfg.ledger_kind != "local" or cfg.tracker_kind != "file"
    if needs_secrets or cfg.notify.smtp_username:  # only then is a keyring needed
        yield _check("keyring", backend)
    credentials = _check("credentials", lambda: _connection(cfg))
    yield credentials

    def ledger() -> str:
        adapter = cfg.ledger()
        if isinstance(adapter, LedgerCheck):
            return adapter.check()
        return f"{cfg.ledger_kind} ledger ready"

    if credentials.ok:
        yield _check("ledger", ledger)

    def tracker() -> str:
        source = cfg.source()
        if isinstance(source, SourceCheck):  # trackers: token, reachability, a count
            return source.check()
        batch = source.read(None)
        return f"{len(batch.milestones)} milestone(s), {len(batch.invalid)} invalid"

    yield _check("tracker", tracker)
