"""What the commands share: the consoles they print on, their common options, and the few steps
every command that reads a config takes the same way."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from connector import config as config_mod
from connector.errors import ConfigError, SettingRefused, UserError

# Piped or mailed output gets room for the amount columns; a terminal keeps its own width.
out = Console(width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 120)

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="The business's TOML config.")]
AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Decide as of this date (YYYY-MM-DD) instead of today in the business's time zone.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def parse_as_of(raw: str | None) -> date | None:
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise UserError(f"--as-of: expected a date like 2026-11-26, got {raw!r}") from None


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


@contextmanager
def tracker_settings(cfg: config_mod.Config) -> Iterator[None]:
    """A [tracker] setting the tracker shows to be wrong is a problem of the config file."""
    try:
        yield
    except SettingRefused as exc:
        raise ConfigError(cfg.path, [str(exc)]) from None
