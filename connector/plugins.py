"""Find tracker sources and ledger adapters by name, through the entry-point groups
`connector.sources` and `connector.adapters` only: the built-ins are registered there like any
third party's plugin, so nothing in the core has to know a vendor.

A plugin is an object with `name`, `settings` (a pydantic model for the rest of its config
section) and `create(settings, context)`, where the context says where the config file lives and
which business it is for. What else a plugin can say is one small Protocol each, checked with
`isinstance`: its `label` (what a person calls it), its `rank` (where it is listed), its
`credentials` (what the keyring holds for a business: doctor, status and config check read it)
and its commands (`add_commands`, e.g. its `connector auth` sign-in).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel

from connector.errors import PluginNotFound

if TYPE_CHECKING:
    import typer
    from rich.console import Console

SOURCES = "connector.sources"
ADAPTERS = "connector.adapters"

_WHAT = {SOURCES: "tracker source", ADAPTERS: "ledger adapter"}


@dataclass(frozen=True)
class PluginContext:
    base_dir: Path  # relative paths in the config are relative to this folder
    business: str  # the business's name: keys its keyring entries
    item: str = "Services"  # [billing] item: the ledger item / account code for invoice lines
    timezone: str = "UTC"  # the business's IANA zone: a tracker timestamp becomes a day here


class Plugin(Protocol):
    name: str
    settings: type[BaseModel]

    def create(self, settings: Any, context: PluginContext) -> Any: ...


@dataclass(frozen=True)
class CommandGroups:
    """Where a plugin's commands go, and the console they print on."""

    auth: typer.Typer  # `connector auth <name>`: connect a business, once
    sandbox: typer.Typer  # `connector sandbox <name>`: a local emulator, for trying
    out: Console


@runtime_checkable
class HasCommands(Protocol):
    """A plugin that brings commands of its own; `add_commands` is called when the CLI starts."""

    def add_commands(self, groups: CommandGroups) -> None: ...


@runtime_checkable
class HasLabel(Protocol):
    """A plugin's name for people ("QuickBooks", "GitHub"); without one, its `name` is shown."""

    label: str


@runtime_checkable
class HasRank(Protocol):
    """Where the plugin is listed (its commands in `--help`): lower first; plugins without a
    rank come after every ranked one, by name."""

    rank: int


@dataclass(frozen=True)
class Credentials:
    """What the keyring holds for one business's connection to a plugin's service."""

    connected: bool  # a sign-in is stored (`connector auth <name>` stores it)
    account: str = ""  # the company, organisation or user it is connected to
    days_left: float | None = None  # until it lapses unused; None: it does not lapse


@runtime_checkable
class HasCredentials(Protocol):
    """A plugin whose secrets live in the keyring. Reading them must not touch the network."""

    def credentials(self, context: PluginContext) -> Credentials: ...


def label(plugin: Plugin) -> str:
    return plugin.label if isinstance(plugin, HasLabel) else plugin.name


def available(group: str) -> list[str]:
    return sorted({ep.name for ep in entry_points(group=group)})


def installed(group: str) -> list[str]:
    """Every installed plugin: the ranked ones by rank, then the others by name."""

    def order(name: str) -> tuple[int, int, str]:
        plugin = find(group, name)
        return (0, plugin.rank, name) if isinstance(plugin, HasRank) else (1, 0, name)

    return sorted(available(group), key=order)


def find(group: str, name: str) -> Plugin:
    """The plugin called `name`; an error listing what is installed when there is none."""
    for ep in entry_points(group=group, name=name):
        plugin: Plugin = ep.load()()
        return plugin
    raise PluginNotFound(
        f"no {_WHAT[group]} named {name!r} is installed; installed: {', '.join(available(group))}"
    )
