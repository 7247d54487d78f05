"""Load and validate one business's TOML config; every problem is reported at once.

A config file never holds credentials: a key that looks like one is an error. This module never
opens the state database, the tracker or the ledger; it only checks that they are named well.
What each table accepts is in `connector.config_sections` and how contracts are read is in
`connector.config_contracts`; their names are re-exported here, so `connector.config` stays
the one place callers import from.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

import platformdirs
from pydantic import BaseModel, ValidationError

from connector import plugins
from connector.config_books import ContractBooks, books_of, contract_books
from connector.config_contracts import contract_sections, contracts, with_contract_ids
from connector.config_sections import (
    BillingSection,
    BusinessSection,
    ChangeOrderSection,
    ConfigFile,
    ContractSection,
    Money,
    PluginSection,
    ScheduleSection,
    StateSection,
    check_currency,
    state_url_problems,
)
from connector.errors import ConfigError, PluginNotFound
from connector.models import BillingRules, Contract
from connector.notify import NotifySettings
from connector.validation import problems_from, secret_keys

if TYPE_CHECKING:
    from connector.adapters.base import LedgerAdapter
    from connector.sources.base import Source

__all__ = [
    "BillingSection",
    "BusinessSection",
    "ChangeOrderSection",
    "Config",
    "ConfigFile",
    "ContractSection",
    "Money",
    "PluginSection",
    "ScheduleSection",
    "StateSection",
    "check_currency",
    "load",
    "load_notify",
    "slug",
    "state_url_problems",
]

_M = TypeVar("_M", bound=BaseModel)


@dataclass
class Config:
    """A validated business config, with paths resolved against the config file's folder."""

    path: Path
    business: BusinessSection
    billing: BillingSection
    contracts: dict[str, Contract]
    tracker_kind: str
    tracker_settings: BaseModel
    ledger_kind: str
    ledger_settings: BaseModel
    state_url: str
    state_path: Path | None
    schedule: ScheduleSection = field(default_factory=ScheduleSection)
    notify: NotifySettings = field(default_factory=NotifySettings)
    books: dict[str, ContractBooks] = field(default_factory=dict)

    def books_for(self, contract: str) -> ContractBooks:
        """How `contract`'s documents are booked and sent (the business's settings for a
        contract the config no longer lists, whose old invoices may still be retired)."""
        found = self.books.get(contract)
        return found if found is not None else books_of(self.billing, None)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def context(self) -> plugins.PluginContext:
        return plugins.PluginContext(
            self.base_dir, self.business.name, self.billing.item, self.business.timezone
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.business.timezone)

    @property
    def rules(self) -> BillingRules:
        b = self.billing
        return BillingRules(
            self.business.name, b.approval, b.invoice_date, b.terms_days, b.on_change
        )

    def source(self) -> Source:
        return plugins.find(plugins.SOURCES, self.tracker_kind).create(
            self.tracker_settings, self.context
        )

    def ledger(self) -> LedgerAdapter:
        return plugins.find(plugins.ADAPTERS, self.ledger_kind).create(
            self.ledger_settings, self.context
        )


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "business"


def load_notify(path: str | Path) -> NotifySettings:
    """A daemon-wide notification file: only a [notify] section, the same keys as a business's."""
    path = Path(path).expanduser().resolve()
    raw = _read_toml(path)
    problems = _credential_keys(raw)
    problems += [f"{key}: unknown key; expected only [notify]" for key in raw if key != "notify"]
    notify = _section(NotifySettings, raw, "notify", problems, required=True)
    if problems or notify is None:
        raise ConfigError(path, problems)
    return notify


