"""`connector doctor`: can each business run tonight? One line per check, nothing written
except what a sync would write anyway (the state database is created and migrated)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import keyring
from keyring.backends import fail

from connector import config as config_mod
from connector import plugins
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


def credentials_warning(cfg: config_mod.Config) -> str | None:
    """Not connected yet, or the connection lapses soon: say how to reconnect. Only for a ledger
    that keeps credentials (a tracker's token is checked by the tracker line of doctor)."""
    plugin = plugins.find(plugins.ADAPTERS, cfg.ledger_kind)
    if not isinstance(plugin, plugins.HasCredentials):
        return None
    label = plugins.label(plugin)
    stored = plugin.credentials(cfg.context)
    how = f"run `connector auth {cfg.ledger_kind} --config {cfg.path}`"
    if not stored.connected:
        return f"{cfg.business.name} is not connected to {label} yet; {how}"
    days = stored.days_left
    if days is not None and days < RECONNECT_WARNING_DAYS:
        return (
            f"the {label} connection expires in {max(days, 0):.0f} day(s) unless a sync "
            f"uses it before then; if it has lapsed, {how}"
        )
    return None


def _connection(cfg: config_mod.Config) -> str:
    """How long the ledger connection lasts without a sync; a problem is an error."""
    plugin = plugins.find(plugins.ADAPTERS, cfg.ledger_kind)
    if not isinstance(plugin, plugins.HasCredentials):
        return "none needed"
    warning = credentials_warning(cfg)
    if warning:
        raise UserError(warning)
    stored = plugin.credentials(cfg.context)
    days = stored.days_left
    lasts = f"; unused, it lapses in {days:.0f} days (each sync renews it)" if days else ""
    return f"connected to {plugins.label(plugin)} ({stored.account}){lasts}"


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

    needs_secrets = any(
        isinstance(plugins.find(group, kind), plugins.HasCredentials)
        for group, kind in (
            (plugins.ADAPTERS, cfg.ledger_kind),
            (plugins.SOURCES, cfg.tracker_kind),
        )
    )
    if needs_secrets or cfg.notify.smtp_username:  # only then is a keyring needed
        yield _check("keyring", backend)
    credentials = _check("credentials", lambda: _connection(cfg))
    yield credentials

    def ledger() -> str:
        adapter = cfg.ledger()
        if isinstance(adapter, LedgerCheck):
            return adapter.check()
        return f"{plugins.label(plugins.find(plugins.ADAPTERS, cfg.ledger_kind))} ready"

    if credentials.ok:
        yield _check("ledger", ledger)

    def tracker() -> str:
        source = cfg.source()
        if isinstance(source, SourceCheck):  # trackers: token, reachability, a count
            return source.check()
        batch = source.read(None)
        return f"{len(batch.milestones)} milestone(s), {len(batch.invalid)} invalid"

    yield _check("tracker", tracker)
