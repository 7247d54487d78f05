"""The tables of a business's TOML config as pydantic models: which keys each accepts, and the
checks one key can make on its own (a time zone exists, a currency is known, a cron line parses).

Checks that need more than one key or table (a deposit against the contract value, the plugin
a `kind` names) happen where the config is put together (`connector.config`,
`connector.config_contracts`). A section never holds an amount as a number pydantic made: money
stays as written until `connector.money` reads it. A new setting is a field here, with its
default, and a line where the section is turned into the record the sync uses.
"""

from __future__ import annotations

from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from connector.money import MoneyError, exponent
from connector.notify import NotifySettings
from connector.validation import SECRET_KEY, IsoDate, safe_optional_text, safe_text

# Numbers are read by connector.money, which refuses floats and booleans; pydantic must not
# coerce them first (it would turn true into 1).
Money = Any


def check_currency(value: str) -> str:
    """A pydantic validator: an ISO 4217 code `connector.money` knows the minor unit of."""
    try:
        exponent(value)
    except MoneyError as exc:
        raise ValueError(str(exc)) from None
    return value


class Section(BaseModel):
    """A table whose every key is known: a misspelt key is a problem, never ignored."""

    model_config = ConfigDict(extra="forbid")


class BusinessSection(Section):
    name: str = Field(min_length=1)
    timezone: str = "UTC"
    currency: str = "USD"

    _name = field_validator("name")(safe_text)
    _currency = field_validator("currency")(check_currency)

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


class StateSection(Section):
    path: str | None = None
    url: str | None = None


class PluginSection(BaseModel):
    """`[tracker]` / `[ledger]`: `kind` picks the plugin, which validates the other keys."""

    model_config = ConfigDict(extra="allow")
    kind: str = Field(min_length=1)


Send = Literal["never", "on-create"]
# Whether amounts are net of tax (the ledger adds it), include it, or carry none
# (QuickBooks GlobalTaxCalculation, Xero LineAmountTypes: ledger-apis.md, Tax row).
Amounts = Literal["exclusive", "inclusive", "no_tax"]


class BooksKeys(Section):
    """How the ledger books and delivers documents: set for the business in [billing], and
    per contract, where a contract's own key wins."""

    send: Send | None = None
    amounts: Amounts | None = None
    tax_code: str | None = Field(default=None, min_length=1)
    taxable: bool | None = None

    _tax_code = field_validator("tax_code")(safe_optional_text)


class BillingSection(BooksKeys):
    """`[billing]`: how every contract of the business is billed unless the contract says."""

    approval: Literal["required", "none"] = "required"
    invoice_date: Literal["accepted", "completed", "sync"] = "accepted"
    terms_days: int = Field(default=30, ge=0, le=3650)
    on_change: Literal["flag", "credit-and-reissue"] = "flag"
    item: str = Field(default="Services", min_length=1)

    _item = field_validator("item")(safe_text)


class ChangeOrderSection(Section):
    id: str = Field(min_length=1)
    amount: Money
    approved: IsoDate

    _id = field_validator("id")(safe_text)


class ContractSection(BooksKeys):
    """One `[[contracts]]` table. Amounts are checked against the contract's currency in
    `connector.config_contracts`, which also turns the table into a `Contract`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

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
    # Where the revenue is tracked: a QuickBooks class (on every line) and location, or Xero
    # tracking categories ({ Region = "North" }, at most two), by the names the books show.
    class_name: str | None = Field(default=None, alias="class", min_length=1)
    location: str | None = Field(default=None, min_length=1)
    tracking: dict[str, str] = {}

    # The customer's name is what the ledger files the invoice under; the id is what
    # milestones name. A control or text-direction character in either is refused.
    _names = field_validator("id", "customer")(safe_text)
    _books = field_validator("class_name", "location")(safe_optional_text)

    @field_validator("tracking")
    @classmethod
    def _tracking(cls, value: dict[str, str]) -> dict[str, str]:
        for category, option in value.items():
            safe_text(category)
            safe_text(option)
            if not category or not option:
                raise ValueError('expected { Category = "Option" } with names that are not empty')
        return value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        return None if value is None else check_currency(value)


class ScheduleSection(Section):
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


class ConfigFile(Section):
    """The whole file: its fields are the tables a config may have."""

    business: BusinessSection
    state: StateSection = StateSection()
    tracker: PluginSection
    ledger: PluginSection
    billing: BillingSection = BillingSection()
    schedule: ScheduleSection = ScheduleSection()
    notify: NotifySettings = NotifySettings()
    contracts: list[ContractSection] = []


def state_url_problems(raw: str) -> list[str]:
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
