"""Load and validate one business's TOML config; every problem is reported at once.

A config file never holds credentials: a key that looks like one is an error. This module never
opens the state database, the tracker or the ledger; it only checks that they are named well.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from connector import plugins
from connector.errors import ConfigError, PluginNotFound
from connector.models import BillingRules, ChangeOrder, Contract, Deposit
from connector.money import MoneyError, exponent, parse_amount, parse_percent
from connector.notify import NotifySettings
from connector.validation import (
    SECRET_KEY,
    IsoDate,
    problems_from,
    safe_text,
    secret_keys,
    unsafe_character,
)

# Numbers are read by connector.money, which refuses floats and booleans; pydantic must not
# coerce them first (it would turn true into 1).
Money = Any
_M = TypeVar("_M", bound=BaseModel)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BusinessSection(_Section):
    name: str = Field(min_length=1)
    timezone: str = "UTC"
    currency: str = "USD"

    _name = field_validator("name")(safe_text)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f'expected an IANA time zone name like "America/Chicago", got {value!r}'
            ) from None
        return value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return _check_currency(value)


class StateSection(_Section):
    path: str | None = None
    url: str | None = None


class PluginSection(BaseModel):
    """`[tracker]` / `[ledger]`: `kind` picks the plugin, which validates the other keys."""

    model_config = ConfigDict(extra="allow")
    kind: str = Field(min_length=1)


class BillingSection(_Section):
    approval: Literal["required", "none"] = "required"
    invoice_date: Literal["accepted", "completed", "sync"] = "accepted"
    terms_days: int = Field(default=30, ge=0, le=3650)
    on_change: Literal["flag", "credit-and-reissue"] = "flag"
    item: str = Field(default="Services", min_length=1)

    _item = field_validator("item")(safe_text)


class ChangeOrderSection(_Section):
    id: str = Field(min_length=1)
    amount: Money
    approved: IsoDate

    _id = field_validator("id")(safe_text)


class ContractSection(_Section):
    id: str = Field(min_length=1)
    customer: str = Field(min_length=1)
    currency: str | None = None
    value: Money | None = None
    start: IsoDate | None = None
    deposit: Money | None = None
    retainage: Money | None = None
    cap: Money | None = None
    terms_days: int | None = Field(default=None, ge=0, le=3650)
    change_orders: list[ChangeOrderSection] = []

    # The customer's name is what the ledger files the invoice under; the id is what
    # milestones name. A control or text-direction character in either is refused.
    _names = field_validator("id", "customer")(safe_text)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        return None if value is None else _check_currency(value)


class ScheduleSection(_Section):
    """When `connector run` syncs this business, in the business's time zone."""

    cron: str = "0 2 * * *"  # minute hour day month weekday: nightly at 02:00

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value)
        except ValueError as exc:
            raise ValueError(f'expected a cron line like "0 2 * * *": {exc}') from None
        return value


class ConfigFile(_Section):
    business: BusinessSection
    state: StateSection = StateSection()
    tracker: PluginSection
    ledger: PluginSection
    billing: BillingSection = BillingSection()
    schedule: ScheduleSection = ScheduleSection()
    notify: NotifySettings = NotifySettings()
    contracts: list[ContractSection] = []


def _check_currency(value: str) -> str:
    try:
        exponent(value)
    except MoneyError as exc:
        raise ValueError(str(exc)) from None
    return value


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

    def source(self) -> Any:
        return plugins.find(plugins.SOURCES, self.tracker_kind).create(
            self.tracker_settings, self.context
        )

    def ledger(self) -> Any:
        return plugins.find(plugins.ADAPTERS, self.ledger_kind).create(
            self.ledger_settings, self.context
        )


