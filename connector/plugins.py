"""Find tracker sources and ledger adapters by name, through the entry-point groups
`connector.sources` and `connector.adapters` only: the built-ins are registered there like any
third party's plugin, so nothing in the core has to know a vendor.

A plugin is an object with `name`, `settings` (a pydantic model for the rest of its config
section) and `create(settings, context)`, where the context says where the config file lives and
which business it is for. What else a plugin can say is one small Protocol each, checked with
`isinstance`: its `label` (what a person calls it), its `rank` (where it is listed), its
`credentials` (what the keyring holds for a business: doctor, status and config check read it)
and its commands (`add_commands`, e.g. its `connector auth` sign-in).

A plugin whose code fails to load (a missing dependency, a bug at import) must not stop the
commands that do not use it: listing the plugins skips it with one warning, and only a config
that names it fails, saying why (`find` raises `PluginNotFound`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Any,
    Final,
    Literal,
    Protocol,
    TypeVar,
    overload,
    runtime_checkable,
)

from pydantic import BaseModel

from connector.errors import PluginNotFound
from connector.validation import printable

if TYPE_CHECKING:
    import typer
    from rich.console import Console

    from connector.adapters.base import LedgerAdapter
    from connector.sources.base import Source

SOURCES: Final = "connector.sources"
ADAPTERS: Final = "connector.adapters"

_WHAT = {SOURCES: "tracker source", ADAPTERS: "ledger adapter"}


@dataclass(frozen=True)
class PluginContext:
    base_dir: Path  # relative paths in the config are relative to this folder
    business: str  # the business's name: keys its keyring entries
    item: str = "Services"  # [billing] item: the ledger item / account code for invoice lines
    timezone: str = "UTC"  # the business's IANA zone: a tracker timestamp becomes a day here


_Made = TypeVar("_Made", covariant=True)


class Plugin(Protocol[_Made]):
    """What every plugin has. `Plugin[LedgerAdapter]` makes ledgers, `Plugin[Source]` tracker
    sources; `find` says which by the group it is given."""

    name: str

    @property
    def settings(self) -> type[BaseModel]:
        """The model of the section's other keys (read-only, so a plugin's own model fits)."""
        ...

    def create(self, settings: Any, context: PluginContext) -> _Made: ...


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


def label(plugin: Plugin[object]) -> str:
    return plugin.label if isinstance(plugin, HasLabel) else plugin.name


@dataclass(frozen=True)
class BrokenPlugin:
    """An installed plugin whose code raised when it was loaded."""

    group: str
    name: str
    entry_point: str  # as its distribution declares it: "abacus = abacus_books:AbacusPlugin"
    distribution: str  # "abacus-books 0.1": what to reinstall or remove ("" when unknown)
    error: str  # the first line of what it raised

    def __str__(self) -> str:
        what = _WHAT.get(self.group, self.group)
        of = self.distribution or "an unknown distribution"
        return (
            f"the {what} {self.name!r} failed to load: {self.error} "
            f"(entry point {self.entry_point!r} of {of})"
        )


def _broken(ep: EntryPoint, exc: Exception) -> BrokenPlugin:
    lines = str(exc).strip().splitlines()
    error = printable(f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__)
    dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist else ""
    return BrokenPlugin(ep.group, ep.name, f"{ep.name} = {ep.value}", dist, error)


def load(ep: EntryPoint) -> Plugin[object] | BrokenPlugin:
    """The plugin an entry point names, made; what went wrong when its code raises."""
    try:
        plugin: Plugin[object] = ep.load()()
    except Exception as exc:  # a third party's import or constructor: anything may fail
        return _broken(ep, exc)
    return plugin


log = logging.getLogger(__name__)
_warned: set[BrokenPlugin] = set()


def _skip(broken: BrokenPlugin) -> None:
    """Say once per process that a plugin is left out, however often the plugins are listed."""
    if broken not in _warned:
        _warned.add(broken)
        log.warning("warning: %s; it is left out", broken)


def available(group: str) -> list[str]:
    """The names registered in `group`, loaded or not."""
    return sorted({ep.name for ep in entry_points(group=group)})


def loaded(group: str) -> list[Plugin[object]]:
    """Every installed plugin that loads: the ranked ones by rank, then the others by name. One
    that fails to load is skipped, with one warning naming it and what it raised."""
    return [plugin for _, plugin in _ranked(group)]


def installed(group: str) -> list[str]:
    """The names of `loaded(group)`, in its order."""
    return [name for name, _ in _ranked(group)]


def _ranked(group: str) -> list[tuple[str, Plugin[object]]]:
    found: dict[str, Plugin[object]] = {}
    seen: set[str] = set()
    for ep in entry_points(group=group):
        if ep.name in seen:
            continue  # two distributions register the name: `find` takes the first too
        seen.add(ep.name)
        plugin = load(ep)
        if isinstance(plugin, BrokenPlugin):
            _skip(plugin)
        else:
            found[ep.name] = plugin

    def order(item: tuple[str, Plugin[object]]) -> tuple[int, int, str]:
        name, plugin = item
        return (0, plugin.rank, name) if isinstance(plugin, HasRank) else (1, 0, name)

    return sorted(found.items(), key=order)


@overload
def find(group: Literal["connector.adapters"], name: str) -> Plugin[LedgerAdapter]: ...
@overload
def find(group: Literal["connector.sources"], name: str) -> Plugin[Source]: ...
@overload
def find(group: str, name: str) -> Plugin[object]: ...


def find(group: str, name: str) -> Plugin[Any]:
    """The plugin called `name`. `PluginNotFound` when none is installed (listing what is) or
    when its code fails to load (saying what it raised)."""
    for ep in entry_points(group=group, name=name):
        plugin = load(ep)
        if isinstance(plugin, BrokenPlugin):
            fix = f"; reinstall or remove {plugin.distribution}" if plugin.distribution else ""
            raise PluginNotFound(f"{plugin}{fix}")
        return plugin
    raise PluginNotFound(
        f"no {_WHAT[group]} named {name!r} is installed; installed: {', '.join(available(group))}"
    )