def load(path: str | Path) -> Config:
    """Read, validate and resolve a config file, or raise one `ConfigError` with every problem."""
    path = Path(path).expanduser().resolve()
    raw = _read_toml(path)

    problems = _credential_keys(raw) + _unknown_tables(raw)
    # Each section is checked on its own, so one problem never hides the next.
    business = _section(BusinessSection, raw, "business", problems, required=True)
    state = _section(StateSection, raw, "state", problems) or StateSection()
    billing = _section(BillingSection, raw, "billing", problems) or BillingSection()
    schedule = _section(ScheduleSection, raw, "schedule", problems) or ScheduleSection()
    notify = _section(NotifySettings, raw, "notify", problems) or NotifySettings()
    tracker = _section(PluginSection, raw, "tracker", problems, required=True)
    ledger = _section(PluginSection, raw, "ledger", problems, required=True)
    tracker_settings = _plugin_settings(plugins.SOURCES, "tracker", tracker, problems)
    ledger_settings = _plugin_settings(plugins.ADAPTERS, "ledger", ledger, problems)
    sections = contract_sections(raw, problems)
    by_id = contracts(sections, business.currency if business else "USD", problems)
    problems += _state_problems(state)
    if problems:
        raise ConfigError(path, with_contract_ids(problems, raw))
    # no problem means every required section and its plugin's settings were read
    assert business is not None and tracker is not None and ledger is not None
    assert tracker_settings is not None and ledger_settings is not None

    state_url, state_path = _state_location(path, state, business)
    return Config(
        path=path,
        business=business,
        billing=billing,
        schedule=schedule,
        notify=notify,
        contracts=by_id,
        books=contract_books(billing, sections),
        tracker_kind=tracker.kind,
        tracker_settings=tracker_settings,
        ledger_kind=ledger.kind,
        ledger_settings=ledger_settings,
        state_url=state_url,
        state_path=state_path,
    )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        # utf-8-sig: Notepad and some editors start a UTF-8 file with a byte order mark
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(path, ["config file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [f"cannot read the config file: {exc}"]) from None
    try:
        return tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [f"not valid TOML: {exc}"]) from None


def _credential_keys(raw: dict[str, Any]) -> list[str]:
    return [
        f"{where}: looks like a credential; credentials live in the OS keyring, never in the "
        "config file: remove this key"
        for where in secret_keys(raw)
    ]


def _unknown_tables(raw: dict[str, Any]) -> list[str]:
    known = set(ConfigFile.model_fields)
    return [
        f"{key}: unknown key; expected one of: {', '.join(sorted(known))}"
        for key in raw
        if key not in known
    ]


def _section(
    model: type[_M], raw: dict[str, Any], name: str, problems: list[str], *, required: bool = False
) -> _M | None:
    if name not in raw:
        if required:
            problems.append(f"{name}: required section [{name}] is missing")
        return None
    try:
        return model.model_validate(raw[name])
    except ValidationError as exc:
        problems.extend(problems_from(exc, model, name))
        return None


def _plugin_settings(
    group: str, section: str, parsed: PluginSection | None, problems: list[str]
) -> BaseModel | None:
    """The settings the plugin `kind` names accepts, from the section's other keys. A plugin
    that is not installed, or whose code fails to load, is a problem of this config."""
    if parsed is None:
        return None  # the section itself is wrong: that problem is noted already
    try:
        plugin = plugins.find(group, parsed.kind)
    except PluginNotFound as exc:
        problems.append(f"{section}.kind: {exc}")
        return None
    try:
        return plugin.settings.model_validate(parsed.model_extra or {})
    except ValidationError as exc:
        problems.extend(problems_from(exc, plugin.settings, section))
        return None


def _state_problems(state: StateSection) -> list[str]:
    problems = ["state: give path or url, not both"] if state.path and state.url else []
    return problems + (state_url_problems(state.url) if state.url else [])


def _state_location(
    path: Path, state: StateSection, business: BusinessSection
) -> tuple[str, Path | None]:
    """The state database's URL, and its file when it is SQLite on this machine. Without a
    path or url: under systemd, the folder its `StateDirectory=` made (`$STATE_DIRECTORY`,
    the first when it lists several), else the user's data folder. A database already in the
    user's data folder stays in use under systemd, so an upgrade never starts the business
    over with an empty state; both existing is refused, as only a person can tell which holds
    the truth."""
    import os

    if state.url:
        return state.url, None
    if state.path:
        state_path = (path.parent / state.path).resolve()
        return f"sqlite:///{state_path}", state_path
    name = slug(business.name) + ".db"
    home = Path(platformdirs.user_data_dir("milestone-connector")) / name
    service = os.environ.get("STATE_DIRECTORY", "").split(":")[0].strip()
    state_path = Path(service) / name if service else home
    if service and home.exists():
        if state_path.exists():
            raise ConfigError(
                path,
                [
                    f"[state]: two state databases for {business.name}: {state_path} "
                    f"($STATE_DIRECTORY) and {home}; keep the one the daemon has been using, "
                    "move the other away, or name one in [state] path"
                ],
            )
        state_path = home
    return f"sqlite:///{state_path}", state_path