def _state_url_problems(raw: str) -> list[str]:
    """What is wrong with `[state] url`: it must parse as a database URL whose driver is
    installed, and carry no password (neither in the user part nor as a query parameter)."""
    example = "expected a database URL like postgresql://bookkeeper@db.example.com/connector"
    try:
        url: URL = make_url(raw)
        url.port  # noqa: B018 - a port that is not a number fails only when it is read
    except ArgumentError:
        return [f"state.url: {example}, got text that is not one"]
    except ValueError:
        return [f"state.url: the port after the host is not a number; {example}"]
    problems = []
    try:
        url.get_dialect()
    except NoSuchModuleError:
        problems.append(
            f"state.url: unknown database kind {url.drivername!r}; {example} or sqlite:///PATH"
        )
    secret = [key for key in url.query if SECRET_KEY.search(key)]
    if url.password or secret:
        where = f"its query string ({', '.join(secret)})" if secret else "its user part"
        problems.append(
            f"state.url: holds a password in {where}; credentials live in the OS keyring or the "
            "database server's own files (~/.pgpass), never in the config file"
        )
    return problems


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "business"


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


def _contract_sections(raw: dict[str, Any], problems: list[str]) -> list[ContractSection | None]:
    """Each [[contracts]] table validated on its own (None where it is wrong)."""
    sections: list[ContractSection | None] = []
    raw_contracts = raw.get("contracts", [])
    if not isinstance(raw_contracts, list):
        problems.append("contracts: expected [[contracts]] tables")
        raw_contracts = []
    for i, item in enumerate(raw_contracts):
        try:
            sections.append(ContractSection.model_validate(item))
        except ValidationError as exc:
            problems += problems_from(exc, ContractSection, f"contracts[{i}]")
            sections.append(None)
    return sections


def _state_location(path: Path, parsed: ConfigFile) -> tuple[str, Path | None]:
    """The state database's URL, and its file when it is SQLite on this machine."""
    if parsed.state.url:
        return parsed.state.url, None
    if parsed.state.path:
        state_path = (path.parent / parsed.state.path).resolve()
    else:
        state_path = Path(platformdirs.user_data_dir("milestone-connector")) / (
            slug(parsed.business.name) + ".db"
        )
    return f"sqlite:///{state_path}", state_path


def load(path: str | Path) -> Config:
    """Read, validate and resolve a config file, or raise one `ConfigError` with every problem."""
    path = Path(path).expanduser().resolve()
    raw = _read_toml(path)

    problems = _credential_keys(raw)
    # Each section is checked on its own, so one problem never hides the next.
    known = set(ConfigFile.model_fields)
    problems += [
        f"{key}: unknown key; expected one of: {', '.join(sorted(known))}"
        for key in raw
        if key not in known
    ]
    business = _section(BusinessSection, raw, "business", problems, required=True)
    state = _section(StateSection, raw, "state", problems) or StateSection()
    billing = _section(BillingSection, raw, "billing", problems) or BillingSection()
    schedule = _section(ScheduleSection, raw, "schedule", problems) or ScheduleSection()
    notify = _section(NotifySettings, raw, "notify", problems) or NotifySettings()
    tracker = _section(PluginSection, raw, "tracker", problems, required=True)
    ledger = _section(PluginSection, raw, "ledger", problems, required=True)
    tracker_settings = tracker and _plugin_settings(plugins.SOURCES, "tracker", tracker, problems)
    ledger_settings = ledger and _plugin_settings(plugins.ADAPTERS, "ledger", ledger, problems)
    sections = _contract_sections(raw, problems)
    contracts = _contracts(sections, business.currency if business else "USD", problems)
    if state.path and state.url:
        problems.append("state: give path or url, not both")
    if state.url:
        problems += _state_url_problems(state.url)
    if problems or business is None or tracker is None or ledger is None:
        raise ConfigError(path, _with_contract_ids(problems, raw))
    parsed = ConfigFile(
        business=business,
        state=state,
        tracker=tracker,
        ledger=ledger,
        billing=billing,
        schedule=schedule,
        notify=notify,
    )

    state_url, state_path = _state_location(path, parsed)
    assert tracker_settings is not None and ledger_settings is not None
    return Config(
        path=path,
        business=parsed.business,
        billing=parsed.billing,
        schedule=parsed.schedule,
        notify=parsed.notify,
        contracts=contracts,
        tracker_kind=parsed.tracker.kind,
        tracker_settings=tracker_settings,
        ledger_kind=parsed.ledger.kind,
        ledger_settings=ledger_settings,
        state_url=state_url,
        state_path=state_path,
    )


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
    group: str, section: str, parsed: PluginSection, problems: list[str]
) -> BaseModel | None:
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


