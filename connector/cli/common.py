"""What the commands share: the consoles they print on, their common options, and the few steps
every command that reads a config takes the same way."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, ConsoleDimensions
from rich.errors import StyleSyntaxError
from rich.markup import RE_TAGS
from rich.style import Style
from rich.text import Text

from connector import config as config_mod
from connector.errors import ConfigError, SettingRefused, UserError
from connector.errors import about as about  # for the commands: errors name the config

PIPED_WIDTH = 120


class CommandConsole(Console):
    """A console whose width is `$COLUMNS` when set (also when piped, as `ls` and rich itself
    read it), else the terminal's, else `PIPED_WIDTH` for piped or mailed output: room for the
    amount columns. Read at each print, so a changed `COLUMNS` counts. Numbers are never
    highlighted on their own: an amount is coloured only where the table means it."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("highlight", False)
        super().__init__(**kwargs)

    @property
    def size(self) -> ConsoleDimensions:
        found = super().size
        columns = os.environ.get("COLUMNS", "").strip()
        if self._width is None and not columns.isdigit() and not self.is_terminal:
            return ConsoleDimensions(PIPED_WIDTH, found.height)
        return found

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size

    def render_str(self, text: str, **kwargs: Any) -> Text:
        markup = kwargs.get("markup")
        if markup or (markup is None and self._markup):
            text = words_kept(text)
        return super().render_str(text, **kwargs)


def _kept(match: re.Match[str]) -> str:
    escapes, tag = match.group(2), match.group(3)
    if len(escapes) % 2 or tag.startswith(("@", "link")) or _is_style(tag.lstrip("/")):
        return match.group(0)
    return f"{escapes}\\[{tag}]"


def _is_style(name: str) -> bool:
    if not name:
        return True  # [/]: closes the last style
    try:
        Style.parse(name)
    except StyleSyntaxError:
        return False
    return True


def words_kept(text: str) -> str:
    """`text` with every bracketed word that is not a style escaped: rich would take
    "[ledger]" in "add tenant_id to [ledger]" for markup and print nothing of it. "[red]" and
    "[/red]" stay markup; a message's own brackets should still go through `escape`."""
    return RE_TAGS.sub(_kept, text) if "[" in text else text


out = CommandConsole()
err = CommandConsole(stderr=True)

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="The business's TOML config.")]
AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Decide as of this date (YYYY-MM-DD) instead of today in the business's time zone.",
    ),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print JSON instead of tables (--format json).")
]


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


FormatOpt = Annotated[
    Format | None,
    typer.Option(
        "--format",
        case_sensitive=False,
        help="table for people, json for programs, csv for a spreadsheet. Default: table.",
        show_default=False,
    ),
]


def pick_format(output: Format | None, as_json: bool) -> Format:
    """--format, or --json (its older spelling); both at once must agree."""
    if as_json and output not in (None, Format.JSON):
        raise UserError(f"--json and --format {output} disagree; give one of them")
    return Format.JSON if as_json else (output or Format.TABLE)


# The folder of business configs a machine keeps (/etc/connector), so that `connector status`,
# `doctor` and `run` need no option there. Read by `pick_configs`, not by click's envvar, so an
# explicit --config FILE still wins over the variable instead of clashing with it.
CONFIG_DIR_ENV = "CONNECTOR_CONFIG_DIR"
OneConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="One business.")]
ConfigDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--config-dir",
        help=f"Every *.toml in this folder is a business. Default: the folder in ${CONFIG_DIR_ENV}"
        " when it is set and --config is not given.",
        show_default=False,
    ),
]


def pick_configs(config: Path | None, config_dir: Path | None) -> tuple[Path | None, Path | None]:
    """Exactly one of --config FILE or --config-dir DIR; with neither, the folder named in
    $CONNECTOR_CONFIG_DIR. Refused with one message when both or none are given."""
    from_env = os.environ.get(CONFIG_DIR_ENV, "").strip()
    if config is None and config_dir is None and from_env:
        folder = Path(from_env).expanduser()
        if not folder.is_dir():
            raise UserError(f"{CONFIG_DIR_ENV}={from_env}: not a folder; fix it, or give --config")
        return None, folder
    if (config is None) == (config_dir is None):
        raise UserError(
            "give exactly one of --config FILE or --config-dir DIR "
            f"(or set {CONFIG_DIR_ENV} to the folder)"
        )
    return config, config_dir


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
