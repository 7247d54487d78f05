"""`connector doctor`: can each business run tonight? One line per check, nothing written
except what a sync would write anyway (the state database is created and migrated).

A ledger that can describe the company (`Profiled`) has its setup shown (country, currencies,
tax, classes, locations, tracking, numbering, its other settings) and compared with what the
config asks of it (`connector.sync.preflight`): each mismatch is a failed check with its fix,
seen before the first push rather than refused by the ledger at 2 a.m.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import keyring
from keyring.backends import fail

from connector import config as config_mod
from connector import plugins
from connector.adapters.base import LedgerAdapter, LedgerProfile, Profiled, SendsInvoices
from connector.adapters.base import SelfChecking as LedgerCheck
from connector.credentials import TokenStore
from connector.errors import ConnectorError, UserError, naming_config
from connector.sources.base import SelfChecking as SourceCheck
from connector.sync import preflight
from connector.sync import state as st

RECONNECT_WARNING_DAYS = 14


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    more: tuple[str, ...] = ()  # further lines shown under the detail (the ledger's profile)


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
    """Each check as soon as it is known. Advice a failed check gave already (the keyring's
    paragraph, which the credentials and tracker checks would repeat) is said once: the later
    ones point to it. A command to run names this config file."""
    said: dict[str, str] = {}
    for check in _checks(path):
        detail = naming_config(check.detail, path)
        if not check.ok and detail in said:
            detail = f"as the {said[detail]} check says above"
        elif not check.ok:
            said[detail] = check.name
        yield replace(check, detail=detail, more=tuple(naming_config(m, path) for m in check.more))


def _checks(path: Path) -> Iterator[Check]:
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

    if credentials.ok:
        yield from _ledger_checks(cfg)

    def tracker() -> str:
        source = cfg.source()
        if isinstance(source, SourceCheck):  # trackers: token, reachability, a count
            return source.check()
        batch = source.read(None)
        return f"{len(batch.milestones)} milestone(s), {len(batch.invalid)} invalid"

    yield _check("tracker", tracker)


def _ledger_checks(cfg: config_mod.Config) -> Iterator[Check]:
    """The ledger answers; then, where it can describe the company, its profile and whether
    the config's bookings fit it."""
    try:
        adapter = cfg.ledger()
        if isinstance(adapter, LedgerCheck):
            detail = adapter.check()
        else:
            detail = f"{plugins.label(plugins.find(plugins.ADAPTERS, cfg.ledger_kind))} ready"
    except (ConnectorError, OSError) as exc:
        yield Check("ledger", False, str(exc))
        return
    yield Check("ledger", True, detail)
    if isinstance(adapter, Profiled):
        yield from books_checks(cfg, adapter)


def books_checks(cfg: config_mod.Config, adapter: Profiled) -> Iterator[Check]:
    """The company's profile, then each way the config's bookings do not fit it, with the fix
    (or one line saying they all do)."""
    try:
        profile = adapter.profile()
    except Exception as exc:  # an SDK's own error as well: one line, never a traceback
        said = str(exc) if isinstance(exc, ConnectorError) else f"{type(exc).__name__}: {exc}"
        yield Check("profile", False, f"the company's setup could not be read: {said}")
        return
    yield Check("profile", True, profile_summary(profile), profile_lines(profile))
    contracts = preflight.bookings(cfg)
    found = preflight.problems(profile, contracts) + _sending_problems(cfg, adapter)
    for problem in found:
        yield Check("bookings", False, with_fix(problem))
    if not found:
        yield Check(
            "bookings",
            True,
            f"the company has what the config's {len(contracts)} contract(s) ask of it",
            tuple(_booking_line(cfg, c) for c in contracts),
        )


def _on(value: bool | None) -> str:
    return {True: "on", False: "off", None: "not said"}[value]


def _names(values: tuple[str, ...] | None) -> str:
    if values is None:
        return "off"
    return ", ".join(f'"{v}"' for v in sorted(values, key=str.casefold)) or "on, none set up"


def profile_summary(p: LedgerProfile) -> str:
    return (
        f"{p.country or 'country not given'}, home currency {p.home_currency}, "
        f"multicurrency {_on(p.multicurrency)}"
    )


def profile_lines(p: LedgerProfile) -> tuple[str, ...]:
    """The profile as a person reads it, one setting a line; `other` as the ledger says it."""
    every_line = "; every line needs one" if p.needs_tax_code else ""
    tracking = "; ".join(f"{name} ({_names(options)})" for name, options in p.tracking)
    lines = [
        f"automated sales tax: {_on(p.automated_sales_tax)}",
        f"tax codes: {_names(p.tax_codes) if p.tax_codes else 'none'}{every_line}",
        f"classes: {_names(p.classes)}",
        f"locations: {_names(p.locations)}",
        f"tracking categories: {tracking or 'none'}",
        f"custom transaction numbers: {_on(p.custom_numbers)}",
    ]
    return (*_currencies(p), *lines, *(f"{name}: {value}" for name, value in p.other))


def _currencies(p: LedgerProfile) -> list[str]:
    """The currencies the company invoices in; with multicurrency on and none listed, the
    ledger's own word on why (in `other`) or that it listed none."""
    if p.currencies:
        return [f"currencies: {', '.join(p.currencies)}"]
    if not p.multicurrency:
        return [f"currencies: {p.home_currency} only"]
    return [] if any(name == "currencies" for name, _ in p.other) else ["currencies: not listed"]


def _sending_problems(cfg: config_mod.Config, adapter: LedgerAdapter | Profiled) -> list[str]:
    if isinstance(adapter, SendsInvoices):
        return []
    return [
        f'contract {cid} sets send = "on-create", but this ledger cannot email invoices: set '
        'send = "never" and send them from the ledger'
        for cid in cfg.contracts
        if cfg.books_for(cid).send_on_create
    ]


# The fix for a mismatch whose sentence only lists what the company has, by what it names; the
# first that matches wins (a tracking category named like a class stays a tracking problem).
FIXES = (
    ("tracking categories;", "keep at most two categories in the contract's tracking"),
    (
        "tracking category",
        "set tracking to a category and an active option the ledger has, as listed, or add "
        "them in the ledger",
    ),
    (
        'tax_code "',
        "write one of those codes as tax_code (in [billing] or on the contract) exactly as the "
        "company shows it, or add the code in the ledger",
    ),
    ('class "', "set class to one of those, or add the class in the ledger"),
    ('location "', "set location to one of those, or add the location in the ledger"),
)


def with_fix(problem: str) -> str:
    """A preflight sentence with what to do about it, where it does not say so already."""
    for marker, fix in FIXES:
        if marker in problem:
            return f"{problem}; fix: {fix}"
    return problem


def _booking_line(cfg: config_mod.Config, c: preflight.ContractBooking) -> str:
    """What one contract asks of the ledger, in the config's own words."""
    b = c.booking
    asked = [c.currency]
    if b.tax_code is not None:
        asked.append(f'tax_code "{b.tax_code}"')
    if b.taxable is not None:
        asked.append(f"taxable = {str(b.taxable).lower()}")
    if b.amounts is not None:
        asked.append(f"amounts {b.amounts}")
    if b.class_name is not None:
        asked.append(f'class "{b.class_name}"')
    if b.location is not None:
        asked.append(f'location "{b.location}"')
    asked += [f'tracking {category} = "{option}"' for category, option in b.tracking]
    sent = "emailed to the client on create" if cfg.books_for(c.contract).send_on_create else ""
    return f"{c.contract}: {', '.join(asked + ([sent] if sent else []))}"