def _contracts(
    sections: list[ContractSection | None], default_currency: str, problems: list[str]
) -> dict[str, Contract]:
    contracts: dict[str, Contract] = {}
    for i, section in enumerate(sections):
        if section is None:
            continue
        where = f"contracts[{i}]"
        if section.id in contracts:
            problems.append(f"{where}.id: duplicate contract id {section.id!r}")
            continue
        contract = _contract(section, default_currency, where, problems)
        if contract is not None:
            contracts[section.id] = contract
    return contracts


def _contract(
    s: ContractSection, default_currency: str, where: str, problems: list[str]
) -> Contract | None:
    currency = s.currency or default_currency
    before = len(problems)

    def amount(key: str, raw: object, *, negative: bool = False) -> Decimal | None:
        if raw is None:
            return None
        try:
            return parse_amount(raw, currency, allow_negative=negative)
        except MoneyError as exc:
            problems.append(f"{where}.{key}: {exc}")
            return None

    def percent(key: str, raw: object) -> Decimal | None:
        try:
            return parse_percent(raw)
        except MoneyError as exc:
            problems.append(f"{where}.{key}: {exc}")
            return None

    value = amount("value", s.value)
    cap = amount("cap", s.cap)
    retainage = None if s.retainage is None else percent("retainage", s.retainage)
    deposit = None
    if s.deposit is not None:
        if isinstance(s.deposit, str) and s.deposit.strip().endswith("%"):
            deposit = Deposit(percent=percent("deposit", s.deposit))
        else:
            deposit = Deposit(amount=amount("deposit", s.deposit))
        if s.value is None:
            problems.append(
                f'{where}.deposit: a deposit needs the contract value; add value = "..."'
            )
        elif deposit.amount is not None and value is not None and deposit.amount > value:
            problems.append(
                f"{where}.deposit: {deposit.amount} is more than the contract value {value}; "
                "a deposit is billed out of the value, so it can be at most the value"
            )
    orders = []
    seen: set[str] = set()
    for j, co in enumerate(s.change_orders):
        if co.id in seen:
            problems.append(f"{where}.change_orders[{j}].id: duplicate change order id {co.id!r}")
        seen.add(co.id)
        co_amount = amount(f"change_orders[{j}].amount", co.amount, negative=True)
        if co_amount is not None:
            orders.append(ChangeOrder(co.id, co_amount, co.approved))
    if len(problems) > before:
        return None
    return Contract(
        id=s.id,
        customer=s.customer,
        currency=currency,
        value=value,
        start=s.start,
        deposit=deposit,
        retainage=retainage,
        cap=cap,
        terms_days=s.terms_days,
        change_orders=tuple(sorted(orders, key=lambda co: (co.approved, co.id))),
    )


def _with_contract_ids(problems: list[str], raw: dict[str, Any]) -> list[str]:
    """`contracts[2].value` -> `contracts[2] (ACME-WEB).value`: the id is what people search for."""
    found = raw.get("contracts")
    items: list[Any] = found if isinstance(found, list) else []

    def label(match: re.Match[str]) -> str:
        i = int(match.group(1))
        cid = items[i].get("id") if i < len(items) and isinstance(items[i], dict) else None
        if not isinstance(cid, str):
            return match.group(0)
        return f"contracts[{i}] ({cid if unsafe_character(cid) is None else ascii(cid)})"

    return [re.sub(r"^contracts\[(\d+)\]", label, p) for p in problems]
