"""Find tracker sources and ledger adapters by name: built-ins first, then entry points.

A plugin is an object with `name`, `settings` (a pydantic model for the rest of its config
section) and `create(settings, context)`, where the context says where the config file lives and
which business it is for. Third parties register one under the entry-point
groups `connector.sources` and `connector.adapters`. A plugin with commands of its own (a
`connector auth` sign-in) also has `add_commands(groups)`: the CLI calls it for every installed
plugin.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
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

_BUILTIN: dict[str, dict[str, str]] = {
    SOURCES: {
        "file": "connector.sources.file:FileSourcePlugin",
        "github": "connector.sources.github:GitHubSourcePlugin",
        "jira": "connector.sources.jira:JiraSourcePlugin",
        "asana": "connector.sources.asana:AsanaSourcePlugin",
    },
    ADAPTERS: {
        "local": "connector.adapters.local:LocalLedgerPlugin",
        "quickbooks": "connector.adapters.quickbooks:QuickBooksPlugin",
        "xero": "connector.adapters.xero:XeroPlugin",
    },
}
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


def _load(target: str) -> Plugin:
    module, _, attr = target.partition(":")
    return getattr(import_module(module), attr)()


def available(group: str) -> list[str]:
    names = set(_BUILTIN[group]) | {ep.name for ep in entry_points(group=group)}
    return sorted(names)


def installed(group: str) -> list[str]:
    """Every installed plugin: the built-ins in their order, then the others by name."""
    others = {ep.name for ep in entry_points(group=group)} - set(_BUILTIN[group])
    return [*_BUILTIN[group], *sorted(others)]


def find(group: str, name: str) -> Plugin:
    """The plugin called `name`; an error listing what is installed when there is none."""
    if name in _BUILTIN[group]:
        return _load(_BUILTIN[group][name])
    for ep in entry_points(group=group, name=name):
        return ep.load()()
    raise PluginNotFound(
        f"no {_WHAT[group]} named {name!r} is installed; installed: {', '.join(available(group))}"
    )
