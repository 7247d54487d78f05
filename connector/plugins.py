"""Find tracker sources and ledger adapters by name: built-ins first, then entry points.

A plugin is an object with `name`, `settings` (a pydantic model for the rest of its config
section) and `create(settings, base_dir)`. Third parties register one under the entry-point
groups `connector.sources` and `connector.adapters`.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel

from connector.errors import PluginNotFound

SOURCES = "connector.sources"
ADAPTERS = "connector.adapters"

_BUILTIN: dict[str, dict[str, str]] = {
    SOURCES: {"file": "connector.sources.file:FileSourcePlugin"},
    ADAPTERS: {"local": "connector.adapters.memory:LocalLedgerPlugin"},
}
_WHAT = {SOURCES: "tracker source", ADAPTERS: "ledger adapter"}


class Plugin(Protocol):
    name: str
    settings: type[BaseModel]

    def create(self, settings: Any, base_dir: Path) -> Any: ...


def _load(target: str) -> Plugin:
    module, _, attr = target.partition(":")
    return getattr(import_module(module), attr)()


def available(group: str) -> list[str]:
    names = set(_BUILTIN[group]) | {ep.name for ep in entry_points(group=group)}
    return sorted(names)


def find(group: str, name: str) -> Plugin:
    """The plugin called `name`; an error listing what is installed when there is none."""
    if name in _BUILTIN[group]:
        return _load(_BUILTIN[group][name])
    for ep in entry_points(group=group, name=name):
        return ep.load()()
    raise PluginNotFound(
        f"no {_WHAT[group]} named {name!r} is installed; installed: {', '.join(available(group))}"
    )
