"""The business configs of `--config FILE` or `--config-dir DIR`: which files of a folder
are businesses, which are strays worth a warning, and each one loaded (or why not).

Shared by the daemons (`connector run`, embedded or fleet) and by the commands that read a
whole folder (`status`, `aging`, `forecast`, `config check`, the dashboard), which need none
of the scheduler.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from connector import config as config_mod
from connector.errors import ConfigError, ConnectorError, UserError

# The daemon's logger: these lines are the daemon's account of its folder.
log = logging.getLogger("connector.daemon")


@dataclass
class Business:
    path: Path
    config: config_mod.Config
    mtime: float


def config_files(
    config: Path | None, config_dir: Path | None, *, allow_none: bool = False
) -> list[Path]:
    """The business configs: `config`, or every *.toml in `config_dir` except the ones that
    are plainly something else (a milestones file kept beside its business has no [business]
    table). A file that does not parse is kept, so that its error is reported."""
    if config is not None:
        return [config]
    assert config_dir is not None
    if not config_dir.is_dir():
        raise UserError(f"--config-dir {config_dir}: not a folder")
    found = sorted(p for p in config_dir.glob("*.toml") if p.is_file() and _may_be_business(p))
    if not found and not allow_none:
        raise UserError(
            f"--config-dir {config_dir}: no business configs in it (a *.toml file with a "
            "[business] table, like config.example.toml)"
        )
    return found


# A business config has a [business] table (or is a broken attempt at one, kept so its error is
# reported). Found by a line scan, not a TOML parse: a milestones file beside the configs may be
# megabytes, and this runs at start, on every SIGHUP, and for status and doctor.
_BUSINESS_TABLE = re.compile(
    r"^\ufeff?[ \t]*(\[[ \t]*business\b|business[ \t]*[.=])", re.MULTILINE
)  # a config may start with a UTF-8 byte order mark, as `config.load` accepts


def _may_be_business(path: Path) -> bool:
    try:
        return (
            _BUSINESS_TABLE.search(path.read_text(encoding="utf-8", errors="replace")) is not None
        )
    except OSError:
        return True


# The daemon-wide file of `--notify-config`, when it is kept in the folder with the businesses.
_NOTIFY_TABLE = re.compile(r"^\ufeff?[ \t]*(\[[ \t]*notify\b|notify[ \t]*[.=])", re.MULTILINE)


def stray_files(
    config_dir: Path | None, paths: Iterable[Path], businesses: Iterable[Business]
) -> list[Path]:
    """The *.toml files of the folder that are neither a business config (`paths`, loaded or
    not) nor a file some business names (its milestones file), nor a daemon-wide [notify]
    file: most likely a milestones file whose business points elsewhere, or a config that lost
    its [business] table, so the daemon says so instead of ignoring it in silence."""
    if config_dir is None:
        return []
    known = {p.resolve() for p in paths}
    for business in businesses:
        known |= named_files(business.config)
    strays = []
    for path in sorted(config_dir.glob("*.toml")):
        if path.is_file() and path.resolve() not in known and not _is_notify_file(path):
            strays.append(path)
    return strays


def named_files(cfg: config_mod.Config) -> set[Path]:
    """The .toml files a business's [tracker] and [ledger] settings name, resolved."""
    found = set()
    for settings in (cfg.tracker_settings, cfg.ledger_settings):
        for value in settings.model_dump().values():
            if isinstance(value, str | Path) and str(value).lower().endswith(".toml"):
                found.add((cfg.path.parent / value).resolve())
    return found


def _is_notify_file(path: Path) -> bool:
    try:
        return _NOTIFY_TABLE.search(path.read_text(encoding="utf-8", errors="replace")) is not None
    except OSError:
        return False


def warn_strays(strays: Iterable[Path]) -> None:
    for path in strays:
        log.warning(
            "ignoring %s: neither a business config (no [business] table) nor the milestones "
            "file of a business in this folder",
            path,
        )


def load_all(paths: list[Path], broken: dict[Path, str] | None = None) -> dict[Path, Business]:
    """Every config that loads; each one that does not is logged with its problems and skipped
    (and put in `broken` with them, for the morning digest)."""
    out: dict[Path, Business] = {}
    for path in paths:
        try:
            out[path] = Business(path, config_mod.load(path), path.stat().st_mtime)
        except ConfigError as exc:  # its message starts with the file's name
            log.error("skipping %s", exc)
            if broken is not None:
                broken[path] = str(exc)
        except (ConnectorError, OSError) as exc:
            log.error("skipping %s: %s", path, exc)
            if broken is not None:
                broken[path] = f"{path}: {exc}"
    return out
